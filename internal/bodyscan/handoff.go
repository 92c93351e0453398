package bodyscan

import (
	"crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/zeebo/xxh3"
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
	// MessageStrings are the spans of the long string values inside the
	// messages value (the contents of long turns), as offsets into that
	// value (body[MessagesStart:MessagesEnd]): a walk of the messages
	// takes their ends from here (Object.KnowStrings) instead of finding
	// them again. Empty when there is no messages span.
	MessageStrings Strings
}

// FindingsOf returns the findings for body, the body Scan read with r,
// after the router phase removed removed (a member of r, or the zero
// Member) with RemoveMember: offsets past the cut move back with the bytes.
func FindingsOf(r Result, removed Member) Findings {
	f := Findings{Model: r.Model, ModelStart: r.modelStart, ModelEnd: r.modelEnd, Stream: r.stream, Members: r.members,
		MessagesStart: r.messagesStart, MessagesEnd: r.messagesEnd, RawStrings: r.rawStrings,
		MessageStrings: Strings{spans: r.messageStrings}}
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
			f.MessageStrings = Strings{}
		}
	}
	return f
}

// The handoff is keyed by the body itself: a 128-bit seeded XXH3 of its
// bytes, and its length. Whatever happened between the phases (another
// filter that rewrote the body, a retry's copy), an attempt finds the
// findings only for the very bytes they describe, and otherwise scans the
// body itself. Identical bodies in flight at once on one worker share one
// entry. Entries are values in a table's slots, not pointers: a request's
// handoff allocates nothing once the table has grown to the requests in
// flight.
//
// Threat model. The key only detects that the body changed between the
// phases (another filter in the chain rewrote it); it authenticates
// nothing. XXH3 is not a MAC, but the seed is secret (crypto/rand, once
// per process) and no client ever sees a hash, the key or a timing that
// depends on one, so a client cannot aim two bodies at one key; and 128
// bits make an accidental collision among the requests in flight
// negligible (about n²/2¹²⁹ for n of them). Should a wrong match happen
// anyway, it pairs findings with another body of the same length: the
// consumers then use stale offsets, all within [0, len(body)], and never
// read out of range or panic (bodyscan.WalkTrustedKnown checks the
// messages span against the body and walks only within it; the OpenAI
// passthrough checks the model span and falls back to a scan when it is
// not a string of this body: translate's TestStaleFindings feeds every
// scanned translator findings of another body). The request is then
// translated from meaningless spans and the provider rejects it: a wrong
// answer for that one request, never a crash or another request's data.
//
// Cost: XXH3 runs at memory speed (about 20 µs per MiB here against
// maphash's 110), once in the router phase and once per attempt. An
// attempt that sees the body in Envoy's slices hashes them as they lie
// (RecallSlices: about 42 µs per MiB in 16 KiB slices, the streaming
// hasher copying each block through its own buffer), which costs less
// than joining them first (about 64 µs with the hash).
//
// Memory: an entry holds its Findings by value (128 bytes with its count,
// TestHandoffEntrySize), and the message strings' spans by reference; a
// slot is the entry and its key. A shard's table halves once an eighth
// full (handoffTable), so after a burst of 10,000 requests in flight
// (about 2.5 MB of slots on one worker) the memory follows the load back
// down.
//
// Workers: every request takes its shard's lock three times (Remember,
// Recall, Forget), on the Envoy worker thread that serves both its phases.
// One lock and map for all made each worker wait for, and pull over, the
// lines the other had just written: with two workers the handoff cost
// 250 ns more per request than with one (perf, WholePathABIParallel/
// openai/1KiB), and spread over shards by the key it still cost 380 ns more
// (each request's shard was as likely the other worker's last). So each
// worker keeps its requests' findings in a shard of its own, chosen by the
// worker thread's number (internal/cthread, which both adapters read:
// WorkerOf), each behind its own lock on its own cache lines, in a table
// that is not a Go map (handoffTable says why); the seed is apart from
// them, read-only. An attempt that runs on another thread than
// its router phase (none in Envoy: cthread) finds nothing and scans.
var handoff = struct {
	seed   uint64
	_      [cacheLine - 8]byte
	shards [handoffShards]handoffShard
}{seed: randomSeed()}

// handoffShard is one worker's lock and entries, padded so that no two
// shards share a cache line (nor the pair of lines a core fetches
// together).
type handoffShard struct {
	sync.Mutex
	handoffTable
	_ [2*cacheLine - 8 - 24 - 8]byte
}

const (
	handoffShards = 64
	cacheLine     = 64
)

// shardOf is the part of the handoff worker thread number worker keeps.
func shardOf(worker uint32) *handoffShard {
	return &handoff.shards[worker%handoffShards]
}

// A Worker knows the number of the Envoy worker thread it serves a stream
// on (internal/cthread): both adapters' streams are.
type Worker interface {
	WorkerThread() uint32
}

// WorkerOf is v's worker thread number when v is a Worker, else 0.
func WorkerOf(v any) uint32 {
	if w, ok := v.(Worker); ok {
		return w.WorkerThread()
	}
	return 0
}

// randomSeed is the handoff's secret seed: random per process.
func randomSeed() uint64 {
	var b [8]byte
	rand.Read(b[:]) // never fails: it crashes the process rather than return an error
	return binary.LittleEndian.Uint64(b[:])
}

type handoffKey struct {
	hash xxh3.Uint128
	n    int
}

// handoffKeyOf is the handoff key of the body made of slices, one after
// the other: xxh3.Hash128Seed of their concatenation, without making it.
// One slice is hashed at once; several stream through a pooled hasher
// (xxh3.Hasher, seeded with the handoff's seed when it was made: its
// secret is derived once, and Reset keeps it), whose Sum128 is
// Hash128Seed's (TestSlicedHashIsHash128Seed). The hasher copies what it
// cannot hash in place through its 1 KiB block buffer: cheaper than joining
// the slices, which would copy everything through the cache once more.
func handoffKeyOf(slices [][]byte) handoffKey {
	if len(slices) == 1 {
		return handoffKey{hash: xxh3.Hash128Seed(slices[0], handoff.seed), n: len(slices[0])}
	}
	h := hashers.Get().(*xxh3.Hasher)
	h.Reset()
	n := 0
	for _, s := range slices {
		h.Write(s)
		n += len(s)
	}
	k := handoffKey{hash: h.Sum128(), n: n}
	hashers.Put(h)
	return k
}

// hashers are the seeded streaming hashers of handoffKeyOf (about 1.3 KB
// each, one per worker in use).
var hashers = sync.Pool{New: func() any { return xxh3.NewSeed(handoff.seed) }}

type handoffEntry struct {
	f    Findings
	refs int
}

// Ticket keeps findings available until Forget; the zero Ticket holds
// nothing.
type Ticket struct {
	key  handoffKey
	sh   *handoffShard
	held bool
}

// Remember makes f, the findings for body, available to Recall on the same
// worker thread until the returned ticket's Forget: the router phase calls
// it for the body it forwards and Forget when Envoy destroys the stream
// (after every attempt).
func Remember(body []byte, f Findings, worker uint32) Ticket {
	k := handoffKeyOf([][]byte{body})
	sh := shardOf(worker)
	sh.Lock()
	defer sh.Unlock()
	if e := sh.put(k); e.refs == 0 {
		*e = handoffEntry{f: f, refs: 1}
	} else {
		e.refs++
	}
	return Ticket{key: k, sh: sh, held: true}
}

// Forget releases t's findings; a second call does nothing.
func (t *Ticket) Forget() {
	if !t.held {
		return
	}
	t.held = false
	sh := t.sh
	sh.Lock()
	defer sh.Unlock()
	if e, ok := sh.get(t.key); ok {
		if e.refs > 1 {
			e.refs--
		} else {
			sh.remove(t.key)
		}
	}
}

// Recall returns the findings the router phase remembered for exactly
// these bytes on this worker thread, if a request carrying them is in
// flight.
func Recall(body []byte, worker uint32) (Findings, bool) {
	return RecallSlices([][]byte{body}, worker)
}

// RecallSlices is Recall for a body held in slices (Envoy's buffer, as an
// upstream attempt sees it): the body is their concatenation, hashed
// without being joined (handoffKeyOf). The slices are only read, during the
// call. Empty slices are allowed.
func RecallSlices(body [][]byte, worker uint32) (Findings, bool) {
	k := handoffKeyOf(body)
	sh := shardOf(worker)
	sh.Lock()
	defer sh.Unlock()
	if e, ok := sh.get(k); ok {
		return e.f, true
	}
	return Findings{}, false
}

// remembered reports how many distinct bodies are remembered (tests).
func remembered() int {
	n := 0
	for i := range handoff.shards {
		sh := &handoff.shards[i]
		sh.Lock()
		n += sh.n
		sh.Unlock()
	}
	return n
}
