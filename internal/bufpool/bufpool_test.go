package bufpool

import (
	"bytes"
	"testing"
)

// Buffers come in power-of-two classes from 4 KiB to 32 MiB; a buffer goes
// back to the pool of its class only, and one beyond the largest class is
// never pooled.
func TestClasses(t *testing.T) {
	for _, tc := range []struct{ n, class int }{
		{0, 0}, {1, 0}, {1 << 12, 0}, {1<<12 + 1, 1}, {1 << 15, 3}, {1 << 20, 8}, {1<<20 + 1, 9}, {1 << 25, 13}, {1<<25 + 1, -1},
	} {
		if got := Class(tc.n); got != tc.class {
			t.Errorf("Class(%d) = %d, want %d", tc.n, got, tc.class)
		}
		b := Get(tc.n)
		if len(*b) != tc.n {
			t.Errorf("Get(%d): len %d", tc.n, len(*b))
		}
		if tc.class >= 0 && cap(*b) != 1<<(tc.class+MinShift) {
			t.Errorf("Get(%d): cap %d, want its class's", tc.n, cap(*b))
		}
		if tc.class < 0 && cap(*b) != tc.n {
			t.Errorf("Get(%d) beyond the classes: cap %d, want exactly n", tc.n, cap(*b))
		}
		Put(b)
	}
	// A buffer whose capacity is not a class size (not one of ours) is not
	// pooled: a later Get of that class must get a full class buffer.
	odd := make([]byte, 0, 40<<10)
	Put(&odd)
	for i := 0; i < 4; i++ {
		if b := Get(40 << 10); cap(*b) != 64<<10 {
			t.Fatalf("got a buffer of cap %d for class 64 KiB", cap(*b))
		}
	}
}

// Steady state: a buffer borrowed per hook is reused, with no allocation
// once the pool is warm (the garbage collector may empty a pool; the test
// allows it one refill).
func TestReuse(t *testing.T) {
	was := SetPoison(false) // measure the pool, not the poisoning
	defer SetPoison(was)
	Put(Get(1 << 20))
	allocs := testing.AllocsPerRun(100, func() {
		b := Get(1 << 20)
		(*b)[0] = 1
		Put(b)
	})
	limit := 0.05
	if raceEnabled {
		limit = 0.5 // sync.Pool drops a quarter of its Puts under -race
	}
	if allocs > limit {
		t.Errorf("%.2f allocations per buffer, want none", allocs)
	}
}

// With poisoning on, a released buffer holds PoisonByte in every byte (its
// whole capacity), so a slice kept past Put reads poison.
func TestPoison(t *testing.T) {
	was := SetPoison(true)
	defer SetPoison(was)
	for _, n := range []int{1, 100, 4096, 5000, 1<<20 + 3} {
		b := Get(n)
		for i := range *b {
			(*b)[i] = 'x'
		}
		kept := (*b)[:n]
		Put(b)
		if !bytes.Equal(kept, bytes.Repeat([]byte{PoisonByte}, n)) {
			t.Fatalf("n %d: a slice kept past Put is not poisoned", n)
		}
		for i, c := range kept[:cap(kept)] {
			if c != PoisonByte {
				t.Fatalf("n %d: byte %d of the capacity is %#x, not poisoned", n, i, c)
			}
		}
	}
}
