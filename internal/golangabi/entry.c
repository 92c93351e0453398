// The golang filter's entry points that are C: Envoy looks them up by name
// (contrib/golang/common/dso/dso.cc, HttpFilterDsoImpl) and calls them on
// its workers, and every call of a Go function costs a cgo callback (the Go
// runtime's entry and exit, the largest fixed cost of a call). So what has
// nothing to do for aigw answers here: the hooks aigw has no use for, and
// the response direction of the header and data hooks, which a streamed
// response calls once per chunk. Only the request's headers and body enter
// Go (aigwOnHttpHeader, aigwOnHttpData in exports.go). Prototypes as
// contrib/golang/common/dso/libgolang.h declares them, the pointers as void*
// (api.h is not included, as exports.go explains; entry.h restates the two
// values of it used here, and abi_test.go checks them against it).

#include <stdint.h>

#include "_cgo_export.h"
#include "entry.h"

// envoyGoFilterOnHttpHeader is called for the headers and the trailers of
// either direction (golang_filter.cc, doHeaders and doTrailer, through
// ProcessorState's state): only the request's headers enter Go. The
// rest pass on with Continue, as the Go side would answer them
// (processor_state.cc, handleHeaderGolangStatus).
uint64_t envoyGoFilterOnHttpHeader(void* s, uint64_t end_stream, uint64_t header_num, uint64_t header_bytes) {
  const aigw_process_state* ps = s;
  if (ps->is_encoding != 0 || ps->state != AIGW_STATE_PROCESSING_HEADER) {
    return AIGW_GOLANG_CONTINUE;
  }
  return aigwOnHttpHeader(s, end_stream, header_num, header_bytes);
}

// envoyGoFilterOnHttpData is called for the body of either direction
// (golang_filter.cc, doData): only the request's enters Go. A response's
// chunks pass on with Continue (handleDataGolangStatus), chunk by chunk.
uint64_t envoyGoFilterOnHttpData(void* s, uint64_t end_stream, uint64_t buffer, uint64_t length) {
  const aigw_process_state* ps = s;
  if (ps->is_encoding != 0) {
    return AIGW_GOLANG_CONTINUE;
  }
  return aigwOnHttpData(s, end_stream, buffer, length);
}

// envoyGoFilterOnHttpLog is the access-log hook, called once per stream
// (golang_filter.cc, Filter::log). The router phase logs through the
// dynamic metadata it sets while routing.
void envoyGoFilterOnHttpLog(void* r, uint64_t type, void* decoding_state, void* encoding_state,
                            uint64_t req_header_num, uint64_t req_header_bytes,
                            uint64_t req_trailer_num, uint64_t req_trailer_bytes,
                            uint64_t resp_header_num, uint64_t resp_header_bytes,
                            uint64_t resp_trailer_num, uint64_t resp_trailer_bytes) {
  (void)r, (void)type, (void)decoding_state, (void)encoding_state;
  (void)req_header_num, (void)req_header_bytes, (void)req_trailer_num, (void)req_trailer_bytes;
  (void)resp_header_num, (void)resp_header_bytes, (void)resp_trailer_num, (void)resp_trailer_bytes;
}

// envoyGoRequestSemaDec wakes a goroutine waiting for Envoy to run a
// callback on the worker thread; aigw's router phase never waits.
void envoyGoRequestSemaDec(void* r) { (void)r; }

// envoyGoFilterCleanUp is called by Envoy's ASAN test builds only, to
// force Go finalizers; aigw has none.
void envoyGoFilterCleanUp(void) {}
