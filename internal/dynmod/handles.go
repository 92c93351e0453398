package dynmod

import (
	"sync"
	"sync/atomic"
)

// handleTable maps the integer ids handed to Envoy as "module pointers" to Go
// objects. Envoy stores the id and passes it back on every hook; it never
// sees a Go pointer, so the cgo pointer rules hold and the GC may move or
// free nothing Envoy still references.
//
// An id names a slot and the slot's generation: a hook's get (every hook of
// every attempt) takes no lock and writes nothing shared, three atomic
// loads; add and remove (once per attempt) take the table's mutex for the
// free list only. A removed id's slot serves a later add under a new
// generation, so a stale id from a buggy host finds nothing rather than
// another stream's object (until the same slot was reused 2^31 times).
type handleTable[E any] struct {
	chunks [handleChunks]atomic.Pointer[[handleChunk]handleSlot[E]]

	mu   sync.Mutex
	free []uint32 // slots to reuse, the last freed first (its memory is warm)
	used uint32   // slots handed out so far
	live int
}

const (
	handleChunkBits = 10
	handleChunk     = 1 << handleChunkBits // slots per chunk, allocated when first needed
	handleChunks    = 1 << 12              // up to 4M live objects per table
)

// handleSlot holds one object. gen is odd while the slot holds one, even
// while it is free: an id carries the odd generation it was made under.
type handleSlot[E any] struct {
	gen atomic.Uint32
	v   atomic.Pointer[E]
}

// add stores v and returns its id, never 0 (Envoy treats a NULL module
// pointer as a failure), or 0 when the table is full.
func (t *handleTable[E]) add(v *E) uint64 {
	t.mu.Lock()
	var i uint32
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		if t.used == handleChunks*handleChunk {
			t.mu.Unlock()
			return 0
		}
		i = t.used
		t.used++
		if i%handleChunk == 0 {
			t.chunks[i/handleChunk].Store(new([handleChunk]handleSlot[E]))
		}
	}
	t.live++
	t.mu.Unlock()
	s := t.slot(i)
	s.v.Store(v)
	gen := s.gen.Add(1) // odd: holds v
	return uint64(gen)<<32 | uint64(i+1)
}

func (t *handleTable[E]) slot(i uint32) *handleSlot[E] {
	return &t.chunks[i/handleChunk].Load()[i%handleChunk]
}

// lookup is the slot and generation id names, or nil.
func (t *handleTable[E]) lookup(id uint64) (*handleSlot[E], uint32) {
	i, gen := uint32(id)-1, uint32(id>>32)
	if uint32(id) == 0 || i >= handleChunks*handleChunk || gen&1 == 0 {
		return nil, 0
	}
	c := t.chunks[i/handleChunk].Load()
	if c == nil {
		return nil, 0
	}
	return &c[i%handleChunk], gen
}

// get returns the object for id. Nothing is held when it returns: hooks
// re-enter the module (a local reply runs our own response hooks from
// inside the request hook).
func (t *handleTable[E]) get(id uint64) (*E, bool) {
	s, gen := t.lookup(id)
	if s == nil || s.gen.Load() != gen {
		return nil, false
	}
	v := s.v.Load()
	if v == nil || s.gen.Load() != gen { // removed (and reused) meanwhile
		return nil, false
	}
	return v, true
}

// remove deletes id and returns what it held; a second remove finds nothing.
func (t *handleTable[E]) remove(id uint64) (*E, bool) {
	s, gen := t.lookup(id)
	if s == nil || !s.gen.CompareAndSwap(gen, gen+1) { // even: free
		return nil, false
	}
	v := s.v.Swap(nil)
	t.mu.Lock()
	t.free = append(t.free, uint32(id)-1)
	t.live--
	t.mu.Unlock()
	return v, true
}

// len counts live entries (tests use it to check that destroy frees them).
func (t *handleTable[E]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}
