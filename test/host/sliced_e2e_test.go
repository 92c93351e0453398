package host_test

import (
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/mockprovider"
)

// TestSlicedStreamUsageAcrossRetryE2E: a streamed request routed by its model, its
// ~160 KiB body in Envoy's 16 KiB slices, whose client did not ask for usage. Each
// attempt decides its edits from the buffer's slices without joining them
// (internal/dynmod's Slices, translate's RequestEditsSliced): the model override and the
// stream_options the gateway adds to account the stream, found around the messages
// value. The primary (failing with a 503) and the fallback each get the client's bytes
// with their own model and include_usage, with a content-length that matches (the host
// reports a mismatch as a HOST-VIOLATION); the client's stream carries no usage it did
// not ask for, and the attempt's tokens are accounted.
func TestSlicedStreamUsageAcrossRetryE2E(t *testing.T) {
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

	text := strings.Repeat("a long prompt \"stream_options\" with \\ escapes and unicode é ", 3000) // ~170 KiB: eleven slices
	p := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
		Temperature: openai.Float(0.5)}
	id := newRequestID(t)
	s := c.Chat.Completions.NewStreaming(ctxT(t), p, option.WithHeader("x-request-id", id))
	chunks := 0
	for s.Next() {
		chunks++
		if ch := s.Current(); ch.Usage.TotalTokens != 0 || ch.JSON.Usage.Valid() && len(ch.Choices) == 0 {
			t.Errorf("the client got usage it did not ask for: %s", ch.RawJSON())
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if chunks == 0 {
		t.Fatal("no chunk streamed")
	}
	for name, model := range map[string]string{"primary": "gpt-4o-2024-08-06", "fallback": "gpt-4o-fallback-deployment-with-a-longer-name"} {
		r := e.lastRequest(name)
		body := jsonBody(t, r)
		if body["model"] != model || body["stream"] != true {
			t.Errorf("%s got model %v stream %v, want %s true", name, body["model"], body["stream"], model)
		}
		if so, _ := body["stream_options"].(map[string]any); so["include_usage"] != true {
			t.Errorf("%s got stream_options %v, want include_usage true", name, body["stream_options"])
		}
		msgs, _ := body["messages"].([]any)
		if len(msgs) != 1 {
			t.Fatalf("%s got messages %v", name, msgs)
		}
		if got, _ := msgs[0].(map[string]any)["content"].(string); got != text {
			t.Errorf("%s got a content of %d bytes, want the client's %d", name, len(got), len(text))
		}
	}
	a := e.access(id)
	if a.Attempts != 2 || a.Status != 200 {
		t.Errorf("attempts %d status %d", a.Attempts, a.Status)
	}
	if md := a.DynamicMetadata["io.envoy.ai_gateway"]; md == nil || md["llm_total_token"] == nil || md["llm_total_token"] == 0.0 {
		t.Errorf("the stream's tokens were not accounted: %v", a.DynamicMetadata)
	}
	if p := e.h.Problems(); len(p) > 0 {
		t.Errorf("host problems: %v", p)
	}
}
