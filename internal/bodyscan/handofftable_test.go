package bodyscan

import (
	"math/rand/v2"
	"testing"

	"github.com/zeebo/xxh3"
)

// The table holds exactly what a Go map would through any sequence of
// puts and removes: keys crowded onto few home slots (long probe runs,
// runs that wrap past the end, removals from their middle), growth and
// shrinking included.
func TestHandoffTableMatchesMap(t *testing.T) {
	for _, spread := range []uint64{3, 17, 1 << 40} {
		rng := rand.New(rand.NewPCG(1, spread))
		var tab handoffTable
		ref := map[handoffKey]int{}
		keys := make([]handoffKey, 300)
		for i := range keys {
			// Lo picks the home slot; Hi and n tell keys of one home apart.
			// Half the keys are at home in the last slots of any table
			// size, so their runs wrap to its start.
			lo := rng.Uint64() % spread
			if i%2 == 1 {
				lo = ^lo
			}
			keys[i] = handoffKey{hash: xxh3.Uint128{Lo: lo, Hi: uint64(i)}, n: i}
		}
		for step := range 20000 {
			k := keys[rng.IntN(len(keys))]
			if rng.IntN(2) == 0 {
				e := tab.put(k)
				e.refs++
				e.f.Members = k.n
				ref[k]++
			} else if ref[k] > 0 {
				e, ok := tab.get(k)
				if !ok {
					t.Fatalf("spread %d step %d: %v lost", spread, step, k)
				}
				if e.refs > 1 {
					e.refs--
				} else {
					tab.remove(k)
				}
				if ref[k]--; ref[k] == 0 {
					delete(ref, k)
				}
			}
			if tab.n != len(ref) {
				t.Fatalf("spread %d step %d: %d entries, want %d", spread, step, tab.n, len(ref))
			}
			if step%97 == 0 {
				for _, k := range keys {
					e, ok := tab.get(k)
					if ok != (ref[k] > 0) || ok && (int(e.refs) != ref[k] || e.f.Members != k.n) {
						t.Fatalf("spread %d step %d: get(%v) = %+v %v, want %d refs", spread, step, k, e, ok, ref[k])
					}
				}
			}
		}
		for k := range ref {
			for ref[k] > 0 {
				e, _ := tab.get(k)
				if e.refs > 1 {
					e.refs--
				} else {
					tab.remove(k)
				}
				ref[k]--
			}
		}
		if tab.n != 0 || len(tab.slots) != minTable {
			t.Fatalf("spread %d: emptied table holds %d entries in %d slots, want 0 in %d", spread, tab.n, len(tab.slots), minTable)
		}
	}
}
