// Package metricstest reads the metrics endpoint the way Prometheus does, for
// tests outside internal/metrics (the upstream phase's, the C host's): it
// scrapes the real endpoint, parses it with Prometheus' own text parser and
// flattens each family to label set -> value.
package metricstest

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

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
