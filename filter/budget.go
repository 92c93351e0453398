package filter

import "sync/atomic"

// Budget counts the request-body bytes the router phase has Envoy hold
// buffered, across every request, worker and listener of the process, so a
// burst of large bodies is answered 503 instead of growing Envoy until the
// kernel kills it. It is lock-free: one compare-and-swap per reservation,
// one add per release.
type Budget struct {
	used atomic.Int64
}

// buffered is the process's one budget: every filter config shares it, and
// each request checks it against its own config's max_buffered_bytes.
var buffered Budget

// Reserve takes n bytes if that keeps the total at or below limit, and
// reports whether it did. A request that would cross the limit takes
// nothing, so nothing admitted ever exceeds the limit.
func (b *Budget) Reserve(n, limit int64) bool {
	for {
		u := b.used.Load()
		if u+n > limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Release returns n reserved bytes.
func (b *Budget) Release(n int64) { b.used.Add(-n) }

// Used is the number of bytes reserved now.
func (b *Budget) Used() int64 { return b.used.Load() }
