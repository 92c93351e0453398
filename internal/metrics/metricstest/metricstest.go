// Package metricstest reads the metrics endpoint the way Prometheus does, for
// tests outside internal/metrics (the upstream phase's, the C host's): it
// scrapes the real endpoint, parses it with Prometheus' own text parser and
// flattens each family to label set -> value.
package metricstest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/aigw/aigw/internal/metrics"
)

// Families is one scrape, by family name.
type Families map[string]*dto.MetricFamily

// Scrape GETs url and parses it with Prometheus' text parser.
func Scrape(t testing.TB, url string) Families {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
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

// Serving waits for the process's Prometheus listener and returns its URL.
func Serving(t testing.TB, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a := metrics.ServingAddress(); a != "" {
			return "http://" + a + path
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the metrics listener never bound")
	return ""
}

// Labels renders a series' labels, sorted, without the exporter's scope
// labels: "k1=v1,k2=v2".
func Labels(m *dto.Metric) string {
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

// Series maps label set -> value (a counter's value, a histogram's count,
// or its sum with sum set) of one family; an absent family is empty.
func (f Families) Series(name string, sum bool) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f[name].GetMetric() {
		switch {
		case m.Counter != nil:
			out[Labels(m)] = m.Counter.GetValue()
		case m.Histogram != nil && sum:
			out[Labels(m)] = m.Histogram.GetSampleSum()
		case m.Histogram != nil:
			out[Labels(m)] = float64(m.Histogram.GetSampleCount())
		}
	}
	return out
}

// Delta is after - before per label set, keeping only the changed ones.
func Delta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// OTLPReceiver is an OTLP/HTTP (http/protobuf) metrics collector on
// loopback: it keeps the latest cumulative value of every aigw data point,
// by Prometheus family name and label set as Families.Series renders them,
// so a push can be compared with a scrape.
type OTLPReceiver struct {
	// URL is the endpoint for OTEL_EXPORTER_OTLP_ENDPOINT.
	URL string
	mu  sync.Mutex
	got map[string]map[string]float64
}

// NewOTLPReceiver starts a receiver; it stops with the test.
func NewOTLPReceiver(t testing.TB) *OTLPReceiver {
	r := &OTLPReceiver{got: map[string]map[string]float64{}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var m collectorpb.ExportMetricsServiceRequest
		if req.URL.Path != "/v1/metrics" || proto.Unmarshal(b, &m) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.add(&m)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(hs.Close)
	r.URL = hs.URL
	return r
}

// promNames are the Prometheus names of the instruments.
var promNames = map[string]string{
	metrics.NameTokenUsage:      "gen_ai_client_token_usage",
	metrics.NameRequestDuration: "gen_ai_server_request_duration_seconds",
	metrics.NameTTFT:            "gen_ai_server_time_to_first_token_seconds",
	metrics.NameTPOT:            "gen_ai_server_time_per_output_token_seconds",
	metrics.NameUsageInput:      "gen_ai_client_inference_usage_input_tokens_total",
	metrics.NameUsageOutput:     "gen_ai_client_inference_usage_output_tokens_total",
	metrics.NameUsageCacheRead:  "gen_ai_client_inference_usage_cache_read_input_tokens_total",
	metrics.NameUsageCacheWrite: "gen_ai_client_inference_usage_cache_write_input_tokens_total",
	metrics.NameUsageReasoning:  "gen_ai_client_inference_usage_reasoning_output_tokens_total",
	metrics.NameAttempts:        "aigw_upstream_attempts_total",
}

// PromNames lists the Prometheus family names of every instrument.
func PromNames() []string {
	out := make([]string, 0, len(promNames))
	for _, n := range promNames {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (r *OTLPReceiver) add(req *collectorpb.ExportMetricsServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			if sm.GetScope().GetName() != metrics.ScopeName {
				continue
			}
			for _, m := range sm.GetMetrics() {
				name := promNames[m.GetName()]
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
}

// Series is the latest pushed value per label set of one family (a
// counter's value, a histogram's count).
func (r *OTLPReceiver) Series(name string) map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]float64{}
	for k, v := range r.got[name] {
		out[k] = v
	}
	return out
}

// otlpLabels renders attributes as Prometheus labels ('.' becomes '_').
func otlpLabels(kvs []*commonpb.KeyValue) string {
	var out []string
	for _, kv := range kvs {
		out = append(out, strings.ReplaceAll(kv.GetKey(), ".", "_")+"="+kv.GetValue().GetStringValue())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
