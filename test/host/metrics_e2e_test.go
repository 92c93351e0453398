package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/internal/metrics/metricstest"
)

// labelSet sorts comma-separated labels as metricstest.Labels renders them.
func labelSet(parts ...string) string {
	all := strings.Split(strings.Join(parts, ","), ",")
	sort.Strings(all)
	return strings.Join(all, ",")
}

// TestMetricsE2E scrapes the real Prometheus endpoint the .so serves inside
// the host after openai-go and anthropic-sdk-go traffic through both ABIs: a
// plain completion, a stream, a streamed tool call, a Messages-API request
// plain and streamed, a provider error and a failover from the
// OpenAI primary to the Anthropic fallback. Label sets and counts are exact,
// per attempt: the failover is a failed attempt on the primary and a served
// one on the fallback. The OTLP receiver on loopback gets the same data
// points.
func TestMetricsE2E(t *testing.T) {
	addr := closedPort(t) // the library's listener takes it
	backends := failoverBackends()
	backends[0].metricAttrs = map[string]string{"aim_service_id": "svc-primary"}
	backends[0].toolArgs = weatherArgs
	backends[1].metricAttrs = map[string]string{"aim_service_id": "svc-fallback"}
	rcv := metricstest.NewOTLPReceiver(t)
	o := trOptions{backends: backends, metrics: map[string]any{
		"listen_address": addr, "header_attributes": map[string]string{"x-api-key-id": "api_key_id"}},
		env: []string{"OTEL_METRICS_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + rcv.URL, "OTEL_METRIC_EXPORT_INTERVAL=200"}}
	failoverTopology(&o)
	e := newTrEnv(t, o)
	c := e.client(option.WithHeader("x-api-key-id", "team-a"))
	url := "http://" + addr + "/metrics"
	waitListening(t, addr)

	// 1. plain, 2. streamed, 3. streamed tool call: served by the primary.
	id := newRequestID(t)
	if _, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), option.WithHeader("x-request-id", id)); err != nil {
		t.Fatal(err)
	}
	md := e.access(id).DynamicMetadata["io.envoy.ai_gateway"]
	for _, k := range []string{"llm_input_token", "llm_output_token", "llm_total_token", "llm_cached_input_token", "llm_cache_creation_input_token", "llm_reasoning_token"} {
		if _, ok := md[k].(float64); !ok {
			t.Errorf("dynamic metadata %s missing: %v", k, md)
		}
	}
	p := gpt4oParams()
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p))
	p = gpt4oParams()
	p.Tools = []openai.ChatCompletionToolUnionParam{weatherTool()}
	if _, _, tool := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p)); tool == nil || tool.Arguments != weatherArgs {
		t.Errorf("tool call %+v", tool)
	}
	// 4. and 5. anthropic-sdk-go through the Messages front door, plain and
	// streamed, served by the same OpenAI primary (translated both ways):
	// the same labels, gen_ai.operation.name chat.
	ac := e.anthropicClient(aoption.WithHeader("x-api-key-id", "team-a"))
	mp := messagesParams()
	mp.Model = "gpt-4o"
	if _, err := ac.Messages.New(ctxT(t), mp); err != nil {
		t.Fatal(err)
	}
	ms := ac.Messages.NewStreaming(ctxT(t), mp)
	for ms.Next() {
	}
	if err := ms.Err(); err != nil {
		t.Fatal(err)
	}
	ms.Close()
	// 6. a provider error the router does not retry.
	e.mocks["primary"].srv.SetFailStatus(400)
	var apiErr *openai.Error
	if _, err := c.Chat.Completions.New(ctxT(t), gpt4oParams()); !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Fatalf("want a 400, got %v", err)
	}
	// 7. failover: the primary answers 503, the fallback serves.
	e.mocks["primary"].srv.SetFailStatus(503)
	if _, err := c.Chat.Completions.New(ctxT(t), gpt4oParams()); err != nil {
		t.Fatal(err)
	}

	const base = "api_key_id=team-a,gen_ai_operation_name=chat,gen_ai_request_model=gpt-4o"
	primaryOK := labelSet(base, "aim_service_id=svc-primary,gen_ai_provider_name=openai,gen_ai_response_model=gpt-4o")
	primary400 := labelSet(base, "aim_service_id=svc-primary,gen_ai_provider_name=openai,error_type=400")
	primary503 := labelSet(base, "aim_service_id=svc-primary,gen_ai_provider_name=openai,error_type=503")
	fallback := labelSet(base, "aim_service_id=svc-fallback,gen_ai_provider_name=anthropic,gen_ai_response_model=claude-3-5-haiku-latest")
	fams := metricstest.Scrape(t, url)
	want := map[string]map[string]float64{
		"aigw_upstream_attempts_total": {
			labelSet(primaryOK, "aigw_backend_name=primary"):  5,
			labelSet(primary400, "aigw_backend_name=primary"): 1,
			labelSet(primary503, "aigw_backend_name=primary"): 1,
			labelSet(fallback, "aigw_backend_name=fallback"):  1,
		},
		"gen_ai_server_request_duration_seconds":    {primaryOK: 5, primary400: 1, primary503: 1, fallback: 1},
		"gen_ai_server_time_to_first_token_seconds": {primaryOK: 3},
		"gen_ai_client_token_usage": {
			labelSet(primaryOK, "gen_ai_token_type=input"): 5, labelSet(primaryOK, "gen_ai_token_type=output"): 5,
			labelSet(fallback, "gen_ai_token_type=input"): 1, labelSet(fallback, "gen_ai_token_type=output"): 1,
		},
	}
	for fam, w := range want {
		if got := fams.Series(fam, false); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s:\n got  %v\n want %v", fam, got, w)
		}
	}
	const mod = ",gen_ai_token_modality=unknown"
	if got := fams.Series("gen_ai_client_inference_usage_input_tokens_total", false)[labelSet(fallback+mod)]; got != 5 {
		t.Errorf("fallback input tokens %v, want 5", got)
	}

	// The pushes (every 200 ms) catch up with the scrape.
	deadline := time.Now().Add(15 * time.Second)
	for _, name := range metricstest.PromNames() {
		want := fmt.Sprint(fams.Series(name, false))
		got := fmt.Sprint(rcv.Series(name))
		for got != want && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			got = fmt.Sprint(rcv.Series(name))
		}
		if got != want {
			t.Errorf("OTLP %s:\n got  %s\n want %s", name, got, want)
		}
	}
}

// metricsAt is an editConfig serving the library's metrics at addr.
func metricsAt(t *testing.T, addr string) func(doc []byte) []byte {
	return func(doc []byte) []byte {
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			t.Fatal(err)
		}
		m["metrics"] = map[string]any{"listen_address": addr}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// TestMetricsHangUpAfterLastEventE2E: a client that hangs up on reading
// [DONE], before the provider's end of stream reached the host, got the
// whole response: its attempt is recorded as served, with its tokens, not as
// a client_abort. The mock holds its response open after the last event, so
// the hang-up always wins (TestMetricsE2E's clients only sometimes do).
func TestMetricsHangUpAfterLastEventE2E(t *testing.T) {
	addr := closedPort(t)
	e := newEnv(t, envOptions{holdEnd: true, editConfig: metricsAt(t, addr)})
	p := chatParams("gpt-4o-mini")
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	c := e.client()
	stream := c.Chat.Completions.NewStreaming(ctxT(t), p)
	acc, _, _ := streamAll(t, stream) // to [DONE]
	stream.Close()
	if acc.Usage.TotalTokens == 0 {
		t.Fatalf("no usage in the stream: %+v", acc.Usage)
	}

	url := "http://" + addr + "/metrics"
	waitListening(t, addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var served, other []string
		for labels, n := range metricstest.Scrape(t, url).Series("aigw_upstream_attempts_total", false) {
			for ; n > 0; n-- {
				if strings.Contains(labels, "error_type=") {
					other = append(other, labels)
				} else {
					served = append(served, labels)
				}
			}
		}
		if len(served)+len(other) > 1 || len(other) > 0 {
			t.Fatalf("attempts: served %v, failed %v; want one served", served, other)
		}
		if len(served) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempt recorded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The attempt ended without its end of stream: the host reset the
	// held response when the client left.
	for e.mocks["deploy-a"].resetHeld.Load()+e.mocks["deploy-b"].resetHeld.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the mock's held response was never reset: the attempt reached its end of stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sum := 0.0
	for _, n := range metricstest.Scrape(t, url).Series("gen_ai_client_inference_usage_output_tokens_total", false) {
		sum += n
	}
	if sum != float64(acc.Usage.CompletionTokens) {
		t.Errorf("output tokens counted %v, the stream reported %d", sum, acc.Usage.CompletionTokens)
	}
}

// TestMetricsClientAbortE2E: a client that hangs up mid-stream is recorded
// once, as a client_abort attempt of the backend that was streaming, by the
// .so in the host (the upstream filter's destroy hook, since the dynamic
// module's stream-complete hook never runs in the upstream chain). The mock
// paces its events, so the stream is still open when the client leaves.
func TestMetricsClientAbortE2E(t *testing.T) {
	addr := closedPort(t)
	e := newEnv(t, envOptions{slowStream: true, editConfig: metricsAt(t, addr)})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	c := e.client()
	stream := c.Chat.Completions.NewStreaming(ctx, chatParams("gpt-4o-mini"))
	if !stream.Next() {
		t.Fatalf("no first chunk: %v", stream.Err())
	}
	cancel() // hang up after the first chunk, mid-stream
	stream.Close()

	url := "http://" + addr + "/metrics"
	waitListening(t, addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		aborted, other := 0.0, 0.0
		for labels, n := range metricstest.Scrape(t, url).Series("aigw_upstream_attempts_total", false) {
			if strings.Contains(labels, "error_type=client_abort") {
				aborted += n
			} else {
				other += n
			}
		}
		if aborted == 1 && other == 0 {
			return
		}
		if aborted > 1 || other > 0 || time.Now().After(deadline) {
			t.Fatalf("attempts: %v client_abort, %v other; want exactly one client_abort", aborted, other)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitListening waits until the library's metrics listener accepts on addr:
// it binds in the background (a held address is retried), so the first
// request can be served before it listens.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the metrics listener on %s never accepted: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
