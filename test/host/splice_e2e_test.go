package host_test

import (
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/mockprovider"
)

// TestSplicedOverrideAcrossRetryE2E: a body in many 16 KiB slices whose model two
// OpenAI-compatible backends override differently. Each attempt rewrites the model in
// Envoy's buffer from the buffer's own slices (internal/dynmod, aigw_body_edit): the
// primary (failing with a 503) gets its model, the fallback the retry's own copy of the
// original request with its model, every other byte unchanged, each with a content-length
// that matches (the host reports a mismatch as a HOST-VIOLATION).
func TestSplicedOverrideAcrossRetryE2E(t *testing.T) {
	o := trOptions{backends: []trBackend{
		{name: "primary", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o"},
			override: map[string]string{"gpt-4o": "gpt-4o-2024-08-06"}, mockModels: []string{"gpt-4o-2024-08-06"},
			key: "sk-primary-CANARY-5d0e1a77"},
		{name: "fallback", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o"},
			override:   map[string]string{"gpt-4o": "gpt-4o-fallback-deployment-with-a-longer-name"},
			mockModels: []string{"gpt-4o-fallback-deployment-with-a-longer-name"}, key: "sk-fallback-CANARY-9b3c2f10"},
	}}
	failoverTopology(&o)
	e := newTrEnv(t, o)
	e.mocks["primary"].srv.SetFailStatus(503)
	c := e.client()

	text := strings.Repeat("a long prompt \"quoted\" with \\ escapes and unicode é ", 3000) // ~160 KiB: ten slices
	p := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}
	id := newRequestID(t)
	out, err := c.Chat.Completions.New(ctxT(t), p, option.WithHeader("x-request-id", id))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Choices) != 1 || out.Choices[0].Message.Content != "Hello from fallback." {
		t.Fatalf("completion %+v", out)
	}
	for name, model := range map[string]string{"primary": "gpt-4o-2024-08-06", "fallback": "gpt-4o-fallback-deployment-with-a-longer-name"} {
		r := e.lastRequest(name)
		body := jsonBody(t, r)
		if body["model"] != model {
			t.Errorf("%s got model %v, want %s", name, body["model"], model)
		}
		msgs, _ := body["messages"].([]any)
		if len(msgs) != 1 {
			t.Fatalf("%s got messages %v", name, msgs)
		}
		if got, _ := msgs[0].(map[string]any)["content"].(string); got != text {
			t.Errorf("%s got a content of %d bytes, want the client's %d", name, len(got), len(text))
		}
		// Everything but the model string is the client's bytes.
		if !strings.Contains(string(r.Body), `"model":"`+model+`"`) || len(r.Body) < len(text) {
			t.Errorf("%s body is not the client's with its model: %.200s", name, r.Body)
		}
	}
	if a := e.access(id); a.Attempts != 2 || a.Status != 200 {
		t.Errorf("attempts %d status %d", a.Attempts, a.Status)
	}
	if p := e.h.Problems(); len(p) > 0 {
		t.Errorf("host problems: %v", p)
	}
}
