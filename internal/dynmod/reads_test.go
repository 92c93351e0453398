package dynmod

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/aigw/aigw/internal/translate"
	"github.com/aigw/aigw/internal/upstream"
)

// aigw_read switches on upstream.ReadKind's values.
func TestReadKindsMatchC(t *testing.T) {
	for kind, c := range map[upstream.ReadKind]int{
		upstream.ReadRequestHeader:    readKindC.requestHeader,
		upstream.ReadResponseHeader:   readKindC.responseHeader,
		upstream.ReadFilterState:      readKindC.filterState,
		upstream.ReadDynamicMetadata:  readKindC.dynamicMetadata,
		upstream.ReadEndpointMetadata: readKindC.endpointMetadata,
	} {
		if int(kind) != c {
			t.Errorf("ReadKind %d is %d in C", kind, c)
		}
	}
}

// A read set packs each read as aigw_read parses it, drops duplicates and
// keeps at most maxReads; a read with a key longer than a length byte says
// is left out (read alone).
func TestReadSetPacking(t *testing.T) {
	long := strings.Repeat("k", 256)
	s := newReadSet([]upstream.Read{
		{Kind: upstream.ReadRequestHeader, Key: ":path"},
		{Kind: upstream.ReadEndpointMetadata, NS: "aigw", Key: "backend"},
		{Kind: upstream.ReadRequestHeader, Key: ":path"},
		{Kind: upstream.ReadRequestHeader, Key: long},
	})
	want := "\x00\x00\x05:path" + "\x04\x04aigw\x07backend"
	if s.packed != want || len(s.items) != 2 {
		t.Fatalf("packed %q (%d items), want %q", s.packed, len(s.items), want)
	}
	if s.index(upstream.ReadEndpointMetadata, "aigw", "backend") != 1 || s.index(upstream.ReadDynamicMetadata, "aigw", "backend") != -1 ||
		s.index(upstream.ReadRequestHeader, "", long) != -1 {
		t.Error("index")
	}
	var many []upstream.Read
	for i := 0; i < maxReads+3; i++ {
		many = append(many, upstream.Read{Kind: upstream.ReadRequestHeader, Key: strings.Repeat("h", i+1)})
	}
	if s := newReadSet(many); len(s.items) != maxReads {
		t.Errorf("%d items, want %d", len(s.items), maxReads)
	}
}

// Within one hook the first read of a set fetches all of it in one call and
// the others are answered from there; a write of one kind makes that kind's
// values stale (read alone again), not the others; the next hook fetches
// again. Reads outside the set are not answered from it.
func TestReadSetOneFetchPerHook(t *testing.T) {
	fetches := 0
	old := fetchReads
	defer func() { fetchReads = old }()
	fetchReads = func(_ unsafe.Pointer, s *readSet, f *fetchedValues) {
		fetches++
		for i, r := range s.items {
			if f.ok[i] = r.Key != "absent"; f.ok[i] {
				f.vals[i] = r.NS + "=" + r.Key
			}
		}
	}
	a := newAttempt()
	a.reads = [2]*readSet{newReadSet([]upstream.Read{
		{Kind: upstream.ReadRequestHeader, Key: ":path"},
		{Kind: upstream.ReadRequestHeader, Key: "absent"},
		{Kind: upstream.ReadFilterState, Key: "fs"},
		{Kind: upstream.ReadDynamicMetadata, NS: "ns", Key: "digest"},
	}), newReadSet(upstream.ResponseReads)}
	var envoy byte
	prev := a.enter(unsafe.Pointer(&envoy))
	check := func(kind upstream.ReadKind, ns, key, want string, wantOK, wantHit bool) {
		t.Helper()
		v, ok, hit := a.read(kind, ns, key)
		if v != want || ok != wantOK || hit != wantHit {
			t.Errorf("read(%d, %q, %q) = %q %v %v, want %q %v %v", kind, ns, key, v, ok, hit, want, wantOK, wantHit)
		}
	}
	check(upstream.ReadRequestHeader, "", ":path", "=:path", true, true)
	check(upstream.ReadFilterState, "", "fs", "=fs", true, true)
	check(upstream.ReadDynamicMetadata, "ns", "digest", "ns=digest", true, true)
	check(upstream.ReadRequestHeader, "", "absent", "", false, true)
	check(upstream.ReadRequestHeader, "", "other", "", false, false)
	if fetches != 1 {
		t.Fatalf("%d fetches for one hook's reads, want 1", fetches)
	}
	a.stale(0, upstream.ReadFilterState) // what SetFilterState does
	check(upstream.ReadFilterState, "", "fs", "", false, false)
	check(upstream.ReadRequestHeader, "", ":path", "=:path", true, true)
	a.stale(0, upstream.ReadRequestHeader)
	check(upstream.ReadRequestHeader, "", ":path", "", false, false)
	check(upstream.ReadResponseHeader, "", ":status", "=:status", true, true)
	if fetches != 2 {
		t.Fatalf("%d fetches, want 2 (one per set)", fetches)
	}
	a.exit(prev)
	if a.fetched != [2]*fetchedValues{} {
		t.Fatal("fetched values kept after the hook")
	}
	a.enter(unsafe.Pointer(&envoy))
	check(upstream.ReadFilterState, "", "fs", "=fs", true, true)
	if fetches != 3 {
		t.Fatalf("%d fetches, want a new one in the next hook", fetches)
	}
	a.exit(nil)
}

// queue lays an op out as aigw_ops reads it: kind, the three string lengths
// (native uint32), x and y (native uint64), then the strings.
func TestQueueLayout(t *testing.T) {
	a := newAttempt()
	a.queue(opMetadataNumber, "ns", "key", "v", 7, 9)
	a.queue(opCounter, "", "", "", 3, 1)
	b := *a.ops
	le := binary.NativeEndian
	want := func(off int, kind byte, la, lb, lc uint32, x, y uint64, strs string) int {
		t.Helper()
		if b[off] != kind || le.Uint32(b[off+1:]) != la || le.Uint32(b[off+5:]) != lb || le.Uint32(b[off+9:]) != lc ||
			le.Uint64(b[off+13:]) != x || le.Uint64(b[off+21:]) != y || string(b[off+opFixed:off+opFixed+len(strs)]) != strs {
			t.Fatalf("op at %d: % x", off, b[off:])
		}
		return off + opFixed + len(strs)
	}
	end := want(want(0, opMetadataNumber, 2, 3, 1, 7, 9, "nskeyv"), opCounter, 0, 0, 0, 3, 1, "")
	if end != len(b) || opFixed != int(aigwOpFixed) {
		t.Fatalf("%d bytes queued, ops end at %d; opFixed %d, C %d", len(b), end, opFixed, aigwOpFixed)
	}
	a.ops = nil
}

// The filter reads a set's values in any order: each is found wherever the
// last search stopped (readSet.find starts after the last hit and wraps).
func TestReadSetFindAnyOrder(t *testing.T) {
	reads := []upstream.Read{
		{Kind: upstream.ReadRequestHeader, Key: ":method"},
		{Kind: upstream.ReadRequestHeader, Key: ":path"},
		{Kind: upstream.ReadFilterState, Key: ":path"},
		{Kind: upstream.ReadDynamicMetadata, NS: "ns", Key: "digest"},
		{Kind: upstream.ReadEndpointMetadata, NS: "ns", Key: "digest"},
	}
	s := newReadSet(reads)
	for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3, 3, 0}} {
		from := 0
		for _, i := range order {
			r := reads[i]
			n := s.find(r.Kind, r.NS, r.Key, from)
			if n != i {
				t.Fatalf("order %v: find(%+v) from %d = %d, want %d", order, r, from, n, i)
			}
			from = n + 1
		}
	}
	for from := 0; from <= len(reads)+1; from++ {
		if n := s.find(upstream.ReadResponseHeader, "", ":path", from); n != -1 {
			t.Fatalf("a read not in the set found at %d (from %d)", n, from)
		}
	}
}

// A body change makes the hook's queued writes in the same call, before it
// (one call instead of two); nothing is left for the end of the hook.
func TestBodyChangeCarriesQueuedWrites(t *testing.T) {
	old := bodyCalls
	defer func() { bodyCalls = old }()
	var calls []string
	bodyCalls.replace = func(_ unsafe.Pointer, response bool, b, ops []byte) {
		calls = append(calls, fmt.Sprintf("replace %v %q ops=%d", response, b, len(ops)))
	}
	bodyCalls.edit = func(_ unsafe.Pointer, response bool, edits []translate.Edit, texts, ops []byte) (bool, bool) {
		calls = append(calls, fmt.Sprintf("edit %v %q ops=%d", response, texts, len(ops)))
		return true, true
	}
	var envoy byte
	a := newAttempt()
	oneOp := opFixed + len("x-a") + len("1")
	for _, c := range []struct {
		name  string
		run   func()
		calls []string
	}{
		{"replace", func() { a.reqBody.Replace([]byte("new")) }, []string{fmt.Sprintf(`replace false "new" ops=%d`, oneOp)}},
		{"edit", func() { a.reqBody.Edit([]translate.Edit{{Start: 0, End: 1, Text: []byte("m")}}) },
			[]string{fmt.Sprintf(`edit false "m" ops=%d`, oneOp)}},
		{"response replace", func() { a.respBody.Replace(nil) }, []string{fmt.Sprintf(`replace true "" ops=%d`, oneOp)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls = nil
			prev := a.enter(unsafe.Pointer(&envoy))
			a.reqHeaders.Set("x-a", "1")
			c.run()
			if a.ops != nil {
				t.Errorf("%d bytes of writes still queued after the body call", len(*a.ops))
			}
			a.exit(prev)
			if !slices.Equal(calls, c.calls) {
				t.Errorf("calls %q, want %q", calls, c.calls)
			}
		})
	}
}

// A list of header removes is one op: kind opHeaderList (with
// opHeaderResponse for the response map), the names packed in its first
// string as aigw_ops reads them; a name longer than a length byte says
// gets a remove op of its own after it.
func TestQueueRemoveList(t *testing.T) {
	long := strings.Repeat("h", 256)
	a := newAttempt()
	a.queueRemoveList(false, []string{"authorization", long, "x-api-key"})
	a.queueRemoveList(true, []string{"accept-encoding"})
	b := *a.ops
	le := binary.NativeEndian
	op := func(off int, kind byte, a string) int {
		t.Helper()
		if b[off] != kind || le.Uint32(b[off+1:]) != uint32(len(a)) || le.Uint32(b[off+5:]) != 0 || le.Uint32(b[off+9:]) != 0 ||
			le.Uint64(b[off+13:]) != 0 || le.Uint64(b[off+21:]) != 0 || string(b[off+opFixed:off+opFixed+len(a)]) != a {
			t.Fatalf("op at %d: % x", off, b[off:])
		}
		return off + opFixed + len(a)
	}
	off := op(0, opHeaderList, "\x0dauthorization\x09x-api-key")
	off = op(off, opHeader|opHeaderRemove, long)
	off = op(off, opHeaderList|opHeaderResponse, "\x0faccept-encoding")
	if off != len(b) {
		t.Fatalf("%d bytes queued, ops end at %d", len(b), off)
	}
	a.ops = nil
}

// The usage numbers are one op: the namespace, the keys packed as aigw_ops
// reads them, the values as native doubles in the keys' order; queueing it
// allocates nothing.
func TestSetUsageMetadataLayout(t *testing.T) {
	var envoy byte
	a := newAttempt()
	prev := a.enter(unsafe.Pointer(&envoy))
	v := upstream.UsageMetadata{30, 7, 37, 5, 0, 2}
	a.SetUsageMetadata(v)
	b := *a.ops
	le := binary.NativeEndian
	var keys []byte
	for _, k := range upstream.MetadataUsageKeys {
		keys = append(append(keys, byte(len(k))), k...)
	}
	ns := upstream.MetadataNamespace
	if b[0] != opMetadataNumbers || int(le.Uint32(b[1:])) != len(ns) || int(le.Uint32(b[5:])) != len(keys) || int(le.Uint32(b[9:])) != 8*len(v) ||
		string(b[opFixed:opFixed+len(ns)]) != ns || string(b[opFixed+len(ns):opFixed+len(ns)+len(keys)]) != string(keys) {
		t.Fatalf("op % x", b)
	}
	vals := b[opFixed+len(ns)+len(keys):]
	for i, x := range v {
		if got := math.Float64frombits(le.Uint64(vals[i*8:])); got != x {
			t.Errorf("value %d: %v, want %v", i, got, x)
		}
	}
	if len(vals) != 8*len(v) {
		t.Fatalf("%d bytes of values", len(vals))
	}
	a.dropOps()
	if n := testing.AllocsPerRun(100, func() { a.SetUsageMetadata(v); a.dropOps() }); n > 0 && !raceEnabled {
		t.Errorf("%v allocations", n)
	}
	a.envoy = prev
}
