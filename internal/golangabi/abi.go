package golangabi

// The C API Envoy's golang filter gives Go (contrib/golang/common/go/api/api.h
// of Envoy v1.36.2), restated: this module cannot add another module's
// directory to cgo's include path, so the prototypes below use api.h's own
// type names and, when api.h is not included, these stand-ins with the same
// size and calling convention: enums are int-sized, and processState,
// httpRequest and httpConfig are only passed by pointer.
// TestDeclarationsMatchAPIHeader compiles this preamble after the real
// api.h (a redeclaration with an incompatible type is a compile error) and
// checks the struct layouts and enum values the Go side relies on.

/*
// Envoy resolves these from its own binary when it dlopens the library; a Go
// test binary has no host, so leave them unresolved at link time, as Envoy's
// own Go SDK does.
#cgo LDFLAGS: -Wl,-unresolved-symbols=ignore-all

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef AIGW_HAVE_ENVOY_API_H
typedef int CAPIStatus;
typedef int bufferAction;
typedef int headerAction;
#endif

CAPIStatus envoyGoFilterHttpSendLocalReply(void* s, int response_code, void* body_text_data,
                                           int body_text_len, void* headers, int headers_num,
                                           long long int grpc_status, void* details_data,
                                           int details_len);
CAPIStatus envoyGoFilterHttpGetHeader(void* s, void* key_data, int key_len, uint64_t* value_data,
                                      int* value_len);
CAPIStatus envoyGoFilterHttpSetHeaderHelper(void* s, void* key_data, int key_len, void* value_data,
                                            int value_len, headerAction action);
CAPIStatus envoyGoFilterHttpRemoveHeader(void* s, void* key_data, int key_len);
CAPIStatus envoyGoFilterHttpGetBuffer(void* s, uint64_t buffer, void* value);
CAPIStatus envoyGoFilterHttpSetBufferHelper(void* s, uint64_t buffer, void* data, int length,
                                            bufferAction action);
CAPIStatus envoyGoFilterHttpClearRouteCache(void* r, bool refresh);
CAPIStatus envoyGoFilterHttpGetIntegerValue(void* r, int id, uint64_t* value);
CAPIStatus envoyGoFilterHttpSetDynamicMetadata(void* r, void* name_data, int name_len,
                                               void* key_data, int key_len, void* buf_data,
                                               int buf_len);
void envoyGoFilterHttpFinalize(void* r, int reason);
void envoyGoFilterLog(uint32_t level, void* message_data, int message_len);
void envoyGoConfigHttpFinalize(void* c);
CAPIStatus envoyGoFilterHttpDefineMetric(void* c, uint32_t metric_type, void* name_data,
                                         int name_len, uint32_t* metric_id);
CAPIStatus envoyGoFilterHttpIncrementMetric(void* c, uint32_t metric_id, int64_t offset);
CAPIStatus envoyGoFilterHttpGetMetric(void* c, uint32_t metric_id, uint64_t* value);
CAPIStatus envoyGoFilterHttpRecordMetric(void* c, uint32_t metric_id, uint64_t value);

// AIGW_HEADER_GROUP is how many headers aigw_get_headers reads at most.
#define AIGW_HEADER_GROUP 4

// aigw_headers is what aigw_get_headers read: each header's value as
// Envoy's GetHeader gives it (len -1: absent), and the status of the first
// call that failed (0: none did; the headers after it are not read).
typedef struct {
  char* data[AIGW_HEADER_GROUP];
  int len[AIGW_HEADER_GROUP];
  int status;
} aigw_headers;

// aigw_get_headers reads several request headers of the processState s in
// one call: keys holds each name as a length byte and its bytes. Returned
// by value. Every value points into the header map
// (contrib/golang/filters/http/source/golang_filter.cc:623-629), which
// reads leave unchanged, so all stay valid until the next write.
static inline aigw_headers aigw_get_headers(uintptr_t s, char* keys, size_t len) {
  aigw_headers out;
  memset(&out, 0, sizeof out);
  for (int n = 0; n < AIGW_HEADER_GROUP; n++) {
    out.len[n] = -1;
  }
  size_t i = 0;
  for (int n = 0; n < AIGW_HEADER_GROUP && i < len; n++) {
    size_t kl = (unsigned char)keys[i];
    if (kl > len - i - 1) {
      break;
    }
    uint64_t data = 0;
    CAPIStatus st = envoyGoFilterHttpGetHeader((void*)s, keys + i + 1, (int)kl, &data, &out.len[n]);
    out.data[n] = (char*)(uintptr_t)data;
    if (st != 0) {
      out.status = (int)st;
      return out;
    }
    i += 1 + kl;
  }
  return out;
}

// aigw_get_buffer_headers copies the data callback's buffer into dst
// (Envoy's GetBuffer) and reads the headers in keys as aigw_get_headers, in
// one call. A failed GetBuffer is reported with buffer_failed set.
typedef struct {
  aigw_headers h;
  int buffer_failed;
} aigw_buffer_headers;

static inline aigw_buffer_headers aigw_get_buffer_headers(uintptr_t s, uint64_t buffer, char* dst,
                                                          char* keys, size_t len) {
  aigw_buffer_headers out;
  CAPIStatus st = envoyGoFilterHttpGetBuffer((void*)s, buffer, dst);
  if (st != 0) {
    memset(&out, 0, sizeof out);
    out.h.status = (int)st;
    out.buffer_failed = 1;
    return out;
  }
  out.h = aigw_get_headers(s, keys, len);
  out.buffer_failed = 0;
  return out;
}

// The per-request calls below take Envoy's pointers as integers: cgo checks
// every unsafe.Pointer argument for Go pointers (runtime.cgoCheckPointer),
// and these are C memory.
// aigw_get_integer returns the value by value: a Go variable whose address
// went to C would be allocated on the heap.
typedef struct {
  uint64_t value;
  int status;
} aigw_integer;

static inline aigw_integer aigw_get_integer(uintptr_t r, int id) {
  aigw_integer out = {0, 0};
  out.status = (int)envoyGoFilterHttpGetIntegerValue((void*)r, id, &out.value);
  return out;
}

static inline void aigw_finalize(uintptr_t r) { envoyGoFilterHttpFinalize((void*)r, 0); }

// AIGW_OP_FIXED is the size of a queued write before its strings (request.queue
// in requests.go: a kind byte, then three string lengths as native uint32s).
#define AIGW_OP_FIXED (1 + 3 * 4)

// aigw_ops_result names the first write that failed (failed is -1 when all
// succeeded): its kind and Envoy's status.
typedef struct {
  int failed;
  int kind;
  int status;
} aigw_ops_result;

// aigw_ops makes the writes queued in ops, in order, stopping at the first
// that fails: header sets (kind 0: key, value) and removes (1: key) on the
// processState s, dynamic metadata (2: namespace, key, value bytes) and
// route cache clears (3) on the httpRequest r, and the replacement of the
// data callback's buffer by body (4: body_len bytes; at most one per call).
static inline aigw_ops_result aigw_ops(uintptr_t sp, uintptr_t rp, char* ops, size_t len,
                                       uint64_t buffer, char* body, int body_len) {
  aigw_ops_result res = {-1, 0, 0};
  void* s = (void*)sp;
  void* r = (void*)rp;
  size_t i = 0;
  for (int n = 0; i + AIGW_OP_FIXED <= len; n++) {
    unsigned char kind = (unsigned char)ops[i];
    uint32_t la, lb, lc;
    memcpy(&la, ops + i + 1, 4);
    memcpy(&lb, ops + i + 5, 4);
    memcpy(&lc, ops + i + 9, 4);
    size_t size = AIGW_OP_FIXED + (size_t)la + lb + lc;
    if (size > len - i) {
      break;
    }
    char* a = ops + i + AIGW_OP_FIXED;
    char* b = a + la;
    char* c = b + lb;
    CAPIStatus st;
    switch (kind) {
    case 0:
      st = envoyGoFilterHttpSetHeaderHelper(s, a, (int)la, b, (int)lb, 0); // HeaderSet
      break;
    case 1:
      st = envoyGoFilterHttpRemoveHeader(s, a, (int)la);
      break;
    case 2:
      st = envoyGoFilterHttpSetDynamicMetadata(r, a, (int)la, b, (int)lb, c, (int)lc);
      break;
    case 3:
      st = envoyGoFilterHttpClearRouteCache(r, false);
      break;
    case 4:
      st = envoyGoFilterHttpSetBufferHelper(s, buffer, body, body_len, 0); // bufferAction Set
      break;
    default:
      st = -1;
    }
    if (st != 0) {
      res.failed = n;
      res.kind = kind;
      res.status = (int)st;
      return res;
    }
    i += size;
  }
  return res;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/aigw/aigw/filter"
)

// Values of api.h's enums (checked against api.h by the tests).
const (
	capiOK            = 0  // CAPIOK
	capiValueNotFound = -5 // CAPIValueNotFound
	bufferSet         = 0  // bufferAction Set
	headerSet         = 0  // headerAction HeaderSet
)

// cHTTPRequest is api.h's httpRequest, the part of Envoy's per-request object
// Go may read.
type cHTTPRequest struct {
	pluginNameData unsafe.Pointer
	pluginNameLen  uint64
	configID       uint64
	workerID       uint32
	isProcessing   int32 // _Atomic(int) is_golang_processing_log; C++ writes it, Go never reads it
}

// cProcessState is api.h's processState: one per direction of a request.
type cProcessState struct {
	req        *cHTTPRequest
	isEncoding int32
	state      int32 // FilterState of processor_state.h
}

// FilterState values (contrib/golang/filters/http/source/processor_state.h).
const (
	stateProcessingHeader  = 1
	stateProcessingData    = 4
	stateProcessingTrailer = 6
)

// cHTTPConfig is api.h's httpConfig.
type cHTTPConfig struct {
	pluginNamePtr unsafe.Pointer // uint64_t in api.h; 64-bit targets only
	pluginNameLen uint64
	configPtr     unsafe.Pointer // uint64_t in api.h
	configLen     uint64
	isRouteConfig int32
	concurrency   uint32
}

// EnvoyValue::ResponseCode (contrib/golang/filters/http/source/golang_filter.h).
const valueResponseCode = 4

// capiError turns a failed C API call into a panic, which the entry point
// recovers into an answer for this request only. Every code but OK means
// the filter used the API outside the phase it is valid in, or Envoy already
// destroyed the stream: a bug, never input.
func capiError(call string, status C.CAPIStatus) {
	if status != capiOK {
		panic(fmt.Sprintf("envoy C API %s failed with status %d", call, int(status)))
	}
}

func strPtr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

// cptr passes one of Envoy's pointers (C memory) to the C helpers as an
// integer, so cgo does not check it for Go pointers on every call.
func cptr(p unsafe.Pointer) C.uintptr_t { return C.uintptr_t(uintptr(p)) }

// Calls on the decode processState.

func getHeader(s unsafe.Pointer, key string, arena *[]byte) (string, bool) {
	var data unsafe.Pointer // uint64_t in api.h; 64-bit targets only
	// Envoy writes the length only when the header is present (golang_filter.cc
	// Filter::getHeader), which tells an absent header from an empty one.
	n := C.int(-1)
	capiError("GetHeader", C.envoyGoFilterHttpGetHeader(s, strPtr(key), C.int(len(key)), (*C.uint64_t)(unsafe.Pointer(&data)), &n))
	if n < 0 {
		return "", false
	}
	if n == 0 {
		return "", true
	}
	// Copy out of Envoy's header map: the value may be replaced by the next
	// Set (Envoy's setCopy removes the old value before adding the new one).
	start := len(*arena)
	*arena = append(*arena, unsafe.Slice((*byte)(data), int(n))...)
	b := (*arena)[start:]
	return unsafe.String(unsafe.SliceData(b), len(b)), true
}

// maxHeaderGroup is how many headers getHeaders reads in one call.
const maxHeaderGroup = int(C.AIGW_HEADER_GROUP)

// getHeaders reads the headers packed in keys (each a length byte and the
// name; at most maxHeaderGroup) in one call, copied into arena as getHeader
// does.
func getHeaders(s unsafe.Pointer, keys []byte, arena *[]byte, vals *[maxHeaderGroup]string, ok *[maxHeaderGroup]bool) {
	h := C.aigw_get_headers(cptr(s), (*C.char)(unsafe.Pointer(unsafe.SliceData(keys))), C.size_t(len(keys)))
	headerValues(&h, arena, vals, ok)
}

// headerValues copies what aigw_get_headers read into arena; a failed read
// panics as getHeader's does.
func headerValues(h *C.aigw_headers, arena *[]byte, vals *[maxHeaderGroup]string, ok *[maxHeaderGroup]bool) {
	capiError("GetHeader", C.CAPIStatus(h.status))
	for i := range vals {
		n := int(h.len[i])
		vals[i], ok[i] = "", n >= 0
		if n > 0 {
			start := len(*arena)
			*arena = append(*arena, unsafe.Slice((*byte)(unsafe.Pointer(h.data[i])), n)...)
			b := (*arena)[start:]
			vals[i] = unsafe.String(unsafe.SliceData(b), n)
		}
	}
}

// Kinds of the writes request.queue batches for aigw_ops, and the C API
// call each makes (for capiError).
const (
	opSetHeader       = 0
	opRemoveHeader    = 1
	opSetMetadata     = 2
	opClearRouteCache = 3
	opSetBuffer       = 4
)

var opCalls = [...]string{"SetHeader", "RemoveHeader", "SetDynamicMetadata", "ClearRouteCache", "SetBuffer"}

// opFixed is the size of a queued write before its strings (AIGW_OP_FIXED).
const opFixed = int(C.AIGW_OP_FIXED)

// applyOps makes the queued writes ops in one call (s for the header
// writes and the buffer, r for the rest); a failed one panics like the call
// made alone. ops and body are Go memory without pointers, read during the
// call only; body is what an opSetBuffer in ops sets buffer to.
func applyOps(s, r unsafe.Pointer, ops []byte, buffer uint64, body []byte) {
	if len(ops) == 0 {
		return
	}
	res := C.aigw_ops(cptr(s), cptr(r), (*C.char)(unsafe.Pointer(unsafe.SliceData(ops))), C.size_t(len(ops)),
		C.uint64_t(buffer), (*C.char)(unsafe.Pointer(unsafe.SliceData(body))), C.int(len(body)))
	if res.failed >= 0 {
		call := "unknown write"
		if k := int(res.kind); k < len(opCalls) {
			call = opCalls[k]
		}
		capiError(call, C.CAPIStatus(res.status))
	}
}

// copyBufferHeaders is copyBuffer and getHeaders in one call.
func copyBufferHeaders(s unsafe.Pointer, buffer uint64, into []byte, keys []byte, arena *[]byte,
	vals *[maxHeaderGroup]string, ok *[maxHeaderGroup]bool) {
	bh := C.aigw_get_buffer_headers(cptr(s), C.uint64_t(buffer), (*C.char)(unsafe.Pointer(unsafe.SliceData(into))),
		(*C.char)(unsafe.Pointer(unsafe.SliceData(keys))), C.size_t(len(keys)))
	if bh.buffer_failed != 0 {
		capiError("GetBuffer", C.CAPIStatus(bh.h.status))
	}
	headerValues(&bh.h, arena, vals, ok)
}

func copyBuffer(s unsafe.Pointer, buffer uint64, into []byte) {
	capiError("GetBuffer", C.envoyGoFilterHttpGetBuffer(s, C.uint64_t(buffer), unsafe.Pointer(unsafe.SliceData(into))))
}

// jsonReplyHeaders is the local reply's header list in the layout Envoy reads
// (pairs of Go strings, cgo.cc stringsFromGoSlice). A package variable whose
// strings are literals: no Go heap pointer crosses into C, so the cgo
// pointer rules hold without pinning. The first two strings are every
// reply's; a reply that asks the client to retry later sends all four. The argument must stay the expression
// &jsonReplyHeaders[0]: cgo then checks just this array, while any other
// pointer into Go's data segment fails its check (runtime
// cgoCheckUnknownPointer).
var jsonReplyHeaders = [4]string{"content-type", "application/json", "retry-after", filter.RetryAfterSeconds}

func sendLocalReply(s unsafe.Pointer, status int, body, details string, retryAfter bool) {
	n := 2
	if retryAfter {
		n = 4
	}
	capiError("SendLocalReply", C.envoyGoFilterHttpSendLocalReply(s, C.int(status),
		strPtr(body), C.int(len(body)),
		unsafe.Pointer(&jsonReplyHeaders[0]), C.int(n),
		0, // grpc_status: read by Envoy only for gRPC requests, which aigw never answers
		strPtr(details), C.int(len(details))))
}

// sendLocalReplyHeaders is sendLocalReply with headers chosen per reply
// (a quota 429's Retry-After and RateLimit-* values). Their strings are Go
// memory, which a Go array passed to C may not point to, so the pairs and
// their bytes go into one C allocation, freed when the call returns: Envoy
// copies them inside the call (cgo.cc:110 stringsFromGoSlice, run inline by
// envoyGoFilterProcessStateHandlerWrapper, cgo.cc:54-66).
func sendLocalReplyHeaders(s unsafe.Pointer, status int, body, details string, headers []string) {
	type goString struct {
		p unsafe.Pointer
		n int
	}
	size := len(headers) * int(unsafe.Sizeof(goString{}))
	for _, h := range headers {
		size += len(h)
	}
	mem := C.malloc(C.size_t(size + 1))
	defer C.free(mem)
	pairs := unsafe.Slice((*goString)(mem), len(headers))
	data := unsafe.Add(mem, len(headers)*int(unsafe.Sizeof(goString{})))
	for i, h := range headers {
		C.memcpy(data, strPtr(h), C.size_t(len(h)))
		pairs[i] = goString{data, len(h)}
		data = unsafe.Add(data, len(h))
	}
	capiError("SendLocalReply", C.envoyGoFilterHttpSendLocalReply(s, C.int(status),
		strPtr(body), C.int(len(body)), mem, C.int(len(headers)), 0,
		strPtr(details), C.int(len(details))))
}

// Calls on the httpRequest.

func responseCode(r unsafe.Pointer) (int, bool) {
	v := C.aigw_get_integer(cptr(r), valueResponseCode)
	st := C.CAPIStatus(v.status)
	if st == capiValueNotFound {
		return 0, false
	}
	capiError("GetIntegerValue", st)
	return int(v.value), true
}

func finalizeRequest(r unsafe.Pointer) { C.aigw_finalize(cptr(r)) }

func logf(level api.LogType, msg string) {
	C.envoyGoFilterLog(C.uint32_t(level), strPtr(msg), C.int(len(msg)))
}

// Calls on the listener-level httpConfig.

func finalizeConfig(c unsafe.Pointer) { C.envoyGoConfigHttpFinalize(c) }

func defineMetric(c unsafe.Pointer, t api.MetricType, name string) uint32 {
	var id C.uint32_t
	capiError("DefineMetric", C.envoyGoFilterHttpDefineMetric(c, C.uint32_t(t), strPtr(name), C.int(len(name)), &id))
	return uint32(id)
}

func incrementMetric(c unsafe.Pointer, id uint32, offset int64) C.CAPIStatus {
	return C.envoyGoFilterHttpIncrementMetric(c, C.uint32_t(id), C.int64_t(offset))
}

func getMetric(c unsafe.Pointer, id uint32) (uint64, C.CAPIStatus) {
	var v C.uint64_t
	st := C.envoyGoFilterHttpGetMetric(c, C.uint32_t(id), &v)
	return uint64(v), st
}

func recordMetric(c unsafe.Pointer, id uint32, v uint64) C.CAPIStatus {
	return C.envoyGoFilterHttpRecordMetric(c, C.uint32_t(id), C.uint64_t(v))
}

// capiStatus is api.h's CAPIStatus as Go sees it.
type capiStatus = C.CAPIStatus
