// The golang filter's entry points that have nothing to do for aigw, in C:
// Envoy looks them up by name (contrib/golang/common/dso/dso.cc,
// HttpFilterDsoImpl) and calls them on its workers; a Go function would
// cost a cgo callback (the Go runtime's entry and exit) per call for
// nothing. Prototypes as contrib/golang/common/dso/libgolang.h declares
// them, the pointers as void* (api.h is not included, as exports.go
// explains).

#include <stdint.h>

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
