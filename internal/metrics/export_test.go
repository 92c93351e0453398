package metrics

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs the real endpoint and parses it with Prometheus' own parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape %s: %d %s", url, resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// labels renders a series' labels without the exporter's scope labels.
func labels(m *dto.Metric) string {
	var out []string
	for _, l := range m.GetLabel() {
		if strings.HasPrefix(l.GetName(), "otel_scope_") {
			continue
		}
		out = append(out, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// series maps label set -> value (counter value, or histogram count).
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			out[labels(m)] = m.Counter.GetValue()
		case m.Histogram != nil:
			out[labels(m)] = float64(m.Histogram.GetSampleCount())
		}
	}
	return out
}

func waitServing(t *testing.T, p *process) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a := p.servingAddress(); a != "" {
			return a
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the metrics listener never bound")
	return ""
}

func equal(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// Exact names, label sets and counts as Prometheus parses the scrape: a
// streamed success with header and static attributes, and a failover (a 503
// on the primary, served by the fallback).
func TestPrometheusScrape(t *testing.T) {
	p := testProcess(t)
	r := p.newRecorder(Spec{ListenAddress: "127.0.0.1:0", Path: "/metrics",
		Headers:           []HeaderAttribute{{"x-api-key-id", "api_key_id"}},
		BackendAttributes: map[string]map[string]string{"primary": {"aim_service_id": "svc-p"}, "fallback": {"aim_service_id": "svc-f"}}})
	defer r.Close()
	addr := waitServing(t, p)

	t0 := time.Now()
	ok := Attempt{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024", Backend: "primary",
		Usage: Usage{Input: 10, Output: 5, CachedInput: 4, Reasoning: 2, Reported: true},
		Start: t0, FirstToken: t0.Add(100 * time.Millisecond), End: t0.Add(500 * time.Millisecond), Streaming: true}
	ok.Headers[0] = "team-a"
	r.Record(&ok)
	r.Record(&ok)
	failed := Attempt{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", Backend: "primary", ErrorType: "503",
		Start: t0, End: t0.Add(50 * time.Millisecond)}
	failed.Headers[0] = "team-b"
	served := Attempt{Operation: "chat", Provider: "anthropic", RequestModel: "gpt-4o", ResponseModel: "claude-x", Backend: "fallback",
		Usage: Usage{Input: 7, Output: 3, CacheCreationInput: 6, Reported: true}, Start: t0.Add(60 * time.Millisecond), End: t0.Add(300 * time.Millisecond)}
	served.Headers[0] = "team-b"
	r.Record(&failed)
	r.Record(&served)

	fams := scrape(t, "http://"+addr+"/metrics")
	const (
		okL     = "aim_service_id=svc-p,api_key_id=team-a,gen_ai_operation_name=chat,gen_ai_provider_name=openai,gen_ai_request_model=gpt-4o,gen_ai_response_model=gpt-4o-2024"
		failL   = "aim_service_id=svc-p,api_key_id=team-b,error_type=503,gen_ai_operation_name=chat,gen_ai_provider_name=openai,gen_ai_request_model=gpt-4o"
		servedL = "aim_service_id=svc-f,api_key_id=team-b,gen_ai_operation_name=chat,gen_ai_provider_name=anthropic,gen_ai_request_model=gpt-4o,gen_ai_response_model=claude-x"
	)
	equal(t, "request duration", series(t, fams, "gen_ai_server_request_duration_seconds"), map[string]float64{okL: 2, failL: 1, servedL: 1})
	equal(t, "ttft (successful streams only)", series(t, fams, "gen_ai_server_time_to_first_token_seconds"), map[string]float64{okL: 2})
	equal(t, "tpot", series(t, fams, "gen_ai_server_time_per_output_token_seconds"), map[string]float64{okL: 2})
	equal(t, "token usage", series(t, fams, "gen_ai_client_token_usage"), map[string]float64{
		okL + ",gen_ai_token_type=input": 2, okL + ",gen_ai_token_type=output": 2,
		servedL + ",gen_ai_token_type=input": 1, servedL + ",gen_ai_token_type=output": 1})
	const mod = ",gen_ai_token_modality=unknown"
	equal(t, "input tokens", series(t, fams, "gen_ai_client_inference_usage_input_tokens_total"), map[string]float64{okL + mod: 20, failL + mod: 0, servedL + mod: 7})
	equal(t, "output tokens", series(t, fams, "gen_ai_client_inference_usage_output_tokens_total"), map[string]float64{okL + mod: 10, failL + mod: 0, servedL + mod: 3})
	equal(t, "cache read", series(t, fams, "gen_ai_client_inference_usage_cache_read_input_tokens_total"), map[string]float64{okL + mod: 8})
	equal(t, "cache write", series(t, fams, "gen_ai_client_inference_usage_cache_write_input_tokens_total"), map[string]float64{servedL + mod: 6})
	equal(t, "reasoning", series(t, fams, "gen_ai_client_inference_usage_reasoning_output_tokens_total"), map[string]float64{okL + mod: 4})
	equal(t, "attempts per backend", series(t, fams, "aigw_upstream_attempts_total"), map[string]float64{
		"aigw_backend_name=primary," + okL: 2, "aigw_backend_name=primary," + failL: 1, "aigw_backend_name=fallback," + servedL: 1})

	// Units, bucket boundaries and scope as the conventions and Envoy AI Gateway have them.
	h := fams["gen_ai_server_time_to_first_token_seconds"].GetMetric()[0]
	var bounds []float64
	for _, b := range h.Histogram.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		bounds = append(bounds, b.GetUpperBound())
	}
	if fmt.Sprint(bounds) != fmt.Sprint(TTFTBuckets) {
		t.Errorf("TTFT buckets %v, want %v", bounds, TTFTBuckets)
	}
	if got := h.Histogram.GetSampleSum(); got < 0.199 || got > 0.201 {
		t.Errorf("TTFT sum %v, want 0.2 s", got)
	}
	if got := fams["gen_ai_server_time_per_output_token_seconds"].GetMetric()[0].Histogram.GetSampleSum(); got < 0.199 || got > 0.201 {
		t.Errorf("TPOT sum %v, want 2 x (400 ms / 4)", got)
	}
	scope := false
	for _, l := range h.GetLabel() {
		scope = scope || l.GetName() == "otel_scope_name" && l.GetValue() == ScopeName
	}
	if !scope {
		t.Errorf("no otel_scope_name=%s label: %v", ScopeName, h.GetLabel())
	}
	if fams["gen_ai_client_token_usage"].GetType() != dto.MetricType_HISTOGRAM {
		t.Error("gen_ai_client_token_usage is not a histogram")
	}
}

// 10k distinct client-chosen header values: the attribute keeps the first
// MaxValuesPerAttribute values and folds the rest into OverflowValue; the
// counts still add up.
func TestCardinalityCap(t *testing.T) {
	const n, limit = 10000, 100
	p := testProcess(t)
	r := p.newRecorder(Spec{ListenAddress: "127.0.0.1:0", Headers: []HeaderAttribute{{"x-api-key-id", "api_key_id"}}, MaxValuesPerAttribute: limit})
	defer r.Close()
	addr := waitServing(t, p)
	t0 := time.Now()
	for i := range n {
		a := Attempt{Operation: "chat", Provider: "openai", RequestModel: "m", Backend: "b", Start: t0, End: t0.Add(time.Millisecond),
			Usage: Usage{Input: 1, Output: 1, Reported: true}}
		a.Headers[0] = fmt.Sprintf("key-%05d", i)
		r.Record(&a)
	}
	// A credential-looking value never becomes a label value.
	a := Attempt{Operation: "chat", Provider: "openai", RequestModel: "m", Backend: "b", Start: t0, End: t0}
	a.Headers[0] = "Bearer sk-secret-value"
	r.Record(&a)

	s := series(t, scrape(t, "http://"+addr+"/metrics"), "gen_ai_server_request_duration_seconds")
	values := map[string]float64{}
	for l, c := range s {
		for _, kv := range strings.Split(l, ",") {
			if v, ok := strings.CutPrefix(kv, "api_key_id="); ok {
				values[v] += c
			}
		}
	}
	if len(values) != limit+2 {
		t.Fatalf("%d distinct api_key_id values, want %d + overflow + redacted", len(values), limit)
	}
	if values[OverflowValue] != n-limit || values[RedactedValue] != 1 {
		t.Fatalf("overflow %v (want %d), redacted %v (want 1)", values[OverflowValue], n-limit, values[RedactedValue])
	}
	for l := range s {
		if strings.Contains(l, "secret") {
			t.Fatalf("a credential became a label: %s", l)
		}
	}
}

// During Envoy's hot restart the draining process still holds the port: the
// config loads at once, the listener binds when the port frees.
func TestBusyAddressRetriedInBackground(t *testing.T) {
	old := retryMin
	retryMin = 20 * time.Millisecond
	defer func() { retryMin = old }()
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := holder.Addr().String()
	p := testProcess(t)
	done := make(chan *Recorder)
	go func() { done <- p.newRecorder(Spec{ListenAddress: addr}) }()
	var r *Recorder
	select {
	case r = <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("loading a config blocked on a busy metrics address")
	}
	defer r.Close()
	time.Sleep(100 * time.Millisecond)
	if a := p.servingAddress(); a != "" {
		t.Fatalf("serving %s while the old process holds the port", a)
	}
	holder.Close()
	if got := waitServing(t, p); got != addr {
		t.Fatalf("serving %s, want %s", got, addr)
	}
	r.Record(&Attempt{Operation: "chat", Provider: "openai", Start: time.Now(), End: time.Now()})
	if _, ok := scrape(t, "http://"+addr+DefaultPath)["aigw_upstream_attempts_total"]; !ok {
		t.Fatal("no attempts after the late bind")
	}
}

// Two backends without static attributes share the token series of a tuple
// (one series, both attempts' tokens) and keep their own attempt series; a
// second recorder (a reload) adds to the same series.
func TestSharedTupleAcrossBackendsAndReloads(t *testing.T) {
	p := testProcess(t)
	r1 := p.newRecorder(Spec{ListenAddress: "127.0.0.1:0"})
	defer r1.Close()
	addr := waitServing(t, p)
	r2 := p.newRecorder(Spec{ListenAddress: addr}) // moves the listener to the same port
	defer r2.Close()
	waitServing(t, p)
	t0 := time.Now()
	for i, r := range []*Recorder{r1, r1, r2} {
		r.Record(&Attempt{Operation: "chat", Provider: "openai", RequestModel: "m", Backend: []string{"a", "b", "a"}[i],
			Usage: Usage{Input: 10, Output: 1, CachedInput: 2, Reported: true}, Start: t0, End: t0})
	}
	fams := scrape(t, "http://"+addr+"/metrics")
	const base = "gen_ai_operation_name=chat,gen_ai_provider_name=openai,gen_ai_request_model=m"
	equal(t, "input tokens", series(t, fams, "gen_ai_client_inference_usage_input_tokens_total"), map[string]float64{base + ",gen_ai_token_modality=unknown": 30})
	equal(t, "cache read", series(t, fams, "gen_ai_client_inference_usage_cache_read_input_tokens_total"), map[string]float64{base + ",gen_ai_token_modality=unknown": 6})
	equal(t, "attempts", series(t, fams, "aigw_upstream_attempts_total"), map[string]float64{"aigw_backend_name=a," + base: 2, "aigw_backend_name=b," + base: 1})
}
