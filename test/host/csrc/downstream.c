// downstream.c: the HTTP/1.1 listener side (what Envoy's HCM + HTTP/1 codec do for us):
// keep-alive connections, request parsing (Content-Length and chunked bodies), request header
// map with pseudo headers, response encoding (Content-Length or chunked), local replies
// (Utility::prepareLocalReply rules) and the stream's end: onStreamComplete, log, onDestroy.
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host.h"

enum { P_HEADERS, P_BODY_CL, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_CRLF, P_TRAILERS, P_DONE };

typedef struct dconn {
  worker_t* w;
  ioh_t io;
  char* rb;
  size_t rlen, rcap;
  buf_t out;
  bool epollout;
  bool closed;
  bool close_after_write;
  bool peer_closed;
  stream_t* s;
  int pstate;
  uint64_t remaining;
  bool keepalive;
  int refs;
} dconn_t;

static atomic_uint_fast64_t stream_ids;
static void conn_close(dconn_t* c);
static void conn_process(dconn_t* c);
static void conn_resume(void* arg);

static void conn_flush(dconn_t* c) {
  while (!c->closed && c->out.length) {
    slice_t* s = &c->out.s[0];
    ssize_t n = write(c->io.fd, s->mem + s->off, s->len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!c->epollout) {
          c->epollout = true;
          ioh_mod(c->w, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
        }
        return;
      }
      conn_close(c);
      return;
    }
    buf_drain(&c->out, (size_t)n);
  }
  if (c->closed) return;
  if (c->epollout) {
    c->epollout = false;
    ioh_mod(c->w, &c->io, EPOLLIN | EPOLLRDHUP);
  }
  if (c->close_after_write && (!c->s || c->s->completed)) conn_close(c);
}

static void conn_write(dconn_t* c, const void* p, size_t l) {
  if (c->closed) return;
  buf_add(&c->out, p, l);
}

// --------------------------------------------------------------------------- stream lifecycle

static void stream_free(void* arg) {
  stream_t* s = arg;
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
  free(s->override_host);
  free(s->routed_backend);
  free(s->routed_model);
  dconn_t* c = s->c;
  free(s);
  if (c && --c->refs == 0) {
    free(c->rb);
    buf_free(&c->out);
    free(c);
  }
}

static void access_log(stream_t* s) {
  if (!g_cfg.access_log) return;
  buf_t b;
  buf_init(&b);
  char tmp[256];
  buf_add(&b, "ACCESS {", 8);
  snprintf(tmp, sizeof(tmp), "\"id\":%llu,\"worker\":%d,\"status\":%d,\"attempts\":%d,",
           (unsigned long long)s->id, s->w->id, s->response_code, s->attempts);
  buf_add(&b, tmp, strlen(tmp));
  const char* m = hmap_gets(&s->req_headers, ":method");
  const char* p = hmap_gets(&s->req_headers, ":path");
  buf_add(&b, "\"method\":", 9);
  json_str(&b, m ? m : "", m ? strlen(m) : 0);
  buf_add(&b, ",\"path\":", 8);
  json_str(&b, p ? p : "", p ? strlen(p) : 0);
  const char* rid = hmap_gets(&s->req_headers, "x-request-id");
  buf_add(&b, ",\"request_id\":", 14);
  json_str(&b, rid ? rid : "", rid ? strlen(rid) : 0);
  buf_add(&b, ",\"route\":", 9);
  const char* rn = s->route ? s->route->name : "";
  json_str(&b, rn, strlen(rn));
  buf_add(&b, ",\"initial_route\":", 17);
  const char* irn = s->initial_route ? s->initial_route->name : "";
  json_str(&b, irn, strlen(irn));
  buf_add(&b, ",\"cluster\":", 11);
  const char* cn = s->cluster ? s->cluster->name : "";
  json_str(&b, cn, strlen(cn));
  buf_add(&b, ",\"upstream_hosts\":[", 19);
  buf_add(&b, s->upstream_hosts, strlen(s->upstream_hosts));
  buf_add(&b, "],\"details\":", 12);
  json_str(&b, s->details, strlen(s->details));
  snprintf(tmp, sizeof(tmp),
           ",\"route_cache_clears\":%d,\"upstream_frames\":%llu,\"bytes_received\":%llu,"
           "\"bytes_sent\":%llu,\"reset\":%s,\"duration_ms\":%llu,",
           s->route_clears, (unsigned long long)s->upstream_frames, (unsigned long long)s->bytes_received,
           (unsigned long long)s->resp_body_sent, s->reset ? "true" : "false",
           (unsigned long long)(now_ms() - s->start_ms));
  buf_add(&b, tmp, strlen(tmp));
  const char* routing[] = {"x-ai-eg-backend", "x-ai-eg-model"};
  const char* routed[] = {s->routed_backend, s->routed_model};
  for (int i = 0; i < 2; i++) {
    const char* v = routed[i];
    snprintf(tmp, sizeof(tmp), "\"%s\":", routing[i]);
    buf_add(&b, tmp, strlen(tmp));
    if (v)
      json_str(&b, v, strlen(v));
    else
      buf_add(&b, "null", 4);
    buf_add(&b, ",", 1);
  }
  buf_add(&b, "\"dynamic_metadata\":", 19);
  meta_to_json(&s->dyn, &b);
  buf_add(&b, "}", 1);
  char* line = buf_dup(&b);
  out_line("%s", line);
  free(line);
  buf_free(&b);
}

// The HCM's end of stream: ActiveStream::completeRequest -> onStreamComplete, access logs
// (the golang filter's log() first, then the HCM access logger), then onDestroy of filters.
static void stream_complete(stream_t* s) {
  if (s->completed) return;
  s->completed = true;
  if (s->response_code == 0 && s->reset) s->response_code = 0;
  golang_stream_complete(s);
  access_log(s);
  golang_stream_destroy(s);
  router_stream_destroy(s);
  s->w->requests++;
  dconn_t* c = s->c;
  if (c && c->s == s) {
    c->s = NULL;
    if (!c->closed) {
      // A response that finished before its request means the connection cannot be reused.
      if (c->pstate != P_DONE || !c->keepalive)
        c->close_after_write = true;
      else
        c->pstate = P_HEADERS;
      conn_flush(c);
      if (!c->closed && !c->close_after_write) {
        // Parse a pipelined next request only after this stream unwound from the stack.
        c->refs++;
        worker_defer(s->w, conn_resume, c);
      }
    }
  }
  worker_defer(s->w, stream_free, s);
}

void stream_reset(stream_t* s, const char* why) {
  if (s->completed || s->reset) return;
  s->reset = true;
  if (!s->details[0]) snprintf(s->details, sizeof(s->details), "%s", why);
  if (s->c && !s->c->closed) {
    s->c->close_after_write = true;
  }
  stream_complete(s);
  if (s->c && !s->c->closed && s->c->out.length == 0) conn_close(s->c);
}

// ------------------------------------------------------------------------ response encoding

static const char* reason_phrase(int code) {
  switch (code) {
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 413: return "Payload Too Large";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Unknown";
  }
}

static void response_done(stream_t* s) {
  s->resp_done = true;
  // observed_encode_end_stream_: the decoder chain stops.
  s->dec_aborted = true;
  if (s->c) conn_flush(s->c);
  stream_complete(s);
}

static void codec_headers(stream_t* s, bool end) {
  if (s->resp_started || s->reset) return;
  s->resp_started = true;
  dconn_t* c = s->c;
  const char* st = hmap_gets(&s->resp_headers, ":status");
  int code = st ? atoi(st) : 0;
  if (code < 100 || code > 999) {
    violation("response headers without a valid :status (%s)", st ? st : "missing");
    code = 502;
  }
  s->response_code = code;
  buf_t h;
  buf_init(&h);
  char line[256];
  snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", code, reason_phrase(code));
  buf_add(&h, line, strlen(line));
  s->resp_cl = -1;
  for (size_t i = 0; i < s->resp_headers.n; i++) {
    hdr_t* e = &s->resp_headers.e[i];
    if (e->kl && e->k[0] == ':') continue;
    if (!strcmp(e->k, "transfer-encoding") || !strcmp(e->k, "connection")) continue;
    if (!strcmp(e->k, "content-length")) s->resp_cl = strtoll(e->v, NULL, 10);
    buf_add(&h, e->k, e->kl);
    buf_add(&h, ": ", 2);
    buf_add(&h, e->v, e->vl);
    buf_add(&h, "\r\n", 2);
  }
  s->resp_chunked = false;
  if (s->resp_cl < 0) {
    if (end) {
      buf_add(&h, "content-length: 0\r\n", 19);
      s->resp_cl = 0;
    } else {
      buf_add(&h, "transfer-encoding: chunked\r\n", 28);
      s->resp_chunked = true;
    }
  }
  if (c && !c->keepalive) buf_add(&h, "connection: close\r\n", 19);
  buf_add(&h, "\r\n", 2);
  if (c) {
    buf_move(&c->out, &h);
    conn_flush(c);
  }
  buf_free(&h);
  if (end) response_done(s);
}

static void codec_data(stream_t* s, buf_t* data, bool end) {
  if (!s->resp_started || s->resp_done || s->reset) return;
  dconn_t* c = s->c;
  size_t l = data ? data->length : 0;
  s->resp_body_sent += l;
  if (c) {
    if (s->resp_chunked) {
      if (l) {
        char sz[32];
        snprintf(sz, sizeof(sz), "%zx\r\n", l);
        conn_write(c, sz, strlen(sz));
        buf_move(&c->out, data);
        conn_write(c, "\r\n", 2);
      }
      if (end) conn_write(c, "0\r\n\r\n", 5);
    } else if (l) {
      buf_move(&c->out, data);
    }
  }
  if (data) buf_drain(data, data->length);
  if (end && s->resp_cl >= 0 && (uint64_t)s->resp_cl != s->resp_body_sent) {
    // Envoy's HTTP/1 codec would send the bytes as they are; the client then sees a truncated
    // or over-long response. Flag it loudly and close so it cannot corrupt the next response.
    violation("downstream response content-length %lld but %llu body bytes were encoded (path %s)",
              (long long)s->resp_cl, (unsigned long long)s->resp_body_sent,
              hmap_gets(&s->req_headers, ":path"));
    if (c) c->close_after_write = true;
  }
  if (c) conn_flush(c);
  if (end) response_done(s);
}

static void enc_t_headers(void* ctx, bool end) { codec_headers(ctx, end); }
static void enc_t_data(void* ctx, buf_t* data, bool end) { codec_data(ctx, data, end); }

void stream_encode_headers(stream_t* s, bool end) {
  if (s->completed) return;
  s->resp_headers_present = true;
  fm_headers(&s->enc, end);
}

void stream_encode_data(stream_t* s, buf_t* data, bool end) {
  if (s->completed) return;
  fm_data(&s->enc, data, end);
}

static void build_local_headers(stream_t* s, int code, size_t body_len, const hmap_t* extra) {
  hmap_clear(&s->resp_headers);
  char st[16];
  snprintf(st, sizeof(st), "%d", code);
  hmap_add(&s->resp_headers, ":status", 7, st, strlen(st));
  if (extra) {
    for (size_t i = 0; i < extra->n; i++)
      hmap_add(&s->resp_headers, extra->e[i].k, extra->e[i].kl, extra->e[i].v, extra->e[i].vl);
  }
  if (body_len) {
    char cl[32];
    snprintf(cl, sizeof(cl), "%zu", body_len);
    hmap_set(&s->resp_headers, "content-length", 14, cl, strlen(cl));
    if (!hmap_get(&s->resp_headers, "content-type", 12, 0))
      hmap_add(&s->resp_headers, "content-type", 12, "text/plain", 10);
  } else {
    hmap_remove(&s->resp_headers, "content-length", 14);
    hmap_remove(&s->resp_headers, "content-type", 12);
  }
}

// DownstreamFilterManager::sendLocalReply: through the encoder filters if the response has not
// started, directly to the codec if only filters have seen response headers, else reset.
void stream_send_local_reply(stream_t* s, int code, const char* body, size_t body_len,
                             const hmap_t* extra, const char* details) {
  if (s->completed || s->reset) return;
  if (details && details[0]) snprintf(s->details, sizeof(s->details), "%s", details);
  s->local_reply_sent = true;
  s->dec_aborted = true;
  router_stream_destroy(s); // the router resets any upstream attempt
  if (!s->enc.headers_seen) {
    build_local_headers(s, code, body_len, extra);
    s->resp_headers_present = true;
    bool end = body_len == 0;
    fm_headers(&s->enc, end);
    if (!end && !s->completed) {
      buf_t b;
      buf_init(&b);
      buf_add(&b, body, body_len);
      fm_data(&s->enc, &b, true);
      buf_free(&b);
    }
  } else if (!s->resp_started) {
    s->enc_aborted = true;
    build_local_headers(s, code, body_len, extra);
    codec_headers(s, body_len == 0);
    if (body_len && !s->completed) {
      buf_t b;
      buf_init(&b);
      buf_add(&b, body, body_len);
      codec_data(s, &b, true);
      buf_free(&b);
    }
  } else {
    stream_reset(s, "local_reply_after_response_started");
  }
}

static bool enc_aborted(void* ctx) {
  stream_t* s = ctx;
  return s->completed || s->reset || s->enc_aborted;
}

static bool dec_aborted(void* ctx) {
  stream_t* s = ctx;
  return s->completed || s->reset || s->dec_aborted;
}

static void dec_t_headers(void* ctx, bool end) { router_decode_headers(ctx, end); }
static void dec_t_data(void* ctx, buf_t* d, bool end) { router_decode_data(ctx, d, end); }

static fm_ops_t dec_ops, enc_ops;

static void init_ops(void) {
  dec_ops = golang_dec_ops;
  dec_ops.t_headers = dec_t_headers;
  dec_ops.t_data = dec_t_data;
  dec_ops.aborted = dec_aborted;
  enc_ops = golang_enc_ops;
  enc_ops.t_headers = enc_t_headers;
  enc_ops.t_data = enc_t_data;
  enc_ops.aborted = enc_aborted;
}

// ----------------------------------------------------------------------- request parsing

static void gen_request_id(char* out) {
  static atomic_uint_fast64_t ctr;
  uint64_t a = (uint64_t)rand() << 32 ^ (uint64_t)rand() ^ now_ms();
  uint64_t b = atomic_fetch_add(&ctr, 1) ^ ((uint64_t)rand() << 20);
  snprintf(out, 40, "%08llx-%04llx-4%03llx-8%03llx-%012llx", (unsigned long long)(a >> 32),
           (unsigned long long)((a >> 16) & 0xffff), (unsigned long long)(a & 0xfff),
           (unsigned long long)(b >> 52), (unsigned long long)(b & 0xffffffffffffULL));
}

static void bad_request(dconn_t* c, int code) {
  char resp[128];
  snprintf(resp, sizeof(resp), "HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", code,
           reason_phrase(code));
  conn_write(c, resp, strlen(resp));
  c->close_after_write = true;
  c->pstate = P_DONE;
  conn_flush(c);
}

static bool parse_headers(dconn_t* c, size_t hend) {
  char* p = c->rb;
  char* end = c->rb + hend;
  char* eol = memmem(p, (size_t)(end - p), "\r\n", 2);
  if (!eol) return false;
  char* sp1 = memchr(p, ' ', (size_t)(eol - p));
  if (!sp1) return false;
  char* sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
  if (!sp2) return false;
  bool http10 = (size_t)(eol - sp2 - 1) == 8 && !memcmp(sp2 + 1, "HTTP/1.0", 8);

  stream_t* s = xcalloc(1, sizeof(stream_t));
  s->w = c->w;
  s->c = c;
  c->refs++;
  s->id = atomic_fetch_add(&stream_ids, 1) + 1;
  s->start_ms = now_ms();
  hmap_init(&s->req_headers);
  hmap_init(&s->resp_headers);
  meta_init(&s->dyn);
  buf_init(&s->body_copy);
  fm_init(&s->dec, &dec_ops, s);
  fm_init(&s->enc, &enc_ops, s);
  hmap_add(&s->req_headers, ":method", 7, p, (size_t)(sp1 - p));
  hmap_add(&s->req_headers, ":path", 5, sp1 + 1, (size_t)(sp2 - sp1 - 1));
  hmap_add(&s->req_headers, ":scheme", 7, "http", 4);

  bool chunked = false, has_cl = false, conn_close_hdr = false, conn_keepalive = false;
  uint64_t cl = 0;
  p = eol + 2;
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
      if (kl == 4 && !strncasecmp(p, "host", 4)) {
        hmap_add(&s->req_headers, ":authority", 10, v, vl);
      } else if (kl == 17 && !strncasecmp(p, "transfer-encoding", 17)) {
        if (vl >= 7 && !strncasecmp(ve - 7, "chunked", 7)) chunked = true;
      } else if (kl == 10 && !strncasecmp(p, "connection", 10)) {
        // Hop-by-hop: the HCM strips it (mutateRequestHeaders).
        if (vl == 5 && !strncasecmp(v, "close", 5)) conn_close_hdr = true;
        if (vl == 10 && !strncasecmp(v, "keep-alive", 10)) conn_keepalive = true;
      } else if ((kl == 10 && !strncasecmp(p, "keep-alive", 10)) ||
                 (kl == 16 && !strncasecmp(p, "proxy-connection", 16))) {
        // dropped like Envoy does
      } else {
        if (kl == 14 && !strncasecmp(p, "content-length", 14)) {
          has_cl = true;
          cl = strtoull(v, NULL, 10);
        }
        hmap_add(&s->req_headers, p, kl, v, vl);
      }
    }
    p = eol + 2;
  }
  hmap_set(&s->req_headers, "x-forwarded-proto", 17, "http", 4);
  if (!hmap_get(&s->req_headers, "x-request-id", 12, 0)) {
    char id[48];
    gen_request_id(id);
    hmap_add(&s->req_headers, "x-request-id", 12, id, strlen(id));
  }
  c->keepalive = http10 ? conn_keepalive : !conn_close_hdr;
  if (chunked) {
    c->pstate = P_CHUNK_SIZE;
    hmap_remove(&s->req_headers, "content-length", 14);
  } else if (has_cl && cl > 0) {
    c->pstate = P_BODY_CL;
    c->remaining = cl;
  } else {
    c->pstate = P_DONE;
  }
  c->s = s;
  s->req_complete = false;
  // HCM: refreshCachedRoute() runs when request headers arrive, before the filter chain.
  s->route = route_match(s);
  s->initial_route = s->route;
  s->route_cached = true;
  golang_stream_new(s);
  return true;
}

static void deliver_body(dconn_t* c, const char* p, size_t l, bool end) {
  stream_t* s = c->s;
  if (!s) return;
  s->bytes_received += l;
  buf_t b;
  buf_init(&b);
  if (l) buf_read(&b, p, l);
  fm_data(&s->dec, &b, end);
  buf_free(&b);
}

static void consume(dconn_t* c, size_t n) {
  memmove(c->rb, c->rb + n, c->rlen - n);
  c->rlen -= n;
}

static void conn_process(dconn_t* c) {
  c->refs++;
  while (!c->closed) {
    if (c->pstate == P_HEADERS) {
      if (c->s) break; // HTTP/1.1: the next request waits for the current one
      if (c->rlen == 0) break;
      char* he = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
      if (!he) {
        if (c->rlen > 65536) bad_request(c, 431);
        break;
      }
      size_t hend = (size_t)(he - c->rb) + 2;
      if (!parse_headers(c, hend)) {
        bad_request(c, 400);
        break;
      }
      consume(c, hend + 2);
      stream_t* s = c->s;
      bool end = c->pstate == P_DONE;
      if (end) s->req_complete = true;
      fm_headers(&s->dec, end);
      continue;
    }
    if (c->pstate == P_BODY_CL) {
      if (c->rlen == 0) break;
      size_t k = c->rlen < c->remaining ? c->rlen : (size_t)c->remaining;
      c->remaining -= k;
      bool end = c->remaining == 0;
      if (end) {
        c->pstate = P_DONE;
        if (c->s) c->s->req_complete = true;
      }
      char* tmp = xmalloc(k);
      memcpy(tmp, c->rb, k);
      consume(c, k);
      deliver_body(c, tmp, k, end);
      free(tmp);
      continue;
    }
    if (c->pstate == P_CHUNK_SIZE) {
      char* eol = memmem(c->rb, c->rlen, "\r\n", 2);
      if (!eol) break;
      uint64_t sz = strtoull(c->rb, NULL, 16);
      consume(c, (size_t)(eol - c->rb) + 2);
      if (sz == 0) {
        c->pstate = P_TRAILERS;
      } else {
        c->pstate = P_CHUNK_DATA;
        c->remaining = sz;
      }
      continue;
    }
    if (c->pstate == P_CHUNK_DATA) {
      if (c->rlen == 0) break;
      size_t k = c->rlen < c->remaining ? c->rlen : (size_t)c->remaining;
      c->remaining -= k;
      if (c->remaining == 0) c->pstate = P_CHUNK_CRLF;
      char* tmp = xmalloc(k);
      memcpy(tmp, c->rb, k);
      consume(c, k);
      deliver_body(c, tmp, k, false);
      free(tmp);
      continue;
    }
    if (c->pstate == P_CHUNK_CRLF) {
      if (c->rlen < 2) break;
      consume(c, 2);
      c->pstate = P_CHUNK_SIZE;
      continue;
    }
    if (c->pstate == P_TRAILERS) {
      // Request trailers are not supported by the host; they are skipped.
      char* eol = memmem(c->rb, c->rlen, "\r\n", 2);
      if (!eol) break;
      size_t l = (size_t)(eol - c->rb);
      consume(c, l + 2);
      if (l == 0) {
        c->pstate = P_DONE;
        if (c->s) c->s->req_complete = true;
        deliver_body(c, NULL, 0, true);
      }
      continue;
    }
    break; // P_DONE: wait for the response
  }
  if (--c->refs == 0) {
    free(c->rb);
    buf_free(&c->out);
    free(c);
  }
}

static void conn_resume(void* arg) {
  dconn_t* c = arg;
  if (!c->closed) conn_process(c);
  if (--c->refs == 0) {
    free(c->rb);
    buf_free(&c->out);
    free(c);
  }
}

static void conn_close(dconn_t* c) {
  if (c->closed) return;
  c->closed = true;
  ioh_del(c->w, &c->io);
  close(c->io.fd);
  c->io.fd = -1;
  stream_t* s = c->s;
  if (s && !s->completed) {
    if (!s->details[0]) snprintf(s->details, sizeof(s->details), "downstream_remote_disconnect");
    stream_reset(s, "downstream_remote_disconnect");
  }
  if (--c->refs == 0) {
    free(c->rb);
    buf_free(&c->out);
    free(c);
  }
}

static void conn_cb(ioh_t* h, uint32_t ev) {
  dconn_t* c = h->ctx;
  if (c->closed) return;
  c->refs++;
  if (ev & EPOLLOUT) conn_flush(c);
  if (!c->closed && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
    for (;;) {
      if (c->rcap - c->rlen < 16384) {
        c->rcap = c->rcap ? c->rcap * 2 : 32768;
        c->rb = xrealloc(c->rb, c->rcap);
      }
      ssize_t n = read(c->io.fd, c->rb + c->rlen, c->rcap - c->rlen);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        conn_close(c);
        break;
      }
      if (n == 0) {
        c->peer_closed = true;
        conn_process(c);
        if (!c->closed) conn_close(c);
        break;
      }
      c->rlen += (size_t)n;
      conn_process(c);
      if (c->closed) break;
    }
  }
  if (--c->refs == 0) {
    free(c->rb);
    buf_free(&c->out);
    free(c);
  }
}

void downstream_accept(worker_t* w) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, init_ops);
  int fd = accept4(w->listen_ioh.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  dconn_t* c = xcalloc(1, sizeof(dconn_t));
  c->w = w;
  c->io.fd = fd;
  c->io.cb = conn_cb;
  c->io.ctx = c;
  c->refs = 1;
  c->keepalive = true;
  buf_init(&c->out);
  if (ioh_add(w, &c->io, EPOLLIN | EPOLLRDHUP) != 0) {
    close(fd);
    free(c);
  }
}
