package filter

import "github.com/envoyproxy/envoy/contrib/golang/common/go/api"

// Metrics are Envoy stats (so they appear on Envoy's admin /stats and
// /stats/prometheus next to the router's own), defined once per listener.
// No label ever holds a credential; none holds a client-chosen string
// either, so a client cannot blow up the stats' cardinality. Token counters
// are the upstream phase's (internal/upstream.CounterNames). The set is kept
// to what a dashboard cannot get from Envoy's own stats.
type Metrics struct {
	Requests       api.CounterMetric // inference requests inspected
	Rejected       api.CounterMetric // answered by the filter with a 4xx
	InternalErrors api.CounterMetric // panics recovered, answered 500
	UpstreamErrors api.CounterMetric // responses with status >= 500 from upstream
	LatencyMsTotal api.CounterMetric // sum of request latencies; divide by Completed
	Completed      api.CounterMetric // inference requests that got a response
	ModelsListed   api.CounterMetric // GET /v1/models answered
	Overloaded     api.CounterMetric // answered 503: max_buffered_bytes reached
	HeadersRemoved api.CounterMetric // uninspected requests whose client routing headers were removed
}

// NewMetrics defines the counters through Envoy's config callbacks.
func NewMetrics(cb api.ConfigCallbacks) *Metrics {
	return &Metrics{
		Requests:       cb.DefineCounterMetric("aigw_requests_total"),
		Rejected:       cb.DefineCounterMetric("aigw_rejected_total"),
		InternalErrors: cb.DefineCounterMetric("aigw_internal_errors_total"),
		UpstreamErrors: cb.DefineCounterMetric("aigw_upstream_errors_total"),
		LatencyMsTotal: cb.DefineCounterMetric("aigw_latency_ms_total"),
		Completed:      cb.DefineCounterMetric("aigw_completed_total"),
		ModelsListed:   cb.DefineCounterMetric("aigw_models_listed_total"),
		Overloaded:     cb.DefineCounterMetric("aigw_overloaded_total"),
		HeadersRemoved: cb.DefineCounterMetric("aigw_routing_headers_removed_total"),
	}
}

// ShardedCounter is a counter that can hand out one view per Envoy worker,
// each counting into memory of its own (internal/golangabi's stats), so
// workers never contend on a counter.
type ShardedCounter interface {
	api.CounterMetric
	Shard(worker int) api.CounterMetric
}

// ForWorker is m with every counter that supports it replaced by its view
// for one worker; other counters are shared as they are.
func (m *Metrics) ForWorker(worker int) *Metrics {
	if m == nil {
		return nil
	}
	shard := func(c api.CounterMetric) api.CounterMetric {
		if s, ok := c.(ShardedCounter); ok {
			return s.Shard(worker)
		}
		return c
	}
	return &Metrics{
		Requests:       shard(m.Requests),
		Rejected:       shard(m.Rejected),
		InternalErrors: shard(m.InternalErrors),
		UpstreamErrors: shard(m.UpstreamErrors),
		LatencyMsTotal: shard(m.LatencyMsTotal),
		Completed:      shard(m.Completed),
		ModelsListed:   shard(m.ModelsListed),
		Overloaded:     shard(m.Overloaded),
		HeadersRemoved: shard(m.HeadersRemoved),
	}
}
