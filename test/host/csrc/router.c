// router.c: what Envoy's router filter, cluster manager and upstream HTTP/1 codec do for the
// harness: an ordered route table matched on the cached route (re-matched after
// clearRouteCache), clusters with priorities of loopback endpoints carrying
// filter_metadata, retries on 5xx / reset / connect-failure with previous_priorities, a
// per-attempt upstream filter chain (the dynamic module) on a copy of the request body and the
// shared request header map, and real HTTP/1.1 to the upstream with per-worker keep-alive pools.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host.h"

enum { UC_CONNECTING, UC_OPEN, UC_IDLE, UC_CLOSED };
enum { R_STATUS, R_HEADERS, R_BODY_CL, R_CHUNK_SIZE, R_CHUNK_DATA, R_CHUNK_CRLF, R_TRAILERS, R_BODY_CLOSE, R_DONE };
enum { FAIL_CONNECT, FAIL_RESET };

typedef struct upconn {
  worker_t* w;
  ioh_t io;
  endpoint_t* ep;
  int state;
  struct attempt* a;
  char* rb;
  size_t rlen, rcap;
  buf_t out;
  bool epollout;
  bool reused;
  struct upconn* next_idle;
} upconn_t;

typedef struct upool {
  endpoint_t* ep;
  upconn_t* idle;
  struct upool* next;
} upool_t;

typedef struct attempt {
  stream_t* s;
  worker_t* w;
  int n;
  endpoint_t* ep;
  struct dmfilter* df;
  fm_dir_t dec, enc;
  hmap_t resp_headers;
  bool resp_headers_present;
  upconn_t* uc;
  buf_t pending; // request bytes not yet handed to a connection
  bool req_headers_encoded;
  bool req_chunked;
  bool req_end_encoded;
  int64_t req_cl;
  uint64_t req_body_sent;
  int rstate;
  uint64_t rremaining;
  bool resp_close;   // upstream said connection: close / close-delimited body
  bool resp_started; // status line seen
  bool synthetic;    // the filter answered with send_response_headers
  // UpstreamRequest::upstream_host_: set only by onUpstreamHostSelected, when the pool is ready
  // (synchronously inside newStream when a connection is idle) or failed
  // (source/common/router/upstream_request.cc:372-378).
  bool host_selected;
  bool pool_requested; // conn_pool_->newStream was called (upstream_request.cc:412)
  // The router retried on this attempt's response headers: it reset the upstream request and
  // removed it from its list (router.cc:1760-1774), but the upstream filter manager itself is
  // not aborted (resetStream, upstream_request.cc:479-500, sets no filter-chain state;
  // canContinue, filter_manager.cc:383-387), so an iteration already under way goes on.
  bool unlinked;
  bool done;
  bool aborted;
  bool forwarded;
  htimer_t fail_timer; // pool failures are reported asynchronously, like onPoolFailure
  // onPoolReady (not a pool failure): the connection is attached to this attempt.
  bool pool_ready;
  // The per-try idle timer (UpstreamRequest::per_try_idle_timeout_), created once by
  // setupPerTryTimeout.
  bool per_try_armed;
  htimer_t per_try_idle_timer;
} attempt_t;

struct dmfilter* attempt_filter(attempt_t* a) { return a->df; }
stream_t* attempt_stream(attempt_t* a) { return a->s; }
endpoint_t* attempt_endpoint(attempt_t* a) { return a->ep; }
cluster_t* attempt_cluster(attempt_t* a) { return a->s->cluster; }
int attempt_number(attempt_t* a) { return a->n; }
hmap_t* attempt_resp_headers(attempt_t* a) { return a->resp_headers_present ? &a->resp_headers : NULL; }
buf_t* attempt_decoding_buffer(attempt_t* a) { return a->dec.has_buffered ? &a->dec.buffered : NULL; }
buf_t* attempt_encoding_buffer(attempt_t* a) { return a->enc.has_buffered ? &a->enc.buffered : NULL; }

// Set by bench.c's whole-path mode: the upstream is in memory, no socket (see host.h).
const mem_upstream_t* g_mem_upstream;

static void start_attempt(stream_t* s);
static void uc_flush(upconn_t* c);
static void uc_close(upconn_t* c);
static void attempt_failure(attempt_t* a, int why);
static void uc_attach(attempt_t* a);
static bool can_retry(stream_t* s);
static void schedule_retry(stream_t* s, attempt_t* a, const char* why);

// ------------------------------------------------------------------------------ routing

route_t* route_match(stream_t* s) {
  const char* path = hmap_gets(&s->req_headers, ":path");
  for (size_t i = 0; i < g_cfg.nroutes; i++) {
    route_t* r = &g_cfg.routes[i];
    bool ok = true;
    for (size_t j = 0; ok && j < r->nhm; j++) {
      const char* v = hmap_gets(&s->req_headers, r->hm[j].name);
      if (!v || strcmp(v, r->hm[j].value) != 0) ok = false;
    }
    if (ok && r->prefix && (!path || strncmp(path, r->prefix, strlen(r->prefix)) != 0)) ok = false;
    if (ok) return r;
  }
  return NULL;
}

cluster_t* find_cluster(const char* name) {
  for (size_t i = 0; i < g_cfg.nclusters; i++)
    if (!strcmp(g_cfg.clusters[i].name, name)) return &g_cfg.clusters[i];
  return NULL;
}

// Priority selection: all hosts are healthy, so the whole load is on the lowest priority that
// the previous_priorities retry plugin has not excluded; when every priority was attempted the
// plugin resets to the original load.
static endpoint_t* choose_endpoint(stream_t* s) {
  cluster_t* c = s->cluster;
  if (s->override_host) {
    for (size_t i = 0; i < c->nep; i++) {
      endpoint_t* e = &c->ep[i];
      if (!strcmp(e->addr, s->override_host) || !strcmp(e->host, s->override_host)) return e;
    }
  }
  uint32_t present = 0;
  for (size_t i = 0; i < c->nep; i++) present |= 1u << c->ep[i].priority;
  if (!present) return NULL;
  uint32_t excluded = s->route && s->route->previous_priorities ? s->attempted_prios : 0;
  if ((present & ~excluded) == 0) excluded = 0;
  int prio = 0;
  while (!((present & ~excluded) & (1u << prio))) prio++;
  size_t n = 0;
  for (size_t i = 0; i < c->nep; i++)
    if (c->ep[i].priority == prio) n++;
  // previous_hosts: re-pick up to host_selection_retry_max_attempts times to avoid a host
  // that an earlier attempt used; the last pick stands.
  int tries = s->route && s->route->previous_hosts ? 1 + s->route->host_selection_max : 1;
  endpoint_t* pick = NULL;
  for (int t = 0; t < tries; t++) {
    unsigned k = atomic_fetch_add(&c->rr[prio], 1) % (unsigned)n;
    for (size_t i = 0; i < c->nep; i++) {
      if (c->ep[i].priority == prio && k-- == 0) {
        pick = &c->ep[i];
        break;
      }
    }
    if (!(s->attempted_hosts & (1ull << (pick - c->ep)))) break;
  }
  return pick;
}

// ------------------------------------------------------------------------- attempt lifetime

static void attempt_free(void* arg) {
  attempt_t* a = arg;
  fm_free(&a->dec);
  fm_free(&a->enc);
  hmap_free(&a->resp_headers);
  buf_free(&a->pending);
  free(a);
}

static bool reusable(attempt_t* a) {
  return a->uc && a->uc->state == UC_OPEN && a->rstate == R_DONE && !a->resp_close && a->req_end_encoded &&
         a->uc->out.length == 0 && a->pending.length == 0 && a->uc->rlen == 0;
}

static upool_t* pool_for(worker_t* w, endpoint_t* ep) {
  for (upool_t* p = w->pools; p; p = p->next)
    if (p->ep == ep) return p;
  upool_t* p = xcalloc(1, sizeof(upool_t));
  p->ep = ep;
  p->next = w->pools;
  w->pools = p;
  return p;
}

static void pool_remove(upconn_t* c) {
  upool_t* p = pool_for(c->w, c->ep);
  upconn_t** pp = &p->idle;
  while (*pp) {
    if (*pp == c) {
      *pp = c->next_idle;
      c->next_idle = NULL;
      return;
    }
    pp = &(*pp)->next_idle;
  }
}

// Ends the attempt: the connection goes back to the pool when it can carry another request,
// the upstream filter instance is destroyed (deferred), the attempt is freed after the batch.
static void attempt_release(attempt_t* a, bool keep_conn) {
  if (a->done) return;
  a->done = true;
  timer_cancel(a->w, &a->fail_timer);
  timer_cancel(a->w, &a->per_try_idle_timer);
  upconn_t* c = a->uc;
  a->uc = NULL;
  if (c) {
    c->a = NULL;
    if (keep_conn) {
      c->state = UC_IDLE;
      c->reused = true;
      upool_t* p = pool_for(c->w, c->ep);
      c->next_idle = p->idle;
      p->idle = c;
    } else {
      uc_close(c);
    }
  }
  if (a->df) dynmod_filter_destroy(a->df);
  if (a->s && a->s->cur == a) a->s->cur = NULL;
  worker_defer(a->w, attempt_free, a);
}

static void attempt_abort(attempt_t* a) {
  if (a->done) return;
  a->aborted = true;
  attempt_release(a, false);
}

void router_stream_destroy(stream_t* s) {
  timer_cancel(s->w, &s->retry_timer);
  timer_cancel(s->w, &s->timeout_timer);
  if (s->cur) attempt_abort(s->cur);
  s->cur = NULL;
}

// ------------------------------------------------------------------ upstream request codec

static void enc_request_headers(attempt_t* a, bool end) {
  if (a->done || a->synthetic) return;
  stream_t* s = a->s;
  hmap_t* h = &s->req_headers;
  const char* method = hmap_gets(h, ":method");
  const char* path = hmap_gets(h, ":path");
  const char* host = hmap_gets(h, ":authority");
  buf_t* b = &a->pending;
  if (!method || !path) {
    violation("upstream request without :method or :path");
    method = method ? method : "GET";
    path = path ? path : "/";
  }
  buf_add(b, method, strlen(method));
  buf_add(b, " ", 1);
  buf_add(b, path, strlen(path));
  buf_add(b, " HTTP/1.1\r\nhost: ", 17);
  if (host)
    buf_add(b, host, strlen(host));
  else
    buf_add(b, a->ep->addr, strlen(a->ep->addr));
  buf_add(b, "\r\n", 2);
  a->req_cl = -1;
  for (size_t i = 0; i < h->n; i++) {
    hdr_t* e = &h->e[i];
    if (e->kl && e->k[0] == ':') continue;
    if (!strcmp(e->k, "host") || !strcmp(e->k, "transfer-encoding") || !strcmp(e->k, "connection")) continue;
    if (!strcmp(e->k, "content-length")) {
      if (a->req_cl >= 0) violation("upstream request has several content-length headers (use set, not add)");
      a->req_cl = strtoll(e->v, NULL, 10);
    }
    buf_add(b, e->k, e->kl);
    buf_add(b, ": ", 2);
    buf_add(b, e->v, e->vl);
    buf_add(b, "\r\n", 2);
  }
  a->req_chunked = false;
  if (a->req_cl < 0) {
    if (end) {
      if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        buf_add(b, "content-length: 0\r\n", 19);
        a->req_cl = 0;
      }
    } else {
      buf_add(b, "transfer-encoding: chunked\r\n", 28);
      a->req_chunked = true;
    }
  }
  buf_add(b, "\r\n", 2);
  dlog("attempt %d to %s: request headers encoded (end=%d, content-length %lld, chunked %d)", a->n, a->ep->addr, end,
       (long long)a->req_cl, a->req_chunked);
  a->req_headers_encoded = true;
  if (end) a->req_end_encoded = true;
  // The connection was asked for before the filter chain ran (start_attempt); the codec filter
  // waits for it (UpstreamCodecFilter) and the pending bytes go out once it is open.
  if (!a->pool_requested)
    uc_attach(a);
  else if (a->uc)
    uc_flush(a->uc);
  if (g_mem_upstream && end) g_mem_upstream->request(a, &a->pending);
}

static void enc_request_data(attempt_t* a, buf_t* data, bool end) {
  if (a->done || a->synthetic) return;
  size_t l = data ? data->length : 0;
  a->req_body_sent += l;
  if (a->req_chunked) {
    if (l) {
      char sz[32];
      snprintf(sz, sizeof(sz), "%zx\r\n", l);
      buf_add(&a->pending, sz, strlen(sz));
      buf_move(&a->pending, data);
      buf_add(&a->pending, "\r\n", 2);
    }
    if (end) buf_add(&a->pending, "0\r\n\r\n", 5);
  } else if (l) {
    buf_move(&a->pending, data);
  }
  if (end) {
    a->req_end_encoded = true;
    if (a->req_cl >= 0 && (uint64_t)a->req_cl != a->req_body_sent) {
      // Envoy's HTTP/1 codec sends the header as it is: the upstream then waits for missing
      // bytes (a timeout) or reads the extra ones as a new request.
      violation("upstream request content-length %lld but %llu body bytes were sent (attempt %d to %s)",
                (long long)a->req_cl, (unsigned long long)a->req_body_sent, a->n, a->ep->addr);
    }
  }
  if (a->uc) uc_flush(a->uc);
  if (g_mem_upstream && end) g_mem_upstream->request(a, &a->pending);
}

// ----------------------------------------------------------------------- upstream connection

static void uc_cb(ioh_t* h, uint32_t ev);

static void uc_free(void* arg) {
  upconn_t* c = arg;
  free(c->rb);
  buf_free(&c->out);
  free(c);
}

static void uc_close(upconn_t* c) {
  if (c->state == UC_CLOSED) return;
  if (c->state == UC_IDLE) pool_remove(c);
  c->state = UC_CLOSED;
  ioh_del(c->w, &c->io);
  close(c->io.fd);
  c->a = NULL;
  worker_defer(c->w, uc_free, c);
}

static void uc_flush(upconn_t* c) {
  attempt_t* a = c->a;
  if (a && a->pending.length) buf_move(&c->out, &a->pending);
  if (c->state != UC_OPEN) return;
  while (c->out.length) {
    slice_t* s = &c->out.s[0];
    ssize_t n = send(c->io.fd, s->mem + s->off, s->len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!c->epollout) {
          c->epollout = true;
          ioh_mod(c->w, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
        }
        return;
      }
      if (a) attempt_failure(a, FAIL_RESET);
      return;
    }
    buf_drain(&c->out, (size_t)n);
  }
  if (c->epollout) {
    c->epollout = false;
    ioh_mod(c->w, &c->io, EPOLLIN | EPOLLRDHUP);
  }
}

// ------------------------------------------------------------------ per-try idle timeout

// UpstreamRequest::setupPerTryTimeout (source/common/router/upstream_request.cc:516-530) is
// called from onPoolReady when the router already has the whole downstream request
// (:659-663), else from Router::Filter::onRequestComplete once it has (router.cc:1203-1206):
// the per-try timers never run for an attempt whose pool is not ready, nor before the request
// is complete. Response headers and data reset the idle timer (decodeHeaders :273, decodeData
// :324); nothing on the request side does, so an attempt whose upstream filter holds the
// request (a module waiting for a credential) times out after the idle timeout.
static void per_try_idle_fire(void* arg);

static void per_try_idle_reset(attempt_t* a) {
  route_t* r = a->s->route;
  if (a->per_try_armed && !a->done) timer_arm(a->w, &a->per_try_idle_timer, (uint64_t)r->per_try_idle_timeout_ms, per_try_idle_fire, a);
}

static void setup_per_try_timeout(attempt_t* a) {
  route_t* r = a->s->route;
  if (a->per_try_armed || a->done || !a->pool_ready || !a->s->router_end || !r || r->per_try_idle_timeout_ms <= 0) return;
  a->per_try_armed = true;
  per_try_idle_reset(a);
}

// UpstreamRequest::onPerTryIdleTimeout (upstream_request.cc:532-540) ->
// Router::Filter::onPerTryTimeoutCommon (router.cc:1325-1349): the upstream request is reset
// (resetStream, :479-502: the HTTP/1 connection is closed), then maybeRetryReset with
// LocalReset (router.cc:1452-1500), which never retries once the response started downstream
// and otherwise retries on retry_on reset, 5xx or gateway-error (retry_state_impl.cc:505-513);
// without a retry the client gets onUpstreamTimeoutAbort's 504 "upstream request timeout"
// (router.cc:1407-1422), or a reset if the response already started.
static void per_try_idle_fire(void* arg) {
  attempt_t* a = arg;
  if (a->done) return;
  stream_t* s = a->s;
  hlog("stream %llu: per-try idle timeout (%d ms) on attempt %d to %s", (unsigned long long)s->id,
       s->route->per_try_idle_timeout_ms, a->n, a->ep->addr);
  if (!s->resp_forwarded && (s->route->retry_on & (RETRY_5XX | RETRY_RESET)) && can_retry(s)) {
    schedule_retry(s, a, "per-try idle timeout");
    return;
  }
  bool started = s->resp_forwarded;
  attempt_abort(a);
  timer_cancel(s->w, &s->timeout_timer);
  if (!started)
    stream_send_local_reply(s, 504, "upstream request timeout", 24, NULL, "upstream_per_try_idle_timeout");
  else
    stream_reset(s, "upstream_per_try_idle_timeout");
}

static void connect_failed(void* arg) {
  attempt_t* a = arg;
  a->host_selected = true; // onPoolFailure -> onUpstreamHostSelected(host, false)
  attempt_failure(a, FAIL_CONNECT);
}

// conn_pool_->newStream(this) (UpstreamRequest::acceptHeadersFromRouter,
// source/common/router/upstream_request.cc:412, before the upstream filter chain runs at :441).
// An idle connection is attached synchronously, so onPoolReady -> onUpstreamHostSelected runs
// inside newStream (ConnPoolImplBase::newStreamImpl -> attachStreamToClient,
// source/common/conn_pool/conn_pool_base.cc); otherwise a connection is created and the host is
// selected only when it is connected (onPoolReady) or failed (onPoolFailure), later, from the
// event loop.
static void uc_attach(attempt_t* a) {
  worker_t* w = a->w;
  a->pool_requested = true;
  if (g_mem_upstream) {
    // In memory: as an idle pooled connection, attached synchronously inside newStream, so the
    // host is selected before the upstream filter chain runs (conn_pool_base.cc, see above).
    a->host_selected = true;
    a->pool_ready = true;
    setup_per_try_timeout(a);
    return;
  }
  upool_t* p = pool_for(w, a->ep);
  upconn_t* c = p->idle;
  if (c) {
    p->idle = c->next_idle;
    c->next_idle = NULL;
    c->state = UC_OPEN;
    c->a = a;
    a->uc = c;
    a->host_selected = true;
    a->pool_ready = true;
    setup_per_try_timeout(a);
    uc_flush(c);
    return;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    timer_arm(w, &a->fail_timer, 0, connect_failed, a);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a->ep->port)};
  inet_pton(AF_INET, a->ep->host, &sa.sin_addr);
  c = xcalloc(1, sizeof(upconn_t));
  c->w = w;
  c->ep = a->ep;
  c->io.fd = fd;
  c->io.cb = uc_cb;
  c->io.ctx = c;
  c->a = a;
  a->uc = c;
  buf_init(&c->out);
  int r = connect(fd, (struct sockaddr*)&sa, sizeof(sa));
  if (r == 0 || errno == EINPROGRESS) {
    // Even a connect that completed at once is reported by the connection's event (onPoolReady
    // comes from the event loop, never from inside newStream for a new connection).
    c->state = UC_CONNECTING;
    ioh_add(w, &c->io, EPOLLOUT | EPOLLIN | EPOLLRDHUP);
    c->epollout = true;
  } else {
    // Refused synchronously (loopback): report it from the event loop, not from inside the
    // filter chain that asked for the connection.
    a->uc = NULL;
    close(fd);
    free(c);
    timer_arm(w, &a->fail_timer, 0, connect_failed, a);
  }
}

// --------------------------------------------------------------------- upstream response

static void resp_deliver_headers(attempt_t* a, bool end) {
  fm_headers(&a->enc, end);
}

static void resp_deliver_data(attempt_t* a, buf_t* b, bool end) {
  if (b->length) a->s->upstream_frames++;
  fm_data(&a->enc, b, end);
}

// Parses what is in the connection's read buffer; body bytes of one read go to the filter as
// one data frame (Envoy's HTTP/1 codec dispatches once per read).
static void uc_parse(upconn_t* c, bool eof) {
  attempt_t* a = c->a;
  if (!a) return;
  buf_t body;
  buf_init(&body);
  bool body_end = false;
  while (!a->done) {
    if (a->rstate == R_STATUS || a->rstate == R_HEADERS) {
      char* he = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
      if (!he) break;
      size_t hl = (size_t)(he - c->rb) + 4;
      char* p = c->rb;
      char* eol = memmem(p, hl, "\r\n", 2);
      int code = 0;
      bool http10 = false;
      if (eol && eol - p > 12 && !strncmp(p, "HTTP/1.", 7)) {
        http10 = p[7] == '0';
        code = atoi(p + 9);
      }
      if (code < 100) {
        memmove(c->rb, c->rb + hl, c->rlen - hl);
        c->rlen -= hl;
        buf_free(&body);
        attempt_failure(a, FAIL_RESET);
        return;
      }
      hmap_t h;
      hmap_init(&h);
      char st[16];
      snprintf(st, sizeof(st), "%d", code);
      hmap_add(&h, ":status", 7, st, strlen(st));
      bool chunked = false, has_cl = false, close_hdr = http10;
      uint64_t cl = 0;
      p = eol + 2;
      char* end = c->rb + hl - 2;
      while (p < end) {
        eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) eol = end;
        char* colon = memchr(p, ':', (size_t)(eol - p));
        if (colon) {
          char* v = colon + 1;
          while (v < eol && (*v == ' ' || *v == '\t')) v++;
          char* ve = eol;
          while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
          size_t kl = (size_t)(colon - p), vl = (size_t)(ve - v);
          if (kl == 17 && !strncasecmp(p, "transfer-encoding", 17)) {
            if (vl >= 7 && !strncasecmp(ve - 7, "chunked", 7)) chunked = true;
          } else if (kl == 10 && !strncasecmp(p, "connection", 10)) {
            if (vl == 5 && !strncasecmp(v, "close", 5)) close_hdr = true;
          } else if (kl == 10 && !strncasecmp(p, "keep-alive", 10)) {
          } else {
            if (kl == 14 && !strncasecmp(p, "content-length", 14)) {
              has_cl = true;
              cl = strtoull(v, NULL, 10);
            }
            hmap_add(&h, p, kl, v, vl);
          }
        }
        p = eol + 2;
      }
      memmove(c->rb, c->rb + hl, c->rlen - hl);
      c->rlen -= hl;
      if (code >= 100 && code < 200) {
        hmap_free(&h);
        continue; // 1xx: wait for the final response
      }
      a->resp_started = true;
      a->resp_close = close_hdr;
      bool no_body = code == 204 || code == 304 || !strcmp(hmap_gets(&a->s->req_headers, ":method") ?: "", "HEAD");
      if (no_body || (has_cl && cl == 0)) {
        a->rstate = R_DONE;
      } else if (chunked) {
        a->rstate = R_CHUNK_SIZE;
      } else if (has_cl) {
        a->rstate = R_BODY_CL;
        a->rremaining = cl;
      } else {
        a->rstate = R_BODY_CLOSE;
        a->resp_close = true;
      }
      bool end_now = a->rstate == R_DONE;
      dlog("attempt %d to %s: response %d", a->n, a->ep->addr, code);
      hmap_free(&a->resp_headers);
      a->resp_headers = h;
      a->resp_headers_present = true;
      resp_deliver_headers(a, end_now);
      if (end_now) break;
      continue;
    }
    if (a->rstate == R_BODY_CL) {
      if (!c->rlen) break;
      size_t k = c->rlen < a->rremaining ? c->rlen : (size_t)a->rremaining;
      buf_read(&body, c->rb, k);
      memmove(c->rb, c->rb + k, c->rlen - k);
      c->rlen -= k;
      a->rremaining -= k;
      if (a->rremaining == 0) {
        a->rstate = R_DONE;
        body_end = true;
        break;
      }
      continue;
    }
    if (a->rstate == R_BODY_CLOSE) {
      if (c->rlen) {
        buf_read(&body, c->rb, c->rlen);
        c->rlen = 0;
      }
      if (eof) {
        a->rstate = R_DONE;
        body_end = true;
      }
      break;
    }
    if (a->rstate == R_CHUNK_SIZE) {
      char* eol = memmem(c->rb, c->rlen, "\r\n", 2);
      if (!eol) break;
      uint64_t sz = strtoull(c->rb, NULL, 16);
      size_t l = (size_t)(eol - c->rb) + 2;
      memmove(c->rb, c->rb + l, c->rlen - l);
      c->rlen -= l;
      if (sz == 0) {
        a->rstate = R_TRAILERS;
      } else {
        a->rstate = R_CHUNK_DATA;
        a->rremaining = sz;
      }
      continue;
    }
    if (a->rstate == R_CHUNK_DATA) {
      if (!c->rlen) break;
      size_t k = c->rlen < a->rremaining ? c->rlen : (size_t)a->rremaining;
      buf_read(&body, c->rb, k);
      memmove(c->rb, c->rb + k, c->rlen - k);
      c->rlen -= k;
      a->rremaining -= k;
      if (a->rremaining == 0) a->rstate = R_CHUNK_CRLF;
      continue;
    }
    if (a->rstate == R_CHUNK_CRLF) {
      if (c->rlen < 2) break;
      memmove(c->rb, c->rb + 2, c->rlen - 2);
      c->rlen -= 2;
      a->rstate = R_CHUNK_SIZE;
      continue;
    }
    if (a->rstate == R_TRAILERS) {
      // Response trailers are consumed and dropped (HTTP/1.1 downstream has none).
      char* eol = memmem(c->rb, c->rlen, "\r\n", 2);
      if (!eol) break;
      size_t l = (size_t)(eol - c->rb);
      memmove(c->rb, c->rb + l + 2, c->rlen - l - 2);
      c->rlen -= l + 2;
      if (l == 0) {
        a->rstate = R_DONE;
        body_end = true;
        break;
      }
      continue;
    }
    break;
  }
  if (!a->done && (body.length || body_end)) resp_deliver_data(a, &body, body_end);
  buf_free(&body);
}

static void uc_cb(ioh_t* h, uint32_t ev) {
  upconn_t* c = h->ctx;
  if (c->state == UC_CLOSED) return;
  if (c->state == UC_IDLE) {
    // An idle pooled connection became readable: the upstream closed it (or misbehaved).
    uc_close(c);
    return;
  }
  attempt_t* a = c->a;
  if (c->state == UC_CONNECTING) {
    if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      int err = 0;
      socklen_t l = sizeof(err);
      getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &l);
      if (err) {
        if (a) a->host_selected = true; // onPoolFailure -> onUpstreamHostSelected(host, false)
        if (a) attempt_failure(a, FAIL_CONNECT);
        else uc_close(c);
        return;
      }
      c->state = UC_OPEN;
      c->epollout = false;
      ioh_mod(c->w, &c->io, EPOLLIN | EPOLLRDHUP);
      if (a) {
        a->host_selected = true; // onPoolReady -> onUpstreamHostSelected
        a->pool_ready = true;
        setup_per_try_timeout(a);
      }
    } else {
      return;
    }
  }
  if (ev & EPOLLOUT) uc_flush(c);
  if (c->state == UC_CLOSED) return;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    for (;;) {
      if (c->rcap - c->rlen < 16384) {
        c->rcap = c->rcap ? c->rcap * 2 : 32768;
        c->rb = xrealloc(c->rb, c->rcap);
      }
      ssize_t n = read(c->io.fd, c->rb + c->rlen, c->rcap - c->rlen);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        a = c->a;
        if (a) attempt_failure(a, FAIL_RESET);
        else uc_close(c);
        return;
      }
      if (n == 0) {
        a = c->a;
        if (a && !a->done) {
          uc_parse(c, true);
          a = c->a;
          if (a && !a->done) {
            attempt_failure(a, FAIL_RESET);
            return;
          }
        }
        if (c->state != UC_CLOSED) uc_close(c);
        return;
      }
      c->rlen += (size_t)n;
      uc_parse(c, false);
      if (c->state != UC_OPEN || !c->a) return;
    }
  }
}

// ------------------------------------------------------------------ router decode side

static bool can_retry(stream_t* s) {
  route_t* r = s->route;
  if (!r || s->retries_used >= r->num_retries) return false;
  // Router::Filter keeps retrying while the request is still arriving (the retry replays what
  // was buffered so far and streams the rest); only a body over the buffer limit disables
  // retries (retry_state_.reset() in decodeData).
  if (s->body_copy.length > g_cfg.buffer_limit) return false;
  return true;
}

static void retry_fire(void* arg) {
  stream_t* s = arg;
  if (s->completed || s->local_reply_sent) return;
  start_attempt(s);
}

static void schedule_retry(stream_t* s, attempt_t* a, const char* why) {
  s->retries_used++;
  hlog("stream %llu: retrying after %s on attempt %d to %s (retry %d/%d)", (unsigned long long)s->id, why, a->n,
       a->ep->addr, s->retries_used, s->route->num_retries);
  attempt_abort(a);
  timer_arm(s->w, &s->retry_timer, (uint64_t)g_cfg.retry_backoff_ms, retry_fire, s);
}

static void timeout_fire(void* arg) {
  stream_t* s = arg;
  if (s->completed) return;
  if (s->cur) attempt_abort(s->cur);
  if (!s->resp_forwarded)
    stream_send_local_reply(s, 504, "upstream request timeout", 24, NULL, "upstream_response_timeout");
  else
    stream_reset(s, "upstream_response_timeout");
}

static void arm_timeout(stream_t* s) {
  if (s->route && s->route->timeout_ms > 0) timer_arm(s->w, &s->timeout_timer, (uint64_t)s->route->timeout_ms, timeout_fire, s);
}

static void dec_t_headers(void* ctx, bool end) { enc_request_headers(ctx, end); }
static void dec_t_data(void* ctx, buf_t* d, bool end) { enc_request_data(ctx, d, end); }
static void router_upstream_headers(attempt_t* a, bool end);
static void router_upstream_data(attempt_t* a, buf_t* d, bool end);
static void enc_t_headers(void* ctx, bool end) { router_upstream_headers(ctx, end); }
static void enc_t_data(void* ctx, buf_t* d, bool end) { router_upstream_data(ctx, d, end); }
static bool a_aborted(void* ctx) {
  attempt_t* a = ctx;
  return a->done || a->s->completed;
}

// The upstream encoder chain: a retry that unlinked the attempt does not stop an iteration
// already under way (see attempt_t.unlinked), so commonContinue goes on from held headers to
// the buffered body (filter_manager.cc:104-140) and router_upstream_data reports it.
static bool a_enc_aborted(void* ctx) {
  attempt_t* a = ctx;
  return (a->done && !a->unlinked) || a->s->completed;
}

// A chain without a filter (no dynamic module here; no golang filter in bench.c's Envoy-alone
// mode): the filter's place continues at once.
int no_filter_headers(void* ctx, bool end) {
  (void)ctx, (void)end;
  return FH_Continue;
}
int no_filter_data(void* ctx, buf_t* d, bool end) {
  (void)ctx, (void)d, (void)end;
  return FD_Continue;
}

static fm_ops_t a_dec_ops, a_enc_ops;

static void init_ops(void) {
  if (g_dynmod_loaded) {
    a_dec_ops = dynmod_dec_ops;
    a_enc_ops = dynmod_enc_ops;
  } else {
    a_dec_ops.f_headers = a_enc_ops.f_headers = no_filter_headers;
    a_dec_ops.f_data = a_enc_ops.f_data = no_filter_data;
  }
  a_dec_ops.t_headers = dec_t_headers;
  a_dec_ops.t_data = dec_t_data;
  a_dec_ops.aborted = a_aborted;
  a_enc_ops.t_headers = enc_t_headers;
  a_enc_ops.t_data = enc_t_data;
  a_enc_ops.aborted = a_enc_aborted;
}

static void start_attempt(stream_t* s) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, init_ops);
  endpoint_t* ep = choose_endpoint(s);
  if (!ep) {
    stream_send_local_reply(s, 503, "no healthy upstream", 19, NULL, "no_healthy_upstream");
    return;
  }
  attempt_t* a = xcalloc(1, sizeof(attempt_t));
  a->s = s;
  a->w = s->w;
  a->n = ++s->attempts;
  a->ep = ep;
  hmap_init(&a->resp_headers);
  buf_init(&a->pending);
  fm_init(&a->dec, &a_dec_ops, a);
  fm_init(&a->enc, &a_enc_ops, a);
  s->cur = a;
  s->attempted_prios |= 1u << ep->priority;
  s->attempted_hosts |= 1ull << (ep - s->cluster->ep);
  size_t ul = strlen(s->upstream_hosts);
  snprintf(s->upstream_hosts + ul, sizeof(s->upstream_hosts) - ul, "%s\"%s\"", ul ? "," : "", ep->addr);
  // The upstream filter instance is created with the upstream request; the host (and so its
  // metadata) is already chosen, so the request-headers hook can read it.
  if (g_dynmod_loaded) a->df = dynmod_filter_new(a, s->w);
  bool has_body = s->body_copy.length > 0;
  bool end = s->router_end && !has_body;
  // acceptHeadersFromRouter: newStream first (upstream_request.cc:412), then the upstream
  // filter chain (:441). The host is selected now only when a pooled connection was idle.
  uc_attach(a);
  fm_headers(&a->dec, end);
  if (a->done || !has_body) return;
  // Every attempt starts from the original request body: a per-attempt copy.
  buf_t copy;
  buf_init(&copy);
  buf_copy_from(&copy, &s->body_copy);
  fm_data(&a->dec, &copy, s->router_end);
  buf_free(&copy);
}

void router_decode_headers(stream_t* s, bool end) {
  // The routing headers as the router sees them (the upstream filter may later remove them
  // from the shared header map).
  const char* rb = hmap_gets(&s->req_headers, "x-ai-eg-backend");
  const char* rm = hmap_gets(&s->req_headers, "x-ai-eg-model");
  s->routed_backend = rb ? strdup(rb) : NULL;
  s->routed_model = rm ? strdup(rm) : NULL;
  if (!s->route_cached) {
    s->route = route_match(s);
    s->route_cached = true;
  }
  route_t* r = s->route;
  if (!r) {
    stream_send_local_reply(s, 404, "", 0, NULL, "route_not_found");
    return;
  }
  if (r->direct_status) {
    hmap_t h;
    hmap_init(&h);
    for (size_t i = 0; i < r->nresp_hdrs; i++)
      hmap_add(&h, r->resp_hdrs[i].name, strlen(r->resp_hdrs[i].name), r->resp_hdrs[i].value, strlen(r->resp_hdrs[i].value));
    stream_send_local_reply(s, r->direct_status, r->direct_body, r->direct_body_len, &h, "direct_response");
    hmap_free(&h);
    return;
  }
  s->cluster = find_cluster(r->cluster);
  if (!s->cluster) {
    stream_send_local_reply(s, 503, "", 0, NULL, "cluster_not_found");
    return;
  }
  s->router_started = true;
  s->router_end = end;
  dlog("stream %llu: route %s cluster %s", (unsigned long long)s->id, r->name, r->cluster);
  if (end) arm_timeout(s);
  start_attempt(s);
}

void router_decode_data(stream_t* s, buf_t* data, bool end) {
  if (!s->router_started || s->completed) return;
  // The router keeps the body for retries; the current attempt gets its own copy.
  buf_copy_from(&s->body_copy, data);
  if (end) {
    s->router_end = true;
    arm_timeout(s);
    // Router::Filter::onRequestComplete (router.cc:1203-1206).
    if (s->cur) setup_per_try_timeout(s->cur);
  }
  attempt_t* a = s->cur;
  if (a && !a->done) fm_data(&a->dec, data, end);
  if (data) buf_drain(data, data->length);
}

// --------------------------------------------------------------- router response side

static bool retry_on_status(stream_t* s, int code) {
  route_t* r = s->route;
  if (!r) return false;
  if (code >= 500 && (r->retry_on & RETRY_5XX)) return true;
  if (r->retry_on & RETRY_STATUS_CODES)
    for (int i = 0; i < r->nretriable_codes; i++)
      if (r->retriable_codes[i] == code) return true;
  return false;
}

static void attempt_finish(attempt_t* a) {
  stream_t* s = a->s;
  timer_cancel(s->w, &s->timeout_timer);
  attempt_release(a, reusable(a));
}

static void router_upstream_headers(attempt_t* a, bool end) {
  stream_t* s = a->s;
  per_try_idle_reset(a);
  const char* st = hmap_gets(&a->resp_headers, ":status");
  int code = st ? atoi(st) : 0;
  if (retry_on_status(s, code) && can_retry(s)) {
    // router.cc:1760-1774: reset the upstream request, remove it from the list, retry later.
    char why[64];
    snprintf(why, sizeof(why), "upstream %d", code);
    a->unlinked = true;
    schedule_retry(s, a, why);
    return;
  }
  a->forwarded = true;
  s->resp_forwarded = true;
  snprintf(s->details, sizeof(s->details), "via_upstream");
  hmap_clear(&s->resp_headers);
  hmap_copy(&s->resp_headers, &a->resp_headers);
  if (end) {
    // The upstream stream is complete before the downstream encodes: release it first so the
    // connection can be reused.
    a->rstate = a->synthetic ? R_DONE : a->rstate;
    attempt_finish(a);
  }
  stream_encode_headers(s, end);
}

static void router_upstream_data(attempt_t* a, buf_t* d, bool end) {
  stream_t* s = a->s;
  per_try_idle_reset(a);
  if (a->unlinked) {
    // Router::Filter::onUpstreamData (router.cc:1865-1879) for an upstream request the router
    // already removed for a retry: ASSERT(upstream_requests_.size() == 1) fails in a debug
    // build; a release build encodes the body downstream before any response headers.
    violation("stream %llu: %zu response body bytes reached Router::Filter::onUpstreamData after the router unlinked "
              "attempt %d for a retry on its headers (router.cc:1760-1774, 1865-1879): a filter released held headers "
              "together with their body",
              (unsigned long long)s->id, d ? d->length : (size_t)0, a->n);
    return;
  }
  if (!a->forwarded) return;
  if (end) attempt_finish(a);
  stream_encode_data(s, d, end);
}

// Reset/connect failure before the response was forwarded: retry or 503, like the router.
static void attempt_failure(attempt_t* a, int why) {
  if (a->done) return;
  stream_t* s = a->s;
  if (a->forwarded) {
    attempt_abort(a);
    stream_reset(s, "upstream_reset_after_response_started");
    return;
  }
  int ro = s->route ? s->route->retry_on : 0;
  bool retriable = (ro & (RETRY_5XX | RETRY_RESET)) || (why == FAIL_CONNECT && (ro & RETRY_CONNECT_FAILURE));
  if (retriable && can_retry(s)) {
    schedule_retry(s, a, why == FAIL_CONNECT ? "connect failure" : "reset");
    return;
  }
  attempt_abort(a);
  const char* body = why == FAIL_CONNECT
                         ? "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
                         : "upstream connect error or disconnect/reset before headers. reset reason: connection termination";
  const char* details = why == FAIL_CONNECT ? "upstream_reset_before_response_started{connection_failure}"
                                            : "upstream_reset_before_response_started{connection_termination}";
  stream_send_local_reply(s, 503, body, strlen(body), NULL, details);
}

// ------------------------------------------------------- entry points for the upstream filter

// send_response_headers from the upstream filter: decoder_callbacks_->encodeHeaders enters the
// upstream encoder chain and reaches UpstreamRequest::decodeHeaders and
// Router::Filter::onUpstreamHeaders (router.cc:1685) synchronously, inside the call, so the
// router's retry-or-forward decision (router.cc:1760-1774) is taken before it returns.
void attempt_response_headers(attempt_t* a, hmap_t* h, bool end) {
  if (a->unlinked) {
    violation("send_response_headers on attempt %d after the router unlinked it for a retry", a->n);
    return;
  }
  if (a->done) return;
  if (!a->host_selected) {
    // onUpstreamHeaders dereferences upstream_request.upstreamHost()->outlierDetector()
    // (router.cc:1726) through an unchecked OptRef (envoy/common/optref.h:52); the host is still
    // unset because the pool has no connection for this attempt yet (upstream_request.cc:372-378,
    // 412-441): Envoy crashes here ("Encoding by non-terminal upstream filter is not supported",
    // test/integration/filter_integration_test.cc:1419).
    stream_t* s = a->s;
    violation("stream %llu: the upstream filter encoded response headers on attempt %d to %s before the connection pool "
              "selected a host (no idle connection): null dereference of UpstreamRequest::upstreamHost() in "
              "Router::Filter::onUpstreamHeaders (router.cc:1726), Envoy crashes",
              (unsigned long long)s->id, a->n, a->ep->addr);
    attempt_abort(a);
    stream_reset(s, "modelled_envoy_crash");
    return;
  }
  if (!a->resp_started) {
    // The filter answers instead of the upstream: the real request is abandoned.
    a->synthetic = true;
    a->resp_started = true;
    a->rstate = end ? R_DONE : R_BODY_CLOSE;
    if (a->uc) {
      upconn_t* c = a->uc;
      a->uc = NULL;
      uc_close(c);
    }
  }
  hmap_free(&a->resp_headers);
  hmap_init(&a->resp_headers);
  hmap_copy(&a->resp_headers, h);
  a->resp_headers_present = true;
  resp_deliver_headers(a, end);
}

// send_response_data: encodeData through the upstream encoder chain to
// UpstreamRequest::decodeData -> Router::Filter::onUpstreamData (upstream_request.cc:321-327).
void attempt_response_data(attempt_t* a, buf_t* data, bool end) {
  if (a->unlinked) {
    router_upstream_data(a, data, end);
    return;
  }
  if (a->done) return;
  if (a->synthetic && end) a->rstate = R_DONE;
  resp_deliver_data(a, data, end);
}

void attempt_local_reply(attempt_t* a, int code, const char* body, size_t bl, const hmap_t* hdrs) {
  stream_t* s = a->s;
  attempt_abort(a);
  stream_send_local_reply(s, code, body, bl, hdrs, "dynamic_module");
}

void attempt_continue_decoding(attempt_t* a) {
  if (!a->done) fm_continue(&a->dec);
}

void attempt_continue_encoding(attempt_t* a) {
  if (!a->done) fm_continue(&a->enc);
}

// The upstream codec's response for the in-memory upstream (bench.c): what uc_parse hands the
// upstream encoder chain for a response with a content-length, headers first (end when there
// is no body), then the body one read at a time.
void attempt_codec_headers(attempt_t* a, hmap_t* h, bool end) {
  if (a->done) return;
  a->resp_started = true;
  a->rstate = end ? R_DONE : R_BODY_CL;
  hmap_free(&a->resp_headers);
  hmap_init(&a->resp_headers);
  hmap_copy(&a->resp_headers, h);
  a->resp_headers_present = true;
  resp_deliver_headers(a, end);
}

void attempt_codec_data(attempt_t* a, buf_t* data, bool end) {
  if (a->done) return;
  if (end) a->rstate = R_DONE;
  resp_deliver_data(a, data, end);
}
