package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/testbodies"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name        string
		target      Target
		path        string
		wantErr     bool
		unsupported bool
	}{
		{"empty schema is openai", Target{}, "/v1/chat/completions", false, false},
		{"openai any path", Target{Schema: SchemaOpenAI}, "/v1/models", false, false},
		{"azure chat", Target{Schema: SchemaAzureOpenAI, APIVersion: "2024-10-21"}, "/v1/chat/completions", false, false},
		{"azure without api version", Target{Schema: SchemaAzureOpenAI}, "/v1/chat/completions", true, false},
		{"anthropic chat", Target{Schema: SchemaAnthropic}, "/v1/chat/completions", false, false},
		{"anthropic messages passthrough", Target{Schema: SchemaAnthropic}, "/v1/messages", false, false},
		{"anthropic embeddings", Target{Schema: SchemaAnthropic}, "/v1/embeddings", true, true},
		{"anthropic completions", Target{Schema: SchemaAnthropic}, "/v1/completions", true, true},
		{"unknown schema", Target{Schema: "gemini"}, "/v1/chat/completions", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(tc.target, tc.path)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && tr == nil {
				t.Fatal("nil translator")
			}
			ue, isUnsupported := AsError(err, KindUnsupported)
			if isUnsupported != tc.unsupported {
				t.Fatalf("err %v: unsupported %v, want %v", err, !tc.unsupported, tc.unsupported)
			}
			if tc.unsupported {
				if ue.Status != http.StatusBadRequest || !json.Valid(ue.JSON()) {
					t.Fatalf("unsupported endpoint error: %+v %s", ue, ue.JSON())
				}
			}
		})
	}
}

func TestAzureOverrideMustBeASegment(t *testing.T) {
	for _, tgt := range []Target{
		{Schema: SchemaAzureOpenAI, APIVersion: "v", DefaultModel: ".."},
		{Schema: SchemaAzureOpenAI, APIVersion: "v", ModelOverride: map[string]string{"gpt-4o": "a/b"}},
	} {
		if err := Check(tgt); err == nil || !strings.Contains(err.Error(), "deployment") {
			t.Fatalf("Check(%+v) = %v, want a config error", tgt, err)
		}
	}
}

func TestResolveModel(t *testing.T) {
	tests := []struct {
		name      string
		target    Target
		requested string
		want      string
	}{
		{"no override", Target{}, "gpt-4o", "gpt-4o"},
		{"map hit", Target{ModelOverride: map[string]string{"gpt-4o": "gpt-4o-2024-08-06"}}, "gpt-4o", "gpt-4o-2024-08-06"},
		{"map miss", Target{ModelOverride: map[string]string{"gpt-4o": "x"}}, "gpt-4.1", "gpt-4.1"},
		{"default applies", Target{DefaultModel: "d"}, "anything", "d"},
		{"map beats default", Target{DefaultModel: "d", ModelOverride: map[string]string{"a": "b"}}, "a", "b"},
		{"default on empty", Target{DefaultModel: "d"}, "", "d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.target.ResolveModel(tc.requested); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// passthroughRequestCase is one case of TestPassthroughRequest, whose
// table TestPassthroughSlicedMatchesScanned runs too.
type passthroughRequestCase struct {
	name      string
	target    Target
	path      string
	body      string
	wantPath  string
	wantBody  string // "" means unchanged (nil)
	wantModel string
	wantErr   bool   // a KindInvalid Error is expected...
	errParam  string // ...naming this parameter
}

func TestPassthroughRequest(t *testing.T) {
	for _, tc := range passthroughRequestCases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(tc.target, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := tr.RequestBody([]byte(tc.body))
			if tc.wantErr {
				if ie, ok := AsError(err, KindInvalid); !ok || ie.Param != tc.errParam {
					t.Fatalf("err = %v, want a KindInvalid Error for %q", err, tc.errParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Path != tc.wantPath || res.Model != tc.wantModel {
				t.Fatalf("path %q model %q, want %q %q", res.Path, res.Model, tc.wantPath, tc.wantModel)
			}
			if tc.wantBody == "" && res.Body != nil {
				t.Fatalf("body rewritten to %s, want unchanged", res.Body)
			}
			if tc.wantBody != "" && string(res.Body) != tc.wantBody {
				t.Fatalf("body %s, want %s", res.Body, tc.wantBody)
			}
		})
	}
}

var passthroughRequestCases = []passthroughRequestCase{
	{
		name: "openai no override leaves body alone", target: Target{},
		path: "/v1/chat/completions", body: `{"model":"gpt-4o","stream":false}`,
		wantPath: "/v1/chat/completions", wantModel: "gpt-4o",
	},
	{
		name: "stream asks for usage", target: Target{},
		path: "/v1/chat/completions", body: `{"model":"gpt-4o","stream":true}`,
		wantPath: "/v1/chat/completions", wantModel: "gpt-4o",
		wantBody: `{"stream_options":{"include_usage":true},"model":"gpt-4o","stream":true}`,
	},
	{
		name: "stream asking for usage left alone", target: Target{},
		path: "/v1/chat/completions", body: `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`,
		wantPath: "/v1/chat/completions", wantModel: "gpt-4o",
	},
	{
		name: "stream_options without include_usage, with an override", target: Target{DefaultModel: "m2"},
		path: "/v1/completions", body: `{"model":"gpt-4o","stream":true,"stream_options":{ }}`,
		wantPath: "/v1/completions", wantModel: "m2",
		wantBody: `{"model":"m2","stream":true,"stream_options":{"include_usage":true }}`,
	},
	{
		name: "include_usage false becomes true", target: Target{},
		path: "/v1/chat/completions", body: `{"stream":true,"stream_options":{"x":1,"include_usage":false},"model":"gpt-4o"}`,
		wantPath: "/v1/chat/completions", wantModel: "gpt-4o",
		wantBody: `{"stream":true,"stream_options":{"x":1,"include_usage":true},"model":"gpt-4o"}`,
	},
	{
		name: "stream_options null and a member", target: Target{},
		path: "/v1/chat/completions", body: `{"stream":true,"stream_options":null,"model":"gpt-4o"}`,
		wantPath: "/v1/chat/completions", wantModel: "gpt-4o",
		wantBody: `{"stream":true,"stream_options":{"include_usage":true},"model":"gpt-4o"}`,
	},
	{
		name: "embeddings take no stream_options", target: Target{},
		path: "/v1/embeddings", body: `{"model":"e","input":"x","stream":true}`,
		wantPath: "/v1/embeddings", wantModel: "e",
	},
	{
		name: "openai override rewrites only the model string", target: Target{ModelOverride: map[string]string{"gpt-4o": "gpt-4o-2024-08-06"}},
		path: "/v1/chat/completions", body: `{ "messages":[{"role":"user","content":"model"}], "model" : "gpt-4o" ,"n":1}`,
		wantPath: "/v1/chat/completions", wantModel: "gpt-4o-2024-08-06",
		wantBody: `{ "messages":[{"role":"user","content":"model"}], "model" : "gpt-4o-2024-08-06" ,"n":1}`,
	},
	{
		name: "nested model members are not touched", target: Target{DefaultModel: "m2"},
		path: "/v1/chat/completions", body: `{"metadata":{"model":"x"},"model":"m1"}`,
		wantPath: "/v1/chat/completions", wantModel: "m2", wantBody: `{"metadata":{"model":"x"},"model":"m2"}`,
	},
	{
		name: "escaped model names round-trip", target: Target{ModelOverride: map[string]string{`a"b`: `c\d`}},
		path: "/v1/chat/completions", body: `{"model":"a\"b"}`,
		wantPath: "/v1/chat/completions", wantModel: `c\d`, wantBody: `{"model":"c\\d"}`,
	},
	{
		name: "default model inserted when absent", target: Target{DefaultModel: "m"},
		path: "/v1/embeddings", body: `{"input":"x"}`,
		wantPath: "/v1/embeddings", wantModel: "m", wantBody: `{"model":"m","input":"x"}`,
	},
	{
		name: "default model inserted into empty object", target: Target{DefaultModel: "m"},
		path: "/v1/embeddings", body: ` { } `,
		wantPath: "/v1/embeddings", wantModel: "m", wantBody: ` {"model":"m" } `,
	},
	{
		name: "override equal to request leaves body alone", target: Target{DefaultModel: "same"},
		path: "/v1/chat/completions", body: `{"model":"same"}`,
		wantPath: "/v1/chat/completions", wantModel: "same",
	},
	{
		name: "custom prefix and query kept", target: Target{PathPrefix: "/serving/v1/"},
		path: "/v1/chat/completions?trace=1", body: `{"model":"m"}`,
		wantPath: "/serving/v1/chat/completions?trace=1", wantModel: "m",
	},
	{
		name: "non-JSON body without override passes", target: Target{},
		path: "/v1/files", body: `--boundary`,
		wantPath: "/v1/files",
	},
	{
		name: "non-JSON body with override is rejected", target: Target{DefaultModel: "m"},
		path: "/v1/chat/completions", body: `{"model":`, wantErr: true,
	},
	{
		name: "azure deployment from overridden model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "2024-10-21", ModelOverride: map[string]string{"gpt-4o": "prod gpt4o"}},
		path: "/v1/chat/completions", body: `{"model":"gpt-4o","messages":[]}`,
		wantPath: "/openai/deployments/prod%20gpt4o/chat/completions?api-version=2024-10-21", wantModel: "prod gpt4o",
		wantBody: `{"model":"prod gpt4o","messages":[]}`,
	},
	{
		name: "azure embeddings with prefix", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "2024-10-21", PathPrefix: "/custom/openai"},
		path: "/v1/embeddings?x=y", body: `{"model":"emb"}`,
		wantPath: "/custom/openai/deployments/emb/embeddings?api-version=2024-10-21", wantModel: "emb",
	},
	{
		name: "azure non-deployment path", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "2024-10-21"},
		path: "/v1/models", body: ``,
		wantPath: "/openai/models?api-version=2024-10-21",
	},
	{
		name: "azure needs a model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"},
		path: "/v1/chat/completions", body: `{"messages":[]}`, wantErr: true, errParam: "model",
	},
	// A model that becomes the deployment segment must be one segment.
	{name: "azure dot-dot model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"}, path: "/v1/chat/completions", body: `{"model":".."}`, wantErr: true, errParam: "model"},
	{name: "azure dot model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"}, path: "/v1/chat/completions", body: `{"model":"."}`, wantErr: true, errParam: "model"},
	{name: "azure escaped dot-dot model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"}, path: "/v1/embeddings", body: `{"model":"\u002e\u002e"}`, wantErr: true, errParam: "model"},
	{name: "azure slash model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"}, path: "/v1/chat/completions", body: `{"model":"a/../../admin"}`, wantErr: true, errParam: "model"},
	{name: "azure backslash model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"}, path: "/v1/chat/completions", body: `{"model":"a\\..\\b"}`, wantErr: true, errParam: "model"},
	{name: "azure percent model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"}, path: "/v1/chat/completions", body: `{"model":"%2e%2e"}`, wantErr: true, errParam: "model"},
	{name: "azure query model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"}, path: "/v1/chat/completions", body: `{"model":"m?api-version=x"}`, wantErr: true, errParam: "model"},
	{name: "azure fragment model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"}, path: "/v1/chat/completions", body: `{"model":"m#x"}`, wantErr: true, errParam: "model"},
	{name: "azure control byte model", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"}, path: "/v1/chat/completions", body: `{"model":"m\u0000"}`, wantErr: true, errParam: "model"},
	{name: "azure dot-dot via override", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v", ModelOverride: map[string]string{"x": "ok"}}, path: "/v1/chat/completions", body: `{"model":".."}`, wantErr: true, errParam: "model"},
	{
		name: "azure dots inside a name are fine", target: Target{Schema: SchemaAzureOpenAI, APIVersion: "v"},
		path: "/v1/chat/completions", body: `{"model":"gpt-4.1...mini"}`,
		wantPath: "/openai/deployments/gpt-4.1...mini/chat/completions?api-version=v", wantModel: "gpt-4.1...mini",
	},
	{
		name: "openai model is not a path segment", target: Target{},
		path: "/v1/chat/completions", body: `{"model":"org/model"}`,
		wantPath: "/v1/chat/completions", wantModel: "org/model",
	},
}

const openAIChatResponse = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}}`

const openAIStreamFixture = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"usage\"},\"finish_reason\":null}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\n" +
	"data: [DONE]\n\n"

func TestPassthroughResponse(t *testing.T) {
	errMode := ResponseMode{Error: true, BufferBody: true, ModifiesBody: true, ContentType: "application/json"}
	tests := []struct {
		name        string
		status      int
		contentType string
		encoding    string
		body        []byte
		wantMode    ResponseMode
		wantOut     []byte
		wantUsage   Usage
	}{
		{
			name: "json usage", status: 200, contentType: "application/json", body: []byte(openAIChatResponse),
			wantMode: ResponseMode{BufferBody: true}, wantOut: []byte(openAIChatResponse),
			wantUsage: Usage{InputTokens: 9, OutputTokens: 3, TotalTokens: 12, CachedInputTokens: 4, Model: "gpt-4o"},
		},
		{
			name: "stream usage", status: 200, contentType: "text/event-stream", body: []byte(openAIStreamFixture),
			wantMode: ResponseMode{Stream: true}, wantOut: []byte(openAIStreamFixture),
			wantUsage: Usage{InputTokens: 9, OutputTokens: 3, TotalTokens: 12, Model: "gpt-4o"},
		},
		{
			name: "gzip json decoded", status: 200, contentType: "application/json", encoding: "gzip", body: gzipBytes(t, []byte(openAIChatResponse)),
			wantMode: ResponseMode{BufferBody: true, ModifiesBody: true, RemoveContentEncoding: true}, wantOut: []byte(openAIChatResponse),
			wantUsage: Usage{InputTokens: 9, OutputTokens: 3, TotalTokens: 12, CachedInputTokens: 4, Model: "gpt-4o"},
		},
		{
			name: "gzip stream decoded incrementally", status: 200, contentType: "text/event-stream", encoding: "x-gzip", body: gzipBytes(t, []byte(openAIStreamFixture)),
			wantMode: ResponseMode{Stream: true, ModifiesBody: true, RemoveContentEncoding: true}, wantOut: []byte(openAIStreamFixture),
			wantUsage: Usage{InputTokens: 9, OutputTokens: 3, TotalTokens: 12, Model: "gpt-4o"},
		},
		{
			name: "openai error kept", status: 429, contentType: "application/json", body: []byte(`{"error":{"message":"slow","type":"requests","param":null,"code":"rate_limit_exceeded"}}`),
			wantMode: errMode, wantOut: []byte(`{"error":{"message":"slow","type":"requests","param":null,"code":"rate_limit_exceeded"}}`),
		},
		{
			// Azure's {"code","message"} envelope gets OpenAI's type and param.
			name: "azure error completed", status: 404, contentType: "application/json", body: []byte(`{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}`),
			wantMode: errMode, wantOut: []byte(`{"error":{"message":"The API deployment for this resource does not exist.","type":"invalid_request_error","param":null,"code":"DeploymentNotFound"}}`),
		},
		{
			name: "flat vllm error wrapped", status: 400, contentType: "application/json", body: []byte(`{"object":"error","message":"max_tokens too large","type":"BadRequestError","param":null,"code":400}`),
			wantMode: errMode, wantOut: []byte(`{"error":{"message":"max_tokens too large","type":"BadRequestError","param":null,"code":"400"}}`),
		},
		{
			name: "html error replaced", status: 502, contentType: "text/html", body: []byte(`<html>bad gateway</html>`),
			wantMode: errMode, wantOut: []byte(`{"error":{"message":"the backend returned HTTP 502","type":"api_error","param":null,"code":null}}`),
		},
		{
			name: "gzip error decoded", status: 500, contentType: "application/json", encoding: "gzip", body: gzipBytes(t, []byte(`{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`)),
			wantMode: ResponseMode{Error: true, BufferBody: true, ModifiesBody: true, RemoveContentEncoding: true, ContentType: "application/json"}, wantOut: []byte(`{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`),
		},
		{
			name: "undecodable encoding passes through", status: 200, contentType: "application/json", encoding: "br", body: []byte{1, 2, 3},
			wantMode: ResponseMode{}, wantOut: []byte{1, 2, 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(Target{}, "/v1/chat/completions")
			if err != nil {
				t.Fatal(err)
			}
			mode, err := tr.ResponseHeaders(tc.status, tc.contentType, tc.encoding)
			if err != nil || mode != tc.wantMode {
				t.Fatalf("mode %+v, %v; want %+v", mode, err, tc.wantMode)
			}
			// Feed in three pieces to exercise accumulation and streaming.
			var out []byte
			var usage Usage
			n := len(tc.body)
			cuts := []int{0, n / 3, 2 * n / 3, n}
			for i := 0; i < 3; i++ {
				o, u, err := tr.ResponseBody(tc.body[cuts[i]:cuts[i+1]], i == 2)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, o...)
				usage = u
			}
			if !bytes.Equal(out, tc.wantOut) || usage != tc.wantUsage {
				t.Fatalf("out %q usage %+v; want %q %+v", out, usage, tc.wantOut, tc.wantUsage)
			}
		})
	}
}

func TestPassthroughStreamParsesWithOpenAISDK(t *testing.T) {
	tr, _ := New(Target{}, "/v1/chat/completions")
	if _, err := tr.ResponseHeaders(200, "text/event-stream", ""); err != nil {
		t.Fatal(err)
	}
	out, _, err := tr.ResponseBody([]byte(openAIStreamFixture), true)
	if err != nil {
		t.Fatal(err)
	}
	acc, _, err := openAIStream(t, out)
	if err != nil || acc.Choices[0].Message.Content != "usage" || acc.Usage.TotalTokens != 12 {
		t.Fatalf("acc %+v, %v", acc, err)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal([]byte(openAIChatResponse), &cc); err != nil || cc.Usage.PromptTokensDetails.CachedTokens != 4 {
		t.Fatalf("fixture does not parse as a chat completion: %v", err)
	}
}

func TestAppendErrorJSON(t *testing.T) {
	tests := []struct {
		message, typ, param, code string
		want                      string
	}{
		{"m", "t", "", "", `{"error":{"message":"m","type":"t","param":null,"code":null}}`},
		{"a\"b\\c\n\x01\xff", "t", "p", "c", `{"error":{"message":"a\"b\\c\n\u0001\ufffd","type":"t","param":"p","code":"c"}}`},
	}
	for _, tc := range tests {
		got := AppendErrorJSON(nil, tc.message, tc.typ, tc.param, tc.code)
		if string(got) != tc.want || !json.Valid(got) {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

// TestPassthroughScannedMatchesScan: with the router phase's findings the
// passthrough decides exactly what it decides scanning the body itself.
func TestPassthroughScannedMatchesScan(t *testing.T) {
	targets := []struct {
		name   string
		target Target
		path   string
	}{
		{"openai", Target{}, "/v1/chat/completions"},
		{"openai override", Target{ModelOverride: map[string]string{"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "m": "m\"2"}}, "/v1/chat/completions"},
		{"default model", Target{DefaultModel: "fallback"}, "/v1/embeddings"},
		{"azure", Target{Schema: SchemaAzureOpenAI, APIVersion: "2024-10-21", ModelOverride: map[string]string{"m": "dep"}}, "/v1/chat/completions"},
		{"anthropic messages", Target{Schema: SchemaAnthropic, DefaultModel: "claude"}, "/v1/messages"},
	}
	for _, tg := range targets {
		for i, in := range scannedBodies {
			body, f, err := forwarded([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := New(tg.target, tg.path)
			if err != nil {
				t.Fatal(err)
			}
			want, werr := tr.RequestBody(body)
			tr, _ = New(tg.target, tg.path)
			got, err := tr.(ScannedRequest).RequestBodyScanned(body, f)
			if fmt.Sprint(err) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
				t.Errorf("%s, body %d %s:\nscanned %+v %v\nscan    %+v %v", tg.name, i, body, got, err, want, werr)
			}
		}
	}
}

// scannedBodies are the bodies of TestPassthroughScannedMatchesScan, as
// the client sends them (forwarded makes what the router phase forwards).
var scannedBodies = []string{
	`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}`,
	`{"backend":"b","model":"m","stream":true,"stream":false}`,
	`{ "messages" : [] , "model" : "m\u00e9" , "backend" : "b" }`,
	`{"backend":"b","input":"x"}`,
	`{"backend":"b"}`,
	`{}`,
	`{"model":42,"stream":true}`,
	`{"model":"a/b"}`,
}

// forwarded is the body the router phase forwards for the client's body
// (its backend member removed) and its findings for it; err is the router
// phase's verdict on a body it does not forward.
func forwarded(body []byte) ([]byte, bodyscan.Findings, error) {
	scan, err := bodyscan.Scan(body, "backend")
	if err != nil {
		return nil, bodyscan.Findings{}, err
	}
	var removed bodyscan.Member
	if scan.Backend.Present {
		body, removed = bodyscan.RemoveMember(body, scan.Backend), scan.Backend
	}
	return body, bodyscan.FindingsOf(scan, removed), nil
}

// The OpenAI-compatible upstream path is the prefix, the client's endpoint
// and its query, however they are spelled; with the default prefix it is
// the client's own path string (no copy).
func TestOpenAIUpstreamPath(t *testing.T) {
	for _, c := range []struct{ prefix, path, want string }{
		{"", "/v1/chat/completions", "/v1/chat/completions"},
		{"/v1/", "/v1/chat/completions", "/v1/chat/completions"},
		{"", "/v1/chat/completions?x=1&y=2", "/v1/chat/completions?x=1&y=2"},
		{"", "/v1/chat/completions?", "/v1/chat/completions"},
		{"", "/v1/models/", "/v1/models/"},
		{"", "/v1", "/v1/"},
		{"", "/chat/completions", "/v1/chat/completions"},
		{"", "chat/completions?a=b", "/v1/chat/completions?a=b"},
		{"/api/v1", "/v1/chat/completions?a=b", "/api/v1/chat/completions?a=b"},
		{"/api/v1/", "/v1/embeddings", "/api/v1/embeddings"},
		{"/", "/v1/embeddings", "/embeddings"},
	} {
		tr, err := New(Target{PathPrefix: c.prefix}, c.path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.RequestBody([]byte(`{"model":"m"}`))
		if err != nil || res.Path != c.want {
			t.Errorf("prefix %q, path %q: %q %v, want %q", c.prefix, c.path, res.Path, err, c.want)
		}
		// The path built the long way (joinPath), the reference.
		prefix := c.prefix
		if prefix == "" {
			prefix = "/v1"
		}
		ep := parseEndpoint(c.path)
		ref := joinPath(prefix, ep.suffix)
		if ep.query != "" {
			ref += "?" + ep.query
		}
		if res.Path != ref {
			t.Errorf("prefix %q, path %q: %q, joinPath gives %q", c.prefix, c.path, res.Path, ref)
		}
	}
}

// A passthrough request with a model override, on the router phase's
// findings, allocates only its translator: the edit, the path and the
// models are not copied.
func TestPassthroughScannedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race changes allocation counts; make test runs this test again without -race")
	}
	target := Target{ModelOverride: map[string]string{"gpt-4o-mini": "gpt-4o-mini-2024-07-18"}}
	for _, tc := range []struct{ body, want string }{
		{`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"gpt-4o-mini-2024-07-18","messages":[{"role":"user","content":"hi"}]}`},
		// A stream asked for usage: from slices, its outline is pooled.
		{`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}`,
			`{"stream_options":{"include_usage":true},"model":"gpt-4o-mini-2024-07-18","messages":[{"role":"user","content":"hi"}],"stream":true}`},
	} {
		body, f, err := forwarded([]byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		// The contiguous form, and the sliced one (RequestEditsSliced)
		// over the body in five slices.
		parts := testbodies.Cut(body, 3, 10, 11, 40)
		for _, sliced := range []bool{false, true} {
			var res RequestResult
			n := testing.AllocsPerRun(100, func() {
				tr, err := New(target, "/v1/chat/completions")
				if err != nil {
					t.Fatal(err)
				}
				done := true
				if sliced {
					res, done, err = tr.(SlicedEditedRequest).RequestEditsSliced(parts, f)
				} else {
					res, err = tr.(EditedRequest).RequestEditsScanned(body, f)
				}
				if err != nil || !done {
					t.Fatal(err, done)
				}
			})
			if got := string(ApplyEdits(body, res.Edits)); got != tc.want || res.Path != "/v1/chat/completions" ||
				res.Model != "gpt-4o-mini-2024-07-18" || res.RequestModel != "gpt-4o-mini" {
				t.Fatalf("sliced %v: %q %q %q %q", sliced, got, res.Path, res.Model, res.RequestModel)
			}
			if n > 1 {
				t.Errorf("sliced %v, %s: %v allocations per request, want 1 (the translator)", sliced, tc.body, n)
			}
		}
	}
}

// A released OpenAI passthrough is reused, and the attempt that gets it sees
// nothing of the one before: a stream that was asked for usage, its usage
// and its buffered response are gone. Passthroughs that are not pooled
// (Azure) are left alone.
func TestPassthroughReleaseForgetsTheAttempt(t *testing.T) {
	streamBody := []byte(`{"model":"m","stream":true,"messages":[]}`)
	first, err := New(Target{}, "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.RequestBody(streamBody); err != nil {
		t.Fatal(err)
	}
	if _, err := first.ResponseHeaders(200, "text/event-stream", ""); err != nil {
		t.Fatal(err)
	}
	first.ResponseBody([]byte("data: {\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\ndata: [DO"), false)
	Release(first)
	if p := first.(*passthrough); !reflect.DeepEqual(*p, passthrough{}) {
		t.Fatalf("released passthrough keeps its attempt: %+v", *p)
	}
	reused := false
	for range 10 { // sync.Pool may drop an object (always under -race)
		next, err := New(Target{}, "/v1/embeddings")
		if err != nil {
			t.Fatal(err)
		}
		reused = reused || next == first
		fresh := &passthrough{target: Target{}, usage: openaiUsageScanner{}, fixedPath: "/v1/embeddings"}
		for _, tr := range []Translator{next, fresh} {
			res, err := tr.RequestBody([]byte(`{"model":"m","input":"x"}`))
			if err != nil || res.Path != "/v1/embeddings" || res.Body != nil || res.Edits != nil {
				t.Fatalf("%q %q %v %v", res.Path, res.Body, res.Edits, err)
			}
			mode, _ := tr.ResponseHeaders(200, "application/json", "")
			out, u, err := tr.ResponseBody([]byte(`{"usage":{"prompt_tokens":2,"total_tokens":2}}`), true)
			if mode.Stream || mode.ModifiesBody || err != nil || string(out) != `{"usage":{"prompt_tokens":2,"total_tokens":2}}` || u.InputTokens != 2 || u.OutputTokens != 0 {
				t.Fatalf("%+v %q %+v %v", mode, out, u, err)
			}
		}
		Release(next)
	}
	if !reused && !raceEnabled {
		t.Error("a released passthrough was never reused")
	}
	az, err := New(Target{Schema: SchemaAzureOpenAI, APIVersion: "2024-10-21"}, "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := az.RequestBody([]byte(`{"model":"m","messages":[]}`)); err != nil {
		t.Fatal(err)
	}
	Release(az)
	if p := az.(*passthrough); p.path == nil || p.target.APIVersion == "" {
		t.Fatal("an unpooled passthrough was cleared by Release")
	}
}
