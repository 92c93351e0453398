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
// body itself. Identical bodies in flight at once share one entry. Entries
// are map values, not pointers: a request's handoff allocates nothing once
// the map has grown to the requests in flight.
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
// Memory: an entry holds its Findings by value (128 bytes with its count:
// the most a Go map keeps in its own slots; a larger value would cost an
// allocation per Remember, TestHandoffEntryFitsAMapSlot), and the message
// strings' spans by reference. A Go map keeps the buckets of its peak
// size: after a burst of 10,000 requests in flight the maps alone would
// keep ~3 MB. Forget rebuilds a shard's map at the size in use once that is
// an eighth of its peak (shrink, amortized O(1) per entry), so the memory
// follows the load back down.
//
// Contention: every request takes a shard's lock three times (Remember,
// Recall, Forget), on Envoy's worker threads. One lock and one map for all
// made each worker wait for, and pull over, the line the other had just
// written: with two workers the handoff cost 250 ns more per request than
// with one (perf, WholePathABIParallel/openai/1KiB). The entries are spread
// over handoffShards maps by their hash, each behind its own lock on its
// own cache lines, so two workers meet on one only by chance; the seed is
// apart from them, read-only.
var handoff = struct {
	seed   uint64
	_      [cacheLine - 8]byte
	shards [handoffShards]handoffShard
}{seed: randomSeed()}

// handoffShard is one lock and map of the handoff, padded so that no two
// shards share a cache line (nor the pair of lines a core fetches
// together).
type handoffShard struct {
	sync.Mutex
	entries map[handoffKey]handoffEntry
	peak    int // the most entries since the map was made
	_       [2*cacheLine - 8 - 8 - 8]byte
}

const (
	handoffShards = 64
	cacheLine     = 64
)

// shrinkFrom is the peak from which a shard's emptied map is rebuilt: below
// it all the shards' buckets are a few hundred KB at most.
const shrinkFrom = 1024 / handoffShards

// shard is the part of the handoff that holds k.
func (k handoffKey) shard() *handoffShard {
	return &handoff.shards[k.hash.Lo%handoffShards]
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
	held bool
}

// Remember makes f, the findings for body, available to Recall until the
// returned ticket's Forget: the router phase calls it for the body it
// forwards and Forget when Envoy destroys the stream (after every attempt).
func Remember(body []byte, f Findings) Ticket {
	k := handoffKeyOf([][]byte{body})
	sh := k.shard()
	sh.Lock()
	defer sh.Unlock()
	if sh.entries == nil {
		sh.entries = map[handoffKey]handoffEntry{}
	}
	e, ok := sh.entries[k]
	if ok {
		e.refs++
	} else {
		e = handoffEntry{f: f, refs: 1}
	}
	sh.entries[k] = e
	sh.peak = max(sh.peak, len(sh.entries))
	return Ticket{key: k, held: true}
}

// Forget releases t's findings; a second call does nothing.
func (t *Ticket) Forget() {
	if !t.held {
		return
	}
	t.held = false
	sh := t.key.shard()
	sh.Lock()
	defer sh.Unlock()
	if e, ok := sh.entries[t.key]; ok {
		if e.refs--; e.refs == 0 {
			delete(sh.entries, t.key)
			if n := len(sh.entries); sh.peak >= shrinkFrom && n*8 <= sh.peak {
				sh.shrink(n)
			}
		} else {
			sh.entries[t.key] = e
		}
	}
}

// shrink rebuilds the map for its n entries (the lock held).
func (sh *handoffShard) shrink(n int) {
	m := make(map[handoffKey]handoffEntry, n)
	for k, e := range sh.entries {
		m[k] = e
	}
	sh.entries, sh.peak = m, n
}

// Recall returns the findings the router phase remembered for exactly
// these bytes, if a request carrying them is in flight.
func Recall(body []byte) (Findings, bool) {
	return RecallSlices([][]byte{body})
}

// RecallSlices is Recall for a body held in slices (Envoy's buffer, as an
// upstream attempt sees it): the body is their concatenation, hashed
// without being joined (handoffKeyOf). The slices are only read, during the
// call. Empty slices are allowed.
func RecallSlices(body [][]byte) (Findings, bool) {
	k := handoffKeyOf(body)
	sh := k.shard()
	sh.Lock()
	defer sh.Unlock()
	if e, ok := sh.entries[k]; ok {
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
		n += len(sh.entries)
		sh.Unlock()
	}
	return n
}
