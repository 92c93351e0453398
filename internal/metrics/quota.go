package metrics

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Quota events (the aigw.quota.event attribute).
const (
	// QuotaRejected: an enforce rule refused a reservation (a 429).
	QuotaRejected = "rejected"
	// QuotaCut: an enforce rule ran out during a stream, which was cut.
	QuotaCut = "cut"
	// QuotaOverrun: a rule went over its limit (in shadow mode the only
	// trace of it; in enforce mode usage above a reservation).
	QuotaOverrun = "overrun"
)

// NameQuotaEvents is the in-process budgets' counter, Prometheus
// aigw_quota_events_total{aigw_quota_rule, aigw_quota_mode, aigw_quota_event}.
const NameQuotaEvents = "aigw.quota.events"

type quotaKey struct{ rule, mode, event string }

// quotaCounts are the process's quota counters: rule names come from the
// config, so the series are bounded; counted only on events (rejections,
// cuts, overruns), never per request.
var quotaCounts struct {
	mu sync.Mutex
	m  map[quotaKey]*atomic.Int64
}

// CountQuota counts one quota event of rule (its mode "shadow" or
// "enforce"). It works before and without an exporter: the counts are
// observed by the process's pipeline when it collects.
func CountQuota(rule, mode, event string) {
	k := quotaKey{rule, mode, event}
	quotaCounts.mu.Lock()
	c := quotaCounts.m[k]
	if c == nil {
		if quotaCounts.m == nil {
			quotaCounts.m = map[quotaKey]*atomic.Int64{}
		}
		c = new(atomic.Int64)
		quotaCounts.m[k] = c
	}
	quotaCounts.mu.Unlock()
	c.Add(1)
}

// QuotaCount is the count of one (rule, mode, event) so far (tests).
func QuotaCount(rule, mode, event string) int64 {
	quotaCounts.mu.Lock()
	defer quotaCounts.mu.Unlock()
	if c := quotaCounts.m[quotaKey{rule, mode, event}]; c != nil {
		return c.Load()
	}
	return 0
}

// registerQuota adds the quota counter to the process's meter.
func registerQuota(m metric.Meter) error {
	ctr, err := m.Int64ObservableCounter(NameQuotaEvents, metric.WithUnit("{event}"),
		metric.WithDescription("In-process token budget events per rule and mode: rejected (429), cut (stream ended at the budget), overrun (over the limit; shadow rules only report)."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		quotaCounts.mu.Lock()
		defer quotaCounts.mu.Unlock()
		for k, c := range quotaCounts.m {
			o.ObserveInt64(ctr, c.Load(), metric.WithAttributes(
				attribute.String("aigw.quota.rule", k.rule),
				attribute.String("aigw.quota.mode", k.mode),
				attribute.String("aigw.quota.event", k.event)))
		}
		return nil
	}, ctr)
	return err
}
