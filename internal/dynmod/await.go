package dynmod

// Holding an attempt that waits for its backend's credential (upstream.Await,
// docs/attempts.md): the filter's request is held in Envoy (the body hook
// returned StopIterationAndBuffer), and the credential's refresher wakes it
// through a dynamic-modules scheduler: commit may be called from any thread
// and posts on_http_filter_scheduled to the filter's worker, or drops it
// once the filter is gone (DynamicModuleHttpFilterScheduler::commit,
// source/extensions/filters/http/dynamic_modules/filter.h:238-258; onScheduled,
// filter.cc:227-232). There the filter plans the request again and the
// adapter resumes it with continue_decoding.

/*
#include <stdint.h>

void* envoy_dynamic_module_callback_http_filter_scheduler_new(void* f);
void envoy_dynamic_module_callback_http_filter_scheduler_commit(void* s, uint64_t event_id);
void envoy_dynamic_module_callback_http_filter_scheduler_delete(void* s);
void envoy_dynamic_module_callback_http_filter_continue_decoding(void* f);
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/aigw/aigw/internal/upstream"
)

// eventCredential is the scheduled event id of a credential wake-up (the
// module schedules nothing else).
const eventCredential = 1

// credentialWait is the wake-up of one held attempt. The refresher's
// goroutine commits through it; destroy deletes the scheduler under the
// same lock, so a wake-up racing with the end of the attempt never commits
// on a deleted scheduler.
type credentialWait struct {
	mu     sync.Mutex
	sched  unsafe.Pointer // nil once the filter was destroyed
	cancel func()
}

// commit schedules the filter's wake-up; any thread.
func (w *credentialWait) commit() {
	w.mu.Lock()
	if w.sched != nil {
		C.envoy_dynamic_module_callback_http_filter_scheduler_commit(w.sched, eventCredential)
	}
	w.mu.Unlock()
}

// await registers fl's held attempt with the credential it waits for. It
// runs on the worker inside a hook (scheduler_new needs the Envoy pointer).
// The credential is checked after registering: one stored in between would
// otherwise never wake the attempt (the refresher wakes only the waiters it
// finds after storing).
func (fl *filter) await(envoyFilter unsafe.Pointer) {
	aw := fl.f.AwaitCredential()
	if aw == nil {
		return
	}
	w := fl.wait
	if w == nil {
		s := C.envoy_dynamic_module_callback_http_filter_scheduler_new(envoyFilter)
		if s == nil {
			// Not in Envoy 1.36.2 (abi_impl.cc:1380-1386 always returns one);
			// without a scheduler nothing could wake the attempt: answer it.
			logAt(logError, "aigw-upstream: the host returned no scheduler; a request waiting for its credential is answered 503")
			fl.f.AbandonWait()
			return
		}
		w = &credentialWait{sched: s}
		fl.wait = w
	}
	w.mu.Lock()
	if w.cancel != nil {
		w.cancel()
	}
	w.cancel = aw.Await(w.commit)
	w.mu.Unlock()
	if aw.Valid() {
		w.commit()
	}
}

// scheduled runs a wake-up on the worker: the filter plans its request
// again; Continue resumes it (Envoy sends the held headers and body on),
// Await waits again.
func (fl *filter) scheduled(envoyFilter unsafe.Pointer) {
	prev := fl.a.enter(envoyFilter)
	guard("scheduled", fl.f, upstream.Answered, func() upstream.Action {
		act := fl.f.Resume()
		switch act {
		case upstream.Continue:
			// The plan's header writes are queued: Envoy sends the held
			// headers on continue, so they must be in its map first.
			fl.a.flush()
			C.envoy_dynamic_module_callback_http_filter_continue_decoding(envoyFilter)
		case upstream.Await:
			fl.await(envoyFilter)
		}
		return act
	})
	fl.a.exit(prev)
}

// endWait forgets the credential and deletes the scheduler (filter
// destroy; the scheduler is the module's to delete, abi.h).
func (fl *filter) endWait() {
	w := fl.wait
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.cancel != nil {
		w.cancel()
		w.cancel = nil
	}
	if w.sched != nil {
		C.envoy_dynamic_module_callback_http_filter_scheduler_delete(w.sched)
		w.sched = nil
	}
	w.mu.Unlock()
}
