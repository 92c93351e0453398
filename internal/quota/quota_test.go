package quota

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

type clock struct{ ns atomic.Int64 }

func (c *clock) now() int64            { return c.ns.Load() }
func (c *clock) add(d time.Duration)   { c.ns.Add(int64(d)) }
func newClock(at time.Duration) *clock { c := &clock{}; c.ns.Store(int64(at)); return c }

func mustNew(t testing.TB, c *clock, rules ...Rule) *Engine {
	t.Helper()
	e, err := New(rules, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fixed(name string, s Scope, limit uint64, m Mode) Rule {
	return Rule{Name: name, Scope: s, Limit: limit, Window: time.Minute, SubBuckets: 1, Mode: m}
}

var alice = Key{Client: "alice", Model: "gpt", Backend: "oa"}
var bob = Key{Client: "bob", Model: "gpt", Backend: "oa"}

func TestNewRejectsBadRules(t *testing.T) {
	ok := fixed("r", PerClient, 10, Enforce)
	for _, tc := range []struct {
		name string
		mut  func(*Rule)
		want string
	}{
		{"no name", func(r *Rule) { r.Name = "" }, "name: required"},
		{"zero limit", func(r *Rule) { r.Limit = 0 }, "limit"},
		{"huge limit", func(r *Rule) { r.Limit = MaxTokens + 1 }, "limit"},
		{"short window", func(r *Rule) { r.Window = time.Millisecond * 999 }, "window"},
		{"no buckets", func(r *Rule) { r.SubBuckets = 0 }, "sub_buckets"},
		{"too many buckets", func(r *Rule) { r.SubBuckets = 61 }, "sub_buckets"},
		{"uneven buckets", func(r *Rule) { r.Window = time.Second; r.SubBuckets = 7 }, "window"},
		{"bad mode", func(r *Rule) { r.Mode = 9 }, "mode"},
		{"negative keys", func(r *Rule) { r.MaxKeys = -1 }, "max_keys"},
	} {
		r := ok
		tc.mut(&r)
		_, err := New([]Rule{r}, nil)
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := New([]Rule{ok, ok}, nil); err == nil || !contains(err.Error(), "used twice") {
		t.Errorf("duplicate: %v", err)
	}
	many := make([]Rule, MaxRules+1)
	for i := range many {
		many[i] = fixed(fmt.Sprint(i), PerClient, 1, Shadow)
	}
	if _, err := New(many, nil); err == nil {
		t.Error("too many rules accepted")
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || indexOf(s, sub) >= 0 }
func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestReserveEnforceAndHeaders(t *testing.T) {
	c := newClock(10 * time.Minute) // window start
	c.add(15 * time.Second)
	e := mustNew(t, c, fixed("per-client", PerClient, 100, Enforce))
	r1, d := e.Reserve(alice, 60)
	if !d.Allowed || d.Rule != 0 || d.Limit != 100 || d.Remaining != 40 || d.Reset != 45 || d.Overrun != 0 {
		t.Fatalf("first: %+v", d)
	}
	_, d = e.Reserve(alice, 41)
	if d.Allowed || d.Rule != 0 || d.Remaining != 40 || d.RetryAfter != 45 || d.Reset != 45 {
		t.Fatalf("over: %+v", d)
	}
	if _, d = e.Reserve(bob, 100); !d.Allowed {
		t.Fatalf("bob is not alice: %+v", d)
	}
	if _, d = e.Reserve(alice, 40); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("exact fit: %+v", d)
	}
	// settle down frees tokens
	if ov := e.Settle(&r1, 10); ov != 0 || r1.Charged != 10 {
		t.Fatalf("settle: %b %d", ov, r1.Charged)
	}
	if _, d = e.Reserve(alice, 50); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after settle: %+v", d)
	}
	// larger than the whole limit: retry after a window
	if _, d = e.Reserve(bob, 101); d.Allowed || d.RetryAfter != 60 {
		t.Fatalf("never fits: %+v", d)
	}
}

func TestShadowNeverRejects(t *testing.T) {
	c := newClock(0)
	e := mustNew(t, c, fixed("s", PerClient, 10, Shadow), fixed("g", Global, 1000, Enforce))
	var last Decision
	for i := 0; i < 50; i++ {
		_, last = e.Reserve(alice, 7)
		if !last.Allowed {
			t.Fatalf("shadow rejected at %d: %+v", i, last)
		}
	}
	if last.Overrun != 1 {
		t.Fatalf("overrun mask %b, want rule 0", last.Overrun)
	}
	if last.Rule != 0 || last.Remaining != 0 {
		t.Fatalf("most constrained rule: %+v", last)
	}
}

func TestRejectRollsBackEarlierRules(t *testing.T) {
	c := newClock(0)
	e := mustNew(t, c, fixed("client", PerClient, 100, Enforce), fixed("model", PerModel, 50, Enforce))
	if _, d := e.Reserve(alice, 60); d.Allowed || d.Rule != 1 {
		t.Fatalf("%+v", d)
	}
	// The client rule got its 60 back: alice can still reserve 100... within model 50.
	if _, d := e.Reserve(alice, 50); !d.Allowed {
		t.Fatalf("%+v", d)
	}
	if _, d := e.Reserve(Key{Client: "alice", Model: "other"}, 50); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("client budget after rollback: %+v", d)
	}
}

func TestSettleReleaseArithmetic(t *testing.T) {
	c := newClock(0)
	e := mustNew(t, c, fixed("c", PerClient, 1000, Enforce))
	used := func() uint64 { r := e.rules[0]; return r.bucket("alice").used(r, uint32(c.now()/r.width)) }
	for _, tc := range []struct {
		reserve, charge, settle, want uint64
		release                       bool
	}{
		{100, 0, 100, 100, false},
		{100, 0, 30, 30, false},
		{100, 0, 250, 250, false},
		{100, 150, 120, 120, false},
		{100, 150, 0, 0, true},
		{100, 50, 100, 100, false},
	} {
		before := used()
		res, d := e.Reserve(alice, tc.reserve)
		if !d.Allowed {
			t.Fatal(d)
		}
		if tc.charge > 0 {
			e.Charge(&res, tc.charge)
		}
		if tc.release {
			e.Release(&res)
		} else {
			e.Settle(&res, tc.settle)
		}
		if got := used() - before; got != tc.want {
			t.Errorf("%+v: charged %d", tc, got)
		}
		// settling twice changes nothing
		e.Settle(&res, 999)
		e.Release(&res)
		if got := used() - before; got != tc.want {
			t.Errorf("%+v: second settle changed charge to %d", tc, got)
		}
		e.Settle(&Reservation{}, 5) // zero value: no rules, nothing
		c.add(time.Minute)          // next case in a fresh window
	}
}

func TestChargeCutsStream(t *testing.T) {
	c := newClock(0)
	e := mustNew(t, c, fixed("c", PerClient, 100, Enforce), fixed("sh", PerModel, 10, Shadow))
	res, d := e.Reserve(alice, 40)
	if !d.Allowed || d.Overrun != 2 {
		t.Fatalf("%+v", d)
	}
	for _, step := range []struct {
		delivered uint64
		ok        bool
	}{{20, true}, {40, true}, {90, true}, {100, true}, {101, false}, {130, false}} {
		d = e.Charge(&res, step.delivered)
		if d.Allowed != step.ok {
			t.Fatalf("delivered %d: %+v", step.delivered, d)
		}
		if !d.Allowed && (d.Rule != 0 || d.Remaining != 0 || d.Overrun&1 == 0 || d.RetryAfter != 60) {
			t.Fatalf("cut decision %+v", d)
		}
	}
	if res.Charged != 130 {
		t.Fatal(res.Charged)
	}
	if ov := e.Settle(&res, 140); ov != 3 { // usage above the charge: both over
		t.Fatalf("overrun %b", ov)
	}
}

// A stream within its reservation is never cut, even when other requests'
// usage above their estimates pushed the budget over.
func TestChargeWithinReservationNotCut(t *testing.T) {
	c := newClock(0)
	e := mustNew(t, c, fixed("c", PerClient, 100, Enforce))
	mine, _ := e.Reserve(alice, 60)
	other, _ := e.Reserve(alice, 40)
	if ov := e.Settle(&other, 90); ov != 1 {
		t.Fatalf("overrun %b", ov)
	}
	for _, delivered := range []uint64{10, 60} {
		if d := e.Charge(&mine, delivered); !d.Allowed || d.Overrun != 1 {
			t.Fatalf("delivered %d: %+v", delivered, d)
		}
	}
	if d := e.Charge(&mine, 61); d.Allowed {
		t.Fatalf("beyond the reservation and over the limit: %+v", d)
	}
}

func TestNilEngine(t *testing.T) {
	var e *Engine
	res, d := e.Reserve(alice, 10)
	if !d.Allowed || !e.Charge(&res, 99).Allowed || e.Settle(&res, 5) != 0 {
		t.Fatal(d)
	}
	e.Release(&res)
}

func TestWindowRollOver(t *testing.T) {
	c := newClock(0)
	fx := mustNew(t, c, fixed("f", PerClient, 100, Enforce))
	sl := mustNew(t, c, Rule{Name: "s", Scope: PerClient, Limit: 100, Window: time.Minute, SubBuckets: 6, Mode: Enforce})
	if _, d := fx.Reserve(alice, 100); !d.Allowed {
		t.Fatal(d)
	}
	if _, d := sl.Reserve(alice, 60); !d.Allowed { // t=0 sub-bucket 0
		t.Fatal(d)
	}
	c.add(30 * time.Second)
	if _, d := sl.Reserve(alice, 40); !d.Allowed { // t=30 sub-bucket 3
		t.Fatal(d)
	}
	_, d := sl.Reserve(alice, 50)
	// 60 leave at t=60 (30 s from now): then 40+50 fits.
	if d.Allowed || d.RetryAfter != 30 || d.Reset != 60 {
		t.Fatalf("sliding: %+v", d)
	}
	_, d = sl.Reserve(alice, 70)
	// needs both to expire: the 40 leave at t=90.
	if d.Allowed || d.RetryAfter != 60 {
		t.Fatalf("sliding, two buckets: %+v", d)
	}
	_, d = fx.Reserve(alice, 1)
	if d.Allowed || d.RetryAfter != 30 || d.Reset != 30 {
		t.Fatalf("fixed: %+v", d)
	}
	c.add(30 * time.Second) // t=60
	if _, d := fx.Reserve(alice, 100); !d.Allowed {
		t.Fatalf("fixed after roll-over: %+v", d)
	}
	if _, d := sl.Reserve(alice, 60); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("sliding after 60 expired: %+v", d)
	}
	// a refund of an expired charge does nothing
	c2 := newClock(0)
	e := mustNew(t, c2, fixed("f", PerClient, 100, Enforce))
	res, _ := e.Reserve(alice, 100)
	c2.add(time.Minute)
	e.Reserve(alice, 100)
	e.Release(&res)
	if _, d := e.Reserve(alice, 1); d.Allowed {
		t.Fatal("refund of last window's charge freed this window")
	}
}

func TestKeyCapOverflow(t *testing.T) {
	c := newClock(0)
	r := fixed("c", PerClient, 10, Enforce)
	r.MaxKeys = 3
	e := mustNew(t, c, r)
	for i := 0; i < 3; i++ {
		if _, d := e.Reserve(Key{Client: fmt.Sprint(i)}, 10); !d.Allowed {
			t.Fatal(i, d)
		}
	}
	if _, d := e.Reserve(Key{Client: "x"}, 6); !d.Allowed {
		t.Fatal(d)
	}
	if _, d := e.Reserve(Key{Client: "y"}, 6); d.Allowed {
		t.Fatal("overflow keys must share one bucket")
	}
	if got := e.rules[0].keys.Load(); got != 3 {
		t.Fatalf("tracked %d keys", got)
	}
	if e.rules[0].bucket("1").key != "1" {
		t.Fatal("tracked key lost")
	}
}

func TestEstimate(t *testing.T) {
	for _, tc := range []struct {
		body int
		max  int64
		def  uint64
		want uint64
	}{{0, -1, 256, 256}, {1, -1, 0, 1}, {400, 100, 256, 200}, {401, 0, 9, 101}, {-5, -1, 1, 1}} {
		if got := Estimate(tc.body, tc.max, tc.def); got != tc.want {
			t.Errorf("%+v: %d", tc, got)
		}
	}
}

// Property: with many goroutines reserving and settling to exactly what
// they reserved, an enforced budget's usage never exceeds the limit (the
// bound is limit + one reservation for settles above the estimate; here
// none are, so the limit itself holds), and every allowed reservation is
// accounted for.
func TestConcurrentNeverExceeds(t *testing.T) {
	for _, sub := range []int{1, 6} {
		c := newClock(0)
		const limit = 10_000
		e := mustNew(t, c,
			Rule{Name: "client", Scope: PerClient, Limit: limit, Window: time.Minute, SubBuckets: sub, Mode: Enforce},
			Rule{Name: "global", Scope: Global, Limit: 3 * limit / 2, Window: time.Minute, SubBuckets: sub, Mode: Enforce},
			Rule{Name: "shadow", Scope: PerModel, Limit: 1, Window: time.Minute, SubBuckets: sub, Mode: Shadow},
		)
		var granted [3]atomic.Uint64
		var wg sync.WaitGroup
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := Key{Client: fmt.Sprint(g % 3), Model: "m"}
				for i := 0; i < 2000; i++ {
					amt := uint64(1 + (i*7+g)%97)
					res, d := e.Reserve(k, amt)
					if !d.Allowed {
						continue
					}
					if i%5 == 0 {
						e.Release(&res)
						continue
					}
					granted[g%3].Add(amt)
					e.Settle(&res, amt)
				}
			}()
		}
		wg.Wait()
		var total uint64
		for i := range granted {
			g := granted[i].Load()
			total += g
			if g > limit {
				t.Errorf("sub=%d client %d granted %d > %d", sub, i, g, limit)
			}
			r := e.rules[0]
			if u := r.bucket(fmt.Sprint(i)).used(r, 0); u != g {
				t.Errorf("sub=%d client %d: counter %d, granted %d", sub, i, u, g)
			}
		}
		if total > 3*limit/2 {
			t.Errorf("sub=%d global granted %d", sub, total)
		}
		if total < 3*limit/2-200 {
			t.Errorf("sub=%d budget left unused: %d", sub, total)
		}
	}
}

func benchEngine(b *testing.B, sub int) *Engine {
	e, err := New([]Rule{
		{Name: "client", Scope: PerClient, Limit: MaxTokens, Window: time.Hour, SubBuckets: sub, Mode: Enforce},
		{Name: "model", Scope: PerModel, Limit: MaxTokens, Window: time.Minute, SubBuckets: 1, Mode: Shadow},
		{Name: "global", Scope: Global, Limit: MaxTokens, Window: time.Minute, SubBuckets: 1, Mode: Enforce},
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkReserveSettle is the hot path of one request with three rules
// (per client enforce, per model shadow, global enforce): reserve, then
// settle below the estimate. sub is the client rule's sub-buckets.
func BenchmarkReserveSettle(b *testing.B) {
	for _, sub := range []int{1, 10, 60} {
		b.Run(fmt.Sprintf("sub=%d", sub), func(b *testing.B) {
			e := benchEngine(b, sub)
			k := Key{Client: "client-1234", Model: "gpt-4o", Backend: "openai"}
			b.ReportAllocs()
			for b.Loop() {
				res, d := e.Reserve(k, 2)
				if !d.Allowed {
					b.Fatal(d)
				}
				e.Settle(&res, 1)
			}
		})
	}
}

// BenchmarkReserve is the admission check alone (three rules).
func BenchmarkReserve(b *testing.B) {
	for _, sub := range []int{1, 60} {
		b.Run(fmt.Sprintf("sub=%d", sub), func(b *testing.B) {
			e := benchEngine(b, sub)
			k := Key{Client: "client-1234", Model: "gpt-4o", Backend: "openai"}
			b.ReportAllocs()
			for b.Loop() {
				if _, d := e.Reserve(k, 1); !d.Allowed {
					b.Fatal(d)
				}
			}
		})
	}
}

// BenchmarkReserveSettleParallel: every goroutine its own client, all
// sharing the model and global buckets (the contended words).
func BenchmarkReserveSettleParallel(b *testing.B) {
	for _, sub := range []int{1, 10, 60} {
		b.Run(fmt.Sprintf("sub=%d", sub), func(b *testing.B) {
			e := benchEngine(b, sub)
			var n atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				k := Key{Client: fmt.Sprint("client-", n.Add(1)), Model: "gpt-4o", Backend: "openai"}
				for pb.Next() {
					res, d := e.Reserve(k, 2)
					if !d.Allowed {
						b.Fatal(d)
					}
					e.Settle(&res, 1)
				}
			})
		})
	}
}

// The engine keeps a new key: a caller's string that aliases memory reused
// after the call (the router phase's per-worker header copy) must not
// change the key in the table.
func TestKeyIsCopiedOnInsert(t *testing.T) {
	e, err := New([]Rule{{Name: "c", Scope: PerClient, Limit: 100, Window: time.Hour, SubBuckets: 1, Mode: Enforce}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	scratch := []byte("team-a")
	alias := unsafe.String(&scratch[0], len(scratch))
	if _, d := e.Reserve(Key{Client: alias}, 90); !d.Allowed {
		t.Fatal(d)
	}
	copy(scratch, "team-b") // the scratch memory is reused for another request
	if _, d := e.Reserve(Key{Client: "team-a"}, 90); d.Allowed {
		t.Fatal("team-a's budget was lost when the caller's memory was reused")
	}
}
