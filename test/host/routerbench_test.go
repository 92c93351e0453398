package host

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

const benchModeConfig = `{"metrics":{"listen_address":"127.0.0.1:0"},"backends":[{"name":"openai-primary","models":["gpt-4o-mini"],"auth":{"type":"none"}}],"client_backend_selection":"configured"}`

func benchModeSpec(t *testing.T, workers int, backend string) RouterBenchConfig {
	t.Helper()
	plugin, err := StringValueAny([]byte(benchModeConfig))
	if err != nil {
		t.Fatal(err)
	}
	// Over 16 KiB, so the body spans several buffer slices in both directions.
	prompt := strings.Repeat(`say \"hi\" and \u00e9 `, 1200)
	body := `{"messages":[{"role":"user","content":"` + prompt + `"}],"backend":"` + backend + `","model":"gpt-4o-mini"}`
	expect := `{"messages":[{"role":"user","content":"` + prompt + `"}],"model":"gpt-4o-mini"}`
	return RouterBenchConfig{
		Workers:      workers,
		PluginConfig: plugin,
		BufferLimit:  4 << 20,
		RequestHeaders: [][2]string{{":authority", "gateway.example.com"}, {":path", "/v1/chat/completions"},
			{":method", "POST"}, {":scheme", "https"}, {"content-type", "application/json"},
			{"content-length", strconv.Itoa(len(body))}, {"x-request-id", "6f1c2b7e-3a4d-4f5e-8a9b-0c1d2e3f4a5b"}},
		Body:         []byte(body),
		ExpectBody:   []byte(expect),
		ExpectHeader: [2]string{"x-ai-eg-backend", "openai-primary"},
		AbsentHeader: "x-ai-eg-model",
	}
}

// The router-phase bench mode drives the shipped .so through the golang filter ABI and
// checks every request: a routed run has no failures, and runs whose checks cannot hold
// (a wrong expectation, a request the filter rejects) count every request as failed, so the
// check is not vacuous.
func TestRouterBenchMode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		workers  int
		mutate   func(*RouterBenchConfig)
		failures bool
		failMsg  string
	}{
		{name: "routed/1worker", workers: 1},
		{name: "routed/2workers", workers: 2},
		{name: "wrong-expected-header", workers: 1, failures: true, failMsg: "routing header",
			mutate: func(c *RouterBenchConfig) { c.ExpectHeader[1] = "azure-east" }},
		{name: "wrong-expected-body", workers: 1, failures: true, failMsg: "body",
			mutate: func(c *RouterBenchConfig) { c.ExpectBody = c.Body }},
		{name: "local-reply", workers: 2, failures: true, failMsg: "local reply",
			mutate: func(c *RouterBenchConfig) {
				*c = benchModeSpec(t, 2, "no-such-backend")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := benchModeSpec(t, tc.workers, "openai-primary")
			if tc.mutate != nil {
				tc.mutate(&spec)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rb, err := StartRouterBench(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			const n = 301
			var res RouterBenchResult
			for range 2 {
				if res, err = rb.Run(n); err != nil {
					t.Fatal(err)
				}
			}
			if p := rb.Problems(); len(p) > 0 {
				t.Errorf("host problems: %v", p)
			}
			if err := rb.Close(); err != nil {
				t.Fatal(err)
			}
			if res.Requests != n || res.Workers != tc.workers || res.Created != n {
				t.Errorf("requests %d workers %d created %d; want %d, %d, %d", res.Requests, res.Workers, res.Created, n, tc.workers, n)
			}
			// The adapter releases Envoy's per-request object when the stream is
			// destroyed (no Go finalizer): every request of the run is released
			// before the run ends, and none is left over from earlier runs.
			if res.Finalized != n || res.Outstanding != 0 {
				t.Errorf("finalized %d, outstanding %d; want %d, 0", res.Finalized, res.Outstanding, n)
			}
			if res.CPU <= 0 || res.Wall <= 0 || res.WorkerCPU <= 0 || res.DecodeP50 <= 0 ||
				res.DecodeP99 < res.DecodeP50 || res.SeqP50 < res.DecodeP50 || res.SeqP99 < res.SeqP50 || res.PeakRSS == 0 {
				t.Errorf("implausible measurement: %+v", res)
			}
			if !tc.failures {
				if res.Failures != 0 {
					t.Fatalf("%d failures, first: %s", res.Failures, res.FirstFailure)
				}
				return
			}
			if res.Failures != n || !strings.Contains(res.FirstFailure, tc.failMsg) {
				t.Errorf("failures %d (%q); want %d mentioning %q", res.Failures, res.FirstFailure, n, tc.failMsg)
			}
		})
	}
}

func TestParseRouterBenchResult(t *testing.T) {
	line := "BENCH_RESULT requests=10 workers=2 wall_ns=1000 cpu_ns=2000 worker_cpu_ns=1500 decode_p50_ns=50 " +
		"decode_p99_ns=90 seq_p50_ns=70 seq_p99_ns=120 peak_rss_bytes=4096 maxrss_bytes=4096 created=10 " +
		"finalized=8 outstanding=3 failures=0 chunks=20 chunk_ns=4000 so_calls=70"
	r, err := ParseRouterBenchResult(line)
	if err != nil {
		t.Fatal(err)
	}
	want := RouterBenchResult{Requests: 10, Workers: 2, Wall: 1000, CPU: 2000, WorkerCPU: 1500, DecodeP50: 50,
		DecodeP99: 90, SeqP50: 70, SeqP99: 120, PeakRSS: 4096, Created: 10, Finalized: 8, Outstanding: 3,
		Chunks: 20, ChunkTime: 4000, SOCalls: 70}
	if r != want {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	for _, bad := range []string{
		"BENCH_READY workers=1",
		strings.Replace(line, " failures=0", "", 1),
		strings.Replace(line, " chunk_ns=4000", "", 1),
		strings.Replace(line, " so_calls=70", "", 1),
		strings.Replace(line, "cpu_ns=2000", "cpu_ns=x", 1),
		strings.Replace(line, "cpu_ns=2000", "cpu_ns", 1),
	} {
		if _, err := ParseRouterBenchResult(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
