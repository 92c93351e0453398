package translate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/oaierr"
)

func newBedrockMessagesT(t testing.TB, target Target) Translator {
	t.Helper()
	tr, err := New(target, "/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestBedrockMessagesRequest: an Anthropic Messages request reaches Bedrock
// with only the host's rewrites.
func TestBedrockMessagesRequest(t *testing.T) {
	tests := []struct {
		name, body, wantPath, wantBody string
		target                         Target
		wantStream                     bool
		wantErr                        string
	}{
		{name: "plain, model into the path",
			body:     `{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"system":"be brief"}`,
			wantPath: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke",
			wantBody: `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"system":"be brief"}`},
		{name: "stream and the client's version dropped, override applied",
			body:     `{"anthropic_version":"x","stream":true,"model":"claude","max_tokens":10,"messages":[]}`,
			target:   Target{ModelOverride: map[string]string{"claude": "arn:aws:bedrock:us-east-1:1:inference-profile/us.a"}},
			wantPath: "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.a/invoke-with-response-stream", wantStream: true,
			wantBody: `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[]}`},
		{name: "no model", body: `{"max_tokens":10,"messages":[]}`, wantErr: "model"},
		{name: "model not a string", body: `{"model":1,"messages":[]}`, wantErr: "model"},
		{name: "model with a percent", body: `{"model":"a%2f","messages":[]}`, wantErr: "model"},
		{name: "not JSON", body: `{"model":`, wantErr: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.target.Schema = SchemaAWSBedrockAnthropic
			res, err := newBedrockMessagesT(t, tt.target).RequestBody([]byte(tt.body))
			if tt.wantBody == "" {
				e, ok := AsError(err, KindInvalid)
				if !ok || e.Status != http.StatusBadRequest || e.Param != tt.wantErr {
					t.Fatalf("err = %#v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Path != tt.wantPath || string(res.Body) != tt.wantBody || res.Stream != tt.wantStream {
				t.Errorf("path %s stream %v body %s", res.Path, res.Stream, res.Body)
			}
		})
	}
}

func translateBedrockMessagesStream(t testing.TB, pieces ...[]byte) ([]byte, Usage, error) {
	t.Helper()
	tr := newBedrockMessagesT(t, bedrockTarget)
	if _, err := tr.RequestBody([]byte(`{"model":"m","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)); err != nil {
		t.Fatal(err)
	}
	mode, err := tr.ResponseHeaders(200, "application/vnd.amazon.eventstream", "")
	if err != nil || !mode.Stream || mode.ContentType != "text/event-stream" || !mode.ModifiesBody {
		t.Fatalf("mode %+v %v", mode, err)
	}
	return responsePieces(tr, pieces)
}

// TestBedrockMessagesStream: Bedrock's frames of a recorded Anthropic stream
// come out as that Anthropic SSE stream's events (same data, same usage),
// whatever the split.
func TestBedrockMessagesStream(t *testing.T) {
	in := filepath.Join("testdata", "anthropic", "stream", "text.sse")
	sse, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	var p sseParser
	p.feed(sse, true, func(ev, data []byte) error {
		want = append(want, "event: "+string(ev)+"\ndata: "+string(data)+"\n\n"...)
		return nil
	})
	frames := bedrockStreamOf(t, sse)
	got, u, err := translateBedrockMessagesStream(t, frames)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%v\n%s\nwant\n%s", err, got, want)
	}
	if u.InputTokens == 0 || u.OutputTokens == 0 {
		t.Errorf("usage %+v", u)
	}
	for i := 0; i <= len(frames); i++ {
		split, su, err := translateBedrockMessagesStream(t, frames[:i], frames[i:])
		if err != nil || !bytes.Equal(split, want) || su != u {
			t.Fatalf("split at %d: %v", i, err)
		}
	}
	throttled := encodeFrame(t, map[string]string{":message-type": "exception", ":exception-type": "throttlingException"}, []byte(`{"message":"slow down"}`))
	out, _, err := translateBedrockMessagesStream(t, cat(frames[:len(frames)/2], throttled))
	if err == nil && !bytes.HasSuffix(out, []byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n")) {
		// The cut may fall inside a frame: then the stream is malformed.
		t.Errorf("exception: %s", out)
	}
	out, _, err = translateBedrockMessagesStream(t, frames[:len(frames)-3])
	if !isBadResponse(err) || !bytes.Contains(out, []byte(`event: error`)) || !bytes.Contains(out, []byte(`"type":"error"`)) {
		t.Errorf("truncated: %v %s", err, out)
	}
}

func TestBedrockMessagesResponses(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		want   string
	}{
		{200, `{"id":"msg_1","type":"message","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":4,"output_tokens":1}}`, ""},
		{400, `{"message":"Malformed input request"}`, `{"type":"error","error":{"type":"invalid_request_error","message":"Malformed input request"}}`},
		{403, `{"message":"The security token included in the request is invalid."}`, `{"type":"error","error":{"type":"permission_error","message":"The security token included in the request is invalid."}}`},
		{429, `{"message":"Too many requests"}`, `{"type":"error","error":{"type":"rate_limit_error","message":"Too many requests"}}`},
		{503, `<html/>`, `{"type":"error","error":{"type":"overloaded_error","message":"the bedrock backend returned HTTP Service Unavailable"}}`},
	} {
		tr := newBedrockMessagesT(t, bedrockTarget)
		if _, err := tr.RequestBody([]byte(`{"model":"m","max_tokens":5,"messages":[]}`)); err != nil {
			t.Fatal(err)
		}
		mode, err := tr.ResponseHeaders(tt.status, "application/json", "")
		if err != nil || !mode.BufferBody {
			t.Fatal(mode, err)
		}
		out, u, err := tr.ResponseBody([]byte(tt.body), true)
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == "" {
			if string(out) != tt.body || u.InputTokens != 4 || u.OutputTokens != 1 || mode.ModifiesBody {
				t.Errorf("200: %s %+v %+v", out, u, mode)
			}
			continue
		}
		if string(out) != tt.want || !json.Valid(out) {
			t.Errorf("%d: %s", tt.status, out)
		}
	}
	// gzip: bedrock_gzip_test.go.
	if EndpointError(SchemaAWSBedrockAnthropic, http.MethodPost, "/v1/messages") != nil {
		t.Error("/v1/messages is not an endpoint of aws_bedrock_anthropic")
	}
	if !strings.Contains(string(oaierr.AppendAnthropicErrorJSON(nil, "a", "b\"")), `"message":"b\""`) {
		t.Error("message not escaped")
	}
}
