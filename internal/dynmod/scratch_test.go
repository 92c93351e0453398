package dynmod

import "testing"

// Scratch buffers come in power-of-two classes from 32 KiB to 32 MiB; a
// buffer goes back to the pool of its class only, and one beyond the
// largest class is never pooled.
func TestScratchClasses(t *testing.T) {
	for _, tc := range []struct{ n, class int }{
		{1, 0}, {1 << 15, 0}, {1<<15 + 1, 1}, {1 << 20, 5}, {1<<20 + 1, 6}, {1 << 25, 10}, {1<<25 + 1, -1},
	} {
		if got := scratchClass(tc.n); got != tc.class {
			t.Errorf("scratchClass(%d) = %d, want %d", tc.n, got, tc.class)
		}
		b := getScratch(tc.n)
		if len(*b) != tc.n {
			t.Errorf("getScratch(%d): len %d", tc.n, len(*b))
		}
		if tc.class >= 0 && cap(*b) != 1<<(tc.class+minScratchShift) {
			t.Errorf("getScratch(%d): cap %d, want its class's", tc.n, cap(*b))
		}
		putScratch(b)
	}
	// A buffer whose capacity is not a class size (not one of ours) is not
	// pooled: a later Get of that class must get a full class buffer.
	odd := make([]byte, 0, 40<<10)
	putScratch(&odd)
	for i := 0; i < 4; i++ {
		if b := getScratch(40 << 10); cap(*b) != 64<<10 {
			t.Fatalf("got a buffer of cap %d for class 64 KiB", cap(*b))
		}
	}
}

// Steady state: a body copied per hook reuses its pooled buffer, with no
// allocation once the pool is warm (the garbage collector may empty a pool;
// the test allows it one refill).
func TestScratchReuse(t *testing.T) {
	putScratch(getScratch(1 << 20))
	wantPooled(t, "body", testing.AllocsPerRun(100, func() {
		b := getScratch(1 << 20)
		(*b)[0] = 1
		putScratch(b)
	}))
}

// wantPooled fails t unless what costs no allocation from a warm pool:
// allocs may show the pool's refills only (sync.Pool drops a quarter of its
// Puts under -race, and the garbage collector may empty it).
func wantPooled(t *testing.T, what string, allocs float64) {
	t.Helper()
	limit := 0.05
	if raceEnabled {
		limit = 0.5
	}
	if allocs > limit {
		t.Errorf("%.2f allocations per %s, want none", allocs, what)
	}
}
