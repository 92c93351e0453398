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
// Ids come from one atomic counter and are never reused (a uint64 does not
// wrap in the life of a process), so a stale id from a buggy host finds
// nothing instead of another stream's filter. The map is sharded because
// every Envoy worker creates and destroys filters concurrently: one mutex
// would serialise all workers on every stream.
type handleTable[T any] struct {
	next   atomic.Uint64
	shards [handleShards]handleShard[T]
}

const handleShards = 64 // power of two: the shard is the id's low bits

type handleShard[T any] struct {
	mu sync.RWMutex
	m  map[uint64]T
	_  [40]byte // keep shards on separate cache lines
}

// add stores v and returns its id; ids start at 1 so 0 stays "no object"
// (Envoy treats a NULL module pointer as a failure).
func (t *handleTable[T]) add(v T) uint64 {
	id := t.next.Add(1)
	s := &t.shards[id&(handleShards-1)]
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[uint64]T)
	}
	s.m[id] = v
	s.mu.Unlock()
	return id
}

// get returns the object for id. The lock is released before the caller uses
// the object: hooks re-enter the module (a local reply runs our own response
// hooks from inside the request hook), so no lock may be held across a call
// into Envoy.
func (t *handleTable[T]) get(id uint64) (T, bool) {
	s := &t.shards[id&(handleShards-1)]
	s.mu.RLock()
	v, ok := s.m[id]
	s.mu.RUnlock()
	return v, ok
}

// remove deletes id and returns what it held.
func (t *handleTable[T]) remove(id uint64) (T, bool) {
	s := &t.shards[id&(handleShards-1)]
	s.mu.Lock()
	v, ok := s.m[id]
	delete(s.m, id)
	s.mu.Unlock()
	return v, ok
}

// len counts live entries (tests use it to check that destroy frees them).
func (t *handleTable[T]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
