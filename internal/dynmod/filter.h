// aigw_filter is the module's filter as Envoy holds it (the pointer
// on_http_filter_new returns and every hook of the stream gets back): made
// in C, so that creating and destroying one costs no call into Go (a
// cgo callback is the largest fixed cost of an attempt after its own work).
// The Go filter behind it is made by the stream's first hook (filterOf,
// exports.go) and named by id, a handle (handles.go): C memory holds no Go
// pointer.
#ifndef AIGW_DYNMOD_FILTER_H
#define AIGW_DYNMOD_FILTER_H

#include <stdint.h>

typedef struct {
  uintptr_t config; // the filter config's handle (on_http_filter_config_new's)
  uintptr_t id;     // the Go filter's handle; 0 until the first hook into Go, then a handle, aigw_filter_none or aigw_filter_ended
  uint32_t thread;  // the number of the worker thread that made it (cthread.h), which serves all its hooks
} aigw_filter;

// aigw_filter_none: the first hook failed to make the Go filter.
#define aigw_filter_none UINTPTR_MAX
// aigw_filter_ended: the Go filter ended with its attempt's response and is
// gone (the hook that served the end destroyed it); destroy is then C's only.
#define aigw_filter_ended (UINTPTR_MAX - 1)

// The request headers hook's StopIteration (abi.h's
// envoy_dynamic_module_type_on_http_filter_request_headers_status;
// TestEnumValuesMatchABI).
#define AIGW_REQUEST_HEADERS_STOP_ITERATION 1

#endif
