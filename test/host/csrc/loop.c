// loop.c: per-worker event loop (epoll + eventfd), the host's stand-in for an Envoy dispatcher.
// worker_post() is Dispatcher::post (any thread), worker_defer() is deferredDelete (objects are
// freed after the current loop iteration, never while they may still be on the stack).
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "host.h"

__thread worker_t* tls_worker;

void worker_post(worker_t* w, post_fn fn, void* arg) {
  post_item_t* it = xmalloc(sizeof(*it));
  it->fn = fn;
  it->arg = arg;
  it->next = NULL;
  pthread_mutex_lock(&w->mu);
  if (w->qt)
    w->qt->next = it;
  else
    w->qh = it;
  w->qt = it;
  pthread_mutex_unlock(&w->mu);
  uint64_t one = 1;
  ssize_t r = write(w->evfd, &one, sizeof(one));
  (void)r;
}

void worker_defer(worker_t* w, post_fn fn, void* arg) {
  post_item_t* it = xmalloc(sizeof(*it));
  it->fn = fn;
  it->arg = arg;
  it->next = NULL;
  if (w->deferred_tail)
    w->deferred_tail->next = it;
  else
    w->deferred = it;
  w->deferred_tail = it;
}

void timer_arm(worker_t* w, htimer_t* t, uint64_t ms, void (*fn)(void*), void* arg) {
  timer_cancel(w, t);
  t->when_ms = now_ms() + ms;
  t->fn = fn;
  t->arg = arg;
  t->prev = NULL;
  t->next = w->timers;
  if (w->timers) w->timers->prev = t;
  w->timers = t;
  t->armed = true;
}

void timer_cancel(worker_t* w, htimer_t* t) {
  if (!t->armed) return;
  if (t->prev)
    t->prev->next = t->next;
  else
    w->timers = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
  t->armed = false;
}

int ioh_add(worker_t* w, ioh_t* h, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = h};
  return epoll_ctl(w->epfd, EPOLL_CTL_ADD, h->fd, &ev);
}

int ioh_mod(worker_t* w, ioh_t* h, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = h};
  return epoll_ctl(w->epfd, EPOLL_CTL_MOD, h->fd, &ev);
}

void ioh_del(worker_t* w, ioh_t* h) { epoll_ctl(w->epfd, EPOLL_CTL_DEL, h->fd, NULL); }

static void run_posts(worker_t* w) {
  uint64_t v;
  ssize_t r = read(w->evfd, &v, sizeof(v));
  (void)r;
  pthread_mutex_lock(&w->mu);
  post_item_t* it = w->qh;
  w->qh = w->qt = NULL;
  pthread_mutex_unlock(&w->mu);
  while (it) {
    post_item_t* next = it->next;
    it->fn(it->arg);
    free(it);
    it = next;
  }
}

// Runs what was posted to w so far, without waiting (bench mode: a worker thread that drives
// requests itself instead of sleeping in epoll_wait).
void worker_drain_posts(worker_t* w) {
  pthread_mutex_lock(&w->mu);
  bool any = w->qh != NULL;
  pthread_mutex_unlock(&w->mu);
  if (any) run_posts(w);
}

static void run_deferred(worker_t* w) {
  while (w->deferred) {
    post_item_t* it = w->deferred;
    w->deferred = w->deferred_tail = NULL;
    while (it) {
      post_item_t* next = it->next;
      it->fn(it->arg);
      free(it);
      it = next;
    }
  }
}

void worker_run_deferred(worker_t* w) { run_deferred(w); }

static void run_timers(worker_t* w) {
  uint64_t now = now_ms();
  bool fired = true;
  while (fired) {
    fired = false;
    for (htimer_t* t = w->timers; t; t = t->next) {
      if (t->when_ms <= now) {
        timer_cancel(w, t);
        t->fn(t->arg);
        fired = true;
        break; // the list may have changed
      }
    }
  }
}

static int next_timeout(worker_t* w) {
  if (!w->timers) return 1000;
  uint64_t now = now_ms(), min = UINT64_MAX;
  for (htimer_t* t = w->timers; t; t = t->next)
    if (t->when_ms < min) min = t->when_ms;
  if (min <= now) return 0;
  uint64_t d = min - now;
  return d > 1000 ? 1000 : (int)d;
}

void worker_loop(worker_t* w) {
  tls_worker = w;
  struct epoll_event evs[64];
  while (!atomic_load(&w->stop)) {
    int n = epoll_wait(w->epfd, evs, 64, next_timeout(w));
    if (n < 0) {
      if (errno == EINTR) continue;
      hlog("epoll_wait: %s", strerror(errno));
      abort();
    }
    for (int i = 0; i < n; i++) {
      ioh_t* h = evs[i].data.ptr;
      if (h == &w->ev_ioh) {
        run_posts(w);
      } else {
        h->cb(h, evs[i].events);
      }
    }
    // Deferred deletes run after the whole batch: a later event of the same batch may still
    // point at an object closed by an earlier one (closed objects ignore their events).
    run_deferred(w);
    run_timers(w);
    run_deferred(w);
  }
}
