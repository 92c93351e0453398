// host.h: shared types of the aigw test host, a C program that plays Envoy's side of the
// golang HTTP filter ABI (contrib/golang/common/go/api/api.h) and of the dynamic-modules ABI
// (source/extensions/dynamic_modules/abi.h) for build/libaigw.so. Both headers are the real
// ones from the Envoy module directory (passed with -I), so every callback signature below is
// checked by the compiler against Envoy v1.36.2.
#pragma once

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contrib/golang/common/go/api/api.h"
#include "source/extensions/dynamic_modules/abi.h"

// ---------------------------------------------------------------------------------------------
// Logging. stdout carries machine-readable lines for the Go driver (LISTEN, ACCESS, STATS...);
// stderr carries human logs. "HOST-VIOLATION" lines mark ABI misuse by the .so that Envoy would
// not report (or would crash on); the Go tests fail on any of them.
// ---------------------------------------------------------------------------------------------
void hlog(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void violation(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void out_line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Debug trace of the host's own decisions (log_level debug or trace).
#define dlog(...)                                                                                  \
  do {                                                                                             \
    if (g_log_level <= 1) hlog(__VA_ARGS__);                                                       \
  } while (0)
extern int g_log_level; // api.LogType numbering: 0 trace .. 5 critical, 6 off

// ---------------------------------------------------------------------------------------------
// Buffers: a list of slices, like Envoy's Buffer::OwnedImpl, so modules see a body in the slices
// Envoy would hold it in: 16 KiB slices as read off a connection (buf_read), one slice for what
// is added in one call (buf_add).
// ---------------------------------------------------------------------------------------------
#define SLICE_CAP 16384
typedef struct {
  char* mem;
  size_t off, len, cap;
} slice_t;

typedef struct buf {
  slice_t* s;
  size_t n, capn;
  size_t length;
} buf_t;

void buf_init(buf_t* b);
void buf_free(buf_t* b);
void buf_add(buf_t* b, const void* data, size_t len);
void buf_read(buf_t* b, const void* data, size_t len);
int buf_check_model(void); // --check-buffers
void buf_prepend(buf_t* b, const void* data, size_t len);
void buf_drain(buf_t* b, size_t len);
void buf_move(buf_t* dst, buf_t* src); // appends all of src to dst, src becomes empty
void buf_copyout(const buf_t* b, char* dst);
char* buf_dup(const buf_t* b); // malloc'd copy, NUL terminated
void buf_copy_from(buf_t* dst, const buf_t* src);

// ---------------------------------------------------------------------------------------------
// Header maps: ordered entries, lower-case keys (Envoy LowerCaseString), pseudo headers first.
// ---------------------------------------------------------------------------------------------
typedef struct {
  char* k;
  size_t kl;
  char* v;
  size_t vl;
} hdr_t;

typedef struct {
  hdr_t* e;
  size_t n, cap;
} hmap_t;

void hmap_init(hmap_t* m);
void hmap_free(hmap_t* m);
void hmap_clear(hmap_t* m);
hdr_t* hmap_get(const hmap_t* m, const char* k, size_t kl, size_t idx);
size_t hmap_count(const hmap_t* m, const char* k, size_t kl);
void hmap_add(hmap_t* m, const char* k, size_t kl, const char* v, size_t vl);
void hmap_set(hmap_t* m, const char* k, size_t kl, const char* v, size_t vl);
void hmap_remove(hmap_t* m, const char* k, size_t kl);
size_t hmap_byte_size(const hmap_t* m);
void hmap_copy(hmap_t* dst, const hmap_t* src);
const char* hmap_gets(const hmap_t* m, const char* k); // NUL-terminated value or NULL
// host_fault reports whether a request's headers ask the host for the test-only fault named
// want (header x-aigw-host-fault): a way for tests to reach the .so's panic boundaries, not
// Envoy behaviour to model.
bool host_fault(const hmap_t* m, const char* want);

// ---------------------------------------------------------------------------------------------
// Dynamic metadata: namespace -> key -> serialized google.protobuf.Value, the representation the
// golang filter ABI passes. Struct serialization and JSON rendering are hand-written protobuf.
// ---------------------------------------------------------------------------------------------
typedef struct {
  char* key;
  char* val; // serialized google.protobuf.Value
  size_t vl;
} mfield_t;

typedef struct {
  char* ns;
  mfield_t* f;
  size_t n, cap;
} mns_t;

typedef struct {
  mns_t* ns;
  size_t n, cap;
} meta_t;

void meta_init(meta_t* m);
void meta_free(meta_t* m);
mns_t* meta_ns(meta_t* m, const char* ns, size_t nsl, bool create);
void meta_set_value(meta_t* m, const char* ns, size_t nsl, const char* k, size_t kl, const char* v,
                    size_t vl);
mfield_t* meta_get(meta_t* m, const char* ns, size_t nsl, const char* k, size_t kl);
char* meta_ns_struct(mns_t* ns, size_t* out_len); // serialized google.protobuf.Struct
void pb_value_string(buf_t* out, const char* s, size_t l);
void pb_value_number(buf_t* out, double d);
bool pb_value_as_string(const char* v, size_t vl, const char** s, size_t* sl);
bool pb_value_as_number(const char* v, size_t vl, double* d);
void meta_to_json(meta_t* m, buf_t* out);
void json_str(buf_t* out, const char* s, size_t l);

// ---------------------------------------------------------------------------------------------
// Event loop: one per worker thread, like an Envoy dispatcher. post() may be called from any
// thread; timers and I/O run on the worker only.
// ---------------------------------------------------------------------------------------------
struct worker;
typedef struct ioh {
  int fd;
  void (*cb)(struct ioh* h, uint32_t events);
  void* ctx;
} ioh_t;

typedef struct timer {
  uint64_t when_ms;
  void (*fn)(void* arg);
  void* arg;
  struct timer *prev, *next;
  bool armed;
} htimer_t;

typedef void (*post_fn)(void* arg);
typedef struct post_item {
  post_fn fn;
  void* arg;
  struct post_item* next;
} post_item_t;

struct upool;
typedef struct worker {
  int id;
  pthread_t th;
  int epfd;
  int evfd;
  ioh_t ev_ioh;
  ioh_t listen_ioh;
  pthread_mutex_t mu;
  post_item_t *qh, *qt;
  htimer_t* timers;
  post_item_t *deferred, *deferred_tail; // deferred deletes (FIFO), run after each batch
  struct upool* pools;
  atomic_bool stop;
  uint64_t requests;
} worker_t;

extern __thread worker_t* tls_worker;
uint64_t now_ms(void);
void worker_post(worker_t* w, post_fn fn, void* arg);
void worker_defer(worker_t* w, post_fn fn, void* arg);
void timer_arm(worker_t* w, htimer_t* t, uint64_t ms, void (*fn)(void*), void* arg);
void timer_cancel(worker_t* w, htimer_t* t);
int ioh_add(worker_t* w, ioh_t* h, uint32_t events);
int ioh_mod(worker_t* w, ioh_t* h, uint32_t events);
void ioh_del(worker_t* w, ioh_t* h);
void worker_loop(worker_t* w);
void worker_drain_posts(worker_t* w);
void worker_run_deferred(worker_t* w); // deferred deletes now (bench mode, between requests)

// ---------------------------------------------------------------------------------------------
// Host configuration: routes, clusters and endpoints, as written by the Go driver.
// ---------------------------------------------------------------------------------------------
typedef struct {
  char* ns;
  char* key;
  char* value;
} epmeta_t;

typedef struct {
  int priority;
  char* host; // "127.0.0.1"
  int port;
  char addr[64]; // "127.0.0.1:port"
  epmeta_t* meta;
  size_t nmeta;
  meta_t pbmeta; // the same metadata as a metadata map (string values)
} endpoint_t;

typedef struct {
  char* name;
  endpoint_t* ep;
  size_t nep;
  atomic_uint rr[8]; // round-robin cursor per priority
} cluster_t;

typedef struct {
  char* name;
  char* value;
} hmatch_t;

#define RETRY_5XX 1
#define RETRY_RESET 2
#define RETRY_CONNECT_FAILURE 4
#define RETRY_STATUS_CODES 8

typedef struct {
  char* name;
  hmatch_t* hm;
  size_t nhm;
  char* prefix;
  char* cluster;
  int direct_status; // >0: direct response
  char* direct_body;
  size_t direct_body_len;
  hmatch_t* resp_hdrs; // response_headers_to_add of a direct response
  size_t nresp_hdrs;
  int num_retries;
  int retry_on;
  bool previous_priorities;
  bool previous_hosts;     // retry_host_predicate previous_hosts
  int host_selection_max;  // host_selection_retry_max_attempts
  int retriable_codes[16];
  int nretriable_codes;
  int timeout_ms;
  int per_try_idle_timeout_ms; // retry_policy.per_try_idle_timeout, 0: none
} route_t;

typedef struct {
  int workers;
  char* golang_lib;
  char* golang_plugin;
  char* golang_config;
  size_t golang_config_len;
  char* dynmod_search_path;
  char* dynmod_name;
  char* dynmod_filter_name;
  char* dynmod_config;
  size_t dynmod_config_len;
  bool dynmod_first;
  bool dynmod_enabled;
  uint64_t buffer_limit;
  route_t* routes;
  size_t nroutes;
  cluster_t* clusters;
  size_t nclusters;
  int retry_backoff_ms;
  bool access_log;
} config_t;

extern config_t g_cfg;
cluster_t* find_cluster(const char* name);

// ---------------------------------------------------------------------------------------------
// Filter-manager model for a chain of exactly one filter followed by a terminal, per direction
// (source/common/http/filter_manager.cc: commonContinue, commonHandleAfter*Callback,
// handleDataIfStopAll, injectDecodedDataToFilterChain).
// ---------------------------------------------------------------------------------------------
enum { FH_Continue, FH_StopIteration, FH_ContinueAndDontEndStream, FH_StopAllBuffer, FH_StopAllWatermark };
enum { FD_Continue, FD_StopIterationAndBuffer, FD_StopIterationAndWatermark, FD_StopIterationNoBuffer };
enum { IT_Continue, IT_StopSingle, IT_StopAllBuffer, IT_StopAllWatermark };

typedef struct fm_ops {
  int (*f_headers)(void* ctx, bool end);
  int (*f_data)(void* ctx, buf_t* data, bool end);
  void (*t_headers)(void* ctx, bool end);
  void (*t_data)(void* ctx, buf_t* data, bool end);
  bool (*aborted)(void* ctx);
} fm_ops_t;

typedef struct fm_dir {
  const fm_ops_t* ops;
  void* ctx;
  int iter;
  bool headers_seen;
  bool headers_continued;
  bool iterate_from_current;
  bool observed_end;
  bool filter_end;
  bool terminal_end;
  bool has_buffered;
  buf_t buffered;
  bool in_data_cb; // the filter is inside its data callback (for add*Data)
} fm_dir_t;

void fm_init(fm_dir_t* d, const fm_ops_t* ops, void* ctx);
void fm_free(fm_dir_t* d);
void fm_headers(fm_dir_t* d, bool end);
void fm_data(fm_dir_t* d, buf_t* data, bool end);
void fm_continue(fm_dir_t* d);
void fm_inject(fm_dir_t* d, buf_t* data, bool end);
void fm_add_data(fm_dir_t* d, buf_t* data); // add{De,En}codedData, streaming=false
bool fm_can_continue(fm_dir_t* d);

// ---------------------------------------------------------------------------------------------
// Downstream stream (one HTTP/1.1 request on a downstream connection).
// ---------------------------------------------------------------------------------------------
struct dconn;
struct gfilter;
struct attempt;

typedef struct {
  char* key;
  char* value;
} fstate_t;

typedef struct stream {
  worker_t* w;
  struct dconn* c;
  uint64_t id;
  uint64_t start_ms;
  hmap_t req_headers; // also the upstream request header map, shared by every attempt
  hmap_t resp_headers;
  bool resp_headers_present;
  meta_t dyn; // StreamInfo dynamic metadata
  fstate_t* fs;
  size_t nfs;
  // golang filter (router phase)
  struct gfilter* g;
  fm_dir_t dec, enc;
  // route cache (HCM refreshCachedRoute + clearRouteCache)
  bool route_cached;
  route_t* route;
  route_t* initial_route; // matched when the request headers arrived, before any filter ran
  int route_clears;
  // router
  cluster_t* cluster;
  buf_t body_copy; // router's retained request body for retries
  bool req_complete;
  bool router_started;
  bool router_end; // the router has seen the request's end_stream
  int attempts;
  int retries_used;
  uint32_t attempted_prios;
  uint64_t attempted_hosts; // bit per endpoint index
  struct attempt* cur;
  htimer_t retry_timer;
  htimer_t timeout_timer;
  bool resp_forwarded;
  char* override_host;
  char upstream_hosts[512];
  // response towards the client
  int response_code;
  char details[128];
  bool resp_started; // headers passed to the codec
  bool resp_chunked;
  int64_t resp_cl;   // content-length declared to the client, -1 if none
  uint64_t resp_body_sent;
  bool resp_done;
  bool local_reply_sent;
  bool dec_aborted; // decoder_filter_chain_aborted_
  bool enc_aborted;
  bool reset;
  bool completed;
  uint64_t bytes_received;
  uint64_t upstream_frames; // response data frames handed to the upstream filter
  char* routed_backend;     // x-ai-eg-backend when the router matched (NULL if absent)
  char* routed_model;       // x-ai-eg-model when the router matched
} stream_t;

// downstream.c
void stream_send_local_reply(stream_t* s, int code, const char* body, size_t body_len,
                             const hmap_t* extra_headers, const char* details);
void stream_encode_headers(stream_t* s, bool end); // router -> downstream encoder chain
void stream_encode_data(stream_t* s, buf_t* data, bool end);
void stream_reset(stream_t* s, const char* why);
void downstream_accept(worker_t* w);

// golang.c (router phase: envoy.filters.http.golang)
int golang_load(void);
void golang_stream_new(stream_t* s);
void golang_stream_complete(stream_t* s); // onStreamComplete + log(DownstreamEnd)
void golang_stream_destroy(stream_t* s);  // onDestroy
extern const fm_ops_t golang_dec_ops, golang_enc_ops;
void golang_dump_stats(void);
void golang_counts(uint64_t* created, uint64_t* finalized);
void golang_shutdown(void);

// router.c (route table, clusters, retries, upstream HTTP/1.1)
route_t* route_match(stream_t* s);
void router_decode_headers(stream_t* s, bool end);
void router_decode_data(stream_t* s, buf_t* data, bool end);
void router_stream_destroy(stream_t* s);
void attempt_response_headers(struct attempt* a, hmap_t* h, bool end); // from filter or codec
void attempt_response_data(struct attempt* a, buf_t* data, bool end);
hmap_t* attempt_resp_headers(struct attempt* a);
void attempt_local_reply(struct attempt* a, int code, const char* body, size_t bl,
                         const hmap_t* hdrs); // upstream filter send_response
void attempt_continue_decoding(struct attempt* a);
void attempt_continue_encoding(struct attempt* a);
buf_t* attempt_decoding_buffer(struct attempt* a);
buf_t* attempt_encoding_buffer(struct attempt* a);
stream_t* attempt_stream(struct attempt* a);
endpoint_t* attempt_endpoint(struct attempt* a);
cluster_t* attempt_cluster(struct attempt* a);
int attempt_number(struct attempt* a);

// In-memory upstream (bench.c's whole-path mode): when g_mem_upstream is set, an attempt takes
// no connection (as if an idle pooled one were attached synchronously); once the upstream
// codec has the whole request (serialized headers and body in `bytes`), request() gets it, and
// the bench answers later, from the worker, with attempt_codec_headers/attempt_codec_data as
// the codec would.
typedef struct mem_upstream {
  void (*request)(struct attempt* a, buf_t* bytes);
} mem_upstream_t;
extern const mem_upstream_t* g_mem_upstream;
void attempt_codec_headers(struct attempt* a, hmap_t* h, bool end);
void attempt_codec_data(struct attempt* a, buf_t* data, bool end);
// fm_ops_t filter hooks of a chain without that filter: Continue at once.
int no_filter_headers(void* ctx, bool end);
int no_filter_data(void* ctx, buf_t* d, bool end);

// dynmod.c (upstream phase: envoy.filters.http.dynamic_modules)
int dynmod_load(void);
struct dmfilter;
struct dmfilter* dynmod_filter_new(struct attempt* a, worker_t* w);
void dynmod_filter_destroy(struct dmfilter* f);
extern const fm_ops_t dynmod_dec_ops, dynmod_enc_ops;
void dynmod_dump_stats(void);
void dynmod_shutdown(void);
extern bool g_dynmod_loaded;

// bench.c (benchmark modes: the golang filter ABI without sockets, --bench-router; and the whole
// path, --bench-path: router phase, router, the dynamic module's upstream phase, in-memory
// upstream)
typedef struct {
  const char *body, *expect_body, *req_headers, *resp_headers, *resp_body, *expect_header, *absent_header;
  bool whole;
  bool sse;                      // the response body is an event stream: one event per read
  const char* upstream_expect;   // file: upstream request headers ("name value"; "name": absent)
  const char* resp_expect;       // file: substrings every client response body contains
  int expect_events;             // "data: " lines in every client response body
  const char *upstream_capture, *resp_capture; // files for the first upstream request / response
  // Envoy alone (--bench-bare): the whole path's per-request sequence with neither the golang
  // filter nor the dynamic module (the .so is not loaded); expect_body is the body the upstream
  // request must carry, expect_cluster the cluster the route must match, expect_resp_body the
  // client response (default: resp_body, passed through).
  bool bare;
  const char *expect_cluster, *expect_resp_body;
} bench_opts_t;
int bench_router_main(const bench_opts_t* o);
// Calls into libaigw.so's per-request entry points made by this thread (golang.c, dynmod.c):
// the bench reports them, so a run proves which filters it drove.
extern __thread uint64_t tls_so_calls;

// util
char* xstrndup(const char* s, size_t n);
void* xmalloc(size_t n);
void* xcalloc(size_t n, size_t m);
void* xrealloc(void* p, size_t n);
