// Package bufpool holds the byte buffers the data plane borrows for one hook
// and gives back when the hook is done with them: the contiguous copy of a
// multi-slice body (dynmod's Body.Bytes) and the request body a translator
// writes for an attempt (translate.RequestResult, released once Envoy has
// copied it in). One mechanism for both: size-classed sync.Pools.
//
// Classes are powers of two from 4 KiB to 32 MiB (the default
// max_request_body_bytes), so a 1 MiB buffer is never handed to a 1 KiB
// body and a buffer wastes at most half its size. A larger request gets a
// buffer of its own, left to the garbage collector, so no pool pins more
// than a default-sized body. sync.Pool keeps one cache per P, so a worker
// thread mostly gets back the buffer it returned last, and the garbage
// collector empties the pools when bodies stop coming: they hold at most
// what the busiest moment needed.
//
// A buffer must not be used after Put: whoever holds it gives up every
// slice of it. Put poisons the buffer (PoisonByte in every byte) in builds
// with the race detector, and whenever SetPoison turned it on, so a read
// after release shows as poisoned data in tests instead of passing by luck.
package bufpool

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

const (
	// MinShift..MaxShift are the pooled size classes, 4 KiB to 32 MiB.
	MinShift = 12
	MaxShift = 25
	// PoisonByte fills a released buffer while poisoning is on.
	PoisonByte = 0xDB
)

var pools [MaxShift - MinShift + 1]sync.Pool

var poison atomic.Bool

func init() { poison.Store(raceEnabled) }

// SetPoison turns poisoning of released buffers on or off (tests; on by
// default under -race) and returns the previous setting.
func SetPoison(on bool) bool { return poison.Swap(on) }

// Class is the pool index for a buffer of at least n bytes, or -1 when n is
// beyond the largest class.
func Class(n int) int {
	if n <= 1<<MinShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > MaxShift {
		return -1
	}
	return shift - MinShift
}

// Get returns a buffer of length n: its capacity the size of n's class,
// from that class's pool when it has one, else a new buffer of exactly n
// bytes (beyond the largest class). Its contents are undefined.
func Get(n int) *[]byte {
	c := Class(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if p, ok := pools[c].Get().(*[]byte); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, 1<<(c+MinShift))
	return &b
}

// Put returns b to its class's pool. A buffer whose capacity is not a class
// size (beyond the largest, or not from Get) is dropped. The caller and
// everything it handed slices of b to must not use them again.
func Put(b *[]byte) {
	c := Class(cap(*b))
	if c < 0 || cap(*b) != 1<<(c+MinShift) {
		return
	}
	if poison.Load() {
		fill((*b)[:cap(*b)])
	}
	*b = (*b)[:0]
	pools[c].Put(b)
}

// fill sets every byte of b to PoisonByte, by doubling copies (one range
// access each for the race detector, not one per byte).
func fill(b []byte) {
	if len(b) == 0 {
		return
	}
	b[0] = PoisonByte
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}
