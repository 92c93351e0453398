// Package dynmod is the cgo adapter between Envoy's dynamic-modules ABI
// (v1.36.2, used for the upstream http_filters of a cluster) and the pure-Go
// upstream logic in internal/upstream. It holds no decisions of its own:
// hooks look their filter up by integer handle, call it, and translate the
// result; callbacks wrap the Envoy functions the module is allowed to call.
//
// Importing the package (blank import from the c-shared main package) is all
// it takes: the hooks are exported symbols and all state is set up in init,
// because Envoy does not call on_program_init when the golang filter loaded
// the same library first.
package dynmod

/*
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/metrics"
	"github.com/aigw/aigw/internal/upstream"
)

// abiVersion is kAbiVersion of source/extensions/dynamic_modules/abi_version.h
// in Envoy v1.36.2; Envoy rejects the module unless on_program_init returns
// exactly this string. TestABIVersionMatchesEnvoy compares it with the header
// of the Envoy module in go.mod, so an Envoy bump cannot pass silently.
const abiVersion = "ca2be3b80954d2a0e22b41d033b18eff9390c30261c8ec9ffe6e6bf971f41c27"

// FilterName is the only filter_name this module serves.
const FilterName = "aigw-upstream"

var (
	// abiVersionC is allocated once and never freed: Envoy may read it at
	// any time after on_program_init.
	abiVersionC *C.char

	configs handleTable[moduleConfig]
	filters handleTable[filter]
)

func init() {
	abiVersionC = C.CString(abiVersion)
}

// newFilterConfig validates the filter name and parses the filter config: a
// StringValue arrives unwrapped (JSON), a google.protobuf.Struct arrives as
// its serialized bytes; config.FromDynamicModuleConfig handles both.
func newFilterConfig(name string, raw []byte) (*upstream.Config, error) {
	if name != FilterName {
		return nil, fmt.Errorf("filter_name %q is not served by this module (want %q)", name, FilterName)
	}
	cfg, err := config.FromDynamicModuleConfig(raw)
	if err != nil {
		return nil, err
	}
	uc, err := upstream.NewConfig(cfg)
	if err != nil {
		return nil, err
	}
	// The config's recorder; the exporters behind it are the process's one
	// pipeline however many configs load (a busy listen address is retried
	// in the background and never fails the config). Closed by
	// config_destroy.
	rec, err := metrics.New(cfg.MetricsSpec())
	if err != nil {
		return nil, fmt.Errorf("aigw config: metrics: %w", err)
	}
	uc.SetRecorder(rec)
	return uc, nil
}

// moduleConfig is one filter config: the parsed config plus the Envoy ids of
// the counters defined for it (Envoy allows defining them only in
// config_new, and increments name them by id).
type moduleConfig struct {
	cfg      *upstream.Config
	counters [upstream.NumCounters]uint64
	// hasCounters is false when the host refused a definition; counting is
	// then skipped rather than sent to an id Envoy never gave us.
	hasCounters bool
	// requestReads is what the config's request hooks read (readSet).
	requestReads *readSet
}

// responseReads is what every config's response hooks read.
var responseReads = newReadSet(upstream.ResponseReads)

// newModuleConfig defines the upstream counters on Envoy's config.
func newModuleConfig(envoyConfig unsafe.Pointer, cfg *upstream.Config) *moduleConfig {
	mc := &moduleConfig{cfg: cfg, hasCounters: true, requestReads: newReadSet(cfg.RequestReads())}
	for c, name := range upstream.CounterNames {
		id, ok := defineCounter(envoyConfig, name)
		if !ok {
			logAt(logWarn, "aigw-upstream: could not define counter "+name+"; token stats are off for this config")
			mc.hasCounters = false
			break
		}
		mc.counters[c] = id
	}
	return mc
}

// filter is one upstream filter instance: the Go logic plus the adapter's
// view of Envoy for it.
type filter struct {
	f *upstream.Filter
	a *attempt
	// wait is set once the attempt waited for its credential (await.go).
	wait *credentialWait

	// mem is where f and a live: one allocation per filter, reused from
	// filterPool by a later one (release).
	mem struct {
		f upstream.Filter
		a attempt
	}
}

// filterPool holds filters Envoy destroyed, for the next on_http_filter_new
// on any worker: a filter's memory (about 1 KiB with pointers) would
// otherwise be allocated and collected once per attempt.
var filterPool = sync.Pool{New: func() any { return new(filter) }}

func newFilter(mc *moduleConfig, thread uint32) *filter {
	fl := filterPool.Get().(*filter)
	fl.a = &fl.mem.a
	fl.a.init()
	fl.a.thread = thread
	if mc.hasCounters {
		fl.a.counters = &mc.counters
	}
	fl.a.reads = [2]*readSet{mc.requestReads, responseReads}
	fl.f = &fl.mem.f
	fl.f.Init(mc.cfg, fl.a)
	return fl
}

// createFilter makes the Go filter of an aigw_filter: the id of a new
// filter for config configID, made on worker thread number thread, 0 when
// there is no such config.
func createFilter(configID uint64, thread uint32) uint64 {
	cfg, ok := configs.get(configID)
	if !ok {
		return 0
	}
	return filters.add(thread, newFilter(cfg, thread))
}

// destroyFilter is on_http_filter_destroy.
func destroyFilter(id uint64) {
	fl, ok := filters.remove(id)
	if !ok {
		return
	}
	// Destroyed from inside one of its own hooks (e.g. while its local
	// response unwinds the stream), the running hook still uses the filter
	// when this returns: never reuse it.
	inHook := fl.a.envoy != nil
	fl.a.envoy = nil
	guard("filter destroy", nil, struct{}{}, func() struct{} {
		fl.endWait()
		fl.f.OnDestroy()
		return struct{}{}
	})
	if !inHook && fl.wait == nil {
		fl.f.Recycle()
		fl.release()
	}
}

// release gives a destroyed filter's memory back for reuse. Envoy's handle
// for it is gone (filters.remove) and ids are never reused, so no later
// hook can find it; the caller keeps the filters something may still reach:
// one destroyed while a hook of its own runs, one that waited for its
// credential (a refresher goroutine holds the wait, await.go).
func (fl *filter) release() {
	fl.f.Init(nil, nil)
	fl.a.init()
	fl.f, fl.a, fl.wait = nil, nil, nil
	filterPool.Put(fl)
}

// failUnknown answers a request whose filter does not exist; a variable so
// the tests, which have no Envoy to answer through, can see it called.
var failUnknown = func(envoyFilter unsafe.Pointer) {
	logAt(logError, "aigw-upstream: request headers for a stream without a filter (filter creation failed); answering 500")
	if envoyFilter != nil {
		sendResponse(envoyFilter, upstream.ErrInternal.Status, jsonHeaders, internalErrorJSON)
	}
}

var (
	internalErrorJSON = upstream.ErrInternal.JSON()
	jsonHeaders       = []upstream.Header{{Key: "content-type", Value: "application/json"}}
)

// Log levels of envoy_dynamic_module_type_log_level used by the adapter.
const (
	logWarn     = int(upstream.LogWarn)
	logError    = int(upstream.LogError)
	logCritical = int(upstream.LogCritical)
)

func logAt(level int, msg string) {
	if logEnabled(level) {
		hostLog(level, msg)
	}
}

// logPanic logs a panic the boundary recovered outside any request, with
// its stack. A variable so the tests, which have no Envoy to log to, can
// watch it.
var logPanic = func(hook string, r any) {
	logAt(logCritical, fmt.Sprintf("aigw-upstream: panic in %s hook: %v\n%s", hook, r, debug.Stack()))
}
