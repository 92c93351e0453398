package dynmod

// This file declares the Envoy callbacks the module calls. It must not
// include abi.h: cgo compiles the //export file's preamble together with the
// generated _cgo_export.h, whose Go-derived prototypes conflict with abi.h's
// const-qualified types (see /work/shared/docs/envoy-abi-1.36.2.md), and the
// rules for files with //export forbid the helper definitions below anyway.
// So the callbacks are re-declared with plain integer/pointer types; the
// layouts of the two structs match abi.h's envoy_dynamic_module_type_envoy_buffer
// and envoy_dynamic_module_type_module_http_header (two and four machine
// words), and enums are passed as int.
//
// Every callback referenced here must exist in the host at load time when it
// runs with LD_BIND_NOW=1. TestSharedLibrarySymbols checks each one against
// abi.h and prints the list.

/*
// Envoy resolves these from its own binary when it dlopens the module; a Go
// test binary of this package has no host, so leave them unresolved at link
// time exactly as Envoy's Go HTTP filter package does.
#cgo LDFLAGS: -Wl,-unresolved-symbols=ignore-all

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char* ptr;
  size_t length;
} aigw_buffer;

typedef struct {
  char* key_ptr;
  size_t key_length;
  char* value_ptr;
  size_t value_length;
} aigw_header;

void envoy_dynamic_module_callback_log(int level, const char* msg, size_t len);
bool envoy_dynamic_module_callback_log_enabled(int level);

size_t envoy_dynamic_module_callback_http_get_request_header(void* f, char* key, size_t key_len,
    char** out, size_t* out_len, size_t index);
size_t envoy_dynamic_module_callback_http_get_response_header(void* f, char* key, size_t key_len,
    char** out, size_t* out_len, size_t index);
bool envoy_dynamic_module_callback_http_set_request_header(void* f, char* key, size_t key_len,
    char* value, size_t value_len);
bool envoy_dynamic_module_callback_http_set_response_header(void* f, char* key, size_t key_len,
    char* value, size_t value_len);

bool envoy_dynamic_module_callback_http_get_request_body_vector(void* f, aigw_buffer* out);
bool envoy_dynamic_module_callback_http_get_request_body_vector_size(void* f, size_t* size);
bool envoy_dynamic_module_callback_http_append_request_body(void* f, char* data, size_t len);
bool envoy_dynamic_module_callback_http_drain_request_body(void* f, size_t n);
bool envoy_dynamic_module_callback_http_get_response_body_vector(void* f, aigw_buffer* out);
bool envoy_dynamic_module_callback_http_get_response_body_vector_size(void* f, size_t* size);
bool envoy_dynamic_module_callback_http_append_response_body(void* f, char* data, size_t len);
bool envoy_dynamic_module_callback_http_drain_response_body(void* f, size_t n);

bool envoy_dynamic_module_callback_http_get_metadata_string(void* f, int source,
    char* ns, size_t ns_len, char* key, size_t key_len, char** out, size_t* out_len);
bool envoy_dynamic_module_callback_http_set_dynamic_metadata_string(void* f,
    char* ns, size_t ns_len, char* key, size_t key_len, char* value, size_t value_len);
// The metrics calls return envoy_dynamic_module_type_metrics_result (an enum; 0 is Success).
int envoy_dynamic_module_callback_http_filter_config_define_counter(void* config,
    char* name, size_t name_len, size_t* id);
int envoy_dynamic_module_callback_http_filter_increment_counter(void* f, size_t id, uint64_t value);

bool envoy_dynamic_module_callback_http_set_dynamic_metadata_number(void* f,
    char* ns, size_t ns_len, char* key, size_t key_len, double value);
bool envoy_dynamic_module_callback_http_get_metadata_number(void* f, int source,
    char* ns, size_t ns_len, char* key, size_t key_len, double* out);

bool envoy_dynamic_module_callback_http_set_filter_state_bytes(void* f,
    char* key, size_t key_len, char* value, size_t value_len);
bool envoy_dynamic_module_callback_http_get_filter_state_bytes(void* f,
    char* key, size_t key_len, char** out, size_t* out_len);

// The only local answer the module gives: send_response (see
// upstream.Filter.end for why not send_response_headers).
void envoy_dynamic_module_callback_http_send_response(void* f, uint32_t status,
    aigw_header* headers, size_t headers_len, char* body, size_t body_len);

// Values of abi.h enums used here.
enum {
  AIGW_METADATA_SOURCE_DYNAMIC = 0, // envoy_dynamic_module_type_metadata_source_Dynamic
  AIGW_METADATA_SOURCE_HOST = 3,   // envoy_dynamic_module_type_metadata_source_Host
};

// Results come back by value so Go passes no pointers for out-parameters
// (each would escape to the heap: one allocation per call).
typedef struct {
  char* ptr;
  size_t length;
  bool ok;
} aigw_view;

static aigw_view aigw_get_header(void* f, int response, char* key, size_t key_len) {
  aigw_view v = {0};
  size_t n = response
      ? envoy_dynamic_module_callback_http_get_response_header(f, key, key_len, &v.ptr, &v.length, 0)
      : envoy_dynamic_module_callback_http_get_request_header(f, key, key_len, &v.ptr, &v.length, 0);
  v.ok = n > 0;
  return v;
}

// Metadata of the given source: Host is the chosen endpoint's; Dynamic the stream's,
// which is the downstream one for an upstream filter (upstream_request.cc:56-61), so it
// holds what the router phase (golang filter) set.
static aigw_view aigw_get_metadata(void* f, int source, char* ns, size_t ns_len, char* key, size_t key_len) {
  aigw_view v = {0};
  v.ok = envoy_dynamic_module_callback_http_get_metadata_string(f, source,
      ns, ns_len, key, key_len, &v.ptr, &v.length);
  return v;
}

typedef struct {
  double value;
  bool ok;
} aigw_number;

static aigw_number aigw_get_dynamic_number(void* f, char* ns, size_t ns_len, char* key, size_t key_len) {
  aigw_number v = {0};
  v.ok = envoy_dynamic_module_callback_http_get_metadata_number(f, AIGW_METADATA_SOURCE_DYNAMIC,
      ns, ns_len, key, key_len, &v.value);
  return v;
}

static aigw_view aigw_get_filter_state(void* f, char* key, size_t key_len) {
  aigw_view v = {0};
  v.ok = envoy_dynamic_module_callback_http_get_filter_state_bytes(f, key, key_len, &v.ptr, &v.length);
  return v;
}

// aigw_body_first describes the body Envoy holds: slices is its slice count
// and, when there is exactly one slice (the common case), ptr/length is it.
typedef struct {
  char* ptr;
  size_t length;
  size_t slices;
  bool ok;
} aigw_body;

static bool aigw_body_size(void* f, int response, size_t* n) {
  return response ? envoy_dynamic_module_callback_http_get_response_body_vector_size(f, n)
                  : envoy_dynamic_module_callback_http_get_request_body_vector_size(f, n);
}

static bool aigw_body_vector(void* f, int response, aigw_buffer* out) {
  return response ? envoy_dynamic_module_callback_http_get_response_body_vector(f, out)
                  : envoy_dynamic_module_callback_http_get_request_body_vector(f, out);
}

static aigw_body aigw_body_first(void* f, int response) {
  aigw_body b = {0};
  if (!aigw_body_size(f, response, &b.slices)) {
    return b;
  }
  b.ok = true;
  if (b.slices == 1) {
    aigw_buffer one = {0};
    if (!aigw_body_vector(f, response, &one)) {
      b.ok = false;
      return b;
    }
    b.ptr = one.ptr;
    b.length = one.length;
  }
  return b;
}

// aigw_body_total sums the slice lengths; -1 when the body is unavailable.
static int64_t aigw_body_total(void* f, int response, size_t slices) {
  if (slices == 0) {
    return 0;
  }
  aigw_buffer* v = calloc(slices, sizeof(aigw_buffer));
  if (v == NULL) {
    return -1;
  }
  int64_t total = -1;
  if (aigw_body_vector(f, response, v)) {
    total = 0;
    for (size_t i = 0; i < slices; i++) {
      total += (int64_t)v[i].length;
    }
  }
  free(v);
  return total;
}

// aigw_body_copy copies up to cap bytes of the body into dst (Go memory,
// written only during this call) and returns the count, -1 on failure.
static int64_t aigw_body_copy(void* f, int response, size_t slices, char* dst, size_t cap) {
  aigw_buffer* v = calloc(slices, sizeof(aigw_buffer));
  if (v == NULL) {
    return -1;
  }
  int64_t n = -1;
  if (aigw_body_vector(f, response, v)) {
    size_t off = 0;
    for (size_t i = 0; i < slices && off < cap; i++) {
      size_t len = v[i].length;
      if (len > cap - off) {
        len = cap - off;
      }
      memcpy(dst + off, v[i].ptr, len);
      off += len;
    }
    n = (int64_t)off;
  }
  free(v);
  return n;
}

static bool aigw_body_append(void* f, int response, char* data, size_t len) {
  return response ? envoy_dynamic_module_callback_http_append_response_body(f, data, len)
                  : envoy_dynamic_module_callback_http_append_request_body(f, data, len);
}

static bool aigw_body_drain(void* f, int response, size_t n) {
  return response ? envoy_dynamic_module_callback_http_drain_response_body(f, n)
                  : envoy_dynamic_module_callback_http_drain_request_body(f, n);
}

static bool aigw_set_header(void* f, int response, char* key, size_t key_len, char* value, size_t value_len) {
  return response
      ? envoy_dynamic_module_callback_http_set_response_header(f, key, key_len, value, value_len)
      : envoy_dynamic_module_callback_http_set_request_header(f, key, key_len, value, value_len);
}

// aigw_empty is a non-NULL pointer for empty values: set_*_header treats a
// NULL value as "remove".
static char aigw_empty[1];
static char* aigw_empty_ptr(void) { return aigw_empty; }
*/
import "C"

import (
	"unsafe"

	"github.com/aigw/aigw/internal/upstream"
)

// The abi.h enum values the C helpers use, visible to the tests (which
// compare them with abi.h).
const (
	metadataSourceHost    = int(C.AIGW_METADATA_SOURCE_HOST)
	metadataSourceDynamic = int(C.AIGW_METADATA_SOURCE_DYNAMIC)
)

// cstr passes a Go string to C for the duration of one call without copying.
// Callbacks read it during the call only (abi_impl.cc copies what it keeps),
// and string bytes hold no Go pointers, so the cgo pointer rules hold.
func cstr(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return C.aigw_empty_ptr(), 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

// cbytes is cstr for byte slices.
func cbytes(b []byte) (*C.char, C.size_t) {
	if len(b) == 0 {
		return C.aigw_empty_ptr(), 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.SliceData(b))), C.size_t(len(b))
}

// gostring copies an Envoy-owned view into a Go string.
func gostring(p *C.char, n C.size_t) string {
	if n == 0 {
		return ""
	}
	return C.GoStringN(p, C.int(n))
}

func logEnabled(level int) bool {
	return bool(C.envoy_dynamic_module_callback_log_enabled(C.int(level)))
}

func hostLog(level int, msg string) {
	p, n := cstr(msg)
	C.envoy_dynamic_module_callback_log(C.int(level), p, n)
}

func getHeader(f unsafe.Pointer, response bool, key string) (string, bool) {
	k, kn := cstr(key)
	v := C.aigw_get_header(f, cbool(response), k, kn)
	if !v.ok {
		return "", false
	}
	return gostring(v.ptr, v.length), true
}

func setHeader(f unsafe.Pointer, response bool, key, value string) {
	k, kn := cstr(key)
	v, vn := cstr(value)
	C.aigw_set_header(f, cbool(response), k, kn, v, vn)
}

func removeHeader(f unsafe.Pointer, response bool, key string) {
	k, kn := cstr(key)
	C.aigw_set_header(f, cbool(response), k, kn, nil, 0)
}

// bodyBytes returns the body Envoy holds: a view of Envoy's memory when it is
// one slice, otherwise one contiguous Go copy (the only copy of the body the
// module makes).
func bodyBytes(f unsafe.Pointer, response bool) []byte {
	b := C.aigw_body_first(f, cbool(response))
	if !b.ok || b.slices == 0 {
		return nil
	}
	if b.slices == 1 {
		if b.length == 0 {
			return nil
		}
		return unsafe.Slice((*byte)(unsafe.Pointer(b.ptr)), int(b.length))
	}
	total := C.aigw_body_total(f, cbool(response), b.slices)
	if total <= 0 {
		return nil
	}
	dst := make([]byte, int(total))
	n := C.aigw_body_copy(f, cbool(response), b.slices, (*C.char)(unsafe.Pointer(&dst[0])), C.size_t(len(dst)))
	if n < 0 {
		return nil
	}
	return dst[:int(n)]
}

// replaceBody appends b, then drains what was there before: b may alias the
// old body (a view returned by bodyBytes), which must stay valid until it has
// been copied in.
func replaceBody(f unsafe.Pointer, response bool, b []byte) {
	old := C.aigw_body_first(f, cbool(response))
	var oldLen C.int64_t
	switch {
	case !bool(old.ok):
		oldLen = 0
	case old.slices == 1:
		oldLen = C.int64_t(old.length)
	default:
		oldLen = C.aigw_body_total(f, cbool(response), old.slices)
	}
	if len(b) > 0 {
		p, n := cbytes(b)
		C.aigw_body_append(f, cbool(response), p, n)
	}
	if oldLen > 0 {
		C.aigw_body_drain(f, cbool(response), C.size_t(oldLen))
	}
}

// metadataString reads a string from the metadata of source (metadataSourceHost or
// metadataSourceDynamic).
func metadataString(f unsafe.Pointer, source int, ns, key string) (string, bool) {
	np, nn := cstr(ns)
	kp, kn := cstr(key)
	v := C.aigw_get_metadata(f, C.int(source), np, nn, kp, kn)
	if !v.ok {
		return "", false
	}
	return gostring(v.ptr, v.length), true
}

func setDynamicMetadataString(f unsafe.Pointer, ns, key, value string) {
	np, nn := cstr(ns)
	kp, kn := cstr(key)
	vp, vn := cstr(value)
	C.envoy_dynamic_module_callback_http_set_dynamic_metadata_string(f, np, nn, kp, kn, vp, vn)
}

// defineCounter defines an Envoy counter; only valid inside config_new.
func defineCounter(envoyConfig unsafe.Pointer, name string) (uint64, bool) {
	np, nn := cstr(name)
	var id C.size_t
	ok := C.envoy_dynamic_module_callback_http_filter_config_define_counter(envoyConfig, np, nn, &id) == 0
	return uint64(id), ok
}

func incrementCounter(f unsafe.Pointer, id, n uint64) {
	C.envoy_dynamic_module_callback_http_filter_increment_counter(f, C.size_t(id), C.uint64_t(n))
}

// dynamicMetadataNumber reads a number from the stream's dynamic metadata
// (the downstream stream's: an upstream filter shares its stream info,
// source/common/router/upstream_request.cc:56-61).
func dynamicMetadataNumber(f unsafe.Pointer, ns, key string) (float64, bool) {
	np, nn := cstr(ns)
	kp, kn := cstr(key)
	v := C.aigw_get_dynamic_number(f, np, nn, kp, kn)
	return float64(v.value), bool(v.ok)
}

func setDynamicMetadataNumber(f unsafe.Pointer, ns, key string, value float64) {
	np, nn := cstr(ns)
	kp, kn := cstr(key)
	C.envoy_dynamic_module_callback_http_set_dynamic_metadata_number(f, np, nn, kp, kn, C.double(value))
}

func filterState(f unsafe.Pointer, key string) (string, bool) {
	kp, kn := cstr(key)
	v := C.aigw_get_filter_state(f, kp, kn)
	if !v.ok {
		return "", false
	}
	return gostring(v.ptr, v.length), true
}

func setFilterState(f unsafe.Pointer, key, value string) {
	kp, kn := cstr(key)
	vp, vn := cstr(value)
	C.envoy_dynamic_module_callback_http_set_filter_state_bytes(f, kp, kn, vp, vn)
}

// cHeaders lays headers out in C memory: the array handed to Envoy must not
// live in Go memory because it holds pointers, and the strings go along in
// the same allocation. The caller frees the result. Only error paths build
// local responses, so the allocation is not on the hot path.
func cHeaders(status string, headers []upstream.Header) (*C.aigw_header, C.size_t) {
	n := len(headers)
	if status != "" {
		n++
	}
	size := n * int(unsafe.Sizeof(C.aigw_header{}))
	strBytes := len(":status") + len(status)
	for _, h := range headers {
		strBytes += len(h.Key) + len(h.Value)
	}
	mem := C.malloc(C.size_t(size + strBytes + 1))
	arr := unsafe.Slice((*C.aigw_header)(mem), n)
	strs := unsafe.Slice((*byte)(unsafe.Add(mem, size)), strBytes+1)
	off := 0
	put := func(s string) (*C.char, C.size_t) {
		p := (*C.char)(unsafe.Pointer(&strs[off]))
		off += copy(strs[off:], s)
		return p, C.size_t(len(s))
	}
	i := 0
	if status != "" {
		arr[0].key_ptr, arr[0].key_length = put(":status")
		arr[0].value_ptr, arr[0].value_length = put(status)
		i = 1
	}
	for _, h := range headers {
		arr[i].key_ptr, arr[i].key_length = put(h.Key)
		arr[i].value_ptr, arr[i].value_length = put(h.Value)
		i++
	}
	return (*C.aigw_header)(mem), C.size_t(n)
}

func sendResponse(f unsafe.Pointer, status int, headers []upstream.Header, body []byte) {
	hp, hn := cHeaders("", headers)
	defer C.free(unsafe.Pointer(hp))
	bp, bn := cbytes(body)
	C.envoy_dynamic_module_callback_http_send_response(f, C.uint32_t(status), hp, hn, bp, bn)
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
