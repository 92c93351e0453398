package dynmod

import (
	"testing"
	"unsafe"

	"github.com/aigw/aigw/internal/upstream"
)

// cFilter stands for the aigw_filter filter.c allocates (same layout:
// TestCFilterLayout), in Go memory, for hooks run without Envoy.
type cFilter struct {
	config, id uintptr
	thread     uint32
}

func (c *cFilter) ref() filterID { return unsafe.Pointer(c) }

func TestCFilterLayout(t *testing.T) {
	if aigwFilterSize != unsafe.Sizeof(cFilter{}) {
		t.Fatalf("aigw_filter is %d bytes, the test's stand-in %d", aigwFilterSize, unsafe.Sizeof(cFilter{}))
	}
	// filter.h's markers differ and name no handle: a handle's low 32 bits
	// are a slot number from 1 to the table's size (handles.go).
	for _, m := range []uintptr{aigwFilterNone, aigwFilterEnded} {
		if uint32(m) <= handleChunks*handleChunk {
			t.Errorf("marker %#x could be a handle", m)
		}
	}
	if aigwFilterNone == aigwFilterEnded {
		t.Errorf("aigw_filter_none and aigw_filter_ended are both %#x", aigwFilterNone)
	}
	// filter.c holds a request with a body as the Go hook would (Hold).
	if cRequestHeadersHolds != requestHeadersHook.status[upstream.Hold] {
		t.Errorf("filter.c answers request headers with %d; the Go hook holds with %d", cRequestHeadersHolds, requestHeadersHook.status[upstream.Hold])
	}
}

// The Go filter behind an aigw_filter is made by the stream's first hook,
// once; every later hook finds the same one; a config that does not exist
// makes none and is remembered (no later hook of the stream tries again);
// destroy frees the Go filter's handle. (What each hook answers for a
// stream without a filter: TestStreamHookStatuses.)
func TestFilterMadeByFirstHook(t *testing.T) {
	cfg := testModuleConfig(t)
	var envoy byte
	ptr := unsafe.Pointer(&envoy)

	cf := &cFilter{config: uintptr(cfg)}
	var seen []*upstream.Filter
	record := func(f *upstream.Filter) upstream.Action { seen = append(seen, f); return upstream.Continue }
	before := filters.len()
	requestHeadersHook.run(ptr, cf.ref(), record)
	if cf.id == 0 || filters.len() != before+1 {
		t.Fatalf("the first hook made no Go filter (id %d, %d filters, was %d)", cf.id, filters.len(), before)
	}
	id := cf.id
	requestBodyHook.run(ptr, cf.ref(), record)
	responseHeadersHook.run(ptr, cf.ref(), record)
	if cf.id != id || filters.len() != before+1 || len(seen) != 3 || seen[0] != seen[1] || seen[1] != seen[2] {
		t.Fatalf("later hooks made or found another filter: id %d -> %d, %d filters, %d calls", id, cf.id, filters.len(), len(seen))
	}
	destroyFilter(uint64(cf.id))
	if _, ok := filters.get(uint64(id)); ok || filters.len() != before {
		t.Fatal("destroy left the Go filter registered")
	}

	// A config that does not exist (Envoy never makes a filter after its
	// config's destroy; a response hook here, as the request hooks would
	// answer the request through Envoy, which this test has not).
	none := &cFilter{config: uintptr(cfg) + 1<<20}
	seen = nil
	if st := responseHeadersHook.run(ptr, none.ref(), record); st != headersContinue || len(seen) != 0 {
		t.Fatalf("no config: status %d after %d calls, want %d without a filter", st, len(seen), headersContinue)
	}
	if none.id != aigwFilterNone {
		t.Fatalf("the failure is not remembered: id %d", none.id)
	}
	if st := responseBodyHook.run(ptr, none.ref(), record); st != bodyContinue || len(seen) != 0 || filters.len() != before {
		t.Fatalf("a later hook: status %d, %d calls, %d filters", st, len(seen), filters.len())
	}
	if st := requestBodyHook.run(ptr, nil, record); st != bodyStopIterationNoBuffer || len(seen) != 0 {
		t.Fatalf("no filter (on_http_filter_new answered NULL): status %d", st)
	}
}

// filter.c answers the request headers of a request with a body itself, so
// a stream's first hook into Go is usually the body's: it makes the filter.
// A request hook that fails to make it answers the request with a 500 (once:
// later hooks find the failure remembered); a response hook never answers;
// the request headers hook answers a stream without an aigw_filter, which
// always reaches Go (filter.c).
func TestUnknownFilterAnswered(t *testing.T) {
	cfg := testModuleConfig(t)
	var envoy byte
	ptr := unsafe.Pointer(&envoy)
	answered := 0
	old := failUnknown
	defer func() { failUnknown = old }()
	failUnknown = func(unsafe.Pointer) { answered++ }
	calls := 0
	record := func(*upstream.Filter) upstream.Action { calls++; return upstream.Continue }

	ok := &cFilter{config: uintptr(cfg)}
	if st := requestBodyHook.run(ptr, ok.ref(), record); st != bodyContinue || calls != 1 || ok.id == 0 || ok.id == aigwFilterNone {
		t.Fatalf("the body hook as the first into Go: status %d, %d calls, id %d", st, calls, ok.id)
	}
	destroyFilter(uint64(ok.id))

	for _, tt := range []struct {
		hook    *streamHook
		filter  *cFilter // nil: on_http_filter_new made none
		answers int
	}{
		{&requestHeadersHook, nil, 1},
		{&requestBodyHook, nil, 0}, // the headers hook answered
		{&requestHeadersHook, &cFilter{config: uintptr(cfg) + 1<<20}, 1},
		{&requestBodyHook, &cFilter{config: uintptr(cfg) + 1<<20}, 1},
		{&requestTrailersHook, &cFilter{config: uintptr(cfg) + 1<<20}, 1},
		{&responseHeadersHook, &cFilter{config: uintptr(cfg) + 1<<20}, 0},
		{&responseBodyHook, &cFilter{config: uintptr(cfg) + 1<<20}, 0},
	} {
		answered, calls = 0, 0
		var id filterID
		if tt.filter != nil {
			id = tt.filter.ref()
		}
		st := tt.hook.run(ptr, id, record)
		if answered != tt.answers || calls != 0 || st != tt.hook.status[tt.hook.noFilter] {
			t.Errorf("%s (aigw_filter %v): %d answers, %d calls, status %d; want %d answers, no call, status %d",
				tt.hook.name, tt.filter != nil, answered, calls, st, tt.answers, tt.hook.status[tt.hook.noFilter])
		}
		if tt.filter != nil {
			// A later request hook finds the failure remembered: no second answer.
			answered = 0
			if requestBodyHook.run(ptr, id, record); answered != 0 || tt.filter.id != aigwFilterNone {
				t.Errorf("%s: a later hook answered again (%d) or the failure is not remembered (id %d)", tt.hook.name, answered, tt.filter.id)
			}
		}
	}
}

// The outermost hook that served the end of the attempt's response destroys
// the Go filter (upstream.Filter.Ended) and marks the aigw_filter ended, so
// that on_http_filter_destroy frees it in C only; a hook nested in another
// (a local reply running the filter's own hooks) leaves it to the outer one.
// A hook after the end finds no filter and passes what it got on, answering
// nothing.
func TestFilterEndedByItsLastHook(t *testing.T) {
	cfg := testModuleConfig(t)
	var envoy byte
	ptr := unsafe.Pointer(&envoy)
	end := false
	oldEnded, oldFail := filterEnded, failUnknown
	defer func() { filterEnded, failUnknown = oldEnded, oldFail }()
	filterEnded = func(*upstream.Filter) bool { return end }
	answered := 0
	failUnknown = func(unsafe.Pointer) { answered++ }

	before := filters.len()
	cf := &cFilter{config: uintptr(cfg)}
	pass := func(*upstream.Filter) upstream.Action { return upstream.Continue }
	requestBodyHook.run(ptr, cf.ref(), pass)
	id := cf.id
	responseHeadersHook.run(ptr, cf.ref(), pass)
	if cf.id != id || filters.len() != before+1 {
		t.Fatalf("the filter ended before its response did: id %d -> %d, %d filters (was %d)", id, cf.id, filters.len(), before)
	}
	// The last body hook ends the response; a hook nested in it sees the
	// end too, but only the outer one destroys.
	st := responseBodyHook.run(ptr, cf.ref(), func(*upstream.Filter) upstream.Action {
		end = true
		responseBodyHook.run(ptr, cf.ref(), pass)
		if cf.id != id {
			t.Errorf("a nested hook destroyed the filter (id %d)", cf.id)
		}
		return upstream.Continue
	})
	if st != bodyContinue || cf.id != aigwFilterEnded || filters.len() != before {
		t.Fatalf("after the last hook: status %d, id %d (want %d), %d filters (want %d)", st, cf.id, aigwFilterEnded, filters.len(), before)
	}
	if _, ok := filters.get(uint64(id)); ok {
		t.Fatal("the ended filter is still registered")
	}
	called := false
	never := func(*upstream.Filter) upstream.Action { called = true; return upstream.Hold }
	for _, h := range []*streamHook{&responseBodyHook, &responseTrailersHook, &requestBodyHook, &requestHeadersHook} {
		if st := h.run(ptr, cf.ref(), never); called || answered != 0 || st != h.status[h.noFilter] || cf.id != aigwFilterEnded {
			t.Errorf("%s after the end: status %d, called %v, %d answers, id %d", h.name, st, called, answered, cf.id)
		}
	}
}
