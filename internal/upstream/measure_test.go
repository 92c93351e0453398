package upstream

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/metrics"
	"github.com/aigw/aigw/internal/metrics/metricstest"
)

// measuredConfig is pipelineConfig's oai and claude backends with metrics
// served on loopback, x-api-key-id as a label and a static label per backend.
func measuredConfig(t *testing.T) *Config {
	t.Helper()
	t.Setenv("AIGW_TEST_OPENAI_KEY", "sk-openai-secret")
	t.Setenv("AIGW_TEST_ANTHROPIC_KEY", "anthropic-secret")
	c, err := config.Parse([]byte(`{
  "metrics": {"listen_address": "127.0.0.1:0", "header_attributes": {"x-api-key-id": "api_key_id"}},
  "backends": [
    {"name": "oai", "auth": {"type": "bearer", "key_env": "AIGW_TEST_OPENAI_KEY"}, "metric_attributes": {"aim_service_id": "svc-oai"}},
    {"name": "claude", "schema": "anthropic", "auth": {"type": "anthropic_api_key", "key_env": "AIGW_TEST_ANTHROPIC_KEY"},
     "metric_attributes": {"aim_service_id": "svc-claude"}}
  ]
}`))
	if err != nil {
		t.Fatal(err)
	}
	uc, err := NewConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := metrics.New(c.MetricsSpec())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Close)
	uc.SetRecorder(rec)
	return uc
}

// stepClock makes now advance one second per call: an attempt reads it when
// its request leaves, at its first output and at its end.
func stepClock(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	n := 0
	now = func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
	t.Cleanup(func() { now = time.Now })
}

const (
	oaiStreamOK = "data: {\"id\":\"c\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n"
	oaiUsage    = "data: {\"id\":\"c\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5,\"total_tokens\":12,\"prompt_tokens_details\":{\"cached_tokens\":2},\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\ndata: [DONE]\n\n"
)

// claudeStream is a complete Anthropic Messages stream, one event a chunk.
var claudeStream = []string{
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n",
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
}

// Every kind of attempt end is recorded once, per attempt, with the labels
// of the backend that served it: label sets and counts as Prometheus parses
// the real endpoint.
func TestAttemptsRecorded(t *testing.T) {
	cfg := measuredConfig(t)
	url := metricstest.Serving(t, "/metrics")
	const base = "api_key_id=team-a,gen_ai_operation_name=chat,"
	type attempt struct {
		backend string
		run     func(t *testing.T, f *Filter, a *fakeAttempt)
	}
	plain := func(status, body string) func(t *testing.T, f *Filter, a *fakeAttempt) {
		return func(t *testing.T, f *Filter, a *fakeAttempt) {
			respond(f, a, fakeHeaders{":status": status, "content-type": "application/json"}, []string{body}, true)
			f.OnDestroy()
		}
	}
	stream := func(chunks ...string) func(t *testing.T, f *Filter, a *fakeAttempt) {
		return func(t *testing.T, f *Filter, a *fakeAttempt) {
			respond(f, a, fakeHeaders{":status": "200", "content-type": "text/event-stream"}, chunks, false)
			f.OnDestroy()
		}
	}
	// hangUp streams chunks without the provider's end of stream, then the
	// client hangs up: Envoy destroys the attempt.
	hangUp := func(chunks ...string) func(t *testing.T, f *Filter, a *fakeAttempt) {
		return func(t *testing.T, f *Filter, a *fakeAttempt) {
			a.respH = fakeHeaders{":status": "200", "content-type": "text/event-stream"}
			f.OnResponseHeaders(false)
			for _, c := range chunks {
				a.respB.b = []byte(c)
				f.OnResponseBody(false)
			}
			f.OnDestroy()
		}
	}
	tests := []struct {
		name     string
		model    string
		stream   bool
		attempts []attempt
		want     map[string]map[string]float64 // family -> label set -> count
	}{
		{
			name: "plain", model: "m-plain",
			attempts: []attempt{{"oai", plain("200", `{"id":"x","model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`)}},
			want: map[string]map[string]float64{
				"gen_ai_server_request_duration_seconds": {"aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-plain,gen_ai_response_model=gpt-4o-2024-08-06": 1},
				"gen_ai_client_token_usage": {
					"aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-plain,gen_ai_response_model=gpt-4o-2024-08-06,gen_ai_token_type=input":  1,
					"aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-plain,gen_ai_response_model=gpt-4o-2024-08-06,gen_ai_token_type=output": 1},
				"gen_ai_client_inference_usage_input_tokens_total": {"aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-plain,gen_ai_response_model=gpt-4o-2024-08-06,gen_ai_token_modality=unknown": 11},
				"aigw_upstream_attempts_total":                     {"aigw_backend_name=oai,aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-plain,gen_ai_response_model=gpt-4o-2024-08-06": 1},
			},
		},
		{
			name: "streamed with every token category", model: "m-stream", stream: true,
			attempts: []attempt{{"oai", stream(oaiStreamOK, oaiUsage)}},
			want: map[string]map[string]float64{
				"gen_ai_server_time_to_first_token_seconds":                   {"aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-stream,gen_ai_response_model=gpt-4o-2024-08-06": 1},
				"gen_ai_server_time_per_output_token_seconds":                 {"aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-stream,gen_ai_response_model=gpt-4o-2024-08-06": 1},
				"gen_ai_client_inference_usage_cache_read_input_tokens_total": {"aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-stream,gen_ai_response_model=gpt-4o-2024-08-06,gen_ai_token_modality=unknown": 2},
				"gen_ai_client_inference_usage_reasoning_output_tokens_total": {"aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-stream,gen_ai_response_model=gpt-4o-2024-08-06,gen_ai_token_modality=unknown": 1},
			},
		},
		{
			name: "provider error", model: "m-429",
			attempts: []attempt{{"oai", plain("429", `{"error":{"message":"slow down","type":"rate_limit","param":null,"code":"rate_limit_exceeded"}}`)}},
			want: map[string]map[string]float64{
				"gen_ai_server_request_duration_seconds":    {"aim_service_id=svc-oai," + base + "error_type=429,gen_ai_provider_name=openai,gen_ai_request_model=m-429": 1},
				"aigw_upstream_attempts_total":              {"aigw_backend_name=oai,aim_service_id=svc-oai," + base + "error_type=429,gen_ai_provider_name=openai,gen_ai_request_model=m-429": 1},
				"gen_ai_server_time_to_first_token_seconds": {},
			},
		},
		{
			name: "client abort mid-stream", model: "m-abort", stream: true,
			attempts: []attempt{{"oai", func(t *testing.T, f *Filter, a *fakeAttempt) {
				a.respH = fakeHeaders{":status": "200", "content-type": "text/event-stream"}
				f.OnResponseHeaders(false)
				a.respB.b = []byte(oaiStreamOK)
				f.OnResponseBody(false)
				// The client hangs up: Envoy destroys the attempt.
				f.OnDestroy()
			}}},
			want: map[string]map[string]float64{
				"aigw_upstream_attempts_total":              {"aigw_backend_name=oai,aim_service_id=svc-oai," + base + "error_type=client_abort,gen_ai_provider_name=openai,gen_ai_request_model=m-abort": 1},
				"gen_ai_server_time_to_first_token_seconds": {},
				"gen_ai_client_token_usage":                 {},
			},
		},
		{
			// The client hangs up on reading [DONE], before the provider's
			// end of stream reached Envoy: the attempt delivered the whole
			// response.
			name: "client hangs up after the terminal event", model: "m-done", stream: true,
			attempts: []attempt{{"oai", hangUp(oaiStreamOK, oaiUsage)}},
			want: map[string]map[string]float64{
				"aigw_upstream_attempts_total":              {"aigw_backend_name=oai,aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-done,gen_ai_response_model=gpt-4o-2024-08-06": 1},
				"gen_ai_server_time_to_first_token_seconds": {"aim_service_id=svc-oai," + base + "gen_ai_provider_name=openai,gen_ai_request_model=m-done,gen_ai_response_model=gpt-4o-2024-08-06": 1},
			},
		},
		{
			// The same through the Anthropic translation: its [DONE] went
			// out with message_stop.
			name: "client hangs up after the translated terminal event", model: "m-done-claude", stream: true,
			attempts: []attempt{{"claude", hangUp(claudeStream...)}},
			want: map[string]map[string]float64{
				"aigw_upstream_attempts_total": {"aigw_backend_name=claude,aim_service_id=svc-claude," + base + "gen_ai_provider_name=anthropic,gen_ai_request_model=m-done-claude,gen_ai_response_model=claude-x": 1},
			},
		},
		{
			// Cut before the translated terminal event: an abort.
			name: "client hangs up before the translated terminal event", model: "m-cut-claude", stream: true,
			attempts: []attempt{{"claude", hangUp(claudeStream[:len(claudeStream)-1]...)}},
			want: map[string]map[string]float64{
				"aigw_upstream_attempts_total": {"aigw_backend_name=claude,aim_service_id=svc-claude," + base + "error_type=client_abort,gen_ai_provider_name=anthropic,gen_ai_request_model=m-cut-claude,gen_ai_response_model=claude-x": 1},
			},
		},
		{
			name: "failover: 503 on the primary, served by the fallback", model: "m-failover",
			attempts: []attempt{
				{"oai", func(t *testing.T, f *Filter, a *fakeAttempt) {
					// The router retries on the headers and resets the attempt.
					a.respH = fakeHeaders{":status": "503", "content-type": "application/json"}
					f.OnResponseHeaders(false)
					f.OnDestroy()
				}},
				{"claude", plain("200", `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"cache_creation_input_tokens":4,"output_tokens":9}}`)},
			},
			want: map[string]map[string]float64{
				"aigw_upstream_attempts_total": {
					"aigw_backend_name=oai,aim_service_id=svc-oai," + base + "error_type=503,gen_ai_provider_name=openai,gen_ai_request_model=m-failover":                          1,
					"aigw_backend_name=claude,aim_service_id=svc-claude," + base + "gen_ai_provider_name=anthropic,gen_ai_request_model=m-failover,gen_ai_response_model=claude-x": 1},
				"gen_ai_client_inference_usage_cache_write_input_tokens_total": {"aim_service_id=svc-claude," + base + "gen_ai_provider_name=anthropic,gen_ai_request_model=m-failover,gen_ai_response_model=claude-x,gen_ai_token_modality=unknown": 4},
			},
		},
		{
			name: "answered by the upstream phase", model: "m-unbound",
			attempts: []attempt{{"nowhere", func(t *testing.T, f *Filter, a *fakeAttempt) { f.OnDestroy() }}},
			want: map[string]map[string]float64{
				"aigw_upstream_attempts_total": {"api_key_id=team-a,error_type=backend_not_configured": 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stepClock(t)
			before := metricstest.Scrape(t, url)
			state := map[string]string{}
			for _, at := range tt.attempts {
				a := clientRequest(at.backend, "/v1/chat/completions",
					fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, tt.model, tt.stream))
				a.reqH["x-api-key-id"] = "team-a"
				a.state = state // the request's filter state outlives its attempts
				f := NewFilter(cfg, a)
				decodeLikeEnvoy(t, f, a, []string{string(a.reqB.b)})
				at.run(t, f, a)
			}
			after := metricstest.Scrape(t, url)
			for fam, want := range tt.want {
				got := metricstest.Delta(before.Series(fam, false), after.Series(fam, false))
				if fmt.Sprint(got) != fmt.Sprint(sortedLabels(want)) {
					t.Errorf("%s:\n got  %v\n want %v", fam, got, want)
				}
			}
		})
	}
}

// TTFT is from the attempt's request leaving to its first output, TPOT the
// rest of the attempt per further output token, each per attempt: the step
// clock reads 1 s (request sent), 2 s (first output), 3 s (end), so TTFT is
// 1 s and TPOT 1 s / (5 - 1) output tokens.
func TestTimeToFirstTokenPerAttempt(t *testing.T) {
	cfg := measuredConfig(t)
	url := metricstest.Serving(t, "/metrics")
	stepClock(t)
	before := metricstest.Scrape(t, url)
	a := clientRequest("oai", "/v1/chat/completions", `{"model":"m-ttft","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	f := NewFilter(cfg, a)
	decodeLikeEnvoy(t, f, a, []string{string(a.reqB.b)})
	respond(f, a, fakeHeaders{":status": "200", "content-type": "text/event-stream"}, []string{oaiStreamOK, oaiUsage}, false)
	f.OnDestroy()
	after := metricstest.Scrape(t, url)
	for fam, want := range map[string]float64{
		"gen_ai_server_time_to_first_token_seconds":   1,
		"gen_ai_server_time_per_output_token_seconds": 0.25,
		"gen_ai_server_request_duration_seconds":      2,
	} {
		got := metricstest.Delta(before.Series(fam, true), after.Series(fam, true))
		if len(got) != 1 {
			t.Fatalf("%s: %v", fam, got)
		}
		for _, v := range got {
			if v != want {
				t.Errorf("%s sum %v, want %v", fam, v, want)
			}
		}
	}
}

// sortedLabels sorts each key's comma-separated labels, as
// metricstest.Labels renders them.
func sortedLabels(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		parts := strings.Split(k, ",")
		sort.Strings(parts)
		out[strings.Join(parts, ",")] = v
	}
	return out
}

// The attempts' clock measures what time.Now measures: readings taken
// around a sleep are as far apart as the sleep, in order, and keep a
// monotonic reading (Sub uses it, not the wall clock).
func TestMonotonicNow(t *testing.T) {
	a := monotonicNow()
	w0 := time.Now()
	time.Sleep(20 * time.Millisecond)
	w1 := time.Now()
	b := monotonicNow()
	if d := b.Sub(a); d < w1.Sub(w0) || d > w1.Sub(w0)+time.Second {
		t.Fatalf("%v between the readings, time.Now saw %v", d, w1.Sub(w0))
	}
	if !strings.Contains(a.String(), " m=") || b.Before(a) {
		t.Fatalf("readings without a monotonic clock or out of order: %v %v", a, b)
	}
	if d := a.Sub(w0); d > time.Second || d < -time.Second {
		t.Fatalf("reading %v is %v away from the wall clock", a, d)
	}
}
