package host_test

import (
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/host"
	"github.com/aigw/aigw/test/mockprovider"
)

// TestSlicedStreamUsageE2E: a streamed request routed by its model, its ~170 KiB body
// in Envoy's 16 KiB slices, whose client did not ask for usage. The attempt decides its
// edits from the buffer's slices without joining them (internal/dynmod's Slices,
// translate's RequestEditsSliced): the model override, and the stream_options the gateway
// adds to account the stream, found around the messages value. The provider gets the
// client's bytes with its model and include_usage, with a content-length that matches
// (the host reports a mismatch as a HOST-VIOLATION); the client's stream carries no usage
// it did not ask for, and the attempt's tokens are accounted. (A retry's attempts decide
// each from their own copy: TestSplicedOverrideAcrossRetryE2E.)
func TestSlicedStreamUsageE2E(t *testing.T) {
	const model = "gpt-4o-deployment-for-streams"
	e := newTrEnv(t, trOptions{
		backends: []trBackend{{name: "oai", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o"},
			override: map[string]string{"gpt-4o": model}, mockModels: []string{model}, key: "sk-oai-CANARY-41c7e2d9"}},
		clusters: func(m map[string]*trMock) []host.Cluster {
			return []host.Cluster{{Name: "by-model", Endpoints: []host.Endpoint{m["oai"].endpoint(0)}}}
		},
		routes: func(map[string]*trMock) []host.Route {
			return []host.Route{{Name: "model-gpt-4o", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o"}},
				Prefix: "/", Cluster: "by-model", TimeoutMS: 20000}}
		},
	})
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
	r := e.lastRequest("oai")
	body := jsonBody(t, r)
	if body["model"] != model || body["stream"] != true {
		t.Errorf("got model %v stream %v, want %s true", body["model"], body["stream"], model)
	}
	if so, _ := body["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Errorf("got stream_options %v, want include_usage true", body["stream_options"])
	}
	if msgs, _ := body["messages"].([]any); len(msgs) != 1 {
		t.Errorf("got messages %v", msgs)
	} else if got, _ := msgs[0].(map[string]any)["content"].(string); got != text {
		t.Errorf("got a content of %d bytes, want the client's %d", len(got), len(text))
	}
	a := e.access(id)
	if a.Attempts != 1 || a.Status != 200 {
		t.Errorf("attempts %d status %d", a.Attempts, a.Status)
	}
	if md := a.DynamicMetadata["io.envoy.ai_gateway"]; md == nil || md["llm_total_token"] == nil || md["llm_total_token"] == 0.0 {
		t.Errorf("the stream's tokens were not accounted: %v", a.DynamicMetadata)
	}
	if p := e.h.Problems(); len(p) > 0 {
		t.Errorf("host problems: %v", p)
	}
}
