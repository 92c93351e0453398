package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// receiver is an OTLP metrics collector: it keeps the latest cumulative
// value per (Prometheus name, label set).
type receiver struct {
	collectorpb.UnimplementedMetricsServiceServer
	mu  sync.Mutex
	got map[string]map[string]float64
}

func (r *receiver) Export(_ context.Context, req *collectorpb.ExportMetricsServiceRequest) (*collectorpb.ExportMetricsServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string]map[string]float64{}
	}
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			if sm.GetScope().GetName() != ScopeName {
				continue
			}
			for _, m := range sm.GetMetrics() {
				name := promName[m.GetName()]
				if r.got[name] == nil {
					r.got[name] = map[string]float64{}
				}
				switch d := m.Data.(type) {
				case *metricspb.Metric_Sum:
					for _, dp := range d.Sum.GetDataPoints() {
						r.got[name][otlpLabels(dp.GetAttributes())] = float64(dp.GetAsInt())
					}
				case *metricspb.Metric_Histogram:
					for _, dp := range d.Histogram.GetDataPoints() {
						r.got[name][otlpLabels(dp.GetAttributes())] = float64(dp.GetCount())
					}
				}
			}
		}
	}
	return &collectorpb.ExportMetricsServiceResponse{}, nil
}

func (r *receiver) snapshot() map[string]map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got
}

// promName is the Prometheus name of each instrument (the exporter's suffixes).
var promName = map[string]string{
	NameTokenUsage:      "gen_ai_client_token_usage",
	NameRequestDuration: "gen_ai_server_request_duration_seconds",
	NameTTFT:            "gen_ai_server_time_to_first_token_seconds",
	NameTPOT:            "gen_ai_server_time_per_output_token_seconds",
	NameUsageInput:      "gen_ai_client_inference_usage_input_tokens_total",
	NameUsageOutput:     "gen_ai_client_inference_usage_output_tokens_total",
	NameUsageCacheRead:  "gen_ai_client_inference_usage_cache_read_input_tokens_total",
	NameUsageCacheWrite: "gen_ai_client_inference_usage_cache_write_input_tokens_total",
	NameUsageReasoning:  "gen_ai_client_inference_usage_reasoning_output_tokens_total",
	NameAttempts:        "aigw_upstream_attempts_total",
}

func otlpLabels(kvs []*commonpb.KeyValue) string {
	var out []string
	for _, kv := range kvs {
		out = append(out, strings.ReplaceAll(kv.GetKey(), ".", "_")+"="+kv.GetValue().GetStringValue())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func recordMix(r *Recorder) {
	t0 := time.Now()
	for i, backend := range []string{"primary", "fallback", "primary"} {
		a := Attempt{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", ResponseModel: "gpt-4o", Backend: backend,
			Usage: Usage{Input: int64(10 + i), Output: 5, CachedInput: 2, Reasoning: 1, CacheCreationInput: 3, Reported: true},
			Start: t0, FirstToken: t0.Add(time.Duration(i+1) * 10 * time.Millisecond), End: t0.Add(time.Second), Streaming: true}
		a.Headers[0] = "key-1"
		r.Record(&a)
	}
	failed := Attempt{Operation: "embeddings", Provider: "openai", RequestModel: "emb", Backend: "primary", ErrorType: "429", Start: t0, End: t0.Add(time.Millisecond)}
	r.Record(&failed)
}

// The OTLP receiver gets the same data points as the Prometheus scrape.
func TestOTLPPushMatchesScrape(t *testing.T) {
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(proto, func(t *testing.T) {
			rcv := &receiver{}
			var endpoint string
			if proto == "grpc" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				srv := grpc.NewServer()
				collectorpb.RegisterMetricsServiceServer(srv, rcv)
				go srv.Serve(ln)
				t.Cleanup(srv.Stop) // after the provider's shutdown push (cleanups run last-in first-out)
				endpoint = "http://" + ln.Addr().String()
			} else {
				hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					b, _ := io.ReadAll(req.Body)
					var m collectorpb.ExportMetricsServiceRequest
					if req.URL.Path != "/v1/metrics" || protoUnmarshal(b, &m) != nil {
						http.Error(w, "bad request", 400)
						return
					}
					rcv.Export(req.Context(), &m)
					w.Header().Set("Content-Type", "application/x-protobuf")
					w.Write(nil)
				}))
				t.Cleanup(hs.Close)
				endpoint = hs.URL
			}
			t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", proto)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
			t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "600000")
			p := testProcess(t)
			if p.otlp != proto {
				t.Fatalf("OTLP protocol %q, want %q", p.otlp, proto)
			}
			r := p.newRecorder(Spec{ListenAddress: "127.0.0.1:0", Headers: []HeaderAttribute{{"x-api-key-id", "api_key_id"}}})
			defer r.Close()
			addr := waitServing(t, p)
			recordMix(r)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := p.flush(ctx); err != nil {
				t.Fatal(err)
			}
			got := rcv.snapshot()
			fams := scrape(t, "http://"+addr+"/metrics")
			for _, name := range promName {
				want := series(t, fams, name)
				equal(t, proto+" "+name, got[name], want)
			}
			if n := got["aigw_upstream_attempts_total"]; len(n) != 3 {
				t.Errorf("attempt series %v, want primary, fallback and the failed primary", n)
			}
		})
	}
}

func protoUnmarshal(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }
