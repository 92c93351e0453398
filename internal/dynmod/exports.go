package dynmod

// The envoy_dynamic_module_on_* event hooks of Envoy v1.36.2's dynamic-modules
// ABI (source/extensions/dynamic_modules/abi.h). Each hook turns Envoy's call
// into a call on internal/upstream behind the module's one panic boundary
// (guard, hooks.go) and its result back into the ABI enum.
//
// This preamble may hold declarations only (cgo's rule for files with
// //export) and must not include abi.h (see envoy.go). The config pointer
// crossing the boundary is an integer handle (handles.go), declared as
// uintptr_t: same size and calling convention as abi.h's const void*. The
// filter pointer is an aigw_filter's address (filter.h, made in C by
// filter.c), whose Go filter is a handle too.

/*
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filter.h"
*/
import "C"

import (
	"unsafe"

	_ "github.com/aigw/aigw/internal/cthread" // filter.c's aigw_thread_number
	"github.com/aigw/aigw/internal/upstream"
)

//export envoy_dynamic_module_on_program_init
func envoy_dynamic_module_on_program_init() *C.char {
	// Everything else is initialised in Go init(): Envoy skips this hook when
	// the golang filter loaded the same file first.
	return abiVersionC
}

//export envoy_dynamic_module_on_http_filter_config_new
func envoy_dynamic_module_on_http_filter_config_new(envoyConfig unsafe.Pointer,
	namePtr *C.char, nameSize C.size_t, configPtr *C.char, configSize C.size_t) C.uintptr_t {
	return guard("filter config new", nil, 0, func() C.uintptr_t {
		name := C.GoStringN(namePtr, C.int(nameSize))
		var raw []byte
		if configSize > 0 {
			raw = C.GoBytes(unsafe.Pointer(configPtr), C.int(configSize))
		}
		cfg, err := newFilterConfig(name, raw)
		if err != nil {
			logAt(logError, "aigw-upstream: rejecting dynamic module filter config: "+err.Error())
			return 0
		}
		return C.uintptr_t(configs.add(0, newModuleConfig(envoyConfig, cfg)))
	})
}

//export envoy_dynamic_module_on_http_filter_config_destroy
func envoy_dynamic_module_on_http_filter_config_destroy(configID C.uintptr_t) {
	mc, ok := configs.remove(uint64(configID))
	if !ok {
		return
	}
	guard("filter config destroy", nil, struct{}{}, func() struct{} {
		mc.cfg.Close()
		return struct{}{}
	})
}

// Per-route configs are not part of aigw's config: rejecting them makes a
// typed_per_filter_config entry for this filter fail loudly at load time.
//
//export envoy_dynamic_module_on_http_filter_per_route_config_new
func envoy_dynamic_module_on_http_filter_per_route_config_new(namePtr *C.char, nameSize C.size_t,
	configPtr *C.char, configSize C.size_t) C.uintptr_t {
	logAt(logError, "aigw-upstream: per-route config is not supported; configure backends in the filter config")
	return 0
}

//export envoy_dynamic_module_on_http_filter_per_route_config_destroy
func envoy_dynamic_module_on_http_filter_per_route_config_destroy(configID C.uintptr_t) {}

// on_http_filter_new and on_http_filter_destroy are C (filter.c): they
// allocate and free the aigw_filter Envoy holds without entering Go. The
// Go filter is made by the stream's first hook into Go (filterOf) and
// destroyed by aigwDestroyFilter, or by the hook that served the end of its
// response (endFilter).

// filterID is the module filter pointer Envoy passes to each hook: an
// aigw_filter's address (C memory), NULL when on_http_filter_new made none.
type filterID = unsafe.Pointer

// The aigw_filter's size, the ids that mark a failed creation and an ended
// filter, and filter.c's answer to request headers, for the tests (which
// cannot use cgo).
const (
	aigwFilterSize       = unsafe.Sizeof(C.aigw_filter{})
	aigwFilterNone       = uintptr(C.aigw_filter_none)
	aigwFilterEnded      = uintptr(C.aigw_filter_ended)
	cRequestHeadersHolds = uint32(C.AIGW_REQUEST_HEADERS_STOP_ITERATION)
)

// lookup is what a hook finds behind its aigw_filter.
type lookup uint8

const (
	found lookup = iota
	// noFilter: on_http_filter_new made no aigw_filter, or an earlier hook
	// failed to make the Go filter.
	noFilter
	// madeNone: this hook, the stream's first into Go, failed to make it.
	madeNone
	// ended: the filter ended with its response and is gone (endFilter).
	ended
)

// filterOf is the Go filter of the aigw_filter id, made on the stream's
// first hook into Go (for config cf.config; a failure is remembered, so no
// later hook of the stream makes one).
func filterOf(id filterID) (*filter, lookup) {
	cf := (*C.aigw_filter)(id)
	if cf == nil {
		return nil, noFilter
	}
	switch cf.id {
	case 0:
		fid := guard("filter new", nil, 0, func() uint64 { return createFilter(uint64(cf.config), uint32(cf.thread)) })
		if fid == 0 {
			cf.id = C.aigw_filter_none
			return nil, madeNone
		}
		cf.id = C.uintptr_t(fid)
	case C.aigw_filter_none:
		return nil, noFilter
	case C.aigw_filter_ended:
		return nil, ended
	}
	fl, ok := filters.get(uint64(cf.id))
	if !ok {
		return nil, noFilter
	}
	return fl, found
}

// endFilter destroys the Go filter of the aigw_filter id now, from the
// outermost hook that served the end of its response (no later hook has
// anything to do), rather than from on_http_filter_destroy: filter.c then
// frees the aigw_filter without a call into Go.
func endFilter(id filterID) {
	cf := (*C.aigw_filter)(id)
	fid := uint64(cf.id)
	cf.id = C.aigw_filter_ended
	destroyFilter(fid)
}

// aigwDestroyFilter is on_http_filter_destroy's Go side, for a filter a
// hook made that did not end with its response (filter.c). It gets no
// Envoy pointer: the filter must not call Envoy from here.
//
//export aigwDestroyFilter
func aigwDestroyFilter(id C.uintptr_t) { destroyFilter(uint64(id)) }

// The six stream hooks: streamHook.run (hooks.go) looks the filter up, runs
// it behind the panic boundary and maps its upstream.Action to the hook's
// ABI status.

// aigwRequestHeaders is on_http_filter_request_headers' Go side (filter.c
// answers the headers of a request with a body itself).
//
//export aigwRequestHeaders
func aigwRequestHeaders(envoyFilter unsafe.Pointer, id filterID, endOfStream C.bool) C.uint32_t {
	return C.uint32_t(requestHeadersHook.run(envoyFilter, id, func(f *upstream.Filter) upstream.Action {
		return f.OnRequestHeaders(bool(endOfStream))
	}))
}

//export envoy_dynamic_module_on_http_filter_request_body
func envoy_dynamic_module_on_http_filter_request_body(envoyFilter unsafe.Pointer, id filterID,
	endOfStream C.bool) C.uint32_t {
	return C.uint32_t(requestBodyHook.run(envoyFilter, id, func(f *upstream.Filter) upstream.Action {
		return f.OnRequestBody(bool(endOfStream))
	}))
}

//export envoy_dynamic_module_on_http_filter_request_trailers
func envoy_dynamic_module_on_http_filter_request_trailers(envoyFilter unsafe.Pointer, id filterID) C.uint32_t {
	return C.uint32_t(requestTrailersHook.run(envoyFilter, id, (*upstream.Filter).OnRequestTrailers))
}

//export envoy_dynamic_module_on_http_filter_response_headers
func envoy_dynamic_module_on_http_filter_response_headers(envoyFilter unsafe.Pointer, id filterID,
	endOfStream C.bool) C.uint32_t {
	return C.uint32_t(responseHeadersHook.run(envoyFilter, id, func(f *upstream.Filter) upstream.Action {
		return f.OnResponseHeaders(bool(endOfStream))
	}))
}

//export envoy_dynamic_module_on_http_filter_response_body
func envoy_dynamic_module_on_http_filter_response_body(envoyFilter unsafe.Pointer, id filterID,
	endOfStream C.bool) C.uint32_t {
	return C.uint32_t(responseBodyHook.run(envoyFilter, id, func(f *upstream.Filter) upstream.Action {
		return f.OnResponseBody(bool(endOfStream))
	}))
}

//export envoy_dynamic_module_on_http_filter_response_trailers
func envoy_dynamic_module_on_http_filter_response_trailers(envoyFilter unsafe.Pointer, id filterID) C.uint32_t {
	return C.uint32_t(responseTrailersHook.run(envoyFilter, id, (*upstream.Filter).OnResponseTrailers))
}

// Envoy never calls stream_complete for an upstream filter (the upstream
// filter manager does not run it), which is why token accounting finishes at
// end of stream in the response hooks. Exported because Envoy resolves it.
//
//export envoy_dynamic_module_on_http_filter_stream_complete
func envoy_dynamic_module_on_http_filter_stream_complete(envoyFilter unsafe.Pointer, id filterID) {
}

// The module starts no HTTP callouts, so this never fires; Envoy requires it
// to be exported.
//
//export envoy_dynamic_module_on_http_filter_http_callout_done
func envoy_dynamic_module_on_http_filter_http_callout_done(envoyFilter unsafe.Pointer, id filterID,
	calloutID C.uint32_t, result C.int, headers unsafe.Pointer, headersSize C.size_t,
	body unsafe.Pointer, bodySize C.size_t) {
}

// A scheduled event is the wake-up of an attempt held for its credential
// (await.go); Envoy drops it once the filter is destroyed.
//
//export envoy_dynamic_module_on_http_filter_scheduled
func envoy_dynamic_module_on_http_filter_scheduled(envoyFilter unsafe.Pointer, id filterID, eventID C.uint64_t) {
	if cf := (*C.aigw_filter)(id); cf == nil || cf.id == 0 {
		return // a wake-up is of a filter a hook made; never make one for it
	}
	fl, l := filterOf(id)
	if l != found || eventID != eventCredential {
		return
	}
	fl.scheduled(envoyFilter)
}
