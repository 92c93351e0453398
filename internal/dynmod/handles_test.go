package dynmod

import (
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

func TestHandleTableConcurrentLifecycle(t *testing.T) {
	var tab handleTable[int]
	const workers, perWorker = 8, 1500 // more than one chunk of slots
	ids := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				v := w*perWorker + i
				id := tab.add(uint32(w), &v)
				if got, ok := tab.get(id); !ok || *got != v {
					t.Errorf("get(%d) = %v, %v", id, got, ok)
				}
				ids[w] = append(ids[w], id)
			}
		}()
	}
	wg.Wait()

	seen := map[uint64]bool{}
	for _, ws := range ids {
		for _, id := range ws {
			if id == 0 || seen[id] {
				t.Fatalf("id %d is zero or handed out twice", id)
			}
			seen[id] = true
		}
	}
	if n := tab.len(); n != workers*perWorker {
		t.Fatalf("len = %d, want %d", n, workers*perWorker)
	}

	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, id := range ids[w] {
				if _, ok := tab.remove(id); !ok {
					t.Errorf("remove(%d) found nothing", id)
				}
				if _, ok := tab.remove(id); ok {
					t.Errorf("second remove(%d) found something", id)
				}
				if _, ok := tab.get(id); ok {
					t.Errorf("get(%d) after remove", id)
				}
			}
		}()
	}
	wg.Wait()
	if n := tab.len(); n != 0 {
		t.Fatalf("len = %d after removing everything", n)
	}
	if _, ok := tab.get(0); ok {
		t.Fatal("id 0 (a NULL module pointer) found an object")
	}
}

// A freed slot serves the next add under a new generation: the new id
// differs from the old one, and the old (stale) id finds nothing, neither
// by get nor by remove, while the new one holds; ids that name no slot
// handed out (never made, even generation, out of range) find nothing.
func TestHandleTableStaleIDs(t *testing.T) {
	var tab handleTable[string]
	a, b := "a", "b"
	old := tab.add(0, &a)
	if _, ok := tab.remove(old); !ok {
		t.Fatal("remove found nothing")
	}
	id := tab.add(0, &b)
	if id == old || uint32(id) != uint32(old) {
		t.Fatalf("the freed slot was not reused under a new generation: old %#x, new %#x", old, id)
	}
	if v, ok := tab.get(old); ok {
		t.Fatalf("the stale id found %q", *v)
	}
	if _, ok := tab.remove(old); ok {
		t.Fatal("the stale id removed the slot's new object")
	}
	if v, ok := tab.get(id); !ok || *v != "b" {
		t.Fatalf("the new id lost its object: %v %v", v, ok)
	}
	for _, bad := range []uint64{
		uint64(1)<<32 | 2, // a slot never handed out
		id + 1<<32,        // an even (free) generation
		uint64(3)<<32 | handleChunks*handleChunk + 1, // out of range
		uint64(1)<<32 | uint64(handleChunk+1),        // a chunk never allocated
	} {
		if bad == old || bad == id {
			continue
		}
		if _, ok := tab.get(bad); ok {
			t.Errorf("get(%#x) found an object", bad)
		}
		if _, ok := tab.remove(bad); ok {
			t.Errorf("remove(%#x) found an object", bad)
		}
	}
	if n := tab.len(); n != 1 {
		t.Fatalf("len = %d, want 1", n)
	}
}

// get, the lookup of every hook, allocates nothing and takes no lock.
func BenchmarkHandleTableGet(b *testing.B) {
	var tab handleTable[int]
	v := 1
	id := tab.add(0, &v)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tab.get(id); !ok {
			b.Fatal("lost")
		}
	}
}

// Each hint's objects live in its own shard (workers share no lock and no
// line), a freed slot goes back to its own shard, and a full shard passes
// adds on to the next, so the table holds as many objects as before.
func TestHandleTableShards(t *testing.T) {
	var tab handleTable[int]
	v := 0
	shardOf := func(id uint64) uint32 { return (uint32(id) - 1) / shardSlots }
	for hint := range uint32(2 * handleShards) {
		if id := tab.add(hint, &v); shardOf(id) != hint%handleShards {
			t.Fatalf("hint %d: id %#x in shard %d", hint, id, shardOf(id))
		}
	}
	a := tab.add(3, &v)
	tab.remove(a)
	if b := tab.add(3, &v); uint32(b) != uint32(a) {
		t.Fatalf("a freed slot of shard 3 did not serve its next add: %#x then %#x", a, b)
	}
	// Fill shard 5: the next add with its hint lands in shard 6.
	for range shardSlots - int(tab.shards[5].used) {
		if id := tab.add(5, &v); shardOf(id) != 5 {
			t.Fatalf("shard 5 not full yet, but id %#x is in shard %d", id, shardOf(id))
		}
	}
	if id := tab.add(5, &v); id == 0 || shardOf(id) != 6 {
		t.Fatalf("after shard 5 filled up: id %#x in shard %d, want shard 6", id, shardOf(id))
	}
	if n, want := tab.len(), 2*handleShards+1+shardSlots-2+1; n != want {
		t.Fatalf("len = %d, want %d", n, want)
	}
}

// The shards' free lists lie on lines of their own.
func TestHandleShardSize(t *testing.T) {
	if n := unsafe.Sizeof(handleShard{}); n != 128 {
		t.Fatalf("handleShard is %d bytes, want 128", n)
	}
}

// add and remove (once per attempt each) on every worker at once: with a
// hint per worker, they share no lock and no line.
func BenchmarkHandleTableAddRemoveParallel(b *testing.B) {
	var tab handleTable[int]
	var next atomic.Uint32
	b.RunParallel(func(pb *testing.PB) {
		hint := next.Add(1)
		v := 1
		for pb.Next() {
			tab.remove(tab.add(hint, &v))
		}
	})
}
