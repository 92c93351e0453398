package translate

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestBedrockEmbeddings(t *testing.T) {
	tests := []struct {
		name, body, wantPath, wantBody string
		response, want                 string
		tokenHeader                    string // x-amzn-bedrock-input-token-count, when sent
		wantTokens                     int64
		wantErr                        string // param of a 400
	}{
		{name: "titan", body: `{"model":"amazon.titan-embed-text-v2:0","input":"hello world","dimensions":256}`,
			wantPath: "/model/amazon.titan-embed-text-v2%3A0/invoke", wantBody: `{"inputText":"hello world","dimensions":256}`,
			response: `{"embedding":[0.1,-0.2,3e-2],"inputTextTokenCount":3}`,
			want:     `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2,3e-2]}],"model":"amazon.titan-embed-text-v2:0","usage":{"prompt_tokens":3,"total_tokens":3}}`, wantTokens: 3},
		{name: "titan one-element array", body: `{"model":"amazon.titan-embed-text-v1","input":["a"],"encoding_format":"float"}`,
			wantPath: "/model/amazon.titan-embed-text-v1/invoke", wantBody: `{"inputText":"a"}`,
			response: `{"embedding":[1],"inputTextTokenCount":1}`,
			want:     `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1]}],"model":"amazon.titan-embed-text-v1","usage":{"prompt_tokens":1,"total_tokens":1}}`, wantTokens: 1},
		{name: "cohere", body: `{"model":"cohere.embed-english-v3","input":["a","b \"c\""]}`,
			wantPath: "/model/cohere.embed-english-v3/invoke", wantBody: `{"texts":["a","b \"c\""],"input_type":"search_document"}`,
			response: `{"embeddings":[[0.5,0.25],[1,2]],"id":"x","response_type":"embeddings_floats","texts":["a","b"]}`,
			want:     `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,0.25]},{"object":"embedding","index":1,"embedding":[1,2]}],"model":"cohere.embed-english-v3","usage":{"prompt_tokens":0,"total_tokens":0}}`},
		{name: "cohere usage from the header", body: `{"model":"cohere.embed-english-v3","input":["a","b"]}`,
			wantPath: "/model/cohere.embed-english-v3/invoke", wantBody: `{"texts":["a","b"],"input_type":"search_document"}`,
			response: `{"embeddings":[[0.5],[1]],"id":"x","response_type":"embeddings_floats","texts":["a","b"]}`, tokenHeader: " 7 ",
			want: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5]},{"object":"embedding","index":1,"embedding":[1]}],"model":"cohere.embed-english-v3","usage":{"prompt_tokens":7,"total_tokens":7}}`, wantTokens: 7},
		{name: "cohere header not a count", body: `{"model":"cohere.embed-english-v3","input":"a"}`,
			wantPath: "/model/cohere.embed-english-v3/invoke", wantBody: `{"texts":["a"],"input_type":"search_document"}`,
			response: `{"embeddings":[[0.5]]}`, tokenHeader: "-3",
			want: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5]}],"model":"cohere.embed-english-v3","usage":{"prompt_tokens":0,"total_tokens":0}}`},
		{name: "cohere header implausible", body: `{"model":"cohere.embed-english-v3","input":"a"}`,
			wantPath: "/model/cohere.embed-english-v3/invoke", wantBody: `{"texts":["a"],"input_type":"search_document"}`,
			response: `{"embeddings":[[0.5]]}`, tokenHeader: "99999999999999",
			want: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5]}],"model":"cohere.embed-english-v3","usage":{"prompt_tokens":0,"total_tokens":0}}`},
		{name: "titan body count wins over the header", body: `{"model":"amazon.titan-embed-text-v2:0","input":"a"}`,
			wantPath: "/model/amazon.titan-embed-text-v2%3A0/invoke", wantBody: `{"inputText":"a"}`,
			response: `{"embedding":[1],"inputTextTokenCount":2}`, tokenHeader: "5",
			want: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1]}],"model":"amazon.titan-embed-text-v2:0","usage":{"prompt_tokens":2,"total_tokens":2}}`, wantTokens: 2},
		{name: "titan without a body count", body: `{"model":"amazon.titan-embed-text-v2:0","input":"a"}`,
			wantPath: "/model/amazon.titan-embed-text-v2%3A0/invoke", wantBody: `{"inputText":"a"}`,
			response: `{"embedding":[1]}`, tokenHeader: "5",
			want: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1]}],"model":"amazon.titan-embed-text-v2:0","usage":{"prompt_tokens":5,"total_tokens":5}}`, wantTokens: 5},
		{name: "titan with two inputs", body: `{"model":"amazon.titan-embed-text-v2:0","input":["a","b"]}`, wantErr: "input"},
		{name: "token arrays", body: `{"model":"amazon.titan-embed-text-v2:0","input":[[1,2]]}`, wantErr: "input"},
		{name: "base64", body: `{"model":"amazon.titan-embed-text-v2:0","input":"a","encoding_format":"base64"}`, wantErr: "encoding_format"},
		{name: "cohere dimensions", body: `{"model":"cohere.embed-english-v3","input":"a","dimensions":8}`, wantErr: "dimensions"},
		{name: "unknown family", body: `{"model":"meta.llama3","input":"a"}`, wantErr: "model"},
		{name: "unknown parameter", body: `{"model":"cohere.embed-english-v3","input":"a","extra":1}`, wantErr: "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := New(Target{Schema: SchemaAWSBedrock}, "/v1/embeddings")
			if err != nil {
				t.Fatal(err)
			}
			res, err := tr.RequestBody([]byte(tt.body))
			if tt.wantErr != "" {
				e, ok := err.(*Error)
				if !ok || e.Status != http.StatusBadRequest || e.Param != tt.wantErr {
					t.Fatalf("err = %#v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Path != tt.wantPath || string(res.Body) != tt.wantBody {
				t.Fatalf("path %s body %s", res.Path, res.Body)
			}
			h := headerMap{}
			if tt.tokenHeader != "" {
				h["x-amzn-bedrock-input-token-count"] = tt.tokenHeader
			}
			tr.(ResponseHeaderReader).ReadResponseHeaders(h)
			mode, err := tr.ResponseHeaders(200, "application/json", "")
			if err != nil || !mode.BufferBody || !mode.ModifiesBody {
				t.Fatal(mode, err)
			}
			out, u, err := tr.ResponseBody([]byte(tt.response), true)
			if err != nil || string(out) != tt.want || !json.Valid(out) || u.InputTokens != tt.wantTokens || u.TotalTokens != tt.wantTokens {
				t.Fatalf("%s %+v %v", out, u, err)
			}
		})
	}
}

func TestBedrockEmbeddingsFailures(t *testing.T) {
	newT := func(model string) Translator {
		tr, err := New(Target{Schema: SchemaAWSBedrock}, "/v1/embeddings")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.RequestBody([]byte(`{"model":"` + model + `","input":["a"]}`)); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	for _, tt := range []struct{ model, body string }{
		{"amazon.titan-embed-text-v2:0", `{"message":"x"}`},
		{"amazon.titan-embed-text-v2:0", `{"embedding":"no"}`},
		{"cohere.embed-english-v3", `{"embeddings":[[1],[2]]}`},
		{"cohere.embed-english-v3", `{"embeddings":["x"]}`},
		{"cohere.embed-english-v3", `not json`},
	} {
		tr := newT(tt.model)
		tr.ResponseHeaders(200, "application/json", "")
		if _, _, err := tr.ResponseBody([]byte(tt.body), true); !isBadResponse(err) {
			t.Errorf("%s %s: err = %v", tt.model, tt.body, err)
		}
	}
	tr := newT("cohere.embed-english-v3")
	mode, _ := tr.ResponseHeaders(400, "application/json", "")
	out, _, err := tr.ResponseBody([]byte(`{"message":"Malformed input request"}`), true)
	if !mode.Error || err != nil || string(out) != `{"error":{"message":"Malformed input request","type":"api_error","param":null,"code":null}}` {
		t.Errorf("%s %v", out, err)
	}
	if _, err := New(Target{Schema: SchemaAWSBedrock}, "/v1/completions"); err == nil {
		t.Error("completions accepted by aws_bedrock")
	}
	if EndpointError(SchemaAWSBedrock, http.MethodPost, "/v1/embeddings") != nil {
		t.Error("embeddings not an endpoint of aws_bedrock")
	}
}

// FuzzBedrockEmbeddingsResponse: any body is OpenAI's list JSON or a
// badResponse.
func FuzzBedrockEmbeddingsResponse(f *testing.F) {
	f.Add([]byte(`{"embedding":[0.1,-0.2],"inputTextTokenCount":3}`), true)
	f.Add([]byte(`{"embeddings":[[0.5,0.25]]}`), false)
	f.Fuzz(func(t *testing.T, body []byte, titan bool) {
		model := "cohere.embed-english-v3"
		if titan {
			model = "amazon.titan-embed-text-v2:0"
		}
		tr, _ := New(Target{Schema: SchemaAWSBedrock}, "/v1/embeddings")
		if _, err := tr.RequestBody([]byte(`{"model":"` + model + `","input":"a"}`)); err != nil {
			t.Fatal(err)
		}
		tr.ResponseHeaders(200, "application/json", "")
		out, u, err := tr.ResponseBody(body, true)
		if err != nil {
			if !isBadResponse(err) {
				t.Fatal(err)
			}
			return
		}
		if !json.Valid(out) || u.InputTokens < 0 {
			t.Fatalf("%q %+v", out, u)
		}
	})
}

// headerMap is a HeaderGetter over lowercase names.
type headerMap map[string]string

func (h headerMap) Get(name string) (string, bool) {
	v, ok := h[name]
	return v, ok
}
