package bodyscan

// handoffTable is one shard's entries: an open-addressing hash table with
// linear probing over a slice, rather than a Go map, so that everything a
// Remember, Recall or Forget writes lies in the shard's own memory. A Go
// map's header is an allocation of its own, 48 bytes, which lands beside
// the header of a map made just before or after it: each worker's inserts
// and deletes then wrote a line another worker's did
// (BenchmarkHandoffParallel -cpu 2: 282 ns/op with the shards' maps made
// one after another, 89 with spacing between them).
//
// The key is already a seeded 128-bit hash, so its low bits index the
// table. A slot is empty when refs is 0 (an entry is removed when its last
// ticket is forgotten); removal shifts the following run back, so no
// tombstones are left and lookups stop at the first empty slot. The table
// doubles above 3/4 full and halves at 1/8, never below minTable slots, so
// its memory follows the requests in flight.
type handoffTable struct {
	slots []handoffSlot
	n     int // entries held
}

type handoffSlot struct {
	key handoffKey
	e   handoffEntry
}

const minTable = 16

// find is the index of k's slot, or of the empty slot where k would go.
func (t *handoffTable) find(k handoffKey) int {
	mask := len(t.slots) - 1
	i := int(k.hash.Lo) & mask
	for t.slots[i].e.refs != 0 && t.slots[i].key != k {
		i = (i + 1) & mask
	}
	return i
}

// get returns k's entry.
func (t *handoffTable) get(k handoffKey) (*handoffEntry, bool) {
	if t.n == 0 {
		return nil, false
	}
	s := &t.slots[t.find(k)]
	return &s.e, s.e.refs != 0
}

// put returns k's entry, adding an empty one (refs 0) for the caller to
// fill when there is none.
func (t *handoffTable) put(k handoffKey) *handoffEntry {
	if len(t.slots) == 0 {
		t.slots = make([]handoffSlot, minTable)
	} else if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(len(t.slots) * 2)
	}
	s := &t.slots[t.find(k)]
	if s.e.refs == 0 {
		s.key = k
		t.n++
	}
	return &s.e
}

// remove deletes k's entry, moving back the entries after it that probed
// past its slot.
func (t *handoffTable) remove(k handoffKey) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := t.find(k)
	if t.slots[i].e.refs == 0 {
		return
	}
	t.n--
	for j := (i + 1) & mask; t.slots[j].e.refs != 0; j = (j + 1) & mask {
		home := int(t.slots[j].key.hash.Lo) & mask
		// The entry at j may fill the hole at i unless its home lies in
		// (i, j], cyclically.
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = handoffSlot{}
	if len(t.slots) > minTable && t.n*8 <= len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

// resize moves the entries into a table of size slots (a power of two).
func (t *handoffTable) resize(size int) {
	old := t.slots
	t.slots = make([]handoffSlot, size)
	for i := range old {
		if old[i].e.refs != 0 {
			t.slots[t.find(old[i].key)] = old[i]
		}
	}
}
