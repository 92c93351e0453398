package translate

import (
	"bytes"
	"os"
	"testing"
)

var anthTarget = Target{
	Schema:        SchemaAnthropic,
	ModelOverride: map[string]string{"gpt-4o-mini": "claude-3-5-haiku-latest", "gpt-4.1": "claude-sonnet-4-5"},
}

func newAnthropicT(t testing.TB, target Target) Translator {
	t.Helper()
	tr, err := New(target, "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestAnthropicMessagesPassthrough(t *testing.T) {
	tr, err := New(Target{Schema: SchemaAnthropic, DefaultModel: "claude-x", APIVersion: "2024-01-01", PathPrefix: "/anthropic/v1/"}, "/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.RequestBody([]byte(`{"model":"claude-y","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "/anthropic/v1/messages" || string(res.Body) != `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}` || res.Model != "claude-x" {
		t.Fatalf("result %+v body %s", res, res.Body)
	}
	if len(res.Headers) != 1 || res.Headers[0] != (Header{"anthropic-version", "2024-01-01"}) {
		t.Fatalf("headers %+v", res.Headers)
	}
	mode, err := tr.ResponseHeaders(200, "text/event-stream", "")
	if err != nil || mode.ModifiesBody {
		t.Fatalf("mode %+v %v", mode, err)
	}
	stream, err := os.ReadFile("testdata/anthropic/stream/tool_use_crlf.sse")
	if err != nil {
		t.Fatal(err)
	}
	out, usage, err := tr.ResponseBody(stream, true)
	if err != nil || !bytes.Equal(out, stream) {
		t.Fatalf("passthrough changed the stream: %v", err)
	}
	if want := (Usage{InputTokens: 1496, OutputTokens: 89, TotalTokens: 1585, CachedInputTokens: 1024, Model: "claude-sonnet-4-5-20250929"}); usage != want {
		t.Fatalf("usage %+v, want %+v", usage, want)
	}

	tr, _ = New(Target{Schema: SchemaAnthropic}, "/v1/messages")
	if _, err := tr.RequestBody([]byte(`{"model":"claude-y"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("testdata/anthropic/response/tool_use.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, usage, _ := tr.ResponseBody(body, true); usage.InputTokens != 2450 || usage.CachedInputTokens != 2000 {
		t.Fatalf("usage %+v", usage)
	}
}
