package host_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aigw/aigw/test/host"
	"github.com/aigw/aigw/test/ratelimit"
)

// Issue 15 through the built .so in the C host: in-process token budgets
// (reserve in the router phase, charge and cut in the upstream phase, settle
// at stream end) and the cost metadata Envoy's rate limit filter charges.

// words is a reply of n words: the mock counts a word per token.
func words(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("w%d", i)
	}
	return strings.Join(w, " ")
}

// quotaBackend is the OpenAI backend replying 40 words (40 completion tokens).
func quotaBackend(reply string) trBackend {
	b := schemaBackends[0]
	b.reply = reply
	return b
}

func as(client string) option.RequestOption { return option.WithHeader("x-api-key-id", client) }

// quotaParams: "hi" is 1 prompt token; the reply of 40 words is 40 output
// tokens: 41 charged. The body is about 110 bytes: the router phase reserves
// about 28 + 40 = 68.
func quotaParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:     "gpt-4o-mini",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		MaxTokens: openai.Int(40),
	}
}

func rateLimited(t *testing.T, err error) *openai.Error {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("want a 429 *openai.Error, got %v", err)
	}
	return apiErr
}

// Concurrent clients over 2 workers never exceed an enforced budget by more
// than one request's reservation; the budget is usable to the end; the 429
// carries OpenAI JSON, Retry-After and RateLimit-*; another client is
// unaffected.
func TestQuotaBudgetConcurrentE2E(t *testing.T) {
	const limit = 2000
	e := newTrEnv(t, trOptions{backends: []trBackend{quotaBackend(words(40))},
		quota: fmt.Sprintf(`{"budgets":[{"name":"per-key","per":"client","limit":%d,"window":"1h","mode":"enforce"}]}`, limit)})
	c := e.client(to("oai"))
	var used, ok, refused atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 12; i++ {
				out, err := c.Chat.Completions.New(ctxT(t), quotaParams(), as("team-a"))
				if err != nil {
					var apiErr *openai.Error
					if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
						t.Errorf("request failed: %v", err)
						return
					}
					refused.Add(1)
					continue
				}
				ok.Add(1)
				used.Add(out.Usage.TotalTokens)
			}
		}()
	}
	wg.Wait()
	const reservation = 80 // above any one request's estimate (about 68)
	if used.Load() > limit+reservation {
		t.Fatalf("%d tokens served to team-a, budget %d", used.Load(), limit)
	}
	if refused.Load() == 0 {
		t.Fatalf("96 requests of 41 tokens under a %d budget: none refused (%d served)", limit, used.Load())
	}
	// Sequentially, the rest of the budget is usable: settling gave back
	// what the estimates held beyond the usage.
	var last error
	for used.Load() <= limit && last == nil {
		var resp *http.Response
		out, err := c.Chat.Completions.New(ctxT(t), quotaParams(), as("team-a"), option.WithResponseInto(&resp))
		if err != nil {
			last = err
			break
		}
		used.Add(out.Usage.TotalTokens)
	}
	if used.Load() < limit-reservation || used.Load() > limit+reservation {
		t.Fatalf("team-a was served %d tokens of a %d budget", used.Load(), limit)
	}
	apiErr := rateLimited(t, last)
	if apiErr.Type != "rate_limit_error" || apiErr.Code != "rate_limit_exceeded" || !strings.Contains(apiErr.Message, `"per-key"`) {
		t.Fatalf("429 body: %s", apiErr.RawJSON())
	}
	h := apiErr.Response.Header
	if h.Get("Retry-After") == "" || h.Get("RateLimit-Limit") != fmt.Sprint(limit) || h.Get("RateLimit-Remaining") == "" || h.Get("RateLimit-Reset") == "" ||
		h.Get("Content-Type") != "application/json" {
		t.Fatalf("429 headers: %v", h)
	}
	if _, err := c.Chat.Completions.New(ctxT(t), quotaParams(), as("team-b")); err != nil {
		t.Fatalf("team-b: %v", err)
	}
	t.Logf("team-a: %d served (%d tokens), %d refused under concurrency", ok.Load(), used.Load(), refused.Load())
}

// Shadow mode never rejects; its overruns are in dynamic metadata.
func TestQuotaShadowNeverRejectsE2E(t *testing.T) {
	e := newTrEnv(t, trOptions{backends: []trBackend{quotaBackend(words(40))},
		quota: `{"budgets":[{"name":"observe","per":"client","limit":100,"window":"1h","mode":"shadow"}]}`})
	c := e.client(to("oai"))
	for i := 0; i < 6; i++ {
		id := fmt.Sprintf("shadow-%d", i)
		if _, err := c.Chat.Completions.New(ctxT(t), quotaParams(), as("team-a"), option.WithHeader("x-request-id", id)); err != nil {
			t.Fatalf("request %d under a shadow budget: %v", i, err)
		}
		al, err := e.h.WaitAccess(id, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		md := al.DynamicMetadata["io.envoy.ai_gateway"]
		if md["total_tokens"] != float64(41) {
			t.Fatalf("request %d: cost metadata %v", i, md)
		}
		if over := md["quota_overrun"]; (i >= 1) != (over == "observe:shadow") {
			t.Fatalf("request %d (%d tokens used before it): quota_overrun %v", i, 41*i, over)
		}
	}
}

// A stream is cut at the budget: the client gets what was delivered, then an
// error event the SDK raises, then data: [DONE]; what was delivered stays
// charged and is the cost in metadata.
func TestQuotaStreamCutE2E(t *testing.T) {
	e := newTrEnv(t, trOptions{backends: []trBackend{quotaBackend(words(400))},
		quota: `{"default_output_tokens":50,"budgets":[{"name":"stream-cap","per":"client","limit":150,"window":"1h","mode":"enforce"}]}`})
	c := e.client(to("oai"))
	p := quotaParams()
	p.MaxTokens = openai.Int(0)
	p = openai.ChatCompletionNewParams{Model: p.Model, Messages: p.Messages}
	s := c.Chat.Completions.NewStreaming(ctxT(t), p, as("team-a"), option.WithHeader("x-request-id", "cut-sdk"))
	var got []string
	for s.Next() {
		for _, ch := range s.Current().Choices {
			if ch.Delta.Content != "" {
				got = append(got, ch.Delta.Content)
			}
		}
	}
	if s.Err() == nil || !strings.Contains(s.Err().Error(), "stream-cap") {
		t.Fatalf("stream ended without the quota error (%d pieces): %v", len(got), s.Err())
	}
	text := strings.Fields(strings.Join(got, ""))
	if len(text) >= 400 || len(text) < 100 {
		t.Fatalf("%d words delivered of 400 under a 150-token budget", len(text))
	}
	al, err := e.h.WaitAccess("cut-sdk", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cost, _ := al.DynamicMetadata["io.envoy.ai_gateway"]["total_tokens"].(float64)
	if cost < 100 || cost > 400 {
		t.Fatalf("cost metadata of the cut stream %v", cost)
	}
	// On the wire: the error event, then the terminator, nothing after.
	resp, body := send(t, http.MethodPost, e.h.URL()+"/v1/chat/completions",
		`{"model":"gpt-4o-mini","backend":"oai","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"x-api-key-id": "team-raw"})
	if resp.StatusCode != 200 || !strings.HasSuffix(string(body), "data: [DONE]\n\n") || strings.Count(string(body), "[DONE]") != 1 ||
		!strings.Contains(string(body), `data: {"error":{"message":"token quota \"stream-cap\" exceeded`) {
		t.Fatalf("status %d, body ends %q", resp.StatusCode, body[max(0, len(body)-300):])
	}
	// The delivered tokens were charged: team-a is now over.
	_, err = c.Chat.Completions.New(ctxT(t), quotaParams(), as("team-a"))
	rateLimited(t, err)
}

// A failed attempt is refunded: requests that fail reach the provider again
// and again under a budget that holds one reservation; with failover the
// request is charged once, the serving attempt's usage.
func TestQuotaFailedAttemptRefundedE2E(t *testing.T) {
	bad := quotaBackend(words(40))
	bad.name, bad.fail = "bad", 503
	good := quotaBackend(words(40))
	good.name = "good"
	o := trOptions{backends: []trBackend{bad, good},
		quota: `{"budgets":[{"name":"tight","per":"client","limit":130,"window":"1h","mode":"enforce"}]}`}
	priorities(&o, func(m map[string]*trMock) []host.Endpoint {
		return []host.Endpoint{m["bad"].endpoint(0), m["good"].endpoint(1)}
	}, []string{"5xx"})
	e := newTrEnv(t, o)
	c := e.client()
	// Every attempt fails: nothing is charged, however often.
	for i := 0; i < 4; i++ {
		_, err := c.Chat.Completions.New(ctxT(t), quotaParams(), to("bad"), as("team-a"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
			t.Fatalf("request %d to the failing backend: %v (a 429 means the failure was charged)", i, err)
		}
	}
	// Failover (503 from priority 0, then priority 1): charged once, 41.
	for i := 0; i < 2; i++ {
		out, err := c.Chat.Completions.New(ctxT(t), quotaParams(), as("team-a"))
		if err != nil {
			t.Fatalf("failover request %d: %v", i, err)
		}
		if out.Usage.TotalTokens != 41 {
			t.Fatalf("usage %d", out.Usage.TotalTokens)
		}
	}
	// 82 used of 130: a reservation of about 68 no longer fits.
	_, err := c.Chat.Completions.New(ctxT(t), quotaParams(), as("team-a"))
	rateLimited(t, err)
}

// Envoy's rate limit filter, played from the metadata aigw emitted through
// the .so in two independent host processes against the real rate limit
// service and Redis: the request-time check (hits_addend 0) before the
// request, then at stream done hits_addend from the cost aigw wrote. A client
// is cut off after its token quota across both gateways; another is not.
func TestDistributedQuotaFromEmittedMetadataE2E(t *testing.T) {
	if left := time.Hour - time.Duration(time.Now().UnixNano())%time.Hour; left < 15*time.Second {
		time.Sleep(left + time.Second) // the service's windows are aligned on the hour
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stack, err := ratelimit.Start(ctx, ratelimit.Config{Domain: "aigw",
		Limits: []ratelimit.Limit{{Key: "client_id", Tokens: 200, Unit: "hour"}, {Key: "model", Tokens: 1_000_000, Unit: "hour"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Stop)
	e := newTrEnv(t, trOptions{backends: []trBackend{quotaBackend(words(40))}, hosts: 2,
		quota: `{"costs":[{"name":"total_tokens","type":"total"}]}`})
	filterYAML, err := ratelimitFilterYAML()
	if err != nil {
		t.Fatal(err)
	}
	var gws [2]*ratelimit.Filter
	for i := range gws {
		fc, err := ratelimit.LoadFilterConfig(filterYAML)
		if err != nil {
			t.Fatal(err)
		}
		cl, closeFn, err := stack.Dial()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeFn() })
		gws[i] = &ratelimit.Filter{Config: fc, Client: cl}
	}
	n := 0
	do := func(gw int, client string) int {
		n++
		hdr := map[string]string{"x-api-key-id": client}
		// Request time: the filter runs after the router phase, which wrote
		// the model (checked against the emitted metadata below).
		pre := &ratelimit.Stream{Headers: hdr, DynamicMetadata: map[string]*structpb.Struct{
			"io.envoy.ai_gateway": mustStruct(t, map[string]any{"model": "gpt-4o-mini"})}}
		if st, _, err := gws[gw].DecodeHeaders(ctx, pre); err != nil {
			t.Fatal(err)
		} else if st == 429 {
			return 429
		}
		id := fmt.Sprintf("rl-%d", n)
		h := e.hs[gw]
		c := openai.NewClient(option.WithBaseURL(h.URL()+"/v1/"), option.WithAPIKey(clientKey), option.WithMaxRetries(0))
		if _, err := c.Chat.Completions.New(ctx, quotaParams(), to("oai"), as(client), option.WithHeader("x-request-id", id)); err != nil {
			t.Fatal(err)
		}
		al, err := h.WaitAccess(id, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		md := al.DynamicMetadata["io.envoy.ai_gateway"]
		if md["model"] != "gpt-4o-mini" || md["total_tokens"] != float64(41) {
			t.Fatalf("emitted metadata %v", md)
		}
		// Stream done: the descriptors with hits_addend from the metadata.
		req, err := gws[gw].OnDestroy(ctx, &ratelimit.Stream{Headers: hdr,
			DynamicMetadata: map[string]*structpb.Struct{"io.envoy.ai_gateway": mustStruct(t, md)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(req.GetDescriptors()) != 2 || req.GetDescriptors()[0].GetHitsAddend().GetValue() != 41 {
			t.Fatalf("stream-done request %v", req)
		}
		return 200
	}
	var got []int
	for i := 0; i < 7; i++ {
		got = append(got, do(i%2, "alice"))
	}
	// 0, 41, 82, 123, 164 pass the check (used <= 200); 205 is over.
	want := []int{200, 200, 200, 200, 200, 429, 429}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("alice across two gateways: %v, want %v", got, want)
	}
	for i := 0; i < 3; i++ {
		if st := do(i%2, "bob"); st != 200 {
			t.Fatalf("bob's request %d: %d", i, st)
		}
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ratelimitFilterYAML is the rate limit filter's typed_config the shipped
// configs use (test/envoyconfig checks envoy.yaml's equals it).
func ratelimitFilterYAML() ([]byte, error) { return os.ReadFile("../ratelimit/filter.yaml") }
