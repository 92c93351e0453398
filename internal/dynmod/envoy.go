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

static aigw_view aigw_get_header(uintptr_t f, int response, char* key, size_t key_len) {
  aigw_view v = {0};
  size_t n = response
      ? envoy_dynamic_module_callback_http_get_response_header((void*)f, key, key_len, &v.ptr, &v.length, 0)
      : envoy_dynamic_module_callback_http_get_request_header((void*)f, key, key_len, &v.ptr, &v.length, 0);
  v.ok = n > 0;
  return v;
}

// Metadata of the given source: Host is the chosen endpoint's; Dynamic the stream's,
// which is the downstream one for an upstream filter (upstream_request.cc:56-61), so it
// holds what the router phase (golang filter) set.
static aigw_view aigw_get_metadata(uintptr_t f, int source, char* ns, size_t ns_len, char* key, size_t key_len) {
  aigw_view v = {0};
  v.ok = envoy_dynamic_module_callback_http_get_metadata_string((void*)f, source,
      ns, ns_len, key, key_len, &v.ptr, &v.length);
  return v;
}

typedef struct {
  double value;
  bool ok;
} aigw_number;

static aigw_number aigw_get_dynamic_number(uintptr_t f, char* ns, size_t ns_len, char* key, size_t key_len) {
  aigw_number v = {0};
  v.ok = envoy_dynamic_module_callback_http_get_metadata_number((void*)f, AIGW_METADATA_SOURCE_DYNAMIC,
      ns, ns_len, key, key_len, &v.value);
  return v;
}

static aigw_view aigw_get_filter_state(uintptr_t f, char* key, size_t key_len) {
  aigw_view v = {0};
  v.ok = envoy_dynamic_module_callback_http_get_filter_state_bytes((void*)f, key, key_len, &v.ptr, &v.length);
  return v;
}

// Kinds of the values aigw_read reads (upstream.ReadKind, checked by
// TestReadKindsMatchC).
enum {
  AIGW_READ_REQUEST_HEADER = 0,
  AIGW_READ_RESPONSE_HEADER = 1,
  AIGW_READ_FILTER_STATE = 2,
  AIGW_READ_DYNAMIC_METADATA = 3,
  AIGW_READ_ENDPOINT_METADATA = 4,
};

// AIGW_READS is how many values aigw_read reads at most.
#define AIGW_READS 12
typedef struct {
  aigw_view v[AIGW_READS];
} aigw_views;

// aigw_read reads several values in one call: items holds each as a kind
// byte, a namespace (length byte, bytes: metadata only) and a key (length
// byte, bytes). Returned by value, like aigw_view. Every view stays valid
// until the next write: reads change nothing in Envoy, and each points into
// what Envoy holds (a header map entry, abi_impl.cc:34-55; a metadata
// Struct's string, :820-846; a filter state StringAccessor, :863-888).
static aigw_views aigw_read(uintptr_t f, char* items, size_t len) {
  aigw_views out = {0};
  size_t i = 0;
  for (int n = 0; n < AIGW_READS && i + 3 <= len; n++) {
    unsigned char kind = (unsigned char)items[i];
    size_t nl = (unsigned char)items[i + 1];
    if (nl + 3 > len - i) {
      break;
    }
    char* ns = items + i + 2;
    size_t kl = (unsigned char)items[i + 2 + nl];
    if (kl > len - i - 3 - nl) {
      break;
    }
    char* key = items + i + 3 + nl;
    switch (kind) {
    case AIGW_READ_REQUEST_HEADER:
    case AIGW_READ_RESPONSE_HEADER:
      out.v[n] = aigw_get_header(f, kind == AIGW_READ_RESPONSE_HEADER, key, kl);
      break;
    case AIGW_READ_FILTER_STATE:
      out.v[n] = aigw_get_filter_state(f, key, kl);
      break;
    case AIGW_READ_DYNAMIC_METADATA:
      out.v[n] = aigw_get_metadata(f, AIGW_METADATA_SOURCE_DYNAMIC, ns, nl, key, kl);
      break;
    case AIGW_READ_ENDPOINT_METADATA:
      out.v[n] = aigw_get_metadata(f, AIGW_METADATA_SOURCE_HOST, ns, nl, key, kl);
      break;
    }
    i += 3 + nl + kl;
  }
  return out;
}

// aigw_body_first describes the body Envoy holds: slices is its slice count,
// total its length and, when there is exactly one slice (the common case),
// ptr/length is it.
typedef struct {
  char* ptr;
  size_t length;
  size_t slices;
  size_t total;
  bool ok;
} aigw_body;

static bool aigw_body_size(uintptr_t f, int response, size_t* n) {
  return response ? envoy_dynamic_module_callback_http_get_response_body_vector_size((void*)f, n)
                  : envoy_dynamic_module_callback_http_get_request_body_vector_size((void*)f, n);
}

static bool aigw_body_vector(uintptr_t f, int response, aigw_buffer* out) {
  return response ? envoy_dynamic_module_callback_http_get_response_body_vector((void*)f, out)
                  : envoy_dynamic_module_callback_http_get_request_body_vector((void*)f, out);
}

// AIGW_STACK_SLICES slice descriptors fit on the stack (2 KiB: a 2 MiB body
// in Envoy's 16 KiB slices); more are allocated.
#define AIGW_STACK_SLICES 128

// aigw_slices fills *v with the body's slices (stack, or malloc'd when there
// are more than AIGW_STACK_SLICES: the caller frees *v when it is not
// stack) and returns their count and total; false when the body is
// unavailable.
static bool aigw_slices(uintptr_t f, int response, aigw_buffer* stack, aigw_buffer** v, size_t* n, size_t* total) {
  *v = stack;
  *total = 0;
  if (!aigw_body_size(f, response, n)) {
    return false;
  }
  if (*n == 0) {
    return true;
  }
  if (*n > AIGW_STACK_SLICES) {
    *v = calloc(*n, sizeof(aigw_buffer));
    if (*v == NULL) {
      *v = stack;
      return false;
    }
  }
  if (!aigw_body_vector(f, response, *v)) {
    return false;
  }
  for (size_t i = 0; i < *n; i++) {
    *total += (*v)[i].length;
  }
  return true;
}

static aigw_body aigw_body_first(uintptr_t f, int response) {
  aigw_body b = {0};
  aigw_buffer stack[AIGW_STACK_SLICES];
  aigw_buffer* v;
  b.ok = aigw_slices(f, response, stack, &v, &b.slices, &b.total);
  if (b.ok && b.slices == 1) {
    b.ptr = v[0].ptr;
    b.length = v[0].length;
  }
  if (v != stack) {
    free(v);
  }
  return b;
}

// aigw_body_copy copies up to cap bytes of the body into dst (Go memory,
// written only during this call) and returns the count, -1 on failure.
static int64_t aigw_body_copy(uintptr_t f, int response, char* dst, size_t cap) {
  aigw_buffer stack[AIGW_STACK_SLICES];
  aigw_buffer* v;
  size_t slices, total;
  int64_t n = -1;
  if (aigw_slices(f, response, stack, &v, &slices, &total)) {
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
  if (v != stack) {
    free(v);
  }
  return n;
}

// aigw_slice is one slice of the body for Go: its address as an integer,
// so the array Go passes holds no pointer type and cgo's pointer check
// (cgoCheckArg, which walks every pointer field of an array passed to C)
// costs nothing.
typedef struct {
  uintptr_t ptr;
  size_t length;
} aigw_slice;

typedef struct {
  size_t n;
  size_t total;
  bool ok;
} aigw_slices_info;

// aigw_body_slices fills out (room for cap slices: Go memory, written only
// during this call) with the body's slices, Envoy's own memory
// (get_request_body_vector: getRawSlices of the buffer,
// source/extensions/filters/http/dynamic_modules/abi_impl.cc:887-906; the
// response side alike), and returns their count and total. With more than
// cap slices nothing is written and n says how many there are. ok is false
// when the body is unavailable.
static aigw_slices_info aigw_body_slices(uintptr_t f, int response, aigw_slice* out, size_t cap) {
  aigw_slices_info r = {0};
  aigw_buffer stack[AIGW_STACK_SLICES];
  aigw_buffer* v;
  r.ok = aigw_slices(f, response, stack, &v, &r.n, &r.total);
  if (r.ok && r.n <= cap) {
    for (size_t i = 0; i < r.n; i++) {
      out[i].ptr = (uintptr_t)v[i].ptr;
      out[i].length = v[i].length;
    }
  }
  if (v != stack) {
    free(v);
  }
  return r;
}

static bool aigw_body_append(uintptr_t f, int response, char* data, size_t len) {
  return response ? envoy_dynamic_module_callback_http_append_response_body((void*)f, data, len)
                  : envoy_dynamic_module_callback_http_append_request_body((void*)f, data, len);
}

static bool aigw_body_drain(uintptr_t f, int response, size_t n) {
  return response ? envoy_dynamic_module_callback_http_drain_response_body((void*)f, n)
                  : envoy_dynamic_module_callback_http_drain_request_body((void*)f, n);
}

static void aigw_ops(uintptr_t f, char* ops, size_t len);

// aigw_body_replace makes the writes queued in ops first (aigw_ops: one
// call where the hook's writes and the body were two), then appends data
// and drains the bytes the body held before: one call where bodyView's size
// read, the append and the drain were three (a streamed response replaces
// its body once per event). data may alias the old body (a view returned
// by aigw_body_first): it is read by the append, before the drain frees
// anything.
static bool aigw_body_replace(uintptr_t f, int response, char* data, size_t len, char* ops, size_t ops_len) {
  if (ops_len > 0) {
    aigw_ops(f, ops, ops_len);
  }
  aigw_buffer stack[AIGW_STACK_SLICES];
  aigw_buffer* v;
  size_t slices, total;
  bool ok = aigw_slices(f, response, stack, &v, &slices, &total);
  if (v != stack) {
    free(v);
  }
  if (len > 0 && !aigw_body_append(f, response, data, len)) {
    ok = false;
  }
  if (ok && total > 0) {
    ok = aigw_body_drain(f, response, total);
  }
  return ok;
}

static bool aigw_set_header(uintptr_t f, int response, char* key, size_t key_len, char* value, size_t value_len) {
  return response
      ? envoy_dynamic_module_callback_http_set_response_header((void*)f, key, key_len, value, value_len)
      : envoy_dynamic_module_callback_http_set_request_header((void*)f, key, key_len, value, value_len);
}

// AIGW_MAX_EDITS edits fit in one aigw_edits (passed by value: no Go
// pointer crosses but the one to the texts, which hold no pointers).
#define AIGW_MAX_EDITS 4
typedef struct {
  size_t n;
  size_t start[AIGW_MAX_EDITS], end[AIGW_MAX_EDITS], text_len[AIGW_MAX_EDITS];
} aigw_edits;

// aigw_append_range appends body[lo:hi) of the slices v to the body itself.
static void aigw_append_range(uintptr_t f, int response, aigw_buffer* v, size_t slices, size_t lo, size_t hi) {
  size_t base = 0;
  for (size_t i = 0; i < slices && base < hi; i++) {
    size_t len = v[i].length;
    size_t s = base > lo ? base : lo;
    size_t e = base + len < hi ? base + len : hi;
    if (e > s) {
      aigw_body_append(f, response, v[i].ptr + (s - base), e - s);
    }
    base += len;
  }
}

// aigw_body_edit replaces the body with itself edited: the kept ranges are
// appended from the body's own slices, each edit's text (texts: the edits'
// texts one after the other) between them, then the old bytes are drained
// from the front. The slices stay valid while the body is appended to:
// Buffer::OwnedImpl::addImpl copies into the last slice's free tail or new
// slices and never moves a slice's data (source/common/buffer/buffer_impl.cc:48-62,
// Slice::append at source/common/buffer/buffer_impl.h:261-271; moving a Slice
// in the deque keeps its storage, buffer_impl.h:98-112), and abi_impl.cc's
// append/drain (source/extensions/filters/http/dynamic_modules/abi_impl.cc:924-958,
// 999-1033) are add/drain on that buffer. Returns false, changing nothing,
// when the body is unavailable or the edits do not fit it. The writes queued
// in ops are made first, whatever the edits (as aigw_body_replace does).
static bool aigw_body_edit(uintptr_t f, int response, aigw_edits e, char* texts, char* ops, size_t ops_len) {
  if (ops_len > 0) {
    aigw_ops(f, ops, ops_len);
  }
  aigw_buffer stack[AIGW_STACK_SLICES];
  aigw_buffer* v;
  size_t slices, total;
  bool ok = aigw_slices(f, response, stack, &v, &slices, &total);
  size_t at = 0;
  for (size_t i = 0; ok && i < e.n; i++) {
    ok = e.n <= AIGW_MAX_EDITS && at <= e.start[i] && e.start[i] <= e.end[i] && e.end[i] <= total;
    at = e.end[i];
  }
  if (ok) {
    at = 0;
    for (size_t i = 0; i < e.n; i++) {
      aigw_append_range(f, response, v, slices, at, e.start[i]);
      if (e.text_len[i] > 0) {
        aigw_body_append(f, response, texts, e.text_len[i]);
        texts += e.text_len[i];
      }
      at = e.end[i];
    }
    aigw_append_range(f, response, v, slices, at, total);
    if (total > 0) {
      aigw_body_drain(f, response, total);
    }
  }
  if (v != stack) {
    free(v);
  }
  return ok;
}

// aigw_empty is a non-NULL pointer for empty values: set_*_header treats a
// NULL value as "remove".
static char aigw_empty[1];
static char* aigw_empty_ptr(void) { return aigw_empty; }

// AIGW_OP_FIXED is the size of an op before its strings (attempt.queue in
// attempt.go: a kind byte, three string lengths as native uint32s, two
// native uint64s, then the strings' bytes).
#define AIGW_OP_FIXED (1 + 3 * 4 + 2 * 8)

// aigw_ops makes the writes queued in ops, in order: header sets and
// removes (kinds 0-3: bit 0 response, bit 1 remove), dynamic metadata
// strings (4) and numbers (5), filter state (6), counter increments (7)
// removes of a list of headers (8-9: bit 0 response; the names in a,
// each a length byte and its bytes) and dynamic metadata numbers (10: the
// keys in b as in 8, their values in c, native doubles). A remove is a set
// to NULL
// (source/extensions/filters/http/dynamic_modules/abi_impl.cc:407-408).
static void aigw_ops(uintptr_t f, char* ops, size_t len) {
  size_t i = 0;
  while (i + AIGW_OP_FIXED <= len) {
    unsigned char kind = (unsigned char)ops[i];
    uint32_t la, lb, lc;
    uint64_t x, y;
    memcpy(&la, ops + i + 1, 4);
    memcpy(&lb, ops + i + 5, 4);
    memcpy(&lc, ops + i + 9, 4);
    memcpy(&x, ops + i + 13, 8);
    memcpy(&y, ops + i + 21, 8);
    size_t n = AIGW_OP_FIXED + (size_t)la + lb + lc;
    if (n > len - i) {
      return;
    }
    char* a = ops + i + AIGW_OP_FIXED;
    char* b = a + la;
    char* c = b + lb;
    switch (kind) {
    case 0: case 1:
      aigw_set_header(f, kind & 1, a, la, lb ? b : aigw_empty, lb);
      break;
    case 2: case 3:
      aigw_set_header(f, kind & 1, a, la, NULL, 0);
      break;
    case 4:
      envoy_dynamic_module_callback_http_set_dynamic_metadata_string((void*)f, a, la, b, lb, lc ? c : aigw_empty, lc);
      break;
    case 5: {
      double v;
      memcpy(&v, &x, sizeof v);
      envoy_dynamic_module_callback_http_set_dynamic_metadata_number((void*)f, a, la, b, lb, v);
      break;
    }
    case 6:
      envoy_dynamic_module_callback_http_set_filter_state_bytes((void*)f, a, la, lb ? b : aigw_empty, lb);
      break;
    case 7:
      envoy_dynamic_module_callback_http_filter_increment_counter((void*)f, (size_t)x, y);
      break;
    case 8: case 9:
      for (size_t j = 0; j < la;) {
        size_t kl = (unsigned char)a[j];
        if (kl + 1 > la - j) {
          break;
        }
        aigw_set_header(f, kind & 1, a + j + 1, kl, NULL, 0);
        j += 1 + kl;
      }
      break;
    case 10:
      for (size_t j = 0, n = 0; j < lb && (n + 1) * sizeof(double) <= lc; n++) {
        size_t kl = (unsigned char)b[j];
        if (kl + 1 > lb - j) {
          break;
        }
        double v;
        memcpy(&v, c + n * sizeof(double), sizeof v);
        envoy_dynamic_module_callback_http_set_dynamic_metadata_number((void*)f, a, la, b + j + 1, kl, v);
        j += 1 + kl;
      }
      break;
    }
    i += n;
  }
}
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/aigw/aigw/internal/translate"
	"github.com/aigw/aigw/internal/upstream"
)

// The abi.h enum values the C helpers use, visible to the tests (which
// compare them with abi.h).
const (
	metadataSourceHost    = int(C.AIGW_METADATA_SOURCE_HOST)
	metadataSourceDynamic = int(C.AIGW_METADATA_SOURCE_DYNAMIC)
)

// emptyPtr is aigw_empty, fetched once: asking C for it is a cgo call.
var emptyPtr = C.aigw_empty_ptr()

// cstr passes a Go string to C for the duration of one call without copying.
// Callbacks read it during the call only (abi_impl.cc copies what it keeps),
// and string bytes hold no Go pointers, so the cgo pointer rules hold.
func cstr(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return emptyPtr, 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

// cbytes is cstr for byte slices.
func cbytes(b []byte) (*C.char, C.size_t) {
	if len(b) == 0 {
		return emptyPtr, 0
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
	v := C.aigw_get_header(cptr(f), cbool(response), k, kn)
	if !v.ok {
		return "", false
	}
	return gostring(v.ptr, v.length), true
}

// maxReads is how many values readValues reads in one call.
const maxReads = int(C.AIGW_READS)

// readValues reads the values packed in items (readSet.packed; at most
// maxReads) in one call into vals and ok, copied into one Go allocation
// that the strings share.
func readValues(f unsafe.Pointer, items string, vals *[maxReads]string, ok *[maxReads]bool) {
	p, n := cstr(items)
	v := C.aigw_read(cptr(f), p, n)
	total := 0
	for i := range v.v {
		if v.v[i].ok {
			total += int(v.v[i].length)
		}
	}
	var buf []byte
	if total > 0 {
		buf = make([]byte, total)
	}
	off := 0
	for i := range v.v {
		vals[i], ok[i] = "", bool(v.v[i].ok)
		if ok[i] && v.v[i].length > 0 {
			m := copy(buf[off:], unsafe.Slice((*byte)(unsafe.Pointer(v.v[i].ptr)), int(v.v[i].length)))
			vals[i] = unsafe.String(&buf[off], m)
			off += m
		}
	}
}

// applyOps makes the queued writes ops (attempt.queue) in one call: ops is
// Go memory without pointers, read during the call only.
func applyOps(f unsafe.Pointer, ops []byte) {
	p, n := cbytes(ops)
	C.aigw_ops(cptr(f), p, n)
}

// bodyView describes the body Envoy holds: when it is one slice, view is
// it (Envoy's memory, no copy); otherwise view is nil and total is its
// length, for copyBody. ok is false when there is no body to read.
func bodyView(f unsafe.Pointer, response bool) (view []byte, total int, ok bool) {
	b := C.aigw_body_first(cptr(f), cbool(response))
	if !b.ok {
		return nil, 0, false
	}
	if b.slices == 1 && b.length > 0 {
		return unsafe.Slice((*byte)(unsafe.Pointer(b.ptr)), int(b.length)), int(b.length), true
	}
	return nil, int(b.total), true
}

// sliceViews is the memory body.Slices hands out within one hook: the
// slice descriptors Envoy fills (bufs) and the views made of them. One is
// taken from viewsPool for a hook and given back when the hook ends, so an
// attempt allocates none once the pool is warm, and a stream held open
// keeps none between its hooks. Room for AIGW_STACK_SLICES slices (a 2 MiB
// body in Envoy's 16 KiB slices) to start with; a body in more slices
// grows the pooled memory once.
type sliceViews struct {
	bufs  []C.aigw_slice
	views [][]byte
}

var viewsPool = sync.Pool{New: func() any {
	return &sliceViews{bufs: make([]C.aigw_slice, C.AIGW_STACK_SLICES), views: make([][]byte, 0, C.AIGW_STACK_SLICES)}
}}

// forget drops the views (Envoy's memory, valid only during the hook
// that read them) before v goes back to the pool.
func (v *sliceViews) forget() {
	clear(v.views)
	v.views = v.views[:0]
}

// bodySlices returns the body Envoy holds as views of its slices, in v's
// memory: no copy. Envoy guarantees them "until the end of the current
// event hook unless the setter callback is called"
// (source/extensions/dynamic_modules/abi.h:1362-1364): an append or drain
// of the body ends them. ok is false when there is no body to read.
func bodySlices(f unsafe.Pointer, response bool, v *sliceViews) ([][]byte, bool) {
	r := C.aigw_body_slices(cptr(f), cbool(response), &v.bufs[0], C.size_t(len(v.bufs)))
	if r.ok && int(r.n) > len(v.bufs) {
		v.bufs = make([]C.aigw_slice, int(r.n))
		r = C.aigw_body_slices(cptr(f), cbool(response), &v.bufs[0], C.size_t(len(v.bufs)))
	}
	if !r.ok || int(r.n) > len(v.bufs) {
		return nil, false
	}
	v.views = v.views[:0]
	for _, b := range v.bufs[:r.n] {
		// An address in Envoy's memory, never Go's: unsafe.Add from nil
		// makes it a pointer again (checkptr finds no Go object there).
		v.views = append(v.views, unsafe.Slice((*byte)(unsafe.Add(nil, uintptr(b.ptr))), int(b.length)))
	}
	return v.views, true
}

// copyBody copies the body into dst (up to its length) and returns the
// count, -1 when the body is unavailable.
func copyBody(f unsafe.Pointer, response bool, dst []byte) int {
	if len(dst) == 0 {
		return 0
	}
	return int(C.aigw_body_copy(cptr(f), cbool(response), (*C.char)(unsafe.Pointer(&dst[0])), C.size_t(len(dst))))
}

// replaceBody appends b, then drains what was there before: b may alias the
// old body (a view returned by bodyView), which must stay valid until it has
// been copied in. Envoy copies b during the append call and keeps no
// pointer to it: append_request_body runs modifyDecodingBuffer's callback
// at once (source/extensions/filters/http/dynamic_modules/abi_impl.cc:924-940,
// source/common/http/filter_manager.cc:477-481), which adds the bytes with
// OwnedImpl::add, a copy into Envoy's own slices
// (source/common/buffer/buffer_impl.cc:48-60, 82); the response side alike.
// So b's memory is the caller's again when replaceBody returns (a
// translated body's pooled buffer goes back then: upstream's plan.apply).
// The test host does the same (test/host/csrc/dynmod.c: buf_add copies).
//
// ops, the hook's queued writes (attempt.queue), are made first in the
// same call.
func replaceBody(f unsafe.Pointer, response bool, b, ops []byte) {
	p, n := cbytes(b)
	op, on := cbytes(ops)
	C.aigw_body_replace(cptr(f), cbool(response), p, n, op, on)
}

// maxEdits is how many edits editBody applies in one call.
const maxEdits = int(C.AIGW_MAX_EDITS)

// editBody replaces the body with itself edited, in one call: Envoy appends
// the kept bytes from its own slices (see aigw_body_edit) and texts, the
// edits' texts one after the other, from Go memory. ok is false, with the
// body unchanged, when there are more than maxEdits edits, when they do not
// fit the body, or when it is unavailable. sent reports whether ops, the
// hook's queued writes, were made (first, in the same call): they are
// unless the edits are refused before the call.
func editBody(f unsafe.Pointer, response bool, edits []translate.Edit, texts, ops []byte) (ok, sent bool) {
	if len(edits) > maxEdits {
		return false, false
	}
	var e C.aigw_edits
	e.n = C.size_t(len(edits))
	for i, x := range edits {
		if x.Start < 0 || x.End < x.Start {
			return false, false
		}
		e.start[i], e.end[i], e.text_len[i] = C.size_t(x.Start), C.size_t(x.End), C.size_t(len(x.Text))
	}
	p, _ := cbytes(texts)
	op, on := cbytes(ops)
	return bool(C.aigw_body_edit(cptr(f), cbool(response), e, p, op, on)), true
}

// metadataString reads a string from the metadata of source (metadataSourceHost or
// metadataSourceDynamic).
func metadataString(f unsafe.Pointer, source int, ns, key string) (string, bool) {
	np, nn := cstr(ns)
	kp, kn := cstr(key)
	v := C.aigw_get_metadata(cptr(f), C.int(source), np, nn, kp, kn)
	if !v.ok {
		return "", false
	}
	return gostring(v.ptr, v.length), true
}

// defineCounter defines an Envoy counter; only valid inside config_new.
func defineCounter(envoyConfig unsafe.Pointer, name string) (uint64, bool) {
	np, nn := cstr(name)
	var id C.size_t
	ok := C.envoy_dynamic_module_callback_http_filter_config_define_counter(envoyConfig, np, nn, &id) == 0
	return uint64(id), ok
}

// dynamicMetadataNumber reads a number from the stream's dynamic metadata
// (the downstream stream's: an upstream filter shares its stream info,
// source/common/router/upstream_request.cc:56-61).
func dynamicMetadataNumber(f unsafe.Pointer, ns, key string) (float64, bool) {
	np, nn := cstr(ns)
	kp, kn := cstr(key)
	v := C.aigw_get_dynamic_number(cptr(f), np, nn, kp, kn)
	return float64(v.value), bool(v.ok)
}

func filterState(f unsafe.Pointer, key string) (string, bool) {
	kp, kn := cstr(key)
	v := C.aigw_get_filter_state(cptr(f), kp, kn)
	if !v.ok {
		return "", false
	}
	return gostring(v.ptr, v.length), true
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

// cptr passes Envoy's pointer (C memory) to the C helpers as an integer:
// cgo checks every unsafe.Pointer argument for Go pointers
// (runtime.cgoCheckPointer, about 2% of the whole path's CPU with one or
// two per call), and this one never is.
func cptr(p unsafe.Pointer) C.uintptr_t { return C.uintptr_t(uintptr(p)) }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// aigwOpFixed is AIGW_OP_FIXED, for TestQueueLayout.
const aigwOpFixed = C.AIGW_OP_FIXED

// readKindC are aigw_read's kinds, for TestReadKindsMatchC.
var readKindC = struct{ requestHeader, responseHeader, filterState, dynamicMetadata, endpointMetadata int }{
	int(C.AIGW_READ_REQUEST_HEADER), int(C.AIGW_READ_RESPONSE_HEADER), int(C.AIGW_READ_FILTER_STATE),
	int(C.AIGW_READ_DYNAMIC_METADATA), int(C.AIGW_READ_ENDPOINT_METADATA),
}
