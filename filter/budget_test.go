package filter

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/oaierr/oaierrtest"
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func budgetConfig(t *testing.T, maxBody, maxBuffered int) (*Config, *fakeConfigCallbacks) {
	t.Helper()
	ccb := &fakeConfigCallbacks{counters: map[string]*fakeCounter{}}
	a, _ := anypb.New(wrapperspb.String(`{"max_request_body_bytes":` + strconv.Itoa(maxBody) + `,"max_buffered_bytes":` + strconv.Itoa(maxBuffered) + `}`))
	cfg, err := Parser{}.Parse(a, ccb)
	if err != nil {
		t.Fatal(err)
	}
	cfg.budget = new(Budget)
	return cfg, ccb
}

// chatBody is a valid request of exactly n bytes (n >= 40).
func chatBody(n int) []byte {
	const head, tail = `{"model":"gpt-4o-mini","input":"`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

func TestBudgetReserveRelease(t *testing.T) {
	var b Budget
	if !b.Reserve(60, 100) || !b.Reserve(40, 100) {
		t.Fatal("reservations within the limit refused")
	}
	if b.Reserve(1, 100) {
		t.Fatal("reservation over the limit taken")
	}
	if b.Used() != 100 {
		t.Fatalf("used %d after a refused reservation", b.Used())
	}
	b.Release(60)
	if !b.Reserve(60, 100) || b.Used() != 100 {
		t.Fatalf("released bytes not reusable: %d", b.Used())
	}
}

// Concurrent reservations never push the total over the limit, and a
// refusal happens only when the request really did not fit.
func TestBudgetConcurrent(t *testing.T) {
	const limit, goroutines, rounds = 1000, 8, 20000
	var b Budget
	var peak atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			for i := 0; i < rounds; i++ {
				n := int64(rng.IntN(300) + 1)
				if !b.Reserve(n, limit) {
					continue
				}
				u := b.Used()
				for p := peak.Load(); u > p && !peak.CompareAndSwap(p, u); p = peak.Load() {
				}
				b.Release(n)
			}
		}(uint64(g))
	}
	wg.Wait()
	if peak.Load() > limit || b.Used() != 0 {
		t.Fatalf("peak %d over %d, or %d left reserved", peak.Load(), limit, b.Used())
	}
}

// Many large bodies at once, some with a content-length and some chunked,
// all past DecodeHeaders before any is routed (Envoy buffering them all):
// what is admitted never exceeds max_buffered_bytes, every request turned
// away truly did not fit, it gets 503 OpenAI JSON with Retry-After, and
// once the streams end every byte is released.
func TestBufferedBytesCapConcurrent(t *testing.T) {
	const maxBody, maxBuffered, requests = 1 << 20, 5 << 20, 48
	cfg, _ := budgetConfig(t, maxBody, maxBuffered)
	type req struct {
		r        Router
		s        *fakeStream
		counters *fakeConfigCallbacks // each goroutine plays a worker: counters of its own
		h        *fakeHeaders
		body     []byte
		chunked  bool
		reserved int64 // what its DecodeHeaders asks for
		admitted bool
	}
	rs := make([]*req, requests)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range rs {
		x := &req{s: newStream(), body: chatBody(64<<10 + rng.IntN(maxBody-64<<10)), chunked: i%4 == 0}
		x.h = post("/v1/embeddings")
		x.reserved = maxBody
		if !x.chunked {
			x.h = post("/v1/embeddings", "content-length", strconv.Itoa(len(x.body)))
			x.reserved = int64(len(x.body))
		}
		x.counters = &fakeConfigCallbacks{counters: map[string]*fakeCounter{}}
		wcfg := *cfg // same config and budget, like Config.ForWorker
		wcfg.metrics = NewMetrics(x.counters)
		x.r.Init(&wcfg, x.s)
		rs[i] = x
	}
	var start, wg sync.WaitGroup
	start.Add(1)
	for _, x := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			x.admitted = x.r.DecodeHeaders(x.h, false) == api.StopAndBuffer
		}()
	}
	start.Done()
	wg.Wait()

	var admitted int64
	var nAdmitted int
	for _, x := range rs {
		if x.admitted {
			admitted += x.reserved
			nAdmitted++
		}
	}
	if admitted > maxBuffered || cfg.budget.Used() != admitted {
		t.Fatalf("admitted %d bytes (budget says %d), cap %d", admitted, cfg.budget.Used(), maxBuffered)
	}
	if nAdmitted == 0 || nAdmitted == requests {
		t.Fatalf("%d of %d admitted: the test does not exercise the cap", nAdmitted, requests)
	}
	for i, x := range rs {
		if x.admitted {
			continue
		}
		// Reservations only grew during the burst, so a refusal is right
		// only if this request did not fit even next to the final total.
		if admitted+x.reserved <= maxBuffered {
			t.Errorf("request %d (%d bytes) refused although %d of %d were in use", i, x.reserved, admitted, maxBuffered)
		}
		rep := x.s.reply
		if rep == nil || rep.status != 503 || rep.retryAfter != RetryAfterSeconds || rep.details != "aigw_overloaded" {
			t.Fatalf("request %d: reply %+v, want 503 with Retry-After", i, rep)
		}
		oaierrtest.Check(t, oaierr.FormatOpenAI, []byte(rep.body))
	}
	var overloaded int64
	for _, x := range rs {
		overloaded += x.counters.counters["aigw_overloaded_total"].n
	}
	if got := overloaded; got != int64(requests-nAdmitted) {
		t.Fatalf("aigw_overloaded_total %d, want %d", got, requests-nAdmitted)
	}

	// Envoy delivers the bodies; chunked ones give back what they did not use.
	var held int64
	for _, x := range rs {
		if !x.admitted {
			continue
		}
		buf := &fakeBuffer{b: x.body}
		if st := x.r.DecodeData(buf, true); st != api.Continue {
			t.Fatalf("routing failed: %v %+v", st, x.s.reply)
		}
		held += int64(len(x.body))
	}
	if cfg.budget.Used() != held {
		t.Fatalf("after routing %d bytes reserved, Envoy holds %d", cfg.budget.Used(), held)
	}
	for _, x := range rs {
		x.r.OnStreamComplete()
		x.r.OnDestroy()
	}
	if cfg.budget.Used() != 0 {
		t.Fatalf("%d bytes still reserved after every stream ended", cfg.budget.Used())
	}
}

// Below the cap nothing is refused, and room comes back as streams end.
func TestBufferedBytesCapAdmitsUpToTheCap(t *testing.T) {
	const size = 100 << 10
	cfg, _ := budgetConfig(t, size, 4*size)
	open := func() (*Router, *fakeStream, api.StatusType) {
		r, s := new(Router), newStream()
		r.Init(cfg, s)
		return r, s, r.DecodeHeaders(post("/v1/chat/completions", "content-length", strconv.Itoa(size)), false)
	}
	var held []*Router
	for i := 0; i < 4; i++ {
		r, s, st := open()
		if st != api.StopAndBuffer {
			t.Fatalf("request %d refused below the cap: %+v", i, s.reply)
		}
		held = append(held, r)
	}
	if _, s, st := open(); st != api.LocalReply || s.reply.status != 503 {
		t.Fatalf("fifth request over the cap: %v %+v", st, s.reply)
	}
	held[0].OnDestroy() // e.g. the client reset the stream before its body arrived
	if _, s, st := open(); st != api.StopAndBuffer {
		t.Fatalf("refused after room came back: %+v", s.reply)
	}
}

// Every way a request ends gives its reservation back exactly once.
func TestBufferedBytesReleased(t *testing.T) {
	const maxBody = 1 << 20
	cases := []struct {
		name       string
		headers    *fakeHeaders
		body       string
		panicOn    string
		wantStatus int
		// reserved after DecodeData (or after DecodeHeaders when it answered)
		heldAfterData int64
	}{
		{name: "routed with content-length", headers: post("/v1/chat/completions", "content-length", "24"), body: `{"model":"gpt-4o-mini"}` + " ", heldAfterData: 24},
		{name: "routed chunked", headers: post("/v1/chat/completions"), body: `{"model":"gpt-4o-mini"}`, heldAfterData: 23},
		{name: "bad JSON", headers: post("/v1/chat/completions"), body: `{"model":`, wantStatus: 400},
		{name: "content-length over the body limit", headers: post("/v1/chat/completions", "content-length", strconv.Itoa(maxBody+1)), wantStatus: 413},
		{name: "chunked body over the body limit", headers: post("/v1/chat/completions"), body: string(chatBody(maxBody + 1)), wantStatus: 413},
		{name: "panic while routing", headers: post("/v1/chat/completions"), body: `{"model":"gpt-4o-mini"}`, panicOn: "x-ai-eg-model", wantStatus: 500},
		{name: "uninspected", headers: newHeaders(":method", "GET", ":path", "/v1/files")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := budgetConfig(t, maxBody, 4*maxBody)
			var r Router
			s := newStream()
			r.Init(cfg, s)
			tc.headers.panicOn = tc.panicOn
			// guarded stands for golangabi's panic boundary, which answers
			// through Router.Fail.
			st := guarded(&r, func() api.StatusType { return r.DecodeHeaders(tc.headers, false) })
			if st == api.StopAndBuffer {
				guarded(&r, func() api.StatusType { return r.DecodeData(&fakeBuffer{b: []byte(tc.body)}, true) })
			}
			if tc.wantStatus != 0 && (s.reply == nil || s.reply.status != tc.wantStatus) {
				t.Fatalf("reply %+v, want %d", s.reply, tc.wantStatus)
			}
			if got := cfg.budget.Used(); got != tc.heldAfterData {
				t.Fatalf("%d bytes reserved, want %d", got, tc.heldAfterData)
			}
			r.OnStreamComplete()
			r.OnDestroy()
			r.OnDestroy() // a second destroy must not release twice
			if got := cfg.budget.Used(); got != 0 {
				t.Fatalf("%d bytes reserved after destroy", got)
			}
		})
	}
}

// The process's one budget is shared by every config, so two listeners
// cannot each buffer their own max_buffered_bytes.
func TestBudgetIsProcessWide(t *testing.T) {
	a, _ := anypb.New(wrapperspb.String(`{}`))
	c1, err := Parser{}.Parse(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := Parser{}.Parse(a, nil)
	if c1.budget != &buffered || c2.budget != &buffered || c1.ForWorker(1).budget != &buffered {
		t.Fatal("configs do not share the process's budget")
	}
}
