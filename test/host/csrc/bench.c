// bench.c: router-phase benchmark mode of the host. It drives, per request, only what Envoy
// does for the golang HTTP filter (contrib/golang/filters/http/source/golang_filter.cc,
// processor_state.cc) through the real ABI of the shipped .so, with the same code paths as the
// normal mode (golang.c's processor states and callbacks, fm.c's filter-manager rules), but no
// listener, no HTTP parsing and no upstream: the request header map and the body buffer are
// built in memory as the codec would have built them.
//
// Per request, on a worker thread (tls_worker set, so the callbacks take the on-worker paths
// exactly as in normal mode):
//   decodeHeaders(end_stream=false)      -> envoyGoFilterOnHttpHeader   (StopAndBuffer)
//   decodeData(whole body, end=true)     -> envoyGoFilterOnHttpData     (Continue)
//     served callbacks: CopyHeaders/GetHeader, GetBuffer, SetBufferHelper, SetHeaderHelper,
//     RemoveHeader, ClearRouteCache, SetDynamicMetadata
//   the router (terminal) receives headers and body: checked here
//   encodeHeaders(200, end=false)        -> envoyGoFilterOnHttpHeader
//   encodeData(response body, end=true)  -> envoyGoFilterOnHttpData
//   onStreamComplete, log(DownstreamEnd) -> envoyGoFilterOnHttpStreamComplete, OnHttpLog
//   onDestroy                            -> envoyGoFilterOnHttpDestroy
// and the filter's memory is released only by envoyGoFilterHttpFinalize from Go (aigw calls it
// from OnHttpDestroy; a GC-finalizer-based library later), as in Envoy, which never waits for it.
//
// Envoy alone (--bench-bare): the whole-path mode's per-request sequence through the same host
// code (header map from the template, body buffer, decodeHeaders/decodeData, the HCM's route
// match, router.c with its retained body and per-attempt copy, the upstream codec, the in-memory
// upstream, the response through attempt_codec_headers/attempt_codec_data in the same chunks,
// the router, the downstream codec, complete/destroy/deferred deletes) for an Envoy configured
// with the same routes and clusters but without aigw: no golang filter before the router, no
// dynamic module in the cluster's upstream filter chain, libaigw.so not loaded. Both chains are
// the host's filter manager with a filter that continues at once (fm.c: the terminal gets what
// the codec gave), which is how router.c already runs an upstream chain without the module. No
// filter sets the routing header: the request template carries it (a client-steered route), so
// the route matched when the headers arrive is the backend's. Every request is checked: the
// route's cluster, the upstream request equal to the first one byte for byte and its body equal
// to the client's, the client response equal to the provider's byte for byte.
//
// Commands on stdin, one per line: "run N" runs N measured requests spread over the workers
// (each worker its own thread and worker_id < concurrency) and prints one BENCH_RESULT line;
// "quit" (or EOF) waits briefly for outstanding Finalize calls and prints BENCH_EXIT.
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "host.h"

typedef struct {
  char* body;
  size_t body_len;
  char* expect_body; // the body the router must receive
  size_t expect_len;
  char expect_cl[32];
  char* expect_hname; // routing header the filter must set
  char* expect_hvalue;
  char* absent_hname; // routing header the filter must not leave
  hmap_t req_tmpl;
  hmap_t resp_tmpl;
  char* resp_body;
  size_t resp_body_len;
  // Whole-path mode (--bench-path): the router and the dynamic module's upstream phase run
  // too, the upstream is in memory (router.c's g_mem_upstream).
  bool whole;
  size_t* chunk_off; // response body chunks the codec hands on, one read each
  size_t nchunks;
  hmap_t up_expect;   // upstream request headers: value must be equal ("" value: must be absent)
  char** resp_substr; // substrings every client response body must contain
  size_t nresp_substr;
  int expect_events;  // "data: " lines in every client response body (0: not checked)
  char* up_capture;   // file for the first upstream request (serialized), checked by the driver
  char* resp_capture; // file for the first client response body
  // The first upstream request, the reference every later one must equal byte for byte.
  pthread_mutex_t ref_mu;
  char* up_ref;
  size_t up_ref_len;
  // resp_ref is the last client response that passed check_client_body in full (never freed:
  // another worker may be comparing against it): a response with the same bytes passes the
  // same checks.
  char* resp_ref;
  size_t resp_ref_len;
  atomic_bool resp_captured;
  // Envoy alone (--bench-bare): expect_body is the body every upstream request carries,
  // expect_cluster the cluster the route must match, expect_resp the client response (the
  // provider's, passed through, unless the driver says otherwise). up_ref_fail is the verdict
  // on the first upstream request's body, which every later request equal to it shares (a
  // function of the bytes, as resp_ref); resp_events_fail the verdict on expect_resp's event
  // count, which every client response equal to it shares.
  bool bare;
  char* expect_cluster;
  char* expect_resp;
  size_t expect_resp_len;
  const char* up_ref_fail;
  const char* resp_events_fail;
} bench_spec_t;

static bench_spec_t B;

typedef struct {
  worker_t w;
  pthread_t th;
  uint64_t n; // requests of the current run
  uint64_t* lat_decode; // ns from decodeHeaders to the router receiving the body
  uint64_t* lat_seq;    // ns of the whole per-request sequence
  uint64_t thread_cpu_ns;
  uint64_t chunk_ns, chunks; // response body chunks through both phases (whole-path mode)
  uint64_t so_calls;         // calls into libaigw.so's entry points during the run
  uint64_t failures;
  char first_failure[256];
} bworker_t;

__thread uint64_t tls_so_calls;

static bworker_t* g_bw;
static int g_nbw;
static pthread_barrier_t g_start, g_done;
static atomic_bool g_quit;

static uint64_t clock_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void* read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "bench: open %s: %s\n", path, strerror(errno));
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* p = xmalloc((size_t)n + 1);
  if (n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "bench: read %s failed\n", path);
    exit(2);
  }
  p[n] = 0;
  fclose(f);
  *len = (size_t)n;
  return p;
}

// A header file has one "name value" per line (the value runs to the end of the line).
static void read_headers(const char* path, hmap_t* m) {
  size_t len;
  char* p = read_file(path, &len);
  for (char* line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
    char* sp = strchr(line, ' ');
    if (!sp) {
      fprintf(stderr, "bench: bad header line in %s: %s\n", path, line);
      exit(2);
    }
    hmap_add(m, line, (size_t)(sp - line), sp + 1, strlen(sp + 1));
  }
  free(p);
}

// --------------------------------------------------------------------------- per request

typedef struct {
  stream_t s;
  bworker_t* bw;
  bool routed_headers; // the router (terminal) got the request headers
  bool routed_body;    // ... and the whole body
  bool encoded;        // the codec got the response end
  const char* fail;
  struct attempt* up;  // whole-path: the attempt whose request reached the in-memory upstream
  buf_t client_body;   // whole-path: the response body the downstream codec got
} breq_t;

static void fail(breq_t* r, const char* why) {
  if (!r->fail) r->fail = why;
}

// buf_eq reports whether b holds exactly the n bytes at ref, comparing slice by slice.
static bool buf_eq(const buf_t* b, const char* ref, size_t n) {
  if (b->length != n) return false;
  size_t off = 0;
  for (size_t i = 0; i < b->n; i++) {
    if (memcmp(b->s[i].mem + b->s[i].off, ref + off, b->s[i].len) != 0) return false;
    off += b->s[i].len;
  }
  return true;
}

// The router's decodeHeaders: what it would route on.
static void t_dec_headers(void* ctx, bool end) {
  breq_t* r = ctx;
  stream_t* s = &r->s;
  if (end) fail(r, "request ended at the headers");
  const char* v = hmap_gets(&s->req_headers, B.expect_hname);
  if (!v || strcmp(v, B.expect_hvalue) != 0) fail(r, "routing header not set to the expected value");
  if (B.absent_hname && hmap_get(&s->req_headers, B.absent_hname, strlen(B.absent_hname), 0))
    fail(r, "the other routing header is still present");
  const char* cl = hmap_gets(&s->req_headers, "content-length");
  if (!cl || strcmp(cl, B.expect_cl) != 0) fail(r, "content-length does not match the new body");
  if (s->route_clears < 1) fail(r, "route cache not cleared");
  r->routed_headers = true;
}

// The router's decodeData: the body the upstream request would carry.
static void t_dec_data(void* ctx, buf_t* d, bool end) {
  breq_t* r = ctx;
  if (!end) {
    fail(r, "body continued without end_stream");
  } else if (d->length != B.expect_len) {
    fail(r, "body length differs from the expected body (backend member not removed?)");
  } else if (!buf_eq(d, B.expect_body, B.expect_len)) {
    // Byte-for-byte: the backend member is gone and nothing else changed.
    fail(r, "body differs from the expected body");
  }
  mfield_t* m = meta_get(&r->s.dyn, "io.envoy.ai_gateway", 19, "backend", 7);
  if (!m) fail(r, "dynamic metadata io.envoy.ai_gateway.backend not set");
  buf_drain(d, d->length);
  r->routed_body = true;
}

static void t_enc_headers(void* ctx, bool end) {
  breq_t* r = ctx;
  const char* st = hmap_gets(&r->s.resp_headers, ":status");
  if (r->s.local_reply_sent)
    fail(r, "the filter sent a local reply instead of routing");
  else if (!st || strcmp(st, "200") != 0)
    fail(r, "the response headers are not the 200 the upstream sent");
  if (end) r->encoded = true;
}

static void t_enc_data(void* ctx, buf_t* d, bool end) {
  breq_t* r = ctx;
  if (B.whole) buf_move(&r->client_body, d);
  buf_drain(d, d->length);
  if (end) r->encoded = true;
}

static bool dec_aborted(void* ctx) {
  breq_t* r = ctx;
  return r->s.completed || r->s.reset || r->s.dec_aborted;
}

static bool enc_aborted(void* ctx) {
  breq_t* r = ctx;
  return r->s.completed || r->s.reset || r->s.enc_aborted;
}

static fm_ops_t dec_ops, enc_ops;

// ------------------------------------------------------------------ whole-path mode

// The router (terminal of the downstream decoder chain) in whole-path mode: router.c as in the
// normal mode; the routing checks run first, on what the router routes on.
static void w_dec_headers(void* ctx, bool end) {
  breq_t* r = ctx;
  const char* v = hmap_gets(&r->s.req_headers, B.expect_hname);
  if (!v || strcmp(v, B.expect_hvalue) != 0) fail(r, "routing header not set to the expected value");
  if (B.bare) {
    // The route the router uses: matched when the headers arrived, never cleared.
    route_t* rt = r->s.route;
    if (!rt || !rt->cluster || strcmp(rt->cluster, B.expect_cluster) != 0)
      fail(r, "the route is not the expected cluster's");
  } else if (r->s.route_clears < 1) {
    fail(r, "route cache not cleared");
  }
  r->routed_headers = true;
  router_decode_headers(&r->s, end);
}

static void w_dec_data(void* ctx, buf_t* d, bool end) {
  breq_t* r = ctx;
  router_decode_data(&r->s, d, end);
}

static void write_capture(const char* path, const char* p, size_t n) {
  if (!path) return;
  FILE* f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n) fprintf(stderr, "bench: write %s failed\n", path);
  if (f) fclose(f);
}

// Envoy alone: the serialized request (head, blank line, body) carries exactly the client's
// body. Computed once, on the first request; every later one is compared with the first.
static const char* bare_body_verdict(const char* req, size_t n) {
  size_t bl = B.expect_len;
  if (n < bl + 4 || memcmp(req + n - bl - 4, "\r\n\r\n", 4) != 0 || memcmp(req + n - bl, B.expect_body, bl) != 0)
    return "upstream request body differs from the expected body";
  return NULL;
}

// The in-memory upstream got the attempt's whole request (serialized by router.c's codec):
// the headers the upstream phase must have set, and the bytes equal to the first request's.
static void mem_request(struct attempt* a, buf_t* bytes) {
  stream_t* s = attempt_stream(a);
  breq_t* r = (breq_t*)s; // stream_t is breq_t's first member
  r->up = a;
  hmap_t* h = &s->req_headers;
  for (size_t i = 0; i < B.up_expect.n; i++) {
    hdr_t* e = &B.up_expect.e[i];
    const char* v = hmap_gets(h, e->k);
    if (e->vl == 0 ? v != NULL : (!v || strcmp(v, e->v) != 0)) {
      fail(r, "an upstream request header is not what the upstream phase must set");
      break;
    }
  }
  pthread_mutex_lock(&B.ref_mu);
  if (!B.up_ref) {
    B.up_ref = buf_dup(bytes);
    B.up_ref_len = bytes->length;
    if (B.bare) B.up_ref_fail = bare_body_verdict(B.up_ref, B.up_ref_len);
    write_capture(B.up_capture, B.up_ref, B.up_ref_len);
    pthread_mutex_unlock(&B.ref_mu);
  } else {
    pthread_mutex_unlock(&B.ref_mu);
    if (bytes->length != B.up_ref_len) {
      fail(r, "upstream request length differs from the first request's");
    } else if (!buf_eq(bytes, B.up_ref, B.up_ref_len)) {
      fail(r, "upstream request differs from the first request's");
    }
  }
  // Equal to the first request (or the first itself): the same body, the same verdict.
  if (B.up_ref_fail) fail(r, B.up_ref_fail);
  buf_drain(bytes, bytes->length);
  r->routed_body = true;
}

static const mem_upstream_t mem_upstream = {.request = mem_request};

static size_t count_sub(const char* p, size_t n, const char* sub) {
  size_t c = 0, l = strlen(sub);
  for (const char* q = p; (q = memmem(q, n - (size_t)(q - p), sub, l)); q += l) c++;
  return c;
}

// The client's response: the substrings every response carries and the number of events.
// A response byte-for-byte equal to the last one that passed in full (resp_ref) passes without
// searching again: the checks are a function of the bytes. Any other response (a broken one, or
// a translated one whose "created" second moved on) is searched in full and, when it passes,
// becomes the reference: a translated stream is searched once per second, not per request.
static void check_client_body(breq_t* r) {
  if (B.bare) {
    // Envoy alone: the provider's response passes through untranslated, byte for byte; the
    // expected response's event count was checked once (resp_events_fail).
    if (!atomic_exchange(&B.resp_captured, true)) {
      char* body = buf_dup(&r->client_body);
      write_capture(B.resp_capture, body, r->client_body.length);
      free(body);
    }
    if (!buf_eq(&r->client_body, B.expect_resp, B.expect_resp_len))
      fail(r, "the client response differs from the expected one");
    else if (B.resp_events_fail)
      fail(r, B.resp_events_fail);
    return;
  }
  pthread_mutex_lock(&B.ref_mu);
  const char* ref = B.resp_ref;
  size_t ref_len = B.resp_ref_len;
  pthread_mutex_unlock(&B.ref_mu);
  if (ref && buf_eq(&r->client_body, ref, ref_len)) return;
  char* body = buf_dup(&r->client_body);
  size_t n = r->client_body.length;
  const char* why = NULL;
  for (size_t i = 0; i < B.nresp_substr && !why; i++)
    if (!memmem(body, n, B.resp_substr[i], strlen(B.resp_substr[i])))
      why = "the client response lacks an expected part";
  if (!why && B.expect_events && count_sub(body, n, "data: ") != (size_t)B.expect_events)
    why = "the client response has not the expected number of events";
  if (!atomic_exchange(&B.resp_captured, true)) write_capture(B.resp_capture, body, n);
  if (why) {
    fail(r, why);
    free(body);
    return;
  }
  // The old reference may still be read by another worker's buf_eq: it is leaked, not freed
  // (one small body per second of a run).
  pthread_mutex_lock(&B.ref_mu);
  B.resp_ref = body, B.resp_ref_len = n;
  pthread_mutex_unlock(&B.ref_mu);
}

// The upstream's response through the codec: headers, then the body one chunk per read.
static void whole_response(breq_t* r, bool partial, size_t* next_chunk) {
  bworker_t* bw = r->bw;
  struct attempt* a = r->up;
  size_t i = *next_chunk;
  if (i == 0) {
    hmap_t h;
    hmap_init(&h);
    hmap_copy(&h, &B.resp_tmpl);
    attempt_codec_headers(a, &h, false);
    hmap_free(&h);
  }
  uint64_t c0 = clock_ns(CLOCK_MONOTONIC);
  for (; i < B.nchunks && !r->fail && !r->s.completed && !r->s.local_reply_sent; i++) {
    if (partial && i == 1) break; // hold mode: the stream stays open after its first event
    size_t lo = B.chunk_off[i], hi = i + 1 < B.nchunks ? B.chunk_off[i + 1] : B.resp_body_len;
    buf_t b;
    buf_init(&b);
    buf_read(&b, B.resp_body + lo, hi - lo);
    attempt_codec_data(a, &b, i + 1 == B.nchunks);
    buf_free(&b);
  }
  // One clock read per response, not two per chunk (a hundred events would pay two hundred);
  // the codec's read of each chunk into its buffer is part of the chunk's time.
  bw->chunk_ns += clock_ns(CLOCK_MONOTONIC) - c0;
  bw->chunks += i - *next_chunk;
  *next_chunk = i;
}

// Waits for posted work (Continue from a goroutine, a local reply) until cond holds or a local
// reply ended the stream, as the worker's dispatcher would run it. The shipped .so answers
// synchronously, so on the routed path this loop never waits.
static bool wait_for(breq_t* r, bool* cond) {
  worker_t* w = &r->bw->w;
  uint64_t deadline = now_ms() + 10000;
  while (!*cond && !r->s.local_reply_sent) {
    worker_drain_posts(w);
    if (*cond || r->s.local_reply_sent) break;
    if (now_ms() > deadline) return false;
    struct pollfd p = {.fd = w->evfd, .events = POLLIN};
    poll(&p, 1, 100);
  }
  return true;
}

typedef struct {
  breq_t* r;
  uint64_t t0;
  size_t next_chunk;
} inflight_t;

// The request side of one request, then the response until `partial` (hold mode: headers and
// the first chunk) or its end.
static void req_begin(bworker_t* bw, inflight_t* f, uint64_t* decode_ns, bool partial) {
  static atomic_uint_fast64_t ids;
  f->t0 = clock_ns(CLOCK_MONOTONIC);
  f->next_chunk = 0;
  breq_t* r = f->r = xcalloc(1, sizeof(breq_t));
  r->bw = bw;
  stream_t* s = &r->s;
  s->w = &bw->w;
  s->id = atomic_fetch_add(&ids, 1) + 1;
  s->start_ms = now_ms();
  hmap_init(&s->req_headers);
  hmap_init(&s->resp_headers);
  meta_init(&s->dyn);
  buf_init(&s->body_copy);
  buf_init(&r->client_body);
  fm_init(&s->dec, &dec_ops, r);
  fm_init(&s->enc, &enc_ops, r);
  // The codec's request header map and its read of the body into an OwnedImpl-like buffer.
  hmap_copy(&s->req_headers, &B.req_tmpl);
  if (B.whole) {
    // The HCM matches the route when the headers arrive (refreshCachedRoute), before any filter.
    s->route = s->initial_route = route_match(s);
    s->route_cached = true;
  }
  if (!B.bare) golang_stream_new(s);
  fm_headers(&s->dec, false);
  buf_t body;
  buf_init(&body);
  buf_read(&body, B.body, B.body_len);
  fm_data(&s->dec, &body, true);
  buf_free(&body);
  if (!r->fail && !wait_for(r, &r->routed_body)) fail(r, "the request never reached the router");
  if (!r->routed_headers) fail(r, "the router never got the request headers");
  *decode_ns = clock_ns(CLOCK_MONOTONIC) - f->t0;

  if (s->local_reply_sent) {
    fail(r, "the filter sent a local reply");
  } else if (B.whole) {
    if (!r->up) fail(r, "no attempt reached the upstream");
    else whole_response(r, partial, &f->next_chunk);
  } else {
    // The upstream's response (the router's encodeHeaders/encodeData into the filter chain).
    hmap_copy(&s->resp_headers, &B.resp_tmpl);
    s->resp_headers_present = true;
    s->response_code = 200;
    fm_headers(&s->enc, false);
    buf_t rb;
    buf_init(&rb);
    buf_read(&rb, B.resp_body, B.resp_body_len);
    fm_data(&s->enc, &rb, true);
    buf_free(&rb);
  }
}

// The rest of the response, the checks, and the stream's end.
static void req_finish(bworker_t* bw, inflight_t* f, uint64_t* seq_ns) {
  breq_t* r = f->r;
  stream_t* s = &r->s;
  if (B.whole && r->up && !r->fail && !s->local_reply_sent) whole_response(r, false, &f->next_chunk);
  if (!r->fail && !s->local_reply_sent && !wait_for(r, &r->encoded)) fail(r, "the response never reached the codec");
  if (B.whole && !r->fail && r->encoded) check_client_body(r);

  // ActiveStream::completeRequest -> onStreamComplete, log, then onDestroy; the filter object
  // lives on until Go calls Finalize for the request.
  s->completed = true;
  if (!B.bare) {
    golang_stream_complete(s);
    golang_stream_destroy(s);
  }
  if (B.whole) router_stream_destroy(s);
  worker_drain_posts(&bw->w); // posts made during the stream are dropped as in Envoy
  if (B.whole) worker_run_deferred(&bw->w); // the attempt and the upstream filter instance
  hmap_free(&s->req_headers);
  hmap_free(&s->resp_headers);
  meta_free(&s->dyn);
  for (size_t i = 0; i < s->nfs; i++) {
    free(s->fs[i].key);
    free(s->fs[i].value);
  }
  free(s->fs);
  fm_free(&s->dec);
  fm_free(&s->enc);
  buf_free(&s->body_copy);
  buf_free(&r->client_body);
  free(s->override_host);
  free(s->routed_backend);
  free(s->routed_model);
  const char* why = r->fail;
  free(r);
  f->r = NULL;
  if (why) {
    if (!bw->failures++) snprintf(bw->first_failure, sizeof(bw->first_failure), "%s", why);
  }
  *seq_ns = clock_ns(CLOCK_MONOTONIC) - f->t0;
}

static void one_request(bworker_t* bw, uint64_t* decode_ns, uint64_t* seq_ns) {
  inflight_t f;
  req_begin(bw, &f, decode_ns, false);
  req_finish(bw, &f, seq_ns);
}

static void* bench_worker(void* arg) {
  bworker_t* bw = arg;
  char name[16];
  snprintf(name, sizeof(name), "wrk:%d", bw->w.id);
  pthread_setname_np(pthread_self(), name);
  tls_worker = &bw->w;
  for (;;) {
    pthread_barrier_wait(&g_start);
    if (atomic_load(&g_quit)) return NULL;
    uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), so0 = tls_so_calls;
    for (uint64_t i = 0; i < bw->n; i++) one_request(bw, &bw->lat_decode[i], &bw->lat_seq[i]);
    bw->thread_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    bw->so_calls = tls_so_calls - so0;
    bw->w.requests += bw->n;
    pthread_barrier_wait(&g_done);
  }
}

static int cmp_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

// Nearest-rank percentile of sorted v.
static uint64_t pct(const uint64_t* v, size_t n, int p) {
  if (n == 0) return 0;
  size_t i = n * (size_t)p / 100;
  return v[i < n ? i : n - 1];
}

static uint64_t vm_hwm(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  uint64_t kb = 0;
  while (fgets(line, sizeof(line), f))
    if (!strncmp(line, "VmHWM:", 6)) kb = strtoull(line + 6, NULL, 10);
  fclose(f);
  return kb * 1024;
}

static void run(uint64_t n) {
  for (int i = 0; i < g_nbw; i++) {
    bworker_t* bw = &g_bw[i];
    bw->n = n / (uint64_t)g_nbw + ((uint64_t)i < n % (uint64_t)g_nbw ? 1 : 0);
    free(bw->lat_decode);
    free(bw->lat_seq);
    bw->lat_decode = xcalloc(bw->n + 1, sizeof(uint64_t));
    bw->lat_seq = xcalloc(bw->n + 1, sizeof(uint64_t));
    bw->failures = 0;
    bw->first_failure[0] = 0;
    bw->chunk_ns = bw->chunks = 0;
  }
  uint64_t created0, fin0;
  golang_counts(&created0, &fin0);
  uint64_t cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), wall0 = clock_ns(CLOCK_MONOTONIC);
  pthread_barrier_wait(&g_start);
  pthread_barrier_wait(&g_done);
  uint64_t wall = clock_ns(CLOCK_MONOTONIC) - wall0, cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
  uint64_t created, fin;
  golang_counts(&created, &fin);

  uint64_t* dec = xcalloc(n + 1, sizeof(uint64_t));
  uint64_t* seq = xcalloc(n + 1, sizeof(uint64_t));
  size_t k = 0;
  uint64_t failures = 0, worker_cpu = 0, chunk_ns = 0, chunks = 0, so_calls = 0;
  const char* first = "";
  for (int i = 0; i < g_nbw; i++) {
    bworker_t* bw = &g_bw[i];
    memcpy(dec + k, bw->lat_decode, bw->n * sizeof(uint64_t));
    memcpy(seq + k, bw->lat_seq, bw->n * sizeof(uint64_t));
    k += bw->n;
    failures += bw->failures;
    worker_cpu += bw->thread_cpu_ns;
    chunk_ns += bw->chunk_ns;
    chunks += bw->chunks;
    so_calls += bw->so_calls;
    if (bw->failures && !first[0]) first = bw->first_failure;
  }
  qsort(dec, k, sizeof(uint64_t), cmp_u64);
  qsort(seq, k, sizeof(uint64_t), cmp_u64);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  if (failures) out_line("BENCH_FAIL %s", first);
  out_line("BENCH_RESULT requests=%llu workers=%d wall_ns=%llu cpu_ns=%llu worker_cpu_ns=%llu "
           "decode_p50_ns=%llu decode_p99_ns=%llu seq_p50_ns=%llu seq_p99_ns=%llu peak_rss_bytes=%llu "
           "maxrss_bytes=%llu created=%llu finalized=%llu outstanding=%llu failures=%llu chunks=%llu chunk_ns=%llu "
           "so_calls=%llu",
           (unsigned long long)n, g_nbw, (unsigned long long)wall, (unsigned long long)cpu,
           (unsigned long long)worker_cpu, (unsigned long long)pct(dec, k, 50),
           (unsigned long long)pct(dec, k, 99), (unsigned long long)pct(seq, k, 50),
           (unsigned long long)pct(seq, k, 99), (unsigned long long)vm_hwm(),
           (unsigned long long)ru.ru_maxrss * 1024, (unsigned long long)(created - created0),
           (unsigned long long)(fin - fin0), (unsigned long long)(created - fin),
           (unsigned long long)failures, (unsigned long long)chunks, (unsigned long long)chunk_ns,
           (unsigned long long)so_calls);
  free(dec);
  free(seq);
}

static uint64_t vm_rss(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  uint64_t kb = 0;
  while (fgets(line, sizeof(line), f))
    if (!strncmp(line, "VmRSS:", 6)) kb = strtoull(line + 6, NULL, 10);
  fclose(f);
  return kb * 1024;
}

// Hold mode: n streamed requests opened on the main thread acting as worker 0 (the workers
// wait at their barrier, so nothing runs concurrently on it), each through the request phase,
// the response headers and the first event, then left open; "release" ends them.
static inflight_t* g_held;
static uint64_t g_nheld;

static void report_mem(const char* what, uint64_t n) {
  struct mallinfo2 mi = mallinfo2();
  uint64_t created, fin;
  golang_counts(&created, &fin);
  out_line("BENCH_%s streams=%llu rss_bytes=%llu malloc_bytes=%llu outstanding=%llu failures=%llu", what,
           (unsigned long long)n, (unsigned long long)vm_rss(), (unsigned long long)mi.uordblks,
           (unsigned long long)(created - fin), (unsigned long long)g_bw[0].failures);
}

static void hold(uint64_t n) {
  tls_worker = &g_bw[0].w;
  g_bw[0].failures = 0;
  g_held = xcalloc(n, sizeof(inflight_t));
  g_nheld = n;
  uint64_t d;
  for (uint64_t i = 0; i < n; i++) req_begin(&g_bw[0], &g_held[i], &d, true);
  tls_worker = NULL;
  report_mem("HELD", n);
}

static void release(void) {
  tls_worker = &g_bw[0].w;
  uint64_t d;
  for (uint64_t i = 0; i < g_nheld; i++) req_finish(&g_bw[0], &g_held[i], &d);
  free(g_held);
  g_held = NULL;
  tls_worker = NULL;
  // Envoy never waits for Finalize; the host waits a little so the report is complete.
  for (int i = 0; i < 100; i++) {
    uint64_t created, fin;
    golang_counts(&created, &fin);
    if (created == fin) break;
    usleep(10000);
  }
  malloc_trim(0);
  report_mem("RELEASED", g_nheld);
  g_nheld = 0;
}

// Response body chunks: one SSE event per read when the body is an event stream, else reads of
// at most 16 KiB (SLICE_CAP).
static void split_chunks(bool sse) {
  size_t cap = 16;
  B.chunk_off = xcalloc(cap, sizeof(size_t));
  size_t off = 0;
  while (off < B.resp_body_len) {
    if (B.nchunks == cap) B.chunk_off = xrealloc(B.chunk_off, (cap *= 2) * sizeof(size_t));
    B.chunk_off[B.nchunks++] = off;
    size_t next = off + SLICE_CAP;
    if (sse) {
      char* e = memmem(B.resp_body + off, B.resp_body_len - off, "\n\n", 2);
      next = e ? (size_t)(e - B.resp_body) + 2 : B.resp_body_len;
    }
    off = next < B.resp_body_len ? next : B.resp_body_len;
  }
}

// bench_router_main runs after parse_config and golang_load (and dynmod_load in whole-path
// mode) (main.c).
// Envoy allocates with tcmalloc on x86_64 and aarch64 (bazel/envoy_internal.bzl:103-111: -DTCMALLOC),
// which keeps freed pages in its page heap: they go back to the system only when Envoy asks
// (source/common/memory/utils.cc:22-45, releaseFreeMemory / tryShrinkHeap on the main thread,
// and the overload manager's shrink_heap action, source/common/memory/heap_shrinker.cc:31-35).
// glibc's defaults instead give the top of the heap back once 128 KiB of it is free and map every
// chunk of 128 KiB or more afresh, so each large request's buffers fault their pages in again
// and the kernel clears them (a quarter of a 1 MiB request's CPU in the bench): work Envoy does
// not do. The bench keeps freed memory as tcmalloc does; the `mem` command still calls
// malloc_trim(0) before it reports, so memory per stream stays what the streams hold. The
// normal mode keeps glibc's defaults (its tests watch RSS return after load).
static void malloc_like_envoy(void) {
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 32 << 20); // glibc's maximum (HEAP_MAX_SIZE / 2 on 64 bits)
}

int bench_router_main(const bench_opts_t* o) {
  malloc_like_envoy();
  B.body = read_file(o->body, &B.body_len);
  B.resp_body = read_file(o->resp_body, &B.resp_body_len);
  hmap_init(&B.req_tmpl);
  hmap_init(&B.resp_tmpl);
  hmap_init(&B.up_expect);
  read_headers(o->req_headers, &B.req_tmpl);
  read_headers(o->resp_headers, &B.resp_tmpl);
  const char* eq = strchr(o->expect_header, '=');
  if (!eq) {
    fprintf(stderr, "bench: --expect-header wants name=value\n");
    return 2;
  }
  B.expect_hname = xstrndup(o->expect_header, (size_t)(eq - o->expect_header));
  B.expect_hvalue = strdup(eq + 1);
  B.absent_hname = o->absent_header ? strdup(o->absent_header) : NULL;
  B.whole = o->whole;
  pthread_mutex_init(&B.ref_mu, NULL);

  B.bare = o->bare;
  if (B.bare) {
    // No filter before the router or the codec: the chain continues at once (see the top).
    dec_ops = enc_ops = (fm_ops_t){.f_headers = no_filter_headers, .f_data = no_filter_data};
  } else {
    dec_ops = golang_dec_ops;
    enc_ops = golang_enc_ops;
  }
  dec_ops.aborted = dec_aborted;
  enc_ops.t_headers = t_enc_headers;
  enc_ops.t_data = t_enc_data;
  enc_ops.aborted = enc_aborted;
  if (B.whole) {
    dec_ops.t_headers = w_dec_headers;
    dec_ops.t_data = w_dec_data;
    split_chunks(o->sse);
    if (o->upstream_expect) {
      // "name value" lines; a line with a name only: the header must be absent.
      size_t len;
      char* p = read_file(o->upstream_expect, &len);
      for (char* line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
        char* sp = strchr(line, ' ');
        size_t kl = sp ? (size_t)(sp - line) : strlen(line);
        hmap_add(&B.up_expect, line, kl, sp ? sp + 1 : "", sp ? strlen(sp + 1) : 0);
      }
      free(p);
    }
    if (o->resp_expect) {
      size_t len;
      char* p = read_file(o->resp_expect, &len);
      for (char* line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
        B.resp_substr = xrealloc(B.resp_substr, (B.nresp_substr + 1) * sizeof(char*));
        B.resp_substr[B.nresp_substr++] = strdup(line);
      }
      free(p);
    }
    B.expect_events = o->expect_events;
    if (B.bare) {
      B.expect_body = read_file(o->expect_body, &B.expect_len);
      B.expect_cluster = strdup(o->expect_cluster);
      if (o->expect_resp_body) {
        B.expect_resp = read_file(o->expect_resp_body, &B.expect_resp_len);
      } else {
        B.expect_resp = B.resp_body;
        B.expect_resp_len = B.resp_body_len;
      }
      if (B.expect_events && count_sub(B.expect_resp, B.expect_resp_len, "data: ") != (size_t)B.expect_events)
        B.resp_events_fail = "the client response has not the expected number of events";
    }
    B.up_capture = o->upstream_capture ? strdup(o->upstream_capture) : NULL;
    B.resp_capture = o->resp_capture ? strdup(o->resp_capture) : NULL;
    g_mem_upstream = &mem_upstream;
  } else {
    B.expect_body = read_file(o->expect_body, &B.expect_len);
    snprintf(B.expect_cl, sizeof(B.expect_cl), "%zu", B.expect_len);
    dec_ops.t_headers = t_dec_headers;
    dec_ops.t_data = t_dec_data;
  }

  g_nbw = g_cfg.workers;
  g_bw = xcalloc((size_t)g_nbw, sizeof(bworker_t));
  pthread_barrier_init(&g_start, NULL, (unsigned)g_nbw + 1);
  pthread_barrier_init(&g_done, NULL, (unsigned)g_nbw + 1);
  for (int i = 0; i < g_nbw; i++) {
    worker_t* w = &g_bw[i].w;
    w->id = i; // worker_id < concurrency (= workers, the config's concurrency)
    pthread_mutex_init(&w->mu, NULL);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_create(&g_bw[i].th, NULL, bench_worker, &g_bw[i]);
  }
  out_line("BENCH_READY workers=%d body=%zu expect=%zu chunks=%zu", g_nbw, B.body_len, B.expect_len, B.nchunks);

  char line[256];
  while (fgets(line, sizeof(line), stdin)) {
    unsigned long long n;
    if (sscanf(line, "run %llu", &n) == 1 && n > 0) {
      run(n);
    } else if (B.whole && sscanf(line, "hold %llu", &n) == 1 && n > 0 && !g_held) {
      hold(n);
    } else if (B.whole && !strncmp(line, "release", 7) && g_held) {
      release();
    } else if (!strncmp(line, "mem", 3)) {
      report_mem("MEM", 0);
    } else if (!strncmp(line, "quit", 4)) {
      break;
    } else {
      out_line("BENCH_ERROR unknown command");
    }
  }
  if (g_held) release();
  atomic_store(&g_quit, true);
  pthread_barrier_wait(&g_start);
  for (int i = 0; i < g_nbw; i++) pthread_join(g_bw[i].th, NULL);
  // Envoy never waits for Finalize; the host waits a little so the count is reported.
  uint64_t created, fin;
  for (int i = 0; i < 50; i++) {
    golang_counts(&created, &fin);
    if (created == fin) break;
    usleep(20000);
  }
  golang_counts(&created, &fin);
  out_line("BENCH_EXIT created=%llu finalized=%llu", (unsigned long long)created, (unsigned long long)fin);
  return 0;
}
