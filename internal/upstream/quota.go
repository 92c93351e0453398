package upstream

import (
	"bytes"

	"github.com/aigw/aigw/internal/cost"
	"github.com/aigw/aigw/internal/metrics"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/quota"
	"github.com/aigw/aigw/internal/translate"
)

// MetadataQuotaTicket is the router phase's dynamic metadata key naming the
// request's token reservation in quota.Held (filter.MetaQuotaTicket; this
// package does not import the router phase).
const MetadataQuotaTicket = "quota_ticket"

// budgetState is one attempt's part in its request's token budgets.
type budgetState struct {
	// ticket names the request's reservation (0: none, no budgets).
	ticket uint64
	// events counts the stream's data events delivered to the client: the
	// output tokens delivered so far, until the provider reports its count
	// (OpenAI-style streams send about one token per event; providers that
	// send more per event are charged their reported count when it comes).
	events uint64
	// cut is set once the stream was ended at the budget.
	cut bool
}

// findTicket reads the request's reservation ticket, which the router phase
// wrote when it reserved.
func (f *Filter) findTicket() {
	if q := f.cfg.quota; q == nil || q.Engine() == nil {
		return
	}
	if v, ok := f.a.DynamicMetadataNumber(MetadataNamespace, MetadataQuotaTicket); ok && v >= 1 {
		f.budget.ticket = uint64(v)
	}
}

// delivered is the attempt's usage as the budgets see it: the provider's
// report, with output raised to the events delivered when the report is
// behind (or absent: OpenAI streams report once, at their end).
func (f *Filter) delivered() cost.Usage {
	u := CostUsage(f.usage)
	if f.budget.events > u.Output {
		u.Total += f.budget.events - u.Output
		u.Output = f.budget.events
	}
	return u
}

// CostUsage is a translator's usage in the cost model's terms (negative
// counts, which the translators never report, are 0).
func CostUsage(u translate.Usage) cost.Usage {
	n := func(v int64) uint64 { return uint64(max(v, 0)) }
	return cost.Usage{Input: n(u.InputTokens), Output: n(u.OutputTokens), Total: n(u.TotalTokens), CachedInput: n(u.CachedInputTokens)}
}

// usageChanged writes the request's costs into dynamic metadata (the rate
// limit filter's hits_addend, read when Envoy destroys the stream, after the
// last response hook) and charges the budgets, whenever the provider
// reports usage.
func (f *Filter) usageChanged() {
	q := f.cfg.quota
	if q == nil || f.budget.cut {
		return
	}
	u := f.delivered()
	q.CostValues(u, func(k string, v uint64, _ error) { f.a.SetDynamicMetadataNumber(MetadataNamespace, k, float64(v)) })
	if f.budget.ticket != 0 {
		quota.Held.Report(f.budget.ticket, u, q.BudgetCharge(u))
	}
}

var (
	dataPrefix = []byte("data:")
	doneEvent  = []byte("data: [DONE]")
)

// streamed charges the data events of out, the stream's next output to the
// client, and says whether it may go on (ok). When an enforce budget ran out
// before the end of the stream, out is cut: what it already holds is
// delivered, then an OpenAI error event and the stream's terminator
// `data: [DONE]`, and every later byte is dropped; the delivered usage stays
// charged (and is written to the cost metadata).
func (f *Filter) streamed(out []byte, endStream bool) (cut []byte, ok bool) {
	if f.budget.ticket == 0 || f.budget.cut {
		return nil, true
	}
	n := uint64(bytes.Count(out, dataPrefix))
	if bytes.Contains(out, doneEvent) {
		n--
	}
	if n == 0 {
		return nil, true
	}
	f.budget.events += n
	q := f.cfg.quota
	u := f.delivered()
	d, found := quota.Held.Report(f.budget.ticket, u, q.BudgetCharge(u))
	if !found || d.Allowed || endStream || bytes.Contains(out, doneEvent) {
		// Everything was delivered when the stream ends here: nothing to cut.
		return nil, true
	}
	f.budget.cut = true
	rl := q.Engine().Rules()[d.Rule]
	metrics.CountQuota(rl.Name, rl.Mode.String(), metrics.QuotaCut)
	f.a.Log(LogInfo, "aigw-upstream: stream cut at token budget "+rl.Name)
	q.CostValues(u, func(k string, v uint64, _ error) { f.a.SetDynamicMetadataNumber(MetadataNamespace, k, float64(v)) })
	e := oaierr.New(429, "rate_limit_error", "rate_limit_exceeded", "token quota %q exhausted during the stream; retry after %d seconds", rl.Name, d.RetryAfter)
	// Deliver the complete events only: a passthrough chunk may end inside
	// one.
	whole := out[:bytes.LastIndex(out, []byte("\n\n"))+2]
	if len(whole) == 1 {
		whole = nil
	}
	cut = append(append([]byte(nil), whole...), "data: "...)
	cut = append(cut, e.JSON()...)
	cut = append(cut, "\n\ndata: [DONE]\n\n"...)
	return cut, false
}
