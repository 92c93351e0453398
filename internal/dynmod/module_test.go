package dynmod

import (
	"testing"
	"unsafe"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/upstream"
)

// testModuleConfig registers a config as config_new would, without Envoy
// (no counters).
func testModuleConfig(t *testing.T) uint64 {
	return moduleConfigOf(t, `{"backends": [{"name": "oai", "auth": {"type": "bearer", "key_env": "AIGW_TEST_KEY"}}]}`)
}

// moduleConfigOf registers the config doc as config_new would, without
// Envoy (no counters); AIGW_TEST_KEY holds a key.
func moduleConfigOf(t *testing.T, doc string) uint64 {
	t.Helper()
	t.Setenv("AIGW_TEST_KEY", "sk-test")
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	uc, err := upstream.NewConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	id := configs.add(0, &moduleConfig{cfg: uc, requestReads: newReadSet(uc.RequestReads())})
	t.Cleanup(func() { configs.remove(id) })
	return id
}

// A destroyed filter's memory serves the next one, cleared: one filter
// costs no allocation once the pool is warm, and nothing of the earlier
// attempt shows through. A filter destroyed from inside its own hook is
// never reused.
func TestFilterMemoryReused(t *testing.T) {
	cfg := testModuleConfig(t)
	newOne := func() (*filter, uint64) {
		id := createFilter(cfg, 0)
		fl, ok := filters.get(id)
		if !ok {
			t.Fatal("on_http_filter_new made no filter")
		}
		return fl, id
	}
	destroy := destroyFilter

	fl, id := newOne()
	fl.a.answered = true
	fl.a.fetched[0] = &fetchedValues{}
	destroy(id)
	for i := 0; i < 4; i++ {
		fl, id = newOne()
		if fl.a.answered || fl.a.fetched[0] != nil || fl.f.Backend() != nil || fl.wait != nil {
			t.Fatalf("a new filter carries an earlier attempt's state: %+v", fl.a)
		}
		if fl.a != &fl.mem.a || fl.f != &fl.mem.f || fl.a.reqHeaders.a != fl.a || fl.a.respBody.a != fl.a ||
			fl.a.reads[0] == nil || fl.a.reads[1] != responseReads {
			t.Fatal("a new filter is not wired to its own memory and config")
		}
		destroy(id)
	}

	wantPooled(t, "filter", testing.AllocsPerRun(200, func() {
		_, id := newOne()
		destroy(id)
	}))

	var envoy byte
	inHook, id := newOne()
	inHook.a.envoy = unsafe.Pointer(&envoy) // destroyed while its hook runs
	destroy(id)
	for i := 0; i < 64; i++ {
		if fl, id := newOne(); fl == inHook {
			t.Fatal("a filter destroyed inside its own hook was reused")
		} else {
			defer destroy(id)
		}
	}
}

// wantPooled fails t unless what costs no allocation from a warm pool.
// Under -race it only logs the count: the detector's sync.Pool drops a
// quarter of its Puts, and a collection running in the test binary at the
// time empties the pool, so a count there says nothing (once 1.00 per run,
// in make test). make test runs the tests that call it again without -race
// (TestSlicesPooled, TestFilterMemoryReused: its -run 'Pooled|MemoryReused'),
// where it holds them to 0.05.
func wantPooled(t *testing.T, what string, allocs float64) {
	t.Helper()
	if raceEnabled {
		t.Logf("%.2f allocations per %s under -race (checked without it)", allocs, what)
		return
	}
	if allocs > 0.05 {
		t.Errorf("%.2f allocations per %s, want none", allocs, what)
	}
}
