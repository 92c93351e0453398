package metrics_test

import (
	"time"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/metrics"
	"github.com/aigw/aigw/internal/translate"
)

// How the upstream phase records: one Recorder per loaded config (Close it
// when the config is destroyed), one Attempt per upstream attempt.
func Example() {
	cfg, err := config.Parse([]byte(`{"metrics":{"listen_address":"off","header_attributes":{"x-api-key-id":"api_key_id"}},
		"backends":[{"name":"primary","metric_attributes":{"aim_service_id":"svc-1"}}]}`))
	if err != nil {
		panic(err)
	}
	rec, err := metrics.New(cfg.MetricsSpec()) // at filter-config load
	if err != nil {
		panic(err)
	}
	defer rec.Close() // at filter-config destroy

	// Per attempt: at the request headers...
	b, _ := cfg.Backend("primary")
	a := metrics.Attempt{
		Operation:    translate.OperationName("/v1/chat/completions"),
		Provider:     translate.ProviderName(b.Schema),
		RequestModel: "gpt-4o",
		Backend:      b.Name,
		Start:        time.Now(),
		Streaming:    true,
	}
	requestHeader := func(name string) string { return map[string]string{"x-api-key-id": "team-a"}[name] }
	for i, h := range rec.Headers() {
		a.Headers[i] = requestHeader(h.Header)
	}
	// ...when the first content chunk goes to the client...
	a.FirstToken = time.Now()
	// ...and at the end of the attempt (success, provider error, reset, abort).
	a.ResponseModel = "gpt-4o-2024-08-06"
	a.Usage = metrics.Usage{Input: 120, Output: 40, CachedInput: 64, Reasoning: 8, Reported: true}
	a.End = time.Now()
	rec.Record(&a)
	// Output:
}
