// Package quota is aigw's in-process token budgets: per client id, per model,
// per backend and one optional global bucket, each a fixed or sliding window
// in `shadow` (counted, reported, never rejected) or `enforce` mode.
//
// The protocol is reserve → (charge during a stream)* → settle or release:
//
//	res, d := eng.Reserve(quota.Key{Client: id, Model: m, Backend: b}, estimate)
//	if !d.Allowed { /* 429 with d's headers */ }
//	... d = eng.Charge(&res, deliveredSoFar); if !d.Allowed { /* cut the stream */ }
//	eng.Settle(&res, actualTokens)   // or eng.Release(&res) when the attempt failed
//
// Every call returns what the caller needs (a Decision with the 429's header
// values and the shadow overruns) as a value; nothing is logged or recorded
// here. Counters are shared by every worker without a lock: each window is N
// sub-buckets of one atomic word (epoch and tokens packed), updated by
// compare-and-swap. The key space is bounded: each rule tracks at most
// MaxKeys distinct keys; later keys share the rule's overflow bucket
// (OverflowKey), so an attacker minting client ids cannot grow memory, only
// share (and exhaust) one bucket with the other overflowed keys.
package quota

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync/atomic"
	"time"
)

// Mode says whether a rule rejects.
type Mode uint8

const (
	// Shadow counts and reports overruns, never rejects.
	Shadow Mode = iota
	// Enforce rejects a reservation that does not fit and cuts a stream
	// that runs out.
	Enforce
)

func (m Mode) String() string {
	if m == Enforce {
		return "enforce"
	}
	return "shadow"
}

// Scope is what a rule's budgets are kept per.
type Scope uint8

const (
	PerClient Scope = iota
	PerModel
	PerBackend
	Global
)

func (s Scope) String() string {
	return [...]string{"client", "model", "backend", "global"}[s]
}

// Limits of the engine.
const (
	// MaxRules is the most rules one engine holds (a Reservation is a fixed
	// array, so reserving allocates nothing).
	MaxRules = 8
	// MaxSubBuckets is the most sub-buckets of a sliding window.
	MaxSubBuckets = 60
	// DefaultMaxKeys is the number of keys a rule tracks when unset.
	DefaultMaxKeys = 10000
	// MaxTokens is the most tokens one sub-bucket (so a window's limit) holds.
	MaxTokens = math.MaxUint32
	// OverflowKey is the key that every key past a rule's MaxKeys shares.
	OverflowKey = "\x00overflow"
	// MinWindow is the shortest window (sub-bucket epochs are 32-bit: at
	// MinWindow/MaxSubBuckets they wrap after about 2.3 years).
	MinWindow = time.Second
)

// Rule is one budget.
type Rule struct {
	Name  string
	Scope Scope
	// Limit is tokens per window for each key of the scope.
	Limit  uint64
	Window time.Duration
	// SubBuckets is 1 for a fixed window (aligned on multiples of Window
	// since the Unix epoch), more for a sliding one.
	SubBuckets int
	Mode       Mode
	// MaxKeys bounds the keys tracked (DefaultMaxKeys when 0; 1 for Global).
	MaxKeys int
}

// Key names the request's budgets.
type Key struct {
	Client, Model, Backend string
}

func (k Key) of(s Scope) string {
	switch s {
	case PerClient:
		return k.Client
	case PerModel:
		return k.Model
	case PerBackend:
		return k.Backend
	}
	return ""
}

// Clock returns the current time in Unix nanoseconds.
type Clock func() int64

// Engine holds the rules and their counters. Safe for concurrent use. A nil
// *Engine (no budgets configured) allows everything and charges nothing.
type Engine struct {
	rules []*rule
	now   Clock
}

// New checks the rules and builds an engine. now may be nil (wall clock).
func New(rules []Rule, now Clock) (*Engine, error) {
	if len(rules) > MaxRules {
		return nil, fmt.Errorf("at most %d rules, got %d", MaxRules, len(rules))
	}
	if now == nil {
		now = func() int64 { return time.Now().UnixNano() }
	}
	e := &Engine{now: now}
	seen := map[string]bool{}
	for i, r := range rules {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("rules[%d] (%s): %w", i, r.Name, err)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("rules[%d].name: %q is used twice", i, r.Name)
		}
		seen[r.Name] = true
		e.rules = append(e.rules, newRule(r))
	}
	return e, nil
}

func (r *Rule) check() error {
	switch {
	case r.Name == "":
		return errors.New("name: required")
	case r.Scope > Global:
		return errors.New("scope: unknown")
	case r.Mode > Enforce:
		return errors.New("mode: unknown")
	case r.Limit == 0 || r.Limit > MaxTokens:
		return fmt.Errorf("limit: must be 1..%d tokens", uint64(MaxTokens))
	case r.Window < MinWindow || r.Window%time.Millisecond != 0:
		return fmt.Errorf("window: must be at least %s in whole milliseconds", MinWindow)
	case r.SubBuckets < 1 || r.SubBuckets > MaxSubBuckets:
		return fmt.Errorf("sub_buckets: must be 1..%d", MaxSubBuckets)
	case r.Window%time.Duration(r.SubBuckets) != 0 || (r.Window/time.Duration(r.SubBuckets))%time.Millisecond != 0:
		return errors.New("window: must divide into sub_buckets of whole milliseconds")
	case r.MaxKeys < 0:
		return errors.New("max_keys: must not be negative")
	}
	return nil
}

// Rules returns the rules as configured (index i is bit i of Decision masks).
func (e *Engine) Rules() []Rule {
	out := make([]Rule, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.Rule
	}
	return out
}

// Reservation is what Reserve charged; pass it back by pointer to Charge,
// Settle or Release. The zero value charges nothing.
type Reservation struct {
	// Charged is the tokens currently charged to every budget of the request.
	Charged uint64
	n       uint8
	done    bool
	slots   [MaxRules]charge
}

type charge struct {
	b     *bucket
	slot  uint8
	epoch uint32
}

// Decision is the outcome of a Reserve or Charge, and what a 429 needs.
type Decision struct {
	Allowed bool
	// Rule is the index of the enforce rule that rejected (or, when allowed,
	// the rule with the fewest tokens left); -1 when there are no rules.
	Rule int
	// RetryAfter (seconds) is when the rejected amount fits again (0 when
	// allowed; the window length when the amount is larger than the limit).
	RetryAfter int64
	// RateLimit-Limit / -Remaining / -Reset (seconds) of Rule, as in the
	// IETF "RateLimit header fields for HTTP" draft.
	Limit, Remaining uint64
	Reset            int64
	// Overrun has bit i set when rule i is over its limit after this call
	// (shadow rules are only reported; enforce rules here mean a settle or a
	// mid-stream charge went past the limit).
	Overrun uint16
}

// Reserve charges amount (the request's estimate) to every budget of key.
// When an enforce rule cannot fit it, nothing stays charged and the
// decision says why; shadow rules are charged regardless.
func (e *Engine) Reserve(k Key, amount uint64) (Reservation, Decision) {
	if e == nil {
		return Reservation{}, Decision{Allowed: true, Rule: -1}
	}
	now := e.now()
	var res Reservation
	d := Decision{Allowed: true, Rule: -1, Remaining: math.MaxUint64}
	for i, r := range e.rules {
		b := r.bucket(k.of(r.Scope))
		slot, epoch := r.at(now)
		var used uint64
		if r.Mode == Enforce {
			var ok bool
			if used, ok = b.tryAdd(r, slot, epoch, amount); !ok {
				for _, c := range res.slots[:res.n] {
					c.b.sub(c.slot, c.epoch, amount)
				}
				return Reservation{}, Decision{
					Rule: i, RetryAfter: r.retryAfter(b, now, epoch, amount),
					Limit: r.Limit, Remaining: r.Limit - min(used, r.Limit), Reset: r.reset(now),
				}
			}
		} else {
			used = b.add(r, slot, epoch, amount)
		}
		res.slots[res.n] = charge{b, slot, epoch}
		res.n++
		e.note(&d, i, used, now)
	}
	res.Charged = amount
	return res, d
}

// Charge brings the reservation up to delivered tokens (what a stream has
// produced so far) and says whether the stream may go on: it may not when
// the tokens beyond the reservation put an enforce rule over its limit.
// Delivered tokens are always charged (they were delivered); a Charge at or
// below what is already charged changes nothing and is always allowed.
func (e *Engine) Charge(res *Reservation, delivered uint64) Decision {
	if e == nil {
		return Decision{Allowed: true, Rule: -1}
	}
	now := e.now()
	d := Decision{Allowed: true, Rule: -1, Remaining: math.MaxUint64}
	extra := uint64(0)
	if !res.done && delivered > res.Charged {
		extra = delivered - res.Charged
		res.Charged = delivered
	}
	for i := range res.slots[:res.n] {
		c := &res.slots[i]
		r := e.rules[i]
		slot, epoch := r.at(now)
		var used uint64
		if extra > 0 {
			used = c.b.add(r, slot, epoch, extra)
		} else {
			used = c.b.used(r, epoch)
		}
		// Tokens within the reservation were granted: only tokens beyond it
		// can cut the stream.
		if extra > 0 && used > r.Limit && r.Mode == Enforce && d.Allowed {
			d = Decision{Rule: i, RetryAfter: r.retryAfter(c.b, now, epoch, 0), Limit: r.Limit, Reset: r.reset(now), Overrun: d.Overrun}
		}
		if d.Allowed {
			e.note(&d, i, used, now)
		} else if used > r.Limit {
			d.Overrun |= 1 << i
		}
	}
	return d
}

// Settle sets the reservation's charge to the provider's reported usage:
// more is added to the current sub-buckets, less is given back to the
// sub-buckets the reservation was charged to (nothing when they expired).
// A settled or released reservation ignores further calls. It returns the
// rules that this settle pushed over their limit.
func (e *Engine) Settle(res *Reservation, actual uint64) (overrun uint16) {
	if e == nil || res.done {
		return 0
	}
	res.done = true
	now := e.now()
	for i := range res.slots[:res.n] {
		c := &res.slots[i]
		r := e.rules[i]
		slot, epoch := r.at(now)
		// Only a settle above the charge can make a new overrun.
		if actual > res.Charged {
			if c.b.add(r, slot, epoch, actual-res.Charged) > r.Limit {
				overrun |= 1 << i
			}
		} else if actual < res.Charged {
			c.b.sub(c.slot, c.epoch, res.Charged-actual)
		}
	}
	res.Charged = actual
	return overrun
}

// Release gives the whole reservation back (the attempt failed before any
// token was delivered). Same as Settle(res, 0).
func (e *Engine) Release(res *Reservation) { e.Settle(res, 0) }

// Estimate is the tokens to reserve for a request: its input estimated from
// the body size (about 4 bytes per token, rounded up), plus the output cap
// maxTokens (max_tokens / max_completion_tokens) or defaultOutput when the
// request has none (maxTokens < 0).
func Estimate(bodyBytes int, maxTokens int64, defaultOutput uint64) uint64 {
	in := uint64(max(bodyBytes, 0)+3) / 4
	if maxTokens < 0 {
		return in + defaultOutput
	}
	return in + uint64(maxTokens)
}

func (e *Engine) note(d *Decision, i int, used uint64, now int64) {
	r := e.rules[i]
	if used > r.Limit {
		d.Overrun |= 1 << i
	}
	left := r.Limit - min(used, r.Limit)
	if d.Rule < 0 || left < d.Remaining {
		d.Rule, d.Limit, d.Remaining, d.Reset = i, r.Limit, left, r.reset(now)
	}
}

type rule struct {
	Rule
	width   int64 // sub-bucket width, ns
	seed    maphash.Seed
	table   []atomic.Pointer[bucket] // open addressing, len a power of two ≥ 2*MaxKeys
	keys    atomic.Int64
	overflw *bucket
}

func newRule(r Rule) *rule {
	if r.Scope == Global {
		r.MaxKeys = 1
	} else if r.MaxKeys == 0 {
		r.MaxKeys = DefaultMaxKeys
	}
	n := 2
	for n < 2*r.MaxKeys {
		n <<= 1
	}
	return &rule{
		Rule:    r,
		width:   int64(r.Window) / int64(r.SubBuckets),
		seed:    maphash.MakeSeed(),
		table:   make([]atomic.Pointer[bucket], n),
		overflw: &bucket{key: OverflowKey, slots: make([]atomic.Uint64, r.SubBuckets)},
	}
}

// at is the current sub-bucket and its epoch.
func (r *rule) at(now int64) (slot uint8, epoch uint32) {
	ep := uint32(now / r.width)
	return uint8(ep % uint32(r.SubBuckets)), ep
}

// bucket finds or creates key's bucket without a lock: lookups probe the
// table; a new key is published with one CAS into an empty slot.
func (r *rule) bucket(key string) *bucket {
	mask := uint64(len(r.table) - 1)
	i := maphash.String(r.seed, key) & mask
	var fresh *bucket
	for range r.table {
		b := r.table[i].Load()
		if b == nil {
			if r.keys.Load() >= int64(r.MaxKeys) {
				return r.overflw
			}
			if fresh == nil {
				// The table keeps the key: clone it, as callers pass
				// strings that alias memory reused after the call (the
				// router phase's header and body copies).
				fresh = &bucket{key: strings.Clone(key), slots: make([]atomic.Uint64, r.SubBuckets)}
			}
			if r.table[i].CompareAndSwap(nil, fresh) {
				r.keys.Add(1)
				return fresh
			}
			b = r.table[i].Load()
		}
		if b.key == key {
			return b
		}
		i = (i + 1) & mask
	}
	return r.overflw
}

// retryAfter is the seconds until amount fits: the sub-buckets expire
// oldest first, each giving back its tokens.
func (r *rule) retryAfter(b *bucket, now int64, epoch uint32, amount uint64) int64 {
	if amount > r.Limit {
		return ceilSec(int64(r.Window))
	}
	used := b.used(r, epoch)
	n := int64(r.SubBuckets)
	full := now / r.width
	for age := n - 1; ; age-- {
		// The sub-bucket of epoch-age leaves the window when epoch-age+n starts.
		used -= min(used, b.tokens(epoch-uint32(age)))
		if used+amount <= r.Limit || age == 0 {
			return ceilSec((full-age+n)*r.width - now)
		}
	}
}

// reset is the seconds until the window has given back all of today's
// usage: for a fixed window its end, for a sliding one when the current
// sub-bucket leaves the window.
func (r *rule) reset(now int64) int64 {
	return ceilSec((now/r.width+int64(r.SubBuckets))*r.width - now)
}

func ceilSec(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	return (ns + int64(time.Second) - 1) / int64(time.Second)
}

// bucket is one key's window: SubBuckets words, each epoch<<32 | tokens.
type bucket struct {
	key   string
	slots []atomic.Uint64
}

func pack(epoch uint32, tokens uint64) uint64 { return uint64(epoch)<<32 | tokens }

// tokens is what the sub-bucket of epoch holds (0 when it holds another).
func (b *bucket) tokens(epoch uint32) uint64 {
	v := b.slots[epoch%uint32(len(b.slots))].Load() // as rule.at
	if uint32(v>>32) != epoch {
		return 0
	}
	return v & math.MaxUint32
}

// used is the tokens in the window ending at epoch.
func (b *bucket) used(r *rule, epoch uint32) uint64 {
	var sum uint64
	for i := range b.slots {
		v := b.slots[i].Load()
		if epoch-uint32(v>>32) < uint32(len(b.slots)) {
			sum += v & math.MaxUint32
		}
	}
	return sum
}

// others is the tokens of the window ending at epoch outside the current
// sub-bucket slot (read in one pass: subtracting the current sub-bucket
// from used could underflow when it grows between two reads).
func (b *bucket) others(slot uint8, epoch uint32) uint64 {
	var sum uint64
	for i := range b.slots {
		if i == int(slot) {
			continue
		}
		v := b.slots[i].Load()
		if epoch-uint32(v>>32) < uint32(len(b.slots)) {
			sum += v & math.MaxUint32
		}
	}
	return sum
}

// tryAdd adds amount to the current sub-bucket if the window then holds at
// most the limit, and returns the window's tokens (after adding, or as
// they were when it does not fit). The other sub-buckets only lose tokens
// meanwhile (expiry, refunds), so reading them once before the CAS loop is
// conservative and the CAS on the current one keeps the bound.
func (b *bucket) tryAdd(r *rule, slot uint8, epoch uint32, amount uint64) (uint64, bool) {
	s := &b.slots[slot]
	others := b.others(slot, epoch)
	for {
		v := s.Load()
		cur := uint64(0)
		if uint32(v>>32) == epoch {
			cur = v & math.MaxUint32
		}
		if others+cur+amount > r.Limit {
			return others + cur, false
		}
		if s.CompareAndSwap(v, pack(epoch, cur+amount)) {
			return others + cur + amount, true
		}
	}
}

// add charges amount unconditionally (saturating at MaxTokens) and
// returns the window's tokens after it.
func (b *bucket) add(r *rule, slot uint8, epoch uint32, amount uint64) uint64 {
	s := &b.slots[slot]
	others := b.others(slot, epoch)
	for {
		v := s.Load()
		cur := uint64(0)
		if uint32(v>>32) == epoch {
			cur = v & math.MaxUint32
		}
		n := min(cur+amount, MaxTokens)
		if s.CompareAndSwap(v, pack(epoch, n)) {
			return others + n
		}
	}
}

// sub gives amount back to the sub-bucket charged at epoch, if it still
// holds that epoch (an expired charge needs no refund).
func (b *bucket) sub(slot uint8, epoch uint32, amount uint64) {
	s := &b.slots[slot]
	for {
		v := s.Load()
		if uint32(v>>32) != epoch {
			return
		}
		cur := v & math.MaxUint32
		if s.CompareAndSwap(v, pack(epoch, cur-min(cur, amount))) {
			return
		}
	}
}
