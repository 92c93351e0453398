package bodyscan

import (
	"hash/maphash"
	"sync"
)

// Findings is what the router phase learned about a request body it
// validated, handed to the upstream phase's attempts of the same request:
// both phases run in one Go runtime, so an attempt need not scan the body
// again. It describes one exact body (the one the router phase forwarded):
// offsets are into it.
type Findings struct {
	// Model is the top-level "model" member (Value decoded when a string);
	// ModelStart, ModelEnd span its value.
	Model                Member
	ModelStart, ModelEnd int
	// Stream is true when the last top-level "stream" member is true.
	Stream bool
	// Members counts the top-level members.
	Members int
	// MessagesStart, MessagesEnd span the value of a top-level "messages"
	// member (the last one), most of a chat request: an attempt's walk
	// over the top-level members jumps over it (WalkTrustedKnown) instead
	// of skipping it byte by byte. Both zero when there is none.
	MessagesStart, MessagesEnd int
	// RawStrings is true when every string literal of the body Scan read
	// is raw copyable: the body is all ASCII (so valid UTF-8) and no \u
	// escape is a lone surrogate (a high one not followed at once by a
	// \u low one, or a low one not so preceded). A translator may then
	// copy any literal as is instead of checking it. Removing a member
	// does not change it (false stays a safe answer).
	RawStrings bool
}

// FindingsOf returns the findings for body, the body Scan read with r,
// after the router phase removed removed (a member of r, or the zero
// Member) with RemoveMember: offsets past the cut move back with the bytes.
func FindingsOf(r Result, removed Member) Findings {
	f := Findings{Model: r.Model, ModelStart: r.modelStart, ModelEnd: r.modelEnd, Stream: r.stream, Members: r.members,
		MessagesStart: r.messagesStart, MessagesEnd: r.messagesEnd, RawStrings: r.rawStrings}
	if removed.Present {
		f.Members--
		cut := removed.cutEnd - removed.cutStart
		if removed.cutEnd <= f.ModelStart {
			f.ModelStart -= cut
			f.ModelEnd -= cut
		}
		switch {
		case f.MessagesEnd == 0:
		case removed.cutEnd <= f.MessagesStart:
			f.MessagesStart -= cut
			f.MessagesEnd -= cut
		case removed.cutStart < f.MessagesEnd:
			// The cut took the messages member itself (a backend field
			// named "messages"): there is none left to span.
			f.MessagesStart, f.MessagesEnd = 0, 0
		}
	}
	return f
}

// The handoff is keyed by the body itself: a seeded 64-bit hash (the seed
// is random per process, so a client cannot make two bodies collide) and
// the length. Whatever happened between the phases (another filter that
// rewrote the body, a retry's copy), an attempt finds the findings only
// for the very bytes they describe, and otherwise scans the body itself.
// Identical bodies in flight at once share one entry. Entries are map
// values, not pointers: a request's handoff allocates nothing once the map
// has grown to the requests in flight.
var handoff = struct {
	sync.Mutex
	seed    maphash.Seed
	entries map[handoffKey]handoffEntry
}{seed: maphash.MakeSeed(), entries: map[handoffKey]handoffEntry{}}

type handoffKey struct {
	hash uint64
	n    int
}

type handoffEntry struct {
	f    Findings
	refs int
}

// Ticket keeps findings available until Forget; the zero Ticket holds
// nothing.
type Ticket struct {
	key  handoffKey
	held bool
}

// Remember makes f, the findings for body, available to Recall until the
// returned ticket's Forget: the router phase calls it for the body it
// forwards and Forget when Envoy destroys the stream (after every attempt).
func Remember(body []byte, f Findings) Ticket {
	k := handoffKey{hash: maphash.Bytes(handoff.seed, body), n: len(body)}
	handoff.Lock()
	defer handoff.Unlock()
	e, ok := handoff.entries[k]
	if ok {
		e.refs++
	} else {
		e = handoffEntry{f: f, refs: 1}
	}
	handoff.entries[k] = e
	return Ticket{key: k, held: true}
}

// Forget releases t's findings; a second call does nothing.
func (t *Ticket) Forget() {
	if !t.held {
		return
	}
	t.held = false
	handoff.Lock()
	defer handoff.Unlock()
	if e, ok := handoff.entries[t.key]; ok {
		if e.refs--; e.refs == 0 {
			delete(handoff.entries, t.key)
		} else {
			handoff.entries[t.key] = e
		}
	}
}

// Recall returns the findings the router phase remembered for exactly
// these bytes, if a request carrying them is in flight.
func Recall(body []byte) (Findings, bool) {
	k := handoffKey{hash: maphash.Bytes(handoff.seed, body), n: len(body)}
	handoff.Lock()
	defer handoff.Unlock()
	if e, ok := handoff.entries[k]; ok {
		return e.f, true
	}
	return Findings{}, false
}

// remembered reports how many distinct bodies are remembered (tests).
func remembered() int {
	handoff.Lock()
	defer handoff.Unlock()
	return len(handoff.entries)
}
