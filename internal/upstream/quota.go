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

// budgetState is one attempt's part in its request's costs and budgets.
type budgetState struct {
	// ticket names the request's reservation (0: none, no budgets).
	ticket uint64
	// events counts the stream's data events delivered to the client: the
	// output tokens delivered so far, until the provider's final report
	// (OpenAI-style streams send about one token per event; providers that
	// send more per event are charged their reported count at the end).
	events uint64
	// final is set once the stream's end was seen: the provider's report is
	// then the usage.
	final bool
	// written is the usage whose costs are in dynamic metadata.
	written cost.Usage
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
// report, with output raised to the events delivered while the stream runs
// (OpenAI streams report once, at their end; Anthropic's first report counts
// one output token).
func (f *Filter) delivered() cost.Usage {
	u := CostUsage(f.usage)
	if !f.budget.final && f.budget.events > u.Output {
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

// usageChanged charges a response that is not a stream (streams are
// charged per chunk by streamed) when the provider reports usage.
func (f *Filter) usageChanged() {
	if f.cfg.quota != nil && !f.mode.Stream {
		f.budget.final = true
		f.charge()
	}
}

// charge writes the request's costs into dynamic metadata when they changed
// (the rate limit filter's hits_addend, read when Envoy destroys the stream,
// after the last response hook) and charges the budgets.
func (f *Filter) charge() quota.Decision {
	q := f.cfg.quota
	u := f.delivered()
	if u != f.budget.written {
		f.budget.written = u
		q.CostValues(u, func(k string, v uint64, _ error) { f.a.SetDynamicMetadataNumber(MetadataNamespace, k, float64(v)) })
	}
	if f.budget.ticket == 0 {
		return quota.Decision{Allowed: true, Rule: -1}
	}
	d, _ := quota.Held.Report(f.budget.ticket, u, q.BudgetCharge(u))
	return d
}

var (
	dataPrefix = []byte("data:")
	doneEvent  = []byte("data: [DONE]")
)

// streamed accounts out, the stream's next output to the client: its data
// events are delivered tokens (and the provider's usage, once reported, its
// cost). ok says whether the stream may go on. When an enforce budget ran
// out before the end of the stream, cut is what the client gets instead of
// out: out's complete events, then an OpenAI error event and the stream's
// terminator `data: [DONE]`; every later byte is dropped and the delivered
// usage stays charged (and is the cost in metadata).
func (f *Filter) streamed(out []byte, endStream bool) (cut []byte, ok bool) {
	if f.cfg.quota == nil || f.budget.cut {
		return nil, true
	}
	done := bytes.Contains(out, doneEvent)
	n := uint64(bytes.Count(out, dataPrefix))
	if done {
		n--
	}
	f.budget.events += n
	if done || endStream {
		f.budget.final = true
	}
	if n == 0 && !f.budget.final {
		return nil, true
	}
	d := f.charge()
	if d.Allowed || f.budget.final {
		// Everything was delivered when the stream ends here: nothing to cut.
		return nil, true
	}
	f.budget.cut = true
	q := f.cfg.quota
	rl := q.Engine().Rules()[d.Rule]
	metrics.CountQuota(rl.Name, rl.Mode.String(), metrics.QuotaCut)
	f.a.Log(LogInfo, "aigw-upstream: stream cut at token budget "+rl.Name)
	e := oaierr.QuotaExceeded(rl.Name, d.RetryAfter)
	// The gateway ends the stream with its error: the attempt's error
	// type, whether the provider's end of stream or a hang-up ends it.
	f.ms.m.ErrorType = e.Code
	// Deliver the complete events only: a passthrough chunk may end inside
	// one.
	whole := out[:bytes.LastIndex(out, []byte("\n\n"))+2]
	if len(whole) == 1 {
		whole = nil
	}
	cut = append([]byte(nil), whole...)
	if f.format == oaierr.FormatAnthropic {
		// A Messages stream ends with Anthropic's error event (no [DONE]).
		cut = append(cut, "event: error\ndata: "...)
		cut = append(cut, e.Render(f.format)...)
		return append(cut, "\n\n"...), false
	}
	cut = append(cut, "data: "...)
	cut = append(cut, e.Render(f.format)...)
	cut = append(cut, "\n\ndata: [DONE]\n\n"...)
	return cut, false
}
