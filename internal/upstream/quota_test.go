package upstream

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/metrics"
	"github.com/aigw/aigw/internal/quota"
)

// quotaPipeline is pipelineConfig's oai and claude backends with one
// enforce budget per client (rule named apart per test: configs with the
// same rules share one engine in the process).
func quotaPipeline(t *testing.T, rule string, limit int) *Config {
	t.Helper()
	t.Setenv("AIGW_TEST_OPENAI_KEY", "sk-openai-secret")
	t.Setenv("AIGW_TEST_ANTHROPIC_KEY", "anthropic-secret")
	return mustConfig(t, fmt.Sprintf(`{
  "backends": [
    {"name": "oai", "auth": {"type": "bearer", "key_env": "AIGW_TEST_OPENAI_KEY"}},
    {"name": "claude", "schema": "anthropic", "model_override": "claude-3-5-haiku-latest",
     "auth": {"type": "anthropic_api_key", "key_env": "AIGW_TEST_ANTHROPIC_KEY"}}
  ],
  "quota": {"costs": [{"name": "total_tokens", "type": "total"}],
    "budgets": [{"name": %q, "per": "client", "limit": %d, "window": "1h", "mode": "enforce"}]}
}`, rule, limit))
}

// reserved plays the router phase: a reservation of amount for client, its
// ticket in the attempt's dynamic metadata.
func reserved(t *testing.T, c *Config, a *fakeAttempt, client string, amount uint64) (*quota.Hold, uint64) {
	t.Helper()
	res, d := c.quota.Engine().Reserve(quota.Key{Client: client}, amount)
	if !d.Allowed {
		t.Fatalf("reserve %d: %+v", amount, d)
	}
	h := quota.NewHold(c.quota.Engine(), res, d)
	id := quota.Held.Put(&h)
	a.dynMD[MetadataNamespace+"/"+MetadataQuotaTicket] = float64(id)
	return &h, id
}

func chunkEvent(s string) string {
	return `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"` + s + `"},"finish_reason":null}]}` + "\n\n"
}

func TestStreamCutAtBudget(t *testing.T) {
	rule := "cut-" + t.Name()
	c := quotaPipeline(t, rule, 100)
	a := clientRequest("oai", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[]}`)
	_, id := reserved(t, c, a, "team-a", 60)
	f := NewFilter(c, a)
	if !decodeLikeEnvoy(t, f, a, []string{string(a.reqB.b)}) {
		t.Fatal("not forwarded")
	}
	a.respH = fakeHeaders{":status": "200", "content-type": "text/event-stream"}
	if st := f.OnResponseHeaders(false); st != Continue {
		t.Fatalf("response headers %v", st)
	}
	// 60 reserved, limit 100: events within the reservation and up to the
	// limit pass; the frame that takes the client past 100 delivered tokens
	// is cut after its complete events. Frames split events anywhere.
	var stream strings.Builder
	for i := 0; i < 300; i++ {
		stream.WriteString(chunkEvent(fmt.Sprint(i)))
	}
	src := stream.String()
	const frame = 1000
	var client strings.Builder
	for off := 0; off < len(src); off += frame {
		a.respB.b = []byte(src[off:min(off+frame, len(src))])
		if st := f.OnResponseBody(false); st != Continue {
			t.Fatalf("frame at %d: %v", off, st)
		}
		client.Write(a.respB.b)
	}
	out := client.String()
	if !strings.HasSuffix(out, "data: [DONE]\n\n") || strings.Count(out, "[DONE]") != 1 {
		t.Fatalf("stream does not end with one terminator: ...%s", out[max(0, len(out)-300):])
	}
	if !strings.Contains(out, `data: {"error":{"message":"token quota \"`+rule+`\" exceeded`) {
		t.Fatalf("no error event: ...%s", out[max(0, len(out)-400):])
	}
	// Every event before the error is complete, and the cut came within one
	// frame (about 7 events here) past the limit.
	events := strings.Split(strings.TrimSuffix(out, "\n\n"), "\n\n")
	content := events[:len(events)-2]
	if n := len(content); n < 100 || n > 100+frame/len(chunkEvent("100")) {
		t.Fatalf("%d content events delivered, want 100 plus at most one frame", n)
	}
	for i, e := range content {
		if e != strings.TrimSuffix(chunkEvent(fmt.Sprint(i)), "\n\n") {
			t.Fatalf("event %d delivered as %q", i, e)
		}
	}
	if metrics.QuotaCount(rule, "enforce", metrics.QuotaCut) != 1 {
		t.Fatal("cut not counted")
	}
	// The delivered tokens (data events counted, the partial one included)
	// stay charged: the router phase settles to them.
	h, ok := quota.Held.Finish(id, c.quota.BudgetCharge)
	if !ok || h.Usage().Output < 100 || !h.Cut {
		t.Fatalf("hold %+v", h)
	}
	if got := a.dynMD[MetadataNamespace+"/total_tokens"]; got != float64(h.Usage().Total) {
		t.Fatalf("total_tokens metadata %v, want the %d delivered", got, h.Usage().Total)
	}
	// Later frames are dropped.
	a.respB.b = []byte(chunkEvent("late"))
	f.OnResponseBody(false)
	if len(a.respB.b) != 0 {
		t.Fatalf("a frame after the cut reached the client: %q", a.respB.b)
	}
	// The provider's [DONE] after the cut reaches the translator no more;
	// the attempt's error type is the quota's, not served nor a client's
	// abort, whether its end of stream or a hang-up ends it.
	a.respB.b = []byte("data: [DONE]\n\n")
	f.OnResponseBody(false)
	f.OnDestroy()
	if f.ms.m.ErrorType != "rate_limit_exceeded" {
		t.Fatalf("attempt's error type %q", f.ms.m.ErrorType)
	}
}

func TestStreamWithinBudgetIsNotCut(t *testing.T) {
	c := quotaPipeline(t, "nocut-"+t.Name(), 1000)
	a := clientRequest("oai", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[]}`)
	_, id := reserved(t, c, a, "team-a", 50)
	f := NewFilter(c, a)
	decodeLikeEnvoy(t, f, a, []string{string(a.reqB.b)})
	a.respH = fakeHeaders{":status": "200", "content-type": "text/event-stream"}
	f.OnResponseHeaders(false)
	last := chunkEvent("x") + `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}` + "\n\ndata: [DONE]\n\n"
	a.respB.b = []byte(chunkEvent("hi") + chunkEvent("yo"))
	f.OnResponseBody(false)
	a.respB.b = []byte(last)
	f.OnResponseBody(true)
	// The usage chunk the gateway asked for (stream_options.include_usage)
	// is taken back out of what the client receives.
	if want := chunkEvent("x") + "data: [DONE]\n\n"; string(a.respB.b) != want {
		t.Fatalf("passthrough changed: %q, want %q", a.respB.b, want)
	}
	h, _ := quota.Held.Finish(id, c.quota.BudgetCharge)
	// The provider's report wins over the event count once it comes.
	if u := h.Usage(); u.Input != 7 || u.Output != 3 || u.Total != 10 || h.Cut {
		t.Fatalf("hold %+v usage %+v", h, h.Usage())
	}
	if a.dynMD[MetadataNamespace+"/total_tokens"] != float64(10) {
		t.Fatalf("metadata %v", a.dynMD)
	}
	f.OnDestroy()
}

// A retried attempt reports nothing (error statuses carry no usage): the
// reservation is neither charged twice nor lost, and the attempt that
// succeeds reports the usage settled at the end.
func TestFailedAttemptChargesNothing(t *testing.T) {
	c := quotaPipeline(t, "retry-"+t.Name(), 1000)
	a := clientRequest("oai", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[]}`)
	_, id := reserved(t, c, a, "team-a", 200)
	f := NewFilter(c, a)
	decodeLikeEnvoy(t, f, a, []string{string(a.reqB.b)})
	a.respH = fakeHeaders{":status": "503", "content-type": "application/json"}
	f.OnResponseHeaders(false)
	a.respB.b = []byte(`{"error":{"message":"overloaded","type":"server_error"}}`)
	f.OnResponseBody(true)
	f.OnDestroy()
	h, _ := quota.Held.Finish(id, c.quota.BudgetCharge)
	if h.Usage().Total != 0 {
		t.Fatalf("failed attempt reported %+v", h.Usage())
	}
	// Finished with no usage: the whole reservation is back.
	if _, d := c.quota.Engine().Reserve(quota.Key{Client: "team-a"}, 1000); !d.Allowed {
		t.Fatalf("reservation not released: %+v", d)
	}
}

func TestCostsWithoutBudgets(t *testing.T) {
	t.Setenv("AIGW_TEST_OPENAI_KEY", "sk")
	c := mustConfig(t, `{"backends":[{"name":"oai","auth":{"type":"bearer","key_env":"AIGW_TEST_OPENAI_KEY"}}],
	  "quota":{"costs":[{"name":"w","type":"cel","cel":"input_tokens + output_tokens * 4"}]}}`)
	a := clientRequest("oai", "/v1/chat/completions", `{"model":"m","messages":[]}`)
	f := NewFilter(c, a)
	decodeLikeEnvoy(t, f, a, []string{string(a.reqB.b)})
	a.respH = fakeHeaders{":status": "200", "content-type": "application/json"}
	f.OnResponseHeaders(false)
	a.respB.b = []byte(`{"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`)
	f.OnResponseBody(true)
	if got := a.dynMD[MetadataNamespace+"/w"]; got != float64(13) {
		t.Fatalf("w = %v, want 13", got)
	}
}
