package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// messagesResponseTranslator is a front-door translator that sent a request
// for model gpt-4o (stream or not).
func messagesResponseTranslator(t testing.TB, stream bool) *messagesToOpenAI {
	t.Helper()
	body := `{"model":"claude-sonnet-4","max_tokens":8,"messages":[{"role":"user","content":"x"}]}`
	if stream {
		body = strings.Replace(body, `"max_tokens"`, `"stream":true,"max_tokens"`, 1)
	}
	tr, _ := New(msgOpenAITarget, "/v1/messages")
	if _, err := tr.RequestBody([]byte(body)); err != nil {
		t.Fatal(err)
	}
	return tr.(*messagesToOpenAI)
}

func TestMessagesResponseGolden(t *testing.T) {
	for _, in := range inputs(t, "messages/response", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			tr := messagesResponseTranslator(t, false)
			mode, err := tr.ResponseHeaders(200, "application/json", "")
			if err != nil || !mode.BufferBody || !mode.ModifiesBody || mode.ContentType != "application/json" {
				t.Fatalf("mode %+v %v", mode, err)
			}
			out, u, err := tr.ResponseBody(body, true)
			if err != nil {
				t.Fatal(err)
			}
			var src struct {
				Usage oaiUsage `json:"usage"`
			}
			_ = json.Unmarshal(body, &src)
			if u.InputTokens != src.Usage.PromptTokens || u.OutputTokens != src.Usage.CompletionTokens {
				t.Errorf("usage %+v, want %+v", u, src.Usage)
			}
			checkGolden(t, goldenPath(in), indentJSON(t, out))
		})
	}
}

// Provider errors keep their status and become Anthropic errors; a 2xx the
// gateway cannot read is the caller's 502.
func TestMessagesResponseErrors(t *testing.T) {
	for _, tt := range []struct {
		status         int
		body, wantType string
		wantMsg        string
	}{
		{400, `{"error":{"message":"bad stop","type":"invalid_request_error","param":"stop","code":null}}`, "invalid_request_error", "bad stop"},
		{401, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, "authentication_error", "Incorrect API key provided"},
		{429, `{"error":{"code":"429","message":"Rate limit reached"}}`, "rate_limit_error", "Rate limit reached"},
		{503, `<html>busy</html>`, "overloaded_error", "the backend returned HTTP 503"},
		{500, `{"object":"error","message":"vllm crashed","type":"InternalServerError","code":500}`, "api_error", "vllm crashed"},
	} {
		tr := messagesResponseTranslator(t, false)
		mode, _ := tr.ResponseHeaders(tt.status, "application/json", "")
		if !mode.Error || !mode.BufferBody {
			t.Fatalf("mode %+v", mode)
		}
		out, _, err := tr.ResponseBody([]byte(tt.body), true)
		var e struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		if err != nil || json.Unmarshal(out, &e) != nil || e.Type != "error" || e.Error.Type != tt.wantType || e.Error.Message != tt.wantMsg {
			t.Errorf("%d %s -> %s (%v), want %s %q", tt.status, tt.body, out, err, tt.wantType, tt.wantMsg)
		}
	}
	for _, body := range []string{`<html>`, `{"choices":[]}`, `{"choices":[{"message":{"tool_calls":[{"id":"x","function":{"name":"f","arguments":"{oops"}}]}}]}`} {
		tr := messagesResponseTranslator(t, false)
		_, _ = tr.ResponseHeaders(200, "application/json", "")
		if _, _, err := tr.ResponseBody([]byte(body), true); !isBadResponse(err) {
			t.Errorf("%s: err %v, want a bad response", body, err)
		}
	}
}

// A backend's own Anthropic errors reach a passthrough client unchanged;
// anything else is rebuilt in Anthropic's shape.
func TestAnthropicPassthroughErrorsStayAnthropic(t *testing.T) {
	tr, err := New(anthTarget, "/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.RequestBody([]byte(`{"model":"x","max_tokens":1,"messages":[]}`)); err != nil {
		t.Fatal(err)
	}
	native := `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`
	for _, tt := range []struct{ in, want string }{
		{native, native},
		{`<html>bad gateway</html>`, `{"type":"error","error":{"type":"overloaded_error","message":"the backend returned HTTP 529"}}`},
	} {
		if _, err := tr.ResponseHeaders(529, "application/json", ""); err != nil {
			t.Fatal(err)
		}
		out, _, err := tr.ResponseBody([]byte(tt.in), true)
		if err != nil || string(out) != tt.want {
			t.Errorf("%s -> %s (%v), want %s", tt.in, out, err, tt.want)
		}
		tr, _ = New(anthTarget, "/v1/messages")
		_, _ = tr.RequestBody([]byte(`{"model":"x","max_tokens":1,"messages":[]}`))
	}
}
