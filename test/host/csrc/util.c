// util.c: logging, buffers, header maps, dynamic metadata and the little protobuf/JSON
// encoding the host needs (google.protobuf.Value / Struct, as Envoy exchanges them with Go).
#include <ctype.h>
#include <time.h>

#include "host.h"

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
int g_log_level = 2;

void* xmalloc(size_t n) {
  void* p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "host: out of memory\n");
    abort();
  }
  return p;
}

void* xcalloc(size_t n, size_t m) {
  void* p = calloc(n ? n : 1, m ? m : 1);
  if (!p) {
    fprintf(stderr, "host: out of memory\n");
    abort();
  }
  return p;
}

void* xrealloc(void* p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) {
    fprintf(stderr, "host: out of memory\n");
    abort();
  }
  return p;
}

char* xstrndup(const char* s, size_t n) {
  char* p = xmalloc(n + 1);
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

static void vline(FILE* f, const char* prefix, const char* fmt, va_list ap) {
  pthread_mutex_lock(&out_mu);
  if (prefix) fputs(prefix, f);
  vfprintf(f, fmt, ap);
  fputc('\n', f);
  fflush(f);
  pthread_mutex_unlock(&out_mu);
}

void hlog(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline(stderr, "[host] ", fmt, ap);
  va_end(ap);
}

void violation(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline(stderr, "HOST-VIOLATION ", fmt, ap);
  va_end(ap);
}

void out_line(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline(stdout, NULL, fmt, ap);
  va_end(ap);
}

uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

// ------------------------------------------------------------------------------------ buffers

void buf_init(buf_t* b) { memset(b, 0, sizeof(*b)); }

// Slice memory. Envoy allocates with tcmalloc (bazel/envoy_internal.bzl:103-111), whose per-CPU
// caches hand a freed 16 KiB block straight back to the next allocation of that size; its read
// reservations also keep up to MAX_SLICES_ (8) unused 16 KiB slices in a thread-local free list
// (source/common/buffer/buffer_impl.h:760-808). glibc instead takes each 16 KiB block through its
// bins (malloc_consolidate, unlink), a cost Envoy does not have, which the bench would count as
// Envoy's. So each thread keeps a small cache of freed slice blocks, bounded (1 MiB a thread).
// Not under AddressSanitizer, which must see every free.
#if defined(__SANITIZE_ADDRESS__)
#define SLICE_CACHE 0
#else
#define SLICE_CACHE 64
#endif
#if SLICE_CACHE > 0
static __thread char* slice_cache[SLICE_CACHE];
static __thread size_t slice_cached;
#endif

// A slice of at most 16 KiB takes a 16 KiB block (the cache's size): its capacity, which decides
// what later adds put in it, stays the one Envoy gives it.
static char* slice_mem(size_t cap) {
#if SLICE_CACHE > 0
  if (cap <= SLICE_CAP) return slice_cached > 0 ? slice_cache[--slice_cached] : xmalloc(SLICE_CAP);
#endif
  return xmalloc(cap);
}

static void slice_mem_free(slice_t* s) {
#if SLICE_CACHE > 0
  if (s->cap <= SLICE_CAP && s->mem && slice_cached < SLICE_CACHE) {
    slice_cache[slice_cached++] = s->mem;
    return;
  }
#endif
  free(s->mem);
}

void buf_free(buf_t* b) {
  for (size_t i = 0; i < b->n; i++) slice_mem_free(&b->s[i]);
  free(b->s);
  memset(b, 0, sizeof(*b));
}

static slice_t* buf_push_slice(buf_t* b, size_t cap) {
  if (b->n == b->capn) {
    b->capn = b->capn ? b->capn * 2 : 4;
    b->s = xrealloc(b->s, b->capn * sizeof(slice_t));
  }
  slice_t* s = &b->s[b->n++];
  s->mem = slice_mem(cap);
  s->off = 0;
  s->len = 0;
  s->cap = cap;
  return s;
}

// Envoy's capacity for a slice of at least n bytes: whole 4 KiB pages (Slice::sliceSize,
// source/common/buffer/buffer_impl.h:353-357).
static size_t slice_size(size_t n) { return (n + 4095) / 4096 * 4096; }

// Fills the back slice's room: what Slice::append writes after its data
// (source/common/buffer/buffer_impl.h:261-271).
static void buf_fill_back(buf_t* b, const char** p, size_t* len) {
  if (b->n == 0) return;
  slice_t* last = &b->s[b->n - 1];
  size_t room = last->cap - last->off - last->len;
  size_t k = *len < room ? *len : room;
  if (k) {
    memcpy(last->mem + last->off + last->len, *p, k);
    last->len += k;
    *p += k;
    *len -= k;
  }
}

// buf_add is OwnedImpl::add(data, size) (addImpl, source/common/buffer/buffer_impl.cc:48-60):
// the back slice's room first, then ONE new slice for all the rest, its capacity the rest rounded
// up to whole pages (Slice(min_capacity), buffer_impl.h:59-60). So a body a filter sets or appends
// in one call is one slice in Envoy (the golang filter's Set drains and adds,
// contrib/golang/filters/http/source/golang_filter.cc:847-849; a dynamic module's append adds),
// and so is the router's per-attempt copy of it (OwnedImpl(const Instance&) adds slice by slice,
// buffer_impl.cc:78-83).
void buf_add(buf_t* b, const void* data, size_t len) {
  const char* p = data;
  b->length += len;
  buf_fill_back(b, &p, &len);
  if (len) {
    slice_t* s = buf_push_slice(b, slice_size(len));
    memcpy(s->mem, p, len);
    s->len = len;
  }
}

// buf_read is a codec's read of len bytes off a connection: Envoy reads into 16 KiB slices
// (reserveForRead, source/common/network/io_socket_handle_impl.cc:104; default_slice_size_,
// buffer_impl.h:345), and the HTTP/1 codec hands a body on a read slice at a time, moving whole
// slices (ConnectionImpl::bufferBody, source/common/http/http1/codec_impl.cc:760-768). So a body
// that arrives from the network is a list of slices of at most 16 KiB.
void buf_read(buf_t* b, const void* data, size_t len) {
  const char* p = data;
  b->length += len;
  while (len) {
    size_t k = len < SLICE_CAP ? len : SLICE_CAP;
    slice_t* s = buf_push_slice(b, SLICE_CAP);
    memcpy(s->mem, p, k);
    s->len = k;
    p += k;
    len -= k;
  }
}

// buf_check_model checks that buffers take Envoy's slice shapes (buf_add, buf_read and what they
// cite) and prints one line per shape, "BUFFERS ok" last; it returns the number of mismatches.
int buf_check_model(void) {
  static char data[1 << 20];
  memset(data, 'x', sizeof(data));
  int bad = 0;
#define SHAPE(name, b, want_n, want_cap0, want_len0)                                                \
  do {                                                                                             \
    bool ok = (b).n == (want_n) && (b).s[0].cap == (want_cap0) && (b).s[0].len == (want_len0);     \
    out_line("BUFFER %s slices=%zu cap0=%zu len0=%zu length=%zu %s", name, (b).n, (b).s[0].cap,       \
             (b).s[0].len, (b).length, ok ? "ok" : "WRONG");                                        \
    bad += !ok;                                                                                    \
  } while (0)
  buf_t a, r, c, d, e;
  buf_init(&a);
  buf_add(&a, data, sizeof(data)); // a filter's Set or append of a 1 MiB body: one slice
  SHAPE("add-1MiB", a, 1u, (size_t)1 << 20, (size_t)1 << 20);
  buf_init(&r);
  buf_read(&r, data, 40000); // read off a connection: 16 KiB slices
  SHAPE("read-40000", r, 3u, (size_t)SLICE_CAP, (size_t)SLICE_CAP);
  buf_init(&c);
  buf_copy_from(&c, &a); // the router's copy for an attempt keeps a one-slice body one slice
  SHAPE("copy-of-add", c, 1u, (size_t)1 << 20, (size_t)1 << 20);
  buf_init(&d);
  buf_copy_from(&d, &r); // and a read body in its slices: the last one a page-rounded 7232
  SHAPE("copy-of-read", d, 3u, (size_t)SLICE_CAP, (size_t)SLICE_CAP);
  bool last_ok = d.n == 3 && d.s[2].cap == 8192 && d.s[2].len == 7232;
  out_line("BUFFER copy-of-read-last cap=%zu len=%zu %s", d.n == 3 ? d.s[2].cap : 0, d.n == 3 ? d.s[2].len : 0,
           last_ok ? "ok" : "WRONG");
  bad += !last_ok;
  buf_init(&e);
  buf_add(&e, data, 10);   // one page: the next add fills its room first,
  buf_add(&e, data, 5000); // then takes one more slice for the rest (914 bytes, one page)
  bool room_ok = e.n == 2 && e.s[0].cap == 4096 && e.s[0].len == 4096 && e.s[1].cap == 4096 && e.s[1].len == 914;
  out_line("BUFFER add-fills-room slices=%zu %s", e.n, room_ok ? "ok" : "WRONG");
  bad += !room_ok;
#undef SHAPE
  buf_free(&a);
  buf_free(&r);
  buf_free(&c);
  buf_free(&d);
  buf_free(&e);
  if (!bad) out_line("BUFFERS ok");
  return bad;
}

void buf_prepend(buf_t* b, const void* data, size_t len) {
  if (!len) return;
  buf_t tmp;
  buf_init(&tmp);
  buf_add(&tmp, data, len);
  buf_move(&tmp, b);
  buf_free(b);
  *b = tmp;
}

void buf_drain(buf_t* b, size_t len) {
  if (len > b->length) len = b->length;
  b->length -= len;
  size_t i = 0;
  while (len && i < b->n) {
    slice_t* s = &b->s[i];
    if (s->len <= len) {
      len -= s->len;
      slice_mem_free(s);
      i++;
    } else {
      s->off += len;
      s->len -= len;
      len = 0;
    }
  }
  // Also drop empty leading slices.
  while (i < b->n && b->s[i].len == 0) {
    slice_mem_free(&b->s[i]);
    i++;
  }
  if (i) {
    memmove(b->s, b->s + i, (b->n - i) * sizeof(slice_t));
    b->n -= i;
  }
}

void buf_move(buf_t* dst, buf_t* src) {
  if (dst == src) return;
  for (size_t i = 0; i < src->n; i++) {
    if (src->s[i].len == 0) {
      slice_mem_free(&src->s[i]);
      continue;
    }
    if (dst->n == dst->capn) {
      dst->capn = dst->capn ? dst->capn * 2 : 4;
      dst->s = xrealloc(dst->s, dst->capn * sizeof(slice_t));
    }
    dst->s[dst->n++] = src->s[i];
  }
  dst->length += src->length;
  free(src->s);
  memset(src, 0, sizeof(*src));
}

void buf_copyout(const buf_t* b, char* dst) {
  for (size_t i = 0; i < b->n; i++) {
    memcpy(dst, b->s[i].mem + b->s[i].off, b->s[i].len);
    dst += b->s[i].len;
  }
}

char* buf_dup(const buf_t* b) {
  char* p = xmalloc(b->length + 1);
  buf_copyout(b, p);
  p[b->length] = 0;
  return p;
}

void buf_copy_from(buf_t* dst, const buf_t* src) {
  for (size_t i = 0; i < src->n; i++) buf_add(dst, src->s[i].mem + src->s[i].off, src->s[i].len);
}

// ---------------------------------------------------------------------------------- header maps

void hmap_init(hmap_t* m) { memset(m, 0, sizeof(*m)); }

// An entry's key and value share one allocation (hdr_block): Envoy allocates one node per
// header (HeaderMapImpl's std::list<HeaderEntryImpl>, source/common/http/header_map_impl.h:131-133)
// whose key and value are HeaderStrings (envoy/http/header_map.h:114) with 128 bytes of inline
// storage (InlinedStringVector, envoy/common/union_string.h:18), so a short header costs it
// one allocation, not one per string. Freeing an entry frees k only.
static void hdr_block(hdr_t* h, const char* k, size_t kl, const char* v, size_t vl) {
  h->k = xmalloc(kl + vl + 2);
  memcpy(h->k, k, kl);
  h->k[kl] = 0;
  h->kl = kl;
  h->v = h->k + kl + 1;
  memcpy(h->v, v, vl);
  h->v[vl] = 0;
  h->vl = vl;
}

void hmap_clear(hmap_t* m) {
  for (size_t i = 0; i < m->n; i++) free(m->e[i].k);
  m->n = 0;
}

void hmap_free(hmap_t* m) {
  hmap_clear(m);
  free(m->e);
  memset(m, 0, sizeof(*m));
}

static bool key_eq(const hdr_t* h, const char* k, size_t kl) {
  if (h->kl != kl) return false;
  for (size_t i = 0; i < kl; i++)
    if (h->k[i] != (char)tolower((unsigned char)k[i])) return false;
  return true;
}

hdr_t* hmap_get(const hmap_t* m, const char* k, size_t kl, size_t idx) {
  for (size_t i = 0; i < m->n; i++) {
    if (key_eq(&m->e[i], k, kl)) {
      if (idx == 0) return &m->e[i];
      idx--;
    }
  }
  return NULL;
}

const char* hmap_gets(const hmap_t* m, const char* k) {
  hdr_t* h = hmap_get(m, k, strlen(k), 0);
  return h ? h->v : NULL;
}

bool host_fault(const hmap_t* m, const char* want) {
  const char* v = m ? hmap_gets(m, "x-aigw-host-fault") : NULL;
  return v && strcmp(v, want) == 0;
}

size_t hmap_count(const hmap_t* m, const char* k, size_t kl) {
  size_t c = 0;
  for (size_t i = 0; i < m->n; i++)
    if (key_eq(&m->e[i], k, kl)) c++;
  return c;
}

void hmap_add(hmap_t* m, const char* k, size_t kl, const char* v, size_t vl) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 16;
    m->e = xrealloc(m->e, m->cap * sizeof(hdr_t));
  }
  hdr_t h;
  hdr_block(&h, k, kl, v, vl);
  for (size_t i = 0; i < kl; i++) h.k[i] = (char)tolower((unsigned char)h.k[i]);
  // Envoy keeps pseudo headers ahead of regular ones.
  if (kl && k[0] == ':') {
    size_t pos = 0;
    while (pos < m->n && m->e[pos].kl && m->e[pos].k[0] == ':') pos++;
    memmove(m->e + pos + 1, m->e + pos, (m->n - pos) * sizeof(hdr_t));
    m->e[pos] = h;
  } else {
    m->e[m->n] = h;
  }
  m->n++;
}

void hmap_remove(hmap_t* m, const char* k, size_t kl) {
  size_t j = 0;
  for (size_t i = 0; i < m->n; i++) {
    if (key_eq(&m->e[i], k, kl)) {
      free(m->e[i].k);
    } else {
      m->e[j++] = m->e[i];
    }
  }
  m->n = j;
}

// setCopy: replace the first entry's value in place and drop the others (HeaderMapImpl).
void hmap_set(hmap_t* m, const char* k, size_t kl, const char* v, size_t vl) {
  hdr_t* first = NULL;
  size_t j = 0;
  for (size_t i = 0; i < m->n; i++) {
    if (key_eq(&m->e[i], k, kl)) {
      if (!first) {
        hdr_t h;
        hdr_block(&h, m->e[i].k, m->e[i].kl, v, vl); // v may point into the old entry
        free(m->e[i].k);
        m->e[j++] = h;
        first = &m->e[j - 1];
      } else {
        free(m->e[i].k);
      }
    } else {
      m->e[j++] = m->e[i];
    }
  }
  m->n = j;
  if (!first) hmap_add(m, k, kl, v, vl);
}

size_t hmap_byte_size(const hmap_t* m) {
  size_t n = 0;
  for (size_t i = 0; i < m->n; i++) n += m->e[i].kl + m->e[i].vl;
  return n;
}

void hmap_copy(hmap_t* dst, const hmap_t* src) {
  for (size_t i = 0; i < src->n; i++) hmap_add(dst, src->e[i].k, src->e[i].kl, src->e[i].v, src->e[i].vl);
}

// ------------------------------------------------------------------------- protobuf helpers

static void pb_varint(buf_t* out, uint64_t v) {
  unsigned char tmp[10];
  size_t n = 0;
  do {
    unsigned char c = v & 0x7f;
    v >>= 7;
    if (v) c |= 0x80;
    tmp[n++] = c;
  } while (v);
  buf_add(out, tmp, n);
}

static void pb_bytes(buf_t* out, int field, const void* p, size_t l) {
  pb_varint(out, ((uint64_t)field << 3) | 2);
  pb_varint(out, l);
  buf_add(out, p, l);
}

static bool pb_read_varint(const unsigned char** p, const unsigned char* end, uint64_t* v) {
  uint64_t r = 0;
  int shift = 0;
  while (*p < end && shift < 64) {
    unsigned char c = *(*p)++;
    r |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *v = r;
      return true;
    }
    shift += 7;
  }
  return false;
}

// Walks one message; calls cb for each field. Returns false on malformed input.
typedef bool (*pb_field_cb)(void* ctx, int field, int wt, uint64_t num, const unsigned char* p,
                            size_t l);

static bool pb_walk(const unsigned char* p, size_t len, pb_field_cb cb, void* ctx) {
  const unsigned char* end = p + len;
  while (p < end) {
    uint64_t tag;
    if (!pb_read_varint(&p, end, &tag)) return false;
    int field = (int)(tag >> 3), wt = (int)(tag & 7);
    uint64_t num = 0;
    const unsigned char* d = NULL;
    size_t l = 0;
    switch (wt) {
    case 0:
      if (!pb_read_varint(&p, end, &num)) return false;
      break;
    case 1:
      if (end - p < 8) return false;
      memcpy(&num, p, 8);
      p += 8;
      break;
    case 2:
      if (!pb_read_varint(&p, end, &num)) return false;
      if ((uint64_t)(end - p) < num) return false;
      d = p;
      l = num;
      p += num;
      break;
    case 5:
      if (end - p < 4) return false;
      {
        uint32_t x;
        memcpy(&x, p, 4);
        num = x;
      }
      p += 4;
      break;
    default:
      return false;
    }
    if (!cb(ctx, field, wt, num, d, l)) return false;
  }
  return true;
}

void pb_value_string(buf_t* out, const char* s, size_t l) { pb_bytes(out, 3, s, l); }

void pb_value_number(buf_t* out, double d) {
  pb_varint(out, (2 << 3) | 1);
  buf_add(out, &d, 8);
}

typedef struct {
  int kind; // google.protobuf.Value oneof field number, 0 if none
  uint64_t num;
  const unsigned char* p;
  size_t l;
} pbval_t;

static bool value_cb(void* ctx, int field, int wt, uint64_t num, const unsigned char* p, size_t l) {
  pbval_t* v = ctx;
  (void)wt;
  if (field >= 1 && field <= 6) {
    v->kind = field;
    v->num = num;
    v->p = p;
    v->l = l;
  }
  return true;
}

bool pb_value_as_string(const char* v, size_t vl, const char** s, size_t* sl) {
  pbval_t pv = {0};
  if (!pb_walk((const unsigned char*)v, vl, value_cb, &pv)) return false;
  if (pv.kind != 3) return false;
  *s = (const char*)pv.p;
  *sl = pv.l;
  return true;
}

bool pb_value_as_number(const char* v, size_t vl, double* d) {
  pbval_t pv = {0};
  if (!pb_walk((const unsigned char*)v, vl, value_cb, &pv)) return false;
  if (pv.kind != 2) return false;
  memcpy(d, &pv.num, 8);
  return true;
}

// ------------------------------------------------------------------------------- metadata

void meta_init(meta_t* m) { memset(m, 0, sizeof(*m)); }

void meta_free(meta_t* m) {
  for (size_t i = 0; i < m->n; i++) {
    for (size_t j = 0; j < m->ns[i].n; j++) {
      free(m->ns[i].f[j].key);
      free(m->ns[i].f[j].val);
    }
    free(m->ns[i].f);
    free(m->ns[i].ns);
  }
  free(m->ns);
  memset(m, 0, sizeof(*m));
}

mns_t* meta_ns(meta_t* m, const char* ns, size_t nsl, bool create) {
  for (size_t i = 0; i < m->n; i++)
    if (strlen(m->ns[i].ns) == nsl && memcmp(m->ns[i].ns, ns, nsl) == 0) return &m->ns[i];
  if (!create) return NULL;
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 4;
    m->ns = xrealloc(m->ns, m->cap * sizeof(mns_t));
  }
  mns_t* n = &m->ns[m->n++];
  memset(n, 0, sizeof(*n));
  n->ns = xstrndup(ns, nsl);
  return n;
}

mfield_t* meta_get(meta_t* m, const char* ns, size_t nsl, const char* k, size_t kl) {
  mns_t* n = meta_ns(m, ns, nsl, false);
  if (!n) return NULL;
  for (size_t i = 0; i < n->n; i++)
    if (strlen(n->f[i].key) == kl && memcmp(n->f[i].key, k, kl) == 0) return &n->f[i];
  return NULL;
}

// Struct.MergeFrom semantics for one key: the key's value is replaced.
void meta_set_value(meta_t* m, const char* ns, size_t nsl, const char* k, size_t kl, const char* v,
                    size_t vl) {
  mfield_t* f = meta_get(m, ns, nsl, k, kl);
  if (f) {
    free(f->val);
    f->val = xstrndup(v, vl);
    f->vl = vl;
    return;
  }
  mns_t* n = meta_ns(m, ns, nsl, true);
  if (n->n == n->cap) {
    n->cap = n->cap ? n->cap * 2 : 4;
    n->f = xrealloc(n->f, n->cap * sizeof(mfield_t));
  }
  f = &n->f[n->n++];
  f->key = xstrndup(k, kl);
  f->val = xstrndup(v, vl);
  f->vl = vl;
}

char* meta_ns_struct(mns_t* ns, size_t* out_len) {
  buf_t out, entry;
  buf_init(&out);
  for (size_t i = 0; i < ns->n; i++) {
    buf_init(&entry);
    pb_bytes(&entry, 1, ns->f[i].key, strlen(ns->f[i].key));
    pb_bytes(&entry, 2, ns->f[i].val, ns->f[i].vl);
    char* e = buf_dup(&entry);
    pb_bytes(&out, 1, e, entry.length);
    free(e);
    buf_free(&entry);
  }
  *out_len = out.length;
  char* r = buf_dup(&out);
  buf_free(&out);
  return r;
}

// ----------------------------------------------------------------------------------- JSON

void json_str(buf_t* out, const char* s, size_t l) {
  buf_add(out, "\"", 1);
  for (size_t i = 0; i < l; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      buf_add(out, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof(esc), "\\u%04x", c);
      buf_add(out, esc, 6);
    } else {
      buf_add(out, &s[i], 1);
    }
  }
  buf_add(out, "\"", 1);
}

static void value_json(buf_t* out, const unsigned char* v, size_t vl, int depth);

typedef struct {
  buf_t* out;
  int depth;
  bool first;
} jctx_t;

static bool struct_entry_cb(void* ctx, int field, int wt, uint64_t num, const unsigned char* p,
                            size_t l);

typedef struct {
  const unsigned char *k, *v;
  size_t kl, vl;
} kv_t;

static bool kv_cb(void* ctx, int field, int wt, uint64_t num, const unsigned char* p, size_t l) {
  kv_t* kv = ctx;
  (void)wt;
  (void)num;
  if (field == 1) {
    kv->k = p;
    kv->kl = l;
  } else if (field == 2) {
    kv->v = p;
    kv->vl = l;
  }
  return true;
}

static bool struct_entry_cb(void* ctx, int field, int wt, uint64_t num, const unsigned char* p,
                            size_t l) {
  jctx_t* j = ctx;
  (void)num;
  if (field != 1 || wt != 2) return true;
  kv_t kv = {0};
  pb_walk(p, l, kv_cb, &kv);
  if (!j->first) buf_add(j->out, ",", 1);
  j->first = false;
  json_str(j->out, (const char*)kv.k, kv.kl);
  buf_add(j->out, ":", 1);
  value_json(j->out, kv.v, kv.vl, j->depth + 1);
  return true;
}

static bool list_entry_cb(void* ctx, int field, int wt, uint64_t num, const unsigned char* p,
                          size_t l) {
  jctx_t* j = ctx;
  (void)num;
  if (field != 1 || wt != 2) return true;
  if (!j->first) buf_add(j->out, ",", 1);
  j->first = false;
  value_json(j->out, p, l, j->depth + 1);
  return true;
}

static void value_json(buf_t* out, const unsigned char* v, size_t vl, int depth) {
  pbval_t pv = {0};
  if (depth > 32 || !v || !pb_walk(v, vl, value_cb, &pv)) {
    buf_add(out, "null", 4);
    return;
  }
  char tmp[64];
  switch (pv.kind) {
  case 2: {
    double d;
    memcpy(&d, &pv.num, 8);
    snprintf(tmp, sizeof(tmp), "%.17g", d);
    buf_add(out, tmp, strlen(tmp));
    break;
  }
  case 3:
    json_str(out, (const char*)pv.p, pv.l);
    break;
  case 4:
    buf_add(out, pv.num ? "true" : "false", pv.num ? 4 : 5);
    break;
  case 5: {
    jctx_t j = {out, depth, true};
    buf_add(out, "{", 1);
    pb_walk(pv.p, pv.l, struct_entry_cb, &j);
    buf_add(out, "}", 1);
    break;
  }
  case 6: {
    jctx_t j = {out, depth, true};
    buf_add(out, "[", 1);
    pb_walk(pv.p, pv.l, list_entry_cb, &j);
    buf_add(out, "]", 1);
    break;
  }
  default:
    buf_add(out, "null", 4);
  }
}

void meta_to_json(meta_t* m, buf_t* out) {
  buf_add(out, "{", 1);
  for (size_t i = 0; i < m->n; i++) {
    if (i) buf_add(out, ",", 1);
    json_str(out, m->ns[i].ns, strlen(m->ns[i].ns));
    buf_add(out, ":{", 2);
    for (size_t j = 0; j < m->ns[i].n; j++) {
      if (j) buf_add(out, ",", 1);
      json_str(out, m->ns[i].f[j].key, strlen(m->ns[i].f[j].key));
      buf_add(out, ":", 1);
      value_json(out, (const unsigned char*)m->ns[i].f[j].val, m->ns[i].f[j].vl, 0);
    }
    buf_add(out, "}", 1);
  }
  buf_add(out, "}", 1);
}
