package dynmod

import (
	"math/bits"
	"sync"
)

// A body Envoy holds in more than one slice is copied into one contiguous
// scratch buffer for the hook that reads it (Body.Bytes). Scratch buffers
// come from size-classed pools and go back when the outermost hook of their
// attempt returns: a body is valid only during its hook (upstream.Body), so
// no buffer is shared by two attempts in flight, retries included (each
// attempt is its own filter instance with its own buffers), and a stream
// that stays open holds none between its hooks. The router phase's findings
// are keyed by the body's hash, never by this memory (bodyscan.Remember).
//
// sync.Pool keeps one cache per P, so a worker thread mostly gets back the
// buffer it returned last, and the garbage collector empties the pools when
// bodies stop coming: they hold at most what the busiest moment needed.

const (
	// minScratchShift..maxScratchShift are the pooled size classes, 32 KiB
	// to 32 MiB (the default max_request_body_bytes). A larger body gets a
	// buffer of its own, left to the garbage collector.
	minScratchShift = 15
	maxScratchShift = 25
)

var scratchPools [maxScratchShift - minScratchShift + 1]sync.Pool

// scratchClass is the pool index for a buffer of at least n bytes, or -1
// when n is beyond the largest class.
func scratchClass(n int) int {
	if n <= 1<<minScratchShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxScratchShift {
		return -1
	}
	return shift - minScratchShift
}

// getScratch returns a buffer of length n: pooled when n has a class.
func getScratch(n int) *[]byte {
	c := scratchClass(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if p, ok := scratchPools[c].Get().(*[]byte); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, 1<<(c+minScratchShift))
	return &b
}

// putScratch returns b to its pool; a buffer without a class is dropped.
func putScratch(b *[]byte) {
	c := scratchClass(cap(*b))
	if c < 0 || cap(*b) != 1<<(c+minScratchShift) {
		return
	}
	*b = (*b)[:0]
	scratchPools[c].Put(b)
}
