package filter

import (
	"net/http"
	"strconv"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/cost"
	"github.com/aigw/aigw/internal/metrics"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/quota"
	"github.com/aigw/aigw/internal/route"
)

// MetaQuotaTicket is the dynamic metadata key (namespace
// config.DynamicMetadataNamespace) under which the router phase hands a
// request's token reservation to the upstream phase: a number naming it in
// quota.Held. Clients cannot set dynamic metadata, so they cannot name
// another request's reservation.
const MetaQuotaTicket = "quota_ticket"

// zeroCosts writes 0 for every configured cost.
func (r *Router) zeroCosts(q *config.Quota) {
	q.CostValues(cost.Usage{}, func(key string, _ uint64, _ error) { r.s.SetMetadataNumber(key, 0) })
}

// reserveTokens reserves the request's estimated tokens in the in-process
// budgets (quota.budgets) once its body was read: input from the body size,
// output from max_tokens / max_completion_tokens (read by the same scan that
// routed it) or quota.default_output_tokens. A reservation that does not fit
// an enforce rule is answered 429 (rejected true). Otherwise the reservation
// is registered under a ticket the upstream phase finds in dynamic metadata;
// it is settled when the stream ends (OnDestroy).
func (r *Router) reserveTokens(q *config.Quota, h RequestHeaders, scan bodyscan.Result, d route.Decision, bodyLen int) (api.StatusType, bool) {
	eng := q.Engine()
	id, _ := h.Get(q.IdentityHeader)
	key := quota.Key{Client: q.Identity(id), Model: d.Model, Backend: budgetBackend(r.cfg.Config, d.Backend, d.Model)}
	res, dec := eng.Reserve(key, q.Estimate(bodyLen, scan.MaxTokens))
	countOverruns(eng, dec.Overrun)
	r.overrunCounted = dec.Overrun
	if !dec.Allowed {
		return r.overQuota(eng, dec), true
	}
	r.hold = quota.NewHold(eng, res, dec)
	r.ticket = quota.Held.Put(&r.hold)
	r.s.SetMetadataNumber(MetaQuotaTicket, float64(r.ticket))
	return api.Continue, false
}

// budgetBackend is the backend a per-backend budget charges in the router
// phase: the client's choice, else the first configured backend serving the
// model (Envoy's routes pick the cluster; a failover is not re-keyed).
func budgetBackend(c *config.Config, chosen, model string) string {
	if chosen != "" {
		return chosen
	}
	for _, b := range c.Backends {
		for _, m := range b.Models {
			if m == model {
				return b.Name
			}
		}
	}
	return ""
}

// settleTokens settles the request's reservation to the usage the upstream
// phase reported last (nothing when no attempt reported usage: a request
// that failed is released, a failed attempt followed by a successful retry
// is charged once), and writes that usage's costs into dynamic metadata
// when writeCosts (at stream complete, which Envoy runs before it destroys
// any filter, so before the rate limit filter's onDestroy reads them:
// source/common/http/conn_manager_impl.cc:347 then :364). A stream cut or
// reset mid-way is charged what was delivered.
func (r *Router) settleTokens(writeCosts bool) {
	if r.ticket == 0 {
		return
	}
	q := r.cfg.Quota
	h, ok := quota.Held.Finish(r.ticket, q.BudgetCharge)
	r.ticket = 0
	if ok {
		countOverruns(q.Engine(), h.Overrun&^r.overrunCounted)
		if writeCosts {
			q.CostValues(h.Usage(), func(key string, v uint64, _ error) { r.s.SetMetadataNumber(key, float64(v)) })
			if h.Overrun != 0 {
				r.s.SetMetadata(MetaQuotaOverrun, OverrunList(q.Engine(), h.Overrun))
			}
		}
	}
	r.hold = quota.Hold{}
	r.overrunCounted = 0
}

// MetaQuotaOverrun is the dynamic metadata key listing the rules a request
// ran over (shadow ones included), as "rule:mode" separated by commas.
const MetaQuotaOverrun = "quota_overrun"

// OverrunList renders mask as MetaQuotaOverrun's value.
func OverrunList(eng *quota.Engine, mask uint16) string {
	var b []byte
	for i, rl := range eng.Rules() {
		if mask&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = append(append(append(b, rl.Name...), ':'), rl.Mode.String()...)
		}
	}
	return string(b)
}

// countOverruns records an overrun of each rule in mask (shadow rules
// included: that is their only trace) as aigw_quota_events_total.
func countOverruns(eng *quota.Engine, mask uint16) {
	if mask == 0 {
		return
	}
	for i, rl := range eng.Rules() {
		if mask&(1<<i) != 0 {
			metrics.CountQuota(rl.Name, rl.Mode.String(), metrics.QuotaOverrun)
		}
	}
}

// overQuota answers 429 for a reservation an enforce rule refused: OpenAI's
// error JSON (Anthropic's on /v1/messages), Retry-After and the RateLimit-*
// headers of the refusing rule.
func (r *Router) overQuota(eng *quota.Engine, d quota.Decision) api.StatusType {
	rl := eng.Rules()[d.Rule]
	metrics.CountQuota(rl.Name, rl.Mode.String(), metrics.QuotaRejected)
	if m := r.cfg.metrics; m != nil {
		m.Rejected.Increment(1)
	}
	r.answeredLocally = true
	r.headers = nil
	r.release()
	body := oaierr.QuotaExceeded(rl.Name, d.RetryAfter)
	r.s.SendLocalReplyHeaders(http.StatusTooManyRequests, string(body.Render(r.format)), "aigw_quota_exceeded", RateLimitHeaders(d))
	return api.LocalReply
}

// RateLimitHeaders are a quota 429's headers as name/value pairs: JSON
// content type, Retry-After and the IETF draft's RateLimit-Limit,
// -Remaining and -Reset of the refusing rule.
func RateLimitHeaders(d quota.Decision) []string {
	return []string{
		"content-type", "application/json",
		"retry-after", strconv.FormatInt(max(d.RetryAfter, 1), 10),
		"ratelimit-limit", strconv.FormatUint(d.Limit, 10),
		"ratelimit-remaining", strconv.FormatUint(d.Remaining, 10),
		"ratelimit-reset", strconv.FormatInt(d.Reset, 10),
	}
}
