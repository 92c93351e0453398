package quota

import (
	"sync"
	"sync/atomic"

	"github.com/aigw/aigw/internal/cost"
)

// Hold is one request's budget state between the two phases: the router
// phase reserves when it has read the body (Reserve) and settles when the
// stream ends; the upstream phase, which sees the provider's usage, reports
// it per attempt (Report) and cuts a stream that runs out. Both phases run on
// the same worker but in different filters, so they meet through a Ticket
// (Tickets) the router phase writes into the stream's dynamic metadata: a
// client can neither read nor forge it.
type Hold struct {
	eng   *Engine
	res   Reservation
	usage cost.Usage
	// Overrun collects the rules reported over their limit for this request
	// (shadow overruns included), for metrics and dynamic metadata.
	Overrun uint16
	// Cut is set once a stream was cut at the budget.
	Cut bool
}

// NewHold is the hold of a reservation Reserve granted.
func NewHold(eng *Engine, res Reservation, d Decision) Hold {
	return Hold{eng: eng, res: res, Overrun: d.Overrun}
}

// report records usage, the serving attempt's cumulative usage so far, and
// charges charge (its price) beyond the reservation.
func (h *Hold) report(u cost.Usage, charge uint64) Decision {
	h.usage = u
	d := h.eng.Charge(&h.res, charge)
	h.Overrun |= d.Overrun
	if !d.Allowed {
		h.Cut = true
	}
	return d
}

// settle settles the reservation to charge (the price of the usage reported
// last, 0 when the request failed: a failed attempt reports none, so a retry
// that succeeds is charged once and a request that failed is released).
func (h *Hold) settle(charge uint64) {
	h.Overrun |= h.eng.Settle(&h.res, charge)
}

// Tickets maps ticket numbers to the holds of requests in flight. Sharded
// locks: a lookup is a few per request (reserve, each usage report, the end),
// never per token, and two workers rarely meet on a shard.
type Tickets struct {
	next   atomic.Uint64
	shards [16]ticketShard
}

type ticketShard struct {
	mu sync.Mutex
	m  map[uint64]*Hold
}

// Held is the process's one ticket table: both phases load in one runtime.
var Held Tickets

// Put registers h and returns its ticket (never 0, never reused: a float64
// in dynamic metadata holds it exactly up to 2^53).
func (t *Tickets) Put(h *Hold) uint64 {
	id := t.next.Add(1)
	s := &t.shards[id%uint64(len(t.shards))]
	s.mu.Lock()
	if s.m == nil {
		s.m = map[uint64]*Hold{}
	}
	s.m[id] = h
	s.mu.Unlock()
	return id
}

// Report charges usage to the request of ticket id (see Hold.report); ok is
// false when the ticket is unknown (no budgets, or the request ended).
func (t *Tickets) Report(id uint64, u cost.Usage, charge uint64) (d Decision, ok bool) {
	s := &t.shards[id%uint64(len(t.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.m[id]
	if h == nil {
		return Decision{Allowed: true, Rule: -1}, false
	}
	return h.report(u, charge), true
}

// Finish removes ticket id and settles its hold with price(usage reported
// last); it returns that usage and the hold (a copy) for metrics. A second
// Finish of the same ticket does nothing (ok false).
func (t *Tickets) Finish(id uint64, price func(cost.Usage) uint64) (h Hold, ok bool) {
	s := &t.shards[id%uint64(len(t.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.m[id]
	if p == nil {
		return Hold{}, false
	}
	delete(s.m, id)
	p.settle(price(p.usage))
	return *p, true
}

// Usage is the usage reported last.
func (h *Hold) Usage() cost.Usage { return h.usage }

// Len is the number of requests holding a ticket (tests).
func (t *Tickets) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
