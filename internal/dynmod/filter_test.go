package dynmod

import (
	"testing"
	"unsafe"

	"github.com/aigw/aigw/internal/upstream"
)

// cFilter stands for the aigw_filter filter.c allocates (same layout:
// TestCFilterLayout), in Go memory, for hooks run without Envoy.
type cFilter struct{ config, id uintptr }

func (c *cFilter) ref() filterID { return unsafe.Pointer(c) }

func TestCFilterLayout(t *testing.T) {
	if aigwFilterSize != unsafe.Sizeof(cFilter{}) {
		t.Fatalf("aigw_filter is %d bytes, the test's stand-in %d", aigwFilterSize, unsafe.Sizeof(cFilter{}))
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
