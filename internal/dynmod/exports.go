package dynmod

// The envoy_dynamic_module_on_* event hooks of Envoy v1.36.2's dynamic-modules
// ABI (source/extensions/dynamic_modules/abi.h). Each hook turns Envoy's call
// into a call on internal/upstream and its result back into the ABI enum.
//
// This preamble may hold declarations only (cgo's rule for files with
// //export) and must not include abi.h (see envoy.go). Module pointers
// crossing the boundary are integer handles (handles.go), declared as
// uintptr_t: same size and calling convention as abi.h's const void*.

/*
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"unsafe"

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
	namePtr *C.char, nameSize C.size_t, configPtr *C.char, configSize C.size_t) (id C.uintptr_t) {
	defer func() {
		if r := recover(); r != nil {
			logPanic("filter config new", r)
			id = 0
		}
	}()
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
	return C.uintptr_t(configs.add(newModuleConfig(envoyConfig, cfg)))
}

//export envoy_dynamic_module_on_http_filter_config_destroy
func envoy_dynamic_module_on_http_filter_config_destroy(configID C.uintptr_t) {
	configs.remove(uint64(configID))
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

// on_http_filter_new runs before Envoy attaches the stream's callbacks, so
// it only allocates: no callback may be made from here.
//
//export envoy_dynamic_module_on_http_filter_new
func envoy_dynamic_module_on_http_filter_new(configID C.uintptr_t, envoyFilter unsafe.Pointer) (id C.uintptr_t) {
	defer func() {
		if r := recover(); r != nil {
			logPanic("filter new", r)
			id = 0
		}
	}()
	cfg, ok := configs.get(uint64(configID))
	if !ok {
		return 0
	}
	return C.uintptr_t(filters.add(newFilter(cfg)))
}

//export envoy_dynamic_module_on_http_filter_request_headers
func envoy_dynamic_module_on_http_filter_request_headers(envoyFilter unsafe.Pointer, id C.uintptr_t,
	endOfStream C.bool) (st C.uint32_t) {
	const onFailure = C.uint32_t(upstream.HeadersStopAllIterationAndBuffer)
	fl, ok := filters.get(uint64(id))
	if !ok {
		// No filter means on_http_filter_new failed, and Envoy then still
		// runs the stream. Forwarding it would send the client's request
		// (and credentials) to a backend nothing was resolved for.
		failUnknown(envoyFilter)
		return onFailure
	}
	if fl.dead {
		return onFailure
	}
	prev := fl.a.enter(envoyFilter)
	defer func() {
		if r := recover(); r != nil {
			fl.panicked("request headers", r)
			st = onFailure
		}
		fl.a.envoy = prev
	}()
	return C.uint32_t(fl.f.OnRequestHeaders(bool(endOfStream)))
}

//export envoy_dynamic_module_on_http_filter_request_body
func envoy_dynamic_module_on_http_filter_request_body(envoyFilter unsafe.Pointer, id C.uintptr_t,
	endOfStream C.bool) (st C.uint32_t) {
	const onFailure = C.uint32_t(upstream.BodyStopIterationNoBuffer)
	fl, ok := filters.get(uint64(id))
	if !ok || fl.dead {
		return onFailure
	}
	prev := fl.a.enter(envoyFilter)
	defer func() {
		if r := recover(); r != nil {
			fl.panicked("request body", r)
			st = onFailure
		}
		fl.a.envoy = prev
	}()
	return C.uint32_t(fl.f.OnRequestBody(bool(endOfStream)))
}

//export envoy_dynamic_module_on_http_filter_request_trailers
func envoy_dynamic_module_on_http_filter_request_trailers(envoyFilter unsafe.Pointer, id C.uintptr_t) (st C.uint32_t) {
	const onFailure = C.uint32_t(upstream.TrailersStopIteration)
	fl, ok := filters.get(uint64(id))
	if !ok || fl.dead {
		return onFailure
	}
	prev := fl.a.enter(envoyFilter)
	defer func() {
		if r := recover(); r != nil {
			fl.panicked("request trailers", r)
			st = onFailure
		}
		fl.a.envoy = prev
	}()
	return C.uint32_t(fl.f.OnRequestTrailers())
}

// The response hooks let a response through when there is no filter: the
// only way to get here without one is a stream whose request headers hook
// already answered it, and that answer must reach the client.

//export envoy_dynamic_module_on_http_filter_response_headers
func envoy_dynamic_module_on_http_filter_response_headers(envoyFilter unsafe.Pointer, id C.uintptr_t,
	endOfStream C.bool) (st C.uint32_t) {
	fl, ok := filters.get(uint64(id))
	if !ok || fl.dead {
		return C.uint32_t(upstream.HeadersContinue)
	}
	prev := fl.a.enter(envoyFilter)
	defer func() {
		if r := recover(); r != nil {
			fl.panicked("response headers", r)
			st = C.uint32_t(upstream.HeadersStopIteration)
		}
		fl.a.envoy = prev
	}()
	return C.uint32_t(fl.f.OnResponseHeaders(bool(endOfStream)))
}

//export envoy_dynamic_module_on_http_filter_response_body
func envoy_dynamic_module_on_http_filter_response_body(envoyFilter unsafe.Pointer, id C.uintptr_t,
	endOfStream C.bool) (st C.uint32_t) {
	fl, ok := filters.get(uint64(id))
	if !ok || fl.dead {
		return C.uint32_t(upstream.BodyContinue)
	}
	prev := fl.a.enter(envoyFilter)
	defer func() {
		if r := recover(); r != nil {
			fl.panicked("response body", r)
			st = C.uint32_t(upstream.BodyStopIterationNoBuffer)
		}
		fl.a.envoy = prev
	}()
	return C.uint32_t(fl.f.OnResponseBody(bool(endOfStream)))
}

//export envoy_dynamic_module_on_http_filter_response_trailers
func envoy_dynamic_module_on_http_filter_response_trailers(envoyFilter unsafe.Pointer, id C.uintptr_t) (st C.uint32_t) {
	fl, ok := filters.get(uint64(id))
	if !ok || fl.dead {
		return C.uint32_t(upstream.TrailersContinue)
	}
	prev := fl.a.enter(envoyFilter)
	defer func() {
		if r := recover(); r != nil {
			fl.panicked("response trailers", r)
			st = C.uint32_t(upstream.TrailersStopIteration)
		}
		fl.a.envoy = prev
	}()
	return C.uint32_t(fl.f.OnResponseTrailers())
}

// Envoy never calls stream_complete for an upstream filter (the upstream
// filter manager does not run it), which is why token accounting finishes at
// end of stream in the response hooks. Exported because Envoy resolves it.
//
//export envoy_dynamic_module_on_http_filter_stream_complete
func envoy_dynamic_module_on_http_filter_stream_complete(envoyFilter unsafe.Pointer, id C.uintptr_t) {
}

// Destroy gets no Envoy pointer: the filter must not call Envoy from here.
//
//export envoy_dynamic_module_on_http_filter_destroy
func envoy_dynamic_module_on_http_filter_destroy(id C.uintptr_t) {
	fl, ok := filters.remove(uint64(id))
	if !ok {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			logPanic("filter destroy", r)
		}
	}()
	fl.a.envoy = nil
	fl.f.OnDestroy()
}

// The module starts no HTTP callouts and creates no schedulers, so these two
// never fire; Envoy requires them to be exported.
//
//export envoy_dynamic_module_on_http_filter_http_callout_done
func envoy_dynamic_module_on_http_filter_http_callout_done(envoyFilter unsafe.Pointer, id C.uintptr_t,
	calloutID C.uint32_t, result C.int, headers unsafe.Pointer, headersSize C.size_t,
	body unsafe.Pointer, bodySize C.size_t) {
}

//export envoy_dynamic_module_on_http_filter_scheduled
func envoy_dynamic_module_on_http_filter_scheduled(envoyFilter unsafe.Pointer, id C.uintptr_t, eventID C.uint64_t) {
}
