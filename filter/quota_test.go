package filter

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aigw/aigw/internal/cost"
	"github.com/aigw/aigw/internal/metrics"
	"github.com/aigw/aigw/internal/quota"
)

// quotaConfig is testConfig with in-process budgets. Configs with the same
// rules share one engine in the process, so each test names its rules
// apart (name) to start from empty counters.
func quotaConfig(t *testing.T, name, mode string, limit int) *Config {
	t.Helper()
	doc := fmt.Sprintf(`{"backends":[{"name":"deploy-a","models":["gpt-4o-mini"]}],
	  "quota":{"default_output_tokens":100,
	    "costs":[{"name":"total_tokens","type":"total"},{"name":"out","type":"output"}],
	    "budgets":[{"name":%q,"per":"client","limit":%d,"window":"1h","mode":%q}]}}`, name, limit, mode)
	a, _ := anypb.New(wrapperspb.String(doc))
	c, err := Parser{}.Parse(a, &fakeConfigCallbacks{counters: map[string]*fakeCounter{}})
	if err != nil {
		t.Fatal(err)
	}
	c.budget = new(Budget)
	return c
}

// quotaRequest is one request through the router phase; between routing
// and the end of the stream, upstream plays the upstream phase (it gets the
// ticket the router phase wrote, 0 when none).
type quotaRequest struct {
	cb     *fakeStream
	status api.StatusType
}

func sendQuota(t *testing.T, cfg *Config, path, client, body string, upstream func(ticket uint64)) quotaRequest {
	t.Helper()
	cb := newStream()
	h := post(path)
	if client != "" {
		h = post(path, "x-api-key-id", client)
	}
	var f Router
	f.Init(cfg, cb)
	st := f.DecodeHeaders(h, false)
	if st == api.StopAndBuffer {
		st = f.DecodeData(&fakeBuffer{b: []byte(body)}, true)
	}
	if upstream != nil && st == api.Continue {
		upstream(uint64(cb.nums[MetaQuotaTicket]))
	}
	f.OnStreamComplete()
	f.OnDestroy()
	return quotaRequest{cb: cb, status: st}
}

// report is what the upstream phase does when the provider reports usage.
func report(u cost.Usage) func(uint64) {
	return func(ticket uint64) {
		if ticket != 0 {
			quota.Held.Report(ticket, u, u.Total)
		}
	}
}

func TestQuotaReserveAndReject(t *testing.T) {
	cfg := quotaConfig(t, "reject-"+t.Name(), "enforce", 1000)
	// 40-byte body -> 10 input tokens + max_tokens 400 = 410 reserved.
	body := `{"model":"gpt-4o-mini","max_tokens":400}`
	if len(body) != 40 {
		t.Fatalf("body is %d bytes", len(body))
	}
	used := uint64(0)
	for i := 0; i < 2; i++ {
		r := sendQuota(t, cfg, "/v1/chat/completions", "team-a", body, report(cost.Usage{Input: 10, Output: 400, Total: 410}))
		if r.status != api.Continue {
			t.Fatalf("request %d: status %v, reply %+v", i, r.status, r.cb.reply)
		}
		if got := r.cb.nums["total_tokens"]; got != 410 {
			t.Fatalf("request %d: total_tokens metadata %v, want 410", i, got)
		}
		if got := r.cb.nums["out"]; got != 400 {
			t.Fatalf("request %d: out metadata %v, want 400", i, got)
		}
		used += 410
	}
	// 820 used: a third reservation of 410 does not fit 1000.
	r := sendQuota(t, cfg, "/v1/chat/completions", "team-a", body, func(ticket uint64) {
		t.Fatal("a refused request reached the upstream phase")
	})
	if r.status != api.LocalReply || r.cb.reply.status != 429 {
		t.Fatalf("status %v, reply %+v", r.status, r.cb.reply)
	}
	var doc struct {
		Error struct{ Message, Type, Code string }
	}
	if err := json.Unmarshal([]byte(r.cb.reply.body), &doc); err != nil || doc.Error.Type != "rate_limit_error" || doc.Error.Code != "rate_limit_exceeded" || !strings.Contains(doc.Error.Message, "reject-") {
		t.Fatalf("body %s (%v)", r.cb.reply.body, err)
	}
	hdr := map[string]string{}
	for i := 0; i+1 < len(r.cb.reply.headers); i += 2 {
		hdr[r.cb.reply.headers[i]] = r.cb.reply.headers[i+1]
	}
	if hdr["content-type"] != "application/json" || hdr["ratelimit-limit"] != "1000" || hdr["ratelimit-remaining"] != "180" ||
		hdr["retry-after"] == "" || hdr["retry-after"] == "0" || hdr["ratelimit-reset"] == "" {
		t.Fatalf("headers %v", hdr)
	}
	if r.cb.nums["total_tokens"] != 0 {
		t.Fatalf("a refused request costs 0, metadata %v", r.cb.nums)
	}
	if _, ok := r.cb.nums["total_tokens"]; !ok {
		t.Fatal("a refused request has no cost metadata")
	}
	// Another client is unaffected.
	if r := sendQuota(t, cfg, "/v1/chat/completions", "team-b", body, nil); r.status != api.Continue {
		t.Fatalf("team-b: %v %+v", r.status, r.cb.reply)
	}
	// Anthropic clients get Anthropic's error format.
	r = sendQuota(t, cfg, "/v1/messages", "team-a", body, nil)
	if r.cb.reply == nil || !strings.HasPrefix(r.cb.reply.body, `{"type":"error","error":{"type":"rate_limit_error"`) {
		t.Fatalf("anthropic reply %+v", r.cb.reply)
	}
	if quota.Held.Len() != 0 {
		t.Fatalf("%d tickets left", quota.Held.Len())
	}
	if metrics.QuotaCount("reject-"+t.Name(), "enforce", metrics.QuotaRejected) != 2 {
		t.Fatal("rejections not counted")
	}
}

func TestQuotaFailedRequestIsReleased(t *testing.T) {
	cfg := quotaConfig(t, "release-"+t.Name(), "enforce", 500)
	body := `{"model":"gpt-4o-mini","max_tokens":400}` // reserves 410 of 500
	// Attempts that fail report no usage: the reservation is given back, so
	// the budget never runs out however many requests fail.
	for i := 0; i < 5; i++ {
		if r := sendQuota(t, cfg, "/v1/chat/completions", "c", body, func(uint64) {}); r.status != api.Continue {
			t.Fatalf("request %d refused after failed ones: %+v", i, r.cb.reply)
		}
	}
	// Settled to a smaller usage: the rest is given back too.
	sendQuota(t, cfg, "/v1/chat/completions", "c", body, report(cost.Usage{Input: 10, Output: 20, Total: 30}))
	_, d := cfg.Quota.Engine().Reserve(quota.Key{Client: "c"}, 470)
	if !d.Allowed {
		t.Fatalf("470 of 500 left expected after a 30-token request: %+v", d)
	}
}

func TestQuotaShadowNeverRejects(t *testing.T) {
	name := "shadow-" + t.Name()
	cfg := quotaConfig(t, name, "shadow", 100)
	body := `{"model":"gpt-4o-mini","max_tokens":400}`
	var last quotaRequest
	for i := 0; i < 3; i++ {
		last = sendQuota(t, cfg, "/v1/chat/completions", "c", body, report(cost.Usage{Input: 10, Output: 400, Total: 410}))
		if last.status != api.Continue {
			t.Fatalf("shadow rule rejected request %d: %+v", i, last.cb.reply)
		}
	}
	if got := last.cb.meta[MetaQuotaOverrun]; got != name+":shadow" {
		t.Fatalf("overrun metadata %q", got)
	}
	if metrics.QuotaCount(name, "shadow", metrics.QuotaOverrun) < 3 {
		t.Fatalf("overruns counted %d", metrics.QuotaCount(name, "shadow", metrics.QuotaOverrun))
	}
}

func TestQuotaCostsOnEveryRequest(t *testing.T) {
	cfg := quotaConfig(t, "every-"+t.Name(), "enforce", 100000)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/models", ""},
		{"GET", "/v1/files", ""},
		{"POST", "/v1/chat/completions", `{"model":42}`},
		{"POST", "/v1/chat/completions", `{"model":"gpt-4o-mini"}`},
	} {
		cb := newStream()
		var f Router
		f.Init(cfg, cb)
		h := newHeaders(":method", tc.method, ":path", tc.path)
		if st := f.DecodeHeaders(h, tc.body == ""); st == api.StopAndBuffer {
			f.DecodeData(&fakeBuffer{b: []byte(tc.body)}, true)
		}
		f.OnStreamComplete()
		f.OnDestroy()
		for _, k := range []string{"total_tokens", "out"} {
			if v, ok := cb.nums[k]; !ok || v != 0 {
				t.Errorf("%s %s: %s = %v, %v; want 0", tc.method, tc.path, k, v, ok)
			}
		}
	}
}

func TestQuotaDefaultIdentity(t *testing.T) {
	cfg := quotaConfig(t, "anon-"+t.Name(), "enforce", 1000)
	body := `{"model":"gpt-4o-mini","max_tokens":900}`
	sendQuota(t, cfg, "/v1/chat/completions", "", body, report(cost.Usage{Total: 950}))
	_, d := cfg.Quota.Engine().Reserve(quota.Key{Client: "anonymous"}, 100)
	if d.Allowed {
		t.Fatal("a request without identity was not charged to the default identity")
	}
}
