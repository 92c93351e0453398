package credentials

import "sync"

// Awaitable is a credential refreshed in the background that a request can
// wait for without blocking anything: the upstream phase holds an attempt
// that found no valid credential (internal/upstream, docs/attempts.md) and
// resumes it when the refresher stores one.
type Awaitable interface {
	// Valid reports whether a valid credential is cached right now (no
	// network; the same check a request makes).
	Valid() bool
	// Await registers wake, called once, from the refresher's goroutine,
	// the next time the refresher stores a credential. cancel forgets it
	// (idempotent); a wake already under way may still run, so wake must be
	// safe to call after cancel.
	Await(wake func()) (cancel func())
}

// wakeList is the waiters of one credential. Waking calls each function
// outside the lock, so a waiter may call Await again from its wake.
type wakeList struct {
	mu      sync.Mutex
	next    uint64
	waiters map[uint64]func()
}

func (l *wakeList) add(fn func()) (cancel func()) {
	l.mu.Lock()
	if l.waiters == nil {
		l.waiters = map[uint64]func(){}
	}
	l.next++
	id := l.next
	l.waiters[id] = fn
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.waiters, id)
		l.mu.Unlock()
	}
}

// wake calls every waiter registered so far and forgets them. The refresher
// calls it after storing a credential: a waiter that checked Valid after
// registering either saw the new credential or is in the list taken here.
func (l *wakeList) wake() {
	l.mu.Lock()
	w := l.waiters
	l.waiters = nil
	l.mu.Unlock()
	for _, fn := range w {
		fn()
	}
}

// waiting counts the registered waiters (tests).
func (l *wakeList) waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters)
}
