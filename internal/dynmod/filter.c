// on_http_filter_new, on_http_filter_destroy and the request headers hook
// of a request with a body, in C: see filter.h.
// Not including abi.h, as envoy.go explains; its const void* module
// pointers are declared as uintptr_t, same size and calling convention.

#include <stdbool.h>
#include <stdlib.h>

#include "../cthread/cthread.h"
#include "filter.h"
#include "_cgo_export.h"

// on_http_filter_new runs before Envoy attaches the stream's callbacks: it
// only allocates. A NULL answer (no config, no memory) makes every hook of
// the stream find no filter: the request is answered with a 500 (hooks.go).
uintptr_t envoy_dynamic_module_on_http_filter_new(uintptr_t config, void* envoy_filter) {
  (void)envoy_filter;
  if (config == 0) {
    return 0;
  }
  aigw_filter* f = malloc(sizeof *f);
  if (f == NULL) {
    return 0;
  }
  f->config = config;
  f->id = 0;
  f->thread = aigw_thread_number();
  return (uintptr_t)f;
}

// on_http_filter_request_headers: a request with a body is held until its
// body is complete (upstream.Filter.OnRequestHeaders answers Hold), so its
// headers are served by the body's first hook (or the trailers'), which
// reads them there: one call into Go less per attempt. A request without a
// body, and a stream without a filter (answered with a 500 from Go), enter
// Go here.
uint32_t envoy_dynamic_module_on_http_filter_request_headers(void* envoy_filter, uintptr_t p, bool end_of_stream) {
  aigw_filter* f = (aigw_filter*)p;
  if (!end_of_stream && f != NULL && f->id != aigw_filter_none && f->id != aigw_filter_ended) {
    return AIGW_REQUEST_HEADERS_STOP_ITERATION;
  }
  return aigwRequestHeaders(envoy_filter, (void*)p, end_of_stream);
}

// on_http_filter_destroy gets no Envoy pointer: nothing may call Envoy
// from here. Only a filter whose Go side was made, and is not gone with its
// response, enters Go.
void envoy_dynamic_module_on_http_filter_destroy(uintptr_t p) {
  aigw_filter* f = (aigw_filter*)p;
  if (f == NULL) {
    return;
  }
  if (f->id != 0 && f->id != aigw_filter_none && f->id != aigw_filter_ended) {
    aigwDestroyFilter(f->id);
  }
  free(f);
}
