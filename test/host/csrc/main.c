// main.c: configuration, loading of libaigw.so through both ABIs (same file, same handle, one
// Go runtime), worker threads, the listener, a tiny admin endpoint, and clean shutdown.
//
// Usage: aigw-host <config file>. The config is line based (see test/README.md); every token
// is percent-decoded so values may carry spaces.
//
// Router-phase benchmark mode (bench.c): no listener, requests driven in memory through the
// golang filter ABI, commands on stdin:
//   aigw-host --bench-router --body F --expect-body F --req-headers F --resp-headers F
//             --resp-body F --expect-header name=value [--absent-header name] <config file>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "host.h"

config_t g_cfg;
static int g_listen_fd = -1;
static worker_t* g_workers;
static int g_sigpipe[2];
void* golang_handle(void);
void* dynmod_handle(void);
const char* dynmod_probe_abi(void);

static void die(const char* fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "aigw-host: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

// ---------------------------------------------------------------------------- config parsing

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static char* pct_decode(const char* s, size_t* outl) {
  size_t n = strlen(s);
  char* o = xmalloc(n + 1);
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n + 0 + 1 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      o[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else {
      o[j++] = s[i];
    }
  }
  o[j] = 0;
  if (outl) *outl = j;
  return o;
}

static char* hex_decode(const char* s, size_t* outl) {
  size_t n = strlen(s);
  if (n % 2) die("odd hex string");
  char* o = xmalloc(n / 2 + 1);
  for (size_t i = 0; i < n / 2; i++) {
    int a = hexval(s[2 * i]), b = hexval(s[2 * i + 1]);
    if (a < 0 || b < 0) die("bad hex string");
    o[i] = (char)(a * 16 + b);
  }
  o[n / 2] = 0;
  *outl = n / 2;
  return o;
}

static int level_of(const char* s) {
  static const char* names[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  for (int i = 0; i < 7; i++)
    if (!strcmp(s, names[i])) return i;
  return atoi(s);
}

static void add_meta(endpoint_t* e, const char* ns, const char* k, const char* v) {
  e->meta = xrealloc(e->meta, (e->nmeta + 1) * sizeof(epmeta_t));
  e->meta[e->nmeta].ns = strdup(ns);
  e->meta[e->nmeta].key = strdup(k);
  e->meta[e->nmeta].value = strdup(v);
  e->nmeta++;
  buf_t b;
  buf_init(&b);
  pb_value_string(&b, v, strlen(v));
  char* ser = buf_dup(&b);
  meta_set_value(&e->pbmeta, ns, strlen(ns), k, strlen(k), ser, b.length);
  free(ser);
  buf_free(&b);
}

static void parse_config(const char* path) {
  FILE* f = fopen(path, "r");
  if (!f) die("open %s: %s", path, strerror(errno));
  g_cfg.workers = 2;
  g_cfg.golang_plugin = "aigw";
  g_cfg.dynmod_name = "aigw";
  g_cfg.dynmod_filter_name = "aigw-upstream";
  g_cfg.dynmod_first = true;
  g_cfg.dynmod_enabled = true;
  g_cfg.buffer_limit = 1048576;
  g_cfg.retry_backoff_ms = 25;
  g_cfg.access_log = true;
  char* line = NULL;
  size_t cap = 0;
  ssize_t len;
  int lineno = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    char* tok[256];
    int nt = 0;
    for (char* p = strtok(line, " \t\r\n"); p && nt < 256; p = strtok(NULL, " \t\r\n")) tok[nt++] = p;
    if (nt == 0 || tok[0][0] == '#') continue;
    char* t[256];
    for (int i = 0; i < nt; i++) t[i] = (i == 0) ? tok[i] : pct_decode(tok[i], NULL);
#define NEED(n) \
  if (nt < (n)) die("%s:%d: %s needs %d arguments", path, lineno, t[0], (n)-1)
    if (!strcmp(t[0], "workers")) {
      NEED(2);
      g_cfg.workers = atoi(t[1]);
    } else if (!strcmp(t[0], "log_level")) {
      NEED(2);
      g_log_level = level_of(t[1]);
    } else if (!strcmp(t[0], "buffer_limit")) {
      NEED(2);
      g_cfg.buffer_limit = strtoull(t[1], NULL, 10);
    } else if (!strcmp(t[0], "retry_backoff_ms")) {
      NEED(2);
      g_cfg.retry_backoff_ms = atoi(t[1]);
    } else if (!strcmp(t[0], "golang_lib")) {
      NEED(2);
      g_cfg.golang_lib = t[1];
    } else if (!strcmp(t[0], "golang_plugin")) {
      NEED(2);
      g_cfg.golang_plugin = t[1];
    } else if (!strcmp(t[0], "golang_config_hex")) {
      NEED(2);
      g_cfg.golang_config = hex_decode(t[1], &g_cfg.golang_config_len);
    } else if (!strcmp(t[0], "dynmod_search_path")) {
      NEED(2);
      g_cfg.dynmod_search_path = t[1];
    } else if (!strcmp(t[0], "dynmod_name")) {
      NEED(2);
      g_cfg.dynmod_name = t[1];
    } else if (!strcmp(t[0], "dynmod_filter_name")) {
      NEED(2);
      g_cfg.dynmod_filter_name = t[1];
    } else if (!strcmp(t[0], "dynmod_config_hex")) {
      NEED(2);
      g_cfg.dynmod_config = hex_decode(t[1], &g_cfg.dynmod_config_len);
    } else if (!strcmp(t[0], "access_log")) {
      NEED(2);
      g_cfg.access_log = strcmp(t[1], "off") != 0;
    } else if (!strcmp(t[0], "dynmod_disabled")) {
      g_cfg.dynmod_enabled = false;
    } else if (!strcmp(t[0], "load_order")) {
      NEED(2);
      g_cfg.dynmod_first = !strcmp(t[1], "dynmod_first");
    } else if (!strcmp(t[0], "cluster")) {
      NEED(2);
      g_cfg.clusters = xrealloc(g_cfg.clusters, (g_cfg.nclusters + 1) * sizeof(cluster_t));
      cluster_t* c = &g_cfg.clusters[g_cfg.nclusters++];
      memset(c, 0, sizeof(*c));
      c->name = t[1];
    } else if (!strcmp(t[0], "endpoint")) {
      NEED(4);
      cluster_t* c = find_cluster(t[1]);
      if (!c) die("%s:%d: unknown cluster %s", path, lineno, t[1]);
      c->ep = xrealloc(c->ep, (c->nep + 1) * sizeof(endpoint_t));
      endpoint_t* e = &c->ep[c->nep++];
      memset(e, 0, sizeof(*e));
      e->priority = atoi(t[2]);
      if (e->priority < 0 || e->priority > 7) die("%s:%d: priority must be 0..7", path, lineno);
      if (c->nep > 64) die("%s:%d: at most 64 endpoints per cluster", path, lineno);
      char* colon = strrchr(t[3], ':');
      if (!colon) die("%s:%d: endpoint needs host:port", path, lineno);
      e->host = xstrndup(t[3], (size_t)(colon - t[3]));
      e->port = atoi(colon + 1);
      snprintf(e->addr, sizeof(e->addr), "%s:%d", e->host, e->port);
      meta_init(&e->pbmeta);
      for (int i = 4; i < nt; i++) {
        if (!strcmp(t[i], "meta") && i + 3 < nt) {
          add_meta(e, t[i + 1], t[i + 2], t[i + 3]);
          i += 3;
        } else {
          die("%s:%d: bad endpoint option %s", path, lineno, t[i]);
        }
      }
    } else if (!strcmp(t[0], "route")) {
      NEED(2);
      g_cfg.routes = xrealloc(g_cfg.routes, (g_cfg.nroutes + 1) * sizeof(route_t));
      route_t* r = &g_cfg.routes[g_cfg.nroutes++];
      memset(r, 0, sizeof(*r));
      r->name = t[1];
      r->timeout_ms = 15000;
      for (int i = 2; i < nt; i++) {
        if (!strcmp(t[i], "header") && i + 2 < nt) {
          r->hm = xrealloc(r->hm, (r->nhm + 1) * sizeof(hmatch_t));
          r->hm[r->nhm].name = t[i + 1];
          r->hm[r->nhm].value = t[i + 2];
          r->nhm++;
          i += 2;
        } else if (!strcmp(t[i], "prefix") && i + 1 < nt) {
          r->prefix = t[++i];
        } else if (!strcmp(t[i], "cluster") && i + 1 < nt) {
          r->cluster = t[++i];
        } else if (!strcmp(t[i], "direct") && i + 2 < nt) {
          r->direct_status = atoi(t[i + 1]);
          r->direct_body = hex_decode(t[i + 2], &r->direct_body_len);
          i += 2;
        } else if (!strcmp(t[i], "resp_header") && i + 2 < nt) {
          r->resp_hdrs = xrealloc(r->resp_hdrs, (r->nresp_hdrs + 1) * sizeof(hmatch_t));
          r->resp_hdrs[r->nresp_hdrs].name = t[i + 1];
          r->resp_hdrs[r->nresp_hdrs].value = t[i + 2];
          r->nresp_hdrs++;
          i += 2;
        } else if (!strcmp(t[i], "retries") && i + 1 < nt) {
          r->num_retries = atoi(t[++i]);
        } else if (!strcmp(t[i], "retry_on") && i + 1 < nt) {
          char* list = t[++i];
          for (char* p = strtok(list, ","); p; p = strtok(NULL, ",")) {
            if (!strcmp(p, "5xx")) r->retry_on |= RETRY_5XX;
            else if (!strcmp(p, "reset")) r->retry_on |= RETRY_RESET;
            else if (!strcmp(p, "connect-failure")) r->retry_on |= RETRY_CONNECT_FAILURE;
            else if (!strcmp(p, "retriable-status-codes")) r->retry_on |= RETRY_STATUS_CODES;
            else die("%s:%d: unknown retry_on %s", path, lineno, p);
          }
        } else if (!strcmp(t[i], "retriable_status_codes") && i + 1 < nt) {
          char* list = t[++i];
          for (char* p = strtok(list, ","); p && r->nretriable_codes < 16; p = strtok(NULL, ","))
            r->retriable_codes[r->nretriable_codes++] = atoi(p);
        } else if (!strcmp(t[i], "previous_hosts") && i + 1 < nt) {
          r->previous_hosts = true;
          r->host_selection_max = atoi(t[++i]);
        } else if (!strcmp(t[i], "previous_priorities")) {
          r->previous_priorities = true;
        } else if (!strcmp(t[i], "timeout_ms") && i + 1 < nt) {
          r->timeout_ms = atoi(t[++i]);
        } else if (!strcmp(t[i], "per_try_idle_timeout_ms") && i + 1 < nt) {
          r->per_try_idle_timeout_ms = atoi(t[++i]);
        } else {
          die("%s:%d: bad route option %s", path, lineno, t[i]);
        }
      }
      if (!r->cluster && !r->direct_status) die("%s:%d: route needs cluster or direct", path, lineno);
    } else {
      die("%s:%d: unknown directive %s", path, lineno, t[0]);
    }
  }
  free(line);
  fclose(f);
  if (!g_cfg.golang_lib) die("golang_lib is required");
  if (!g_cfg.golang_config) die("golang_config_hex is required");
  if (g_cfg.dynmod_enabled && !g_cfg.dynmod_search_path) die("dynmod_search_path is required");
  if (g_cfg.workers < 1 || g_cfg.workers > 64) die("workers must be 1..64");
  for (size_t i = 0; i < g_cfg.nroutes; i++)
    if (g_cfg.routes[i].cluster && !find_cluster(g_cfg.routes[i].cluster))
      die("route %s: unknown cluster %s", g_cfg.routes[i].name, g_cfg.routes[i].cluster);
}

// ---------------------------------------------------------------------------------- workers

static void listen_cb(ioh_t* h, uint32_t ev) {
  (void)ev;
  downstream_accept(h->ctx);
}

static void ev_cb(ioh_t* h, uint32_t ev) {
  (void)h;
  (void)ev;
}

static void* worker_main(void* arg) {
  worker_t* w = arg;
  char name[16];
  snprintf(name, sizeof(name), "wrk:%d", w->id);
  pthread_setname_np(pthread_self(), name);
  worker_loop(w);
  return NULL;
}

static void nop(void* arg) { (void)arg; }

static void on_signal(int sig) {
  char c = (char)sig;
  ssize_t r = write(g_sigpipe[1], &c, 1);
  (void)r;
}

static void dump_stats(void) {
  uint64_t total = 0;
  for (int i = 0; i < g_cfg.workers; i++) {
    out_line("STATS host.worker.%d.requests %llu", i, (unsigned long long)g_workers[i].requests);
    total += g_workers[i].requests;
  }
  out_line("STATS host.requests %llu", (unsigned long long)total);
  golang_dump_stats();
  if (g_dynmod_loaded) dynmod_dump_stats();
  out_line("STATS_END");
}

static void admin_serve(int fd) {
  char req[1024];
  ssize_t n = read(fd, req, sizeof(req) - 1);
  if (n <= 0) {
    close(fd);
    return;
  }
  req[n] = 0;
  // Stats are written to stdout (the driver reads them there); the admin reply is a short ack.
  const char* body = "ok\n";
  if (!strncmp(req, "GET /stats", 10)) {
    dump_stats();
    body = "stats written to stdout\n";
  }
  char resp[256];
  snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\ncontent-length: %zu\r\nconnection: close\r\n\r\n%s", strlen(body), body);
  ssize_t w = write(fd, resp, strlen(resp));
  (void)w;
  close(fd);
}

static int listen_on(int port, bool nonblock, bool reuse_port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (bind(fd, (struct sockaddr*)&sa, sizeof(sa)) != 0) die("bind: %s", strerror(errno));
  if (listen(fd, 1024) != 0) die("listen: %s", strerror(errno));
  return fd;
}

static int port_of(int fd) {
  struct sockaddr_in sa;
  socklen_t l = sizeof(sa);
  getsockname(fd, (struct sockaddr*)&sa, &l);
  return ntohs(sa.sin_port);
}

// The router-phase bench (--bench-router) drives the golang filter only: the dynamic module is
// not loaded (the config says dynmod_disabled), so the process holds one Go runtime, as in
// Envoy, and nothing of the upstream phase. The whole-path bench (--bench-path) loads both, as
// Envoy does, and runs the router and the upstream phase with an in-memory upstream. The
// Envoy-alone bench (--bench-bare) runs the whole path's host code with neither filter: the .so
// is not loaded, as in an Envoy without aigw.
static int bench_main(int argc, char** argv) {
  bool bare = !strcmp(argv[1], "--bench-bare");
  bench_opts_t o = {.whole = bare || !strcmp(argv[1], "--bench-path"), .bare = bare};
  const char *cfg = NULL, *events = NULL;
  for (int i = 2; i < argc; i++) {
    const char** dst = NULL;
    if (!strcmp(argv[i], "--body")) dst = &o.body;
    else if (!strcmp(argv[i], "--expect-body")) dst = &o.expect_body;
    else if (!strcmp(argv[i], "--req-headers")) dst = &o.req_headers;
    else if (!strcmp(argv[i], "--resp-headers")) dst = &o.resp_headers;
    else if (!strcmp(argv[i], "--resp-body")) dst = &o.resp_body;
    else if (!strcmp(argv[i], "--expect-header")) dst = &o.expect_header;
    else if (!strcmp(argv[i], "--absent-header")) dst = &o.absent_header;
    else if (!strcmp(argv[i], "--upstream-expect")) dst = &o.upstream_expect;
    else if (!strcmp(argv[i], "--resp-expect")) dst = &o.resp_expect;
    else if (!strcmp(argv[i], "--expect-events")) dst = &events;
    else if (!strcmp(argv[i], "--upstream-capture")) dst = &o.upstream_capture;
    else if (!strcmp(argv[i], "--resp-capture")) dst = &o.resp_capture;
    else if (!strcmp(argv[i], "--expect-cluster")) dst = &o.expect_cluster;
    else if (!strcmp(argv[i], "--expect-resp-body")) dst = &o.expect_resp_body;
    else if (!strcmp(argv[i], "--sse")) {
      o.sse = true;
      continue;
    } else if (argv[i][0] != '-' && !cfg) {
      cfg = argv[i];
      continue;
    } else die("bench: unknown argument %s", argv[i]);
    if (i + 1 >= argc) die("bench: %s needs a value", argv[i]);
    *dst = argv[++i];
  }
  if (events) o.expect_events = atoi(events);
  if (!o.body || ((!o.whole || o.bare) && !o.expect_body) || (o.bare && !o.expect_cluster) || !o.req_headers ||
      !o.resp_headers || !o.resp_body || !o.expect_header || !cfg)
    die("usage: %s --bench-router|--bench-path|--bench-bare --body F [--expect-body F] --req-headers F "
        "--resp-headers F --resp-body F --expect-header name=value [--absent-header name] [--sse] "
        "[--upstream-expect F] [--resp-expect F] [--expect-events N] [--upstream-capture F] [--resp-capture F] "
        "[--expect-cluster name] [--expect-resp-body F] <config file>",
        argv[0]);
  parse_config(cfg);
  bool dynmod = o.whole && !o.bare;
  if (!dynmod && g_cfg.dynmod_enabled) die("bench: the config must say dynmod_disabled");
  if (dynmod && !g_cfg.dynmod_enabled) die("bench: --bench-path needs the dynamic module");
  out_line("HOST pid=%d workers=%d mode=%s", getpid(), g_cfg.workers,
           o.bare ? "bench-bare" : o.whole ? "bench-path" : "bench-router");
  if (dynmod && dynmod_load() != 0) die("loading the dynamic module failed");
  if (!o.bare && golang_load() != 0) die("loading the golang filter failed");
  signal(SIGPIPE, SIG_IGN);
  int rc = bench_router_main(&o);
  if (!o.bare) golang_dump_stats();
  if (dynmod) dynmod_dump_stats();
  out_line("STATS_END");
  if (!o.bare) golang_shutdown();
  if (dynmod) dynmod_shutdown();
  out_line("EXIT ok");
  fflush(stdout);
  fflush(stderr);
  _exit(rc);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  srand((unsigned)(now_ms() ^ (uint64_t)getpid()));
  if (argc > 1 &&
      (!strcmp(argv[1], "--bench-router") || !strcmp(argv[1], "--bench-path") || !strcmp(argv[1], "--bench-bare")))
    return bench_main(argc, argv);
  if (argc == 2 && !strcmp(argv[1], "--check-buffers")) return buf_check_model() ? 1 : 0;
  if (argc != 2) die("usage: %s <config file>", argv[0]);
  parse_config(argv[1]);
  const char* bind_now = getenv("LD_BIND_NOW");
  out_line("HOST pid=%d workers=%d ld_bind_now=%s", getpid(), g_cfg.workers, bind_now ? bind_now : "");

  // Load order: in Envoy the cluster manager (and so the upstream dynamic-modules filter) is
  // built before listeners (the golang filter); both orders are supported.
  if (g_cfg.dynmod_enabled && g_cfg.dynmod_first) {
    if (dynmod_load() != 0) die("loading the dynamic module failed");
  }
  if (golang_load() != 0) die("loading the golang filter failed");
  if (g_cfg.dynmod_enabled && !g_cfg.dynmod_first) {
    if (dynmod_load() != 0) die("loading the dynamic module failed");
  }
  if (g_cfg.dynmod_enabled) {
    bool same = golang_handle() == dynmod_handle();
    out_line("HANDLES same=%d golang=%p dynmod=%p", same ? 1 : 0, golang_handle(), dynmod_handle());
    if (!same) die("the golang filter and the dynamic module resolved to different objects: two Go runtimes");
    const char* v = dynmod_probe_abi();
    out_line("ABI_VERSION_PROBE %s", v ? v : "(null)");
  }

  if (pipe(g_sigpipe) != 0) die("pipe: %s", strerror(errno));
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  // Like Envoy on Linux (enable_reuse_port defaults to true): one SO_REUSEPORT socket per
  // worker on the same port, the kernel spreading connections across them.
  g_listen_fd = listen_on(0, true, true);
  int listen_port = port_of(g_listen_fd);
  int admin_fd = listen_on(0, false, false);
  g_workers = xcalloc((size_t)g_cfg.workers, sizeof(worker_t));
  for (int i = 0; i < g_cfg.workers; i++) {
    worker_t* w = &g_workers[i];
    w->id = i;
    pthread_mutex_init(&w->mu, NULL);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->ev_ioh.fd = w->evfd;
    w->ev_ioh.cb = ev_cb;
    w->ev_ioh.ctx = w;
    ioh_add(w, &w->ev_ioh, EPOLLIN);
    w->listen_ioh.fd = i == 0 ? g_listen_fd : listen_on(listen_port, true, true);
    w->listen_ioh.cb = listen_cb;
    w->listen_ioh.ctx = w;
    ioh_add(w, &w->listen_ioh, EPOLLIN);
    pthread_create(&w->th, NULL, worker_main, w);
  }
  out_line("ADMIN 127.0.0.1:%d", port_of(admin_fd));
  out_line("LISTEN 127.0.0.1:%d", listen_port);

  struct pollfd pfd[2] = {{.fd = g_sigpipe[0], .events = POLLIN}, {.fd = admin_fd, .events = POLLIN}};
  for (;;) {
    int n = poll(pfd, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("poll: %s", strerror(errno));
    }
    if (pfd[1].revents & POLLIN) {
      int c = accept4(admin_fd, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0) admin_serve(c);
    }
    if (pfd[0].revents & POLLIN) break;
  }
  hlog("shutting down");
  for (int i = 0; i < g_cfg.workers; i++) close(g_workers[i].listen_ioh.fd);
  for (int i = 0; i < g_cfg.workers; i++) {
    atomic_store(&g_workers[i].stop, true);
    worker_post(&g_workers[i], nop, NULL);
  }
  for (int i = 0; i < g_cfg.workers; i++) pthread_join(g_workers[i].th, NULL);
  dump_stats();
  if (g_dynmod_loaded) dynmod_shutdown();
  golang_shutdown();
  out_line("EXIT ok");
  fflush(stdout);
  fflush(stderr);
  _exit(0);
}
