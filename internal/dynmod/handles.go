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
// loads; add and remove (once per attempt) take the lock of one shard of
// the table, for its free list only. A removed id's slot serves a later add
// under a new generation, so a stale id from a buggy host finds nothing
// rather than another stream's object (until the same slot was reused
// 2^31 times).
//
// The slots are split into handleShards shards, each with its own lock,
// free list and chunks of slots, and add takes the caller's hint to pick
// one: filter.c gives it the worker thread's number (internal/cthread), so
// up to handleShards workers never take the same lock nor write to the
// same cache line. One lock and free list for all cost 270 ns more per attempt
// with two workers than with one (perf, WholePathABIParallel/openai/1KiB):
// each worker's add and remove waited for, and pulled over, the lines the
// other had just written, and the last slot one freed was the next the
// other got.
type handleTable[E any] struct {
	chunks [handleChunks]atomic.Pointer[[handleChunk]handleSlot[E]]
	shards [handleShards]handleShard
}

// handleShard is one shard's free list, padded so that no two shards share
// a cache line (nor the pair a core fetches together).
type handleShard struct {
	mu   sync.Mutex
	free []uint32 // slots to reuse, the last freed first (its memory is warm)
	used uint32   // slots handed out so far, from the shard's first
	live int32
	_    [128 - 8 - 24 - 4 - 4]byte
}

const (
	handleChunkBits = 10
	handleChunk     = 1 << handleChunkBits // slots per chunk, allocated when first needed
	handleChunks    = 1 << 12              // up to 4M live objects per table
	handleShards    = 16
	// shardSlots is each shard's part of the slots, in whole chunks.
	shardSlots = handleChunks / handleShards * handleChunk
)

// handleSlot holds one object. gen is odd while the slot holds one, even
// while it is free: an id carries the odd generation it was made under.
type handleSlot[E any] struct {
	gen atomic.Uint32
	v   atomic.Pointer[E]
}

// add stores v and returns its id, never 0 (Envoy treats a NULL module
// pointer as a failure), or 0 when the table is full. hint picks the shard
// tried first (any number: the caller's thread, say); a full shard passes
// to the next.
func (t *handleTable[E]) add(hint uint32, v *E) uint64 {
	for k := range uint32(handleShards) {
		sh := (hint + k) % handleShards
		if i, ok := t.take(sh); ok {
			s := t.slot(i)
			s.v.Store(v)
			gen := s.gen.Add(1) // odd: holds v
			return uint64(gen)<<32 | uint64(i+1)
		}
	}
	return 0
}

// take reserves a free slot of shard sh.
func (t *handleTable[E]) take(sh uint32) (uint32, bool) {
	s := &t.shards[sh]
	s.mu.Lock()
	defer s.mu.Unlock()
	var i uint32
	if n := len(s.free); n > 0 {
		i, s.free = s.free[n-1], s.free[:n-1]
	} else {
		if s.used == shardSlots {
			return 0, false
		}
		i = sh*shardSlots + s.used
		s.used++
		if i%handleChunk == 0 {
			t.chunks[i/handleChunk].Store(new([handleChunk]handleSlot[E]))
		}
	}
	s.live++
	return i, true
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
	i := uint32(id) - 1
	sh := &t.shards[i/shardSlots]
	sh.mu.Lock()
	sh.free = append(sh.free, i)
	sh.live--
	sh.mu.Unlock()
	return v, true
}

// len counts live entries (tests use it to check that destroy frees them).
func (t *handleTable[E]) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += int(sh.live)
		sh.mu.Unlock()
	}
	return n
}
