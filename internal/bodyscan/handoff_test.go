package bodyscan

import (
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/aigw/aigw/internal/testbodies"
	"github.com/zeebo/xxh3"
)

func TestFindingsOf(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		remove    bool // the backend member, as the router phase does
		wantBody  string
		wantModel string // body[ModelStart:ModelEnd] after the cut
		stream    bool
		members   int
		messages  string // body[MessagesStart:MessagesEnd] after the cut
	}{
		{"backend before model", `{"backend":"b","model":"m","stream":true}`, true, `{"model":"m","stream":true}`, `"m"`, true, 2, ``},
		{"backend after model", `{"model":"m", "backend":"b"}`, true, `{"model":"m"}`, `"m"`, false, 1, ``},
		{"backend last, model escaped", `{"stream":false,"mod\u0065l":"m\u00e9","backend":"b"}`, true, `{"stream":false,"mod\u0065l":"m\u00e9"}`, `"m\u00e9"`, false, 2, ``},
		{"no backend", `{"stream":true, "model" : "gpt" ,"stream":false}`, false, `{"stream":true, "model" : "gpt" ,"stream":false}`, `"gpt"`, false, 3, ``},
		{"no model", `{"backend":"b","messages":[]}`, true, `{"messages":[]}`, ``, false, 1, `[]`},
		{"only backend", `{"backend":"b"}`, true, `{}`, ``, false, 0, ``},
		{"messages after backend", `{"backend":"b", "messages":[{"role":"user"}],"model":"m"}`, true, `{"messages":[{"role":"user"}],"model":"m"}`, `"m"`, false, 2, `[{"role":"user"}]`},
		{"messages before backend", `{"messages":[1],"backend":"b"}`, true, `{"messages":[1]}`, ``, false, 1, `[1]`},
		{"messages twice, the last spanned", `{"messages":[1],"messages":[2,3]}`, false, `{"messages":[1],"messages":[2,3]}`, ``, false, 2, `[2,3]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, f := forwarded(t, tc.body, tc.remove)
			if string(body) != tc.wantBody {
				t.Fatalf("body %s, want %s", body, tc.wantBody)
			}
			if got := string(body[f.ModelStart:f.ModelEnd]); f.Model.Present && got != tc.wantModel || !f.Model.Present && tc.wantModel != "" {
				t.Errorf("model span %q (present %v), want %q", got, f.Model.Present, tc.wantModel)
			}
			if got := string(body[f.MessagesStart:f.MessagesEnd]); got != tc.messages {
				t.Errorf("messages span %q, want %q", got, tc.messages)
			}
			if f.Stream != tc.stream || f.Members != tc.members {
				t.Errorf("stream %v members %d, want %v %d", f.Stream, f.Members, tc.stream, tc.members)
			}
		})
	}
}

// forwarded is body as the router phase forwards it, and its findings:
// scanned, then (remove) without its backend member.
func forwarded(t *testing.T, body string, remove bool) ([]byte, Findings) {
	t.Helper()
	b := []byte(body)
	r, err := Scan(b, "backend")
	if err != nil {
		t.Fatal(err)
	}
	var removed Member
	if remove {
		b, removed = RemoveMember(b, r.Backend), r.Backend
	}
	return b, FindingsOf(r, removed)
}

func TestHandoff(t *testing.T) {
	base := remembered()
	body := []byte(`{"model":"m","messages":[]}`)
	same := []byte(string(body))    // another request with the same bytes
	changed := []byte(string(body)) // a filter in between changed a byte
	changed[10] = 'n'
	f := Findings{Model: Member{Present: true, Type: TypeString, Value: "m"}, ModelStart: 9, ModelEnd: 12, Members: 2}

	if _, ok := Recall(body, 0); ok {
		t.Fatal("recalled before remembered")
	}
	t1 := Remember(body, f, 0)
	t2 := Remember(same, f, 0)
	if got, ok := Recall(same, 0); !ok || !reflect.DeepEqual(got, f) {
		t.Fatalf("Recall = %+v %v, want %+v", got, ok, f)
	}
	for _, b := range [][]byte{changed, body[:len(body)-1], append(append([]byte(nil), body...), ' ')} {
		if _, ok := Recall(b, 0); ok {
			t.Fatalf("recalled findings for other bytes %q", b)
		}
	}
	t1.Forget()
	t1.Forget() // a second Forget must not release the other request's hold
	if _, ok := Recall(body, 0); !ok {
		t.Fatal("the second request's findings went with the first")
	}
	t2.Forget()
	if _, ok := Recall(body, 0); ok {
		t.Fatal("recalled after every request ended")
	}
	var zero Ticket
	zero.Forget()
	if n := remembered(); n != base {
		t.Fatalf("%d bodies remembered, want %d", n, base)
	}
}

// TestHandoffKeyIsTheBytes: the handoff finds findings for the same bytes
// (another slice holding them) and for nothing else: not after one byte
// changed, wherever it is (the first, the last, each in between: XXH3
// reads lengths up to 16, 128, 240 bytes and longer inputs by different
// paths, so every one is covered), nor for a body one byte shorter or
// longer.
func TestHandoffKeyIsTheBytes(t *testing.T) {
	base := remembered()
	f := Findings{Members: 1}
	for _, n := range []int{0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1024, 4097} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte('a' + i%26)
		}
		tk := Remember(body, f, 0)
		if got, ok := Recall(append([]byte(nil), body...), 0); !ok || !reflect.DeepEqual(got, f) {
			t.Fatalf("len %d: the same bytes in another slice: Recall = %+v %v", n, got, ok)
		}
		changed := append([]byte(nil), body...)
		for i := range changed {
			old := changed[i]
			for _, b := range []byte{old ^ 1, old ^ 0x80} {
				changed[i] = b
				if _, ok := Recall(changed, 0); ok {
					t.Fatalf("len %d: recalled after byte %d changed from %q to %q", n, i, old, b)
				}
			}
			changed[i] = old
		}
		if n > 0 {
			if _, ok := Recall(body[:n-1], 0); ok {
				t.Fatalf("len %d: recalled for the body without its last byte", n)
			}
			if _, ok := Recall(body[1:], 0); ok {
				t.Fatalf("len %d: recalled for the body without its first byte", n)
			}
		}
		for _, extra := range []byte{0, 'x'} {
			if _, ok := Recall(append(append([]byte(nil), body...), extra), 0); ok {
				t.Fatalf("len %d: recalled for the body with %q appended", n, extra)
			}
		}
		if _, ok := Recall(make([]byte, n), 0); ok && n > 0 {
			t.Fatalf("len %d: recalled for as many zero bytes", n)
		}
		tk.Forget()
		if _, ok := Recall(body, 0); ok {
			t.Fatalf("len %d: recalled after Forget", n)
		}
	}
	if got := remembered(); got != base {
		t.Fatalf("%d bodies remembered, want %d", got, base)
	}
}

// TestHandoffSeedIsRandom: the seed is drawn per process, never a constant
// a client could compute keys with.
func TestHandoffSeedIsRandom(t *testing.T) {
	a, b := randomSeed(), randomSeed()
	if a == b {
		t.Fatalf("two draws gave the same seed %#x", a)
	}
	if handoff.seed == 0 {
		t.Fatal("the handoff seed is zero")
	}
}

// BenchmarkHandoff is what the handoff costs one request: the router
// phase's Remember and Forget and one attempt's Recall, each hashing the
// whole body once (the only way to know an attempt holds the very bytes the
// findings describe).
func BenchmarkHandoff(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1KiB", 1 << 10}, {"1MiB", 1 << 20}} {
		body := LargeChatBody(size.n, false)
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				tk := Remember(body, Findings{}, 0)
				if _, ok := Recall(body, 0); !ok {
					b.Fatal("not recalled")
				}
				tk.Forget()
			}
		})
	}
}

// An entry stays 128 bytes at most: a field added to Findings grows every
// slot of every table (the memory a burst of requests in flight holds).
func TestHandoffEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(handoffEntry{}); n > 128 {
		t.Fatalf("handoffEntry is %d bytes, more than 128", n)
	}
}

// TestHandoffAllocatesNothing: once the map holds room for the requests in
// flight, remembering and forgetting a request's findings allocates nothing.
func TestHandoffAllocatesNothing(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","messages":[]}`)
	r, err := Scan(body, "backend")
	if err != nil {
		t.Fatal(err)
	}
	f := FindingsOf(r, Member{})
	run := func() {
		tk := Remember(body, f, 0)
		if _, ok := Recall(body, 0); !ok {
			t.Fatal("not recalled")
		}
		tk.Forget()
	}
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Fatalf("%v allocations per request, want 0", n)
	}
}

// TestHandoffShrinks: after a burst of requests in flight ends, the map's
// buckets go too (a Go map keeps its peak size; the handoff rebuilds it),
// so the heap returns to where it was.
func TestHandoffShrinks(t *testing.T) {
	const n = 20000
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = []byte(`{"model":"m","i":` + strconv.Itoa(i) + `}`)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	tickets := make([]Ticket, n)
	for i, b := range bodies {
		tickets[i] = Remember(b, Findings{Members: i}, 0)
	}
	held := heap()
	for i := range tickets {
		tickets[i].Forget()
	}
	after := heap()
	if remembered() != 0 {
		t.Fatalf("%d bodies still remembered", remembered())
	}
	// The held map is megabytes; after, within 512 KB of before.
	if held < before+2<<20 {
		t.Fatalf("holding %d findings took %d bytes: the reading does not see them", n, held-before)
	}
	if after > before+512<<10 {
		t.Fatalf("heap %d bytes before the burst, %d held, %d after it ended: the map kept its peak size", before, held, after)
	}
}

// The key of a body in slices is xxh3.Hash128Seed of their concatenation,
// byte for byte, wherever the cuts fall: around the lengths where XXH3
// changes strategy (16, 128, 240 bytes; a 64-byte stripe, a 1 KiB block,
// the streaming hasher's 1088-byte buffer), with empty slices in the list,
// and for no slice at all.
func TestSlicedHashIsHash128Seed(t *testing.T) {
	body := LargeChatBody(70<<10, false)
	tests := []struct {
		n  int   // body length
		at []int // cuts
	}{
		{0, nil}, {0, []int{0}}, {0, []int{0, 0, 0}},
		{1, []int{0}}, {1, []int{1}}, {3, []int{1, 2}},
		{16, []int{8}}, {17, []int{16}}, {17, []int{1}}, {15, []int{7, 7}},
		{64, []int{32}}, {65, []int{64}}, {129, []int{1, 64, 128}}, {128, []int{127}},
		{240, []int{120}}, {241, []int{240}}, {241, []int{1}}, {239, []int{16, 64, 128}},
		{1024, []int{512}}, {1025, []int{1024}}, {1088, []int{1024}}, {1089, []int{1088}}, {1089, []int{1, 1088}},
		{2048, []int{1024}}, {2113, []int{1024, 1088, 1088, 2112}}, {4096, []int{0, 1, 63, 64, 1023, 1025, 4095, 4096}},
		{16 << 10, []int{8 << 10}}, {64 << 10, []int{16 << 10, 32 << 10, 32 << 10, 48 << 10}},
		{70 << 10, []int{1, 16<<10 + 3, 16<<10 + 3, 64 << 10}},
	}
	for _, tc := range tests {
		b := body[:tc.n]
		want := handoffKey{hash: xxh3.Hash128Seed(b, handoff.seed), n: tc.n}
		if got := handoffKeyOf(testbodies.Cut(b, tc.at...)); got != want {
			t.Errorf("len %d cut at %v: key %+v, want %+v", tc.n, tc.at, got, want)
		}
	}
	if got, want := handoffKeyOf(nil), (handoffKey{hash: xxh3.Hash128Seed(nil, handoff.seed)}); got != want {
		t.Errorf("no slice: key %+v, want %+v", got, want)
	}
}

// FuzzSlicedHash: a body cut at any points hashes as the whole body.
func FuzzSlicedHash(f *testing.F) {
	f.Add([]byte(`{"model":"m"}`), uint64(5), uint8(2))
	f.Add(LargeChatBody(3000, false), uint64(0x0102030405060708), uint8(7))
	f.Fuzz(func(t *testing.T, body []byte, cuts uint64, n uint8) {
		var at []int
		for i := 0; i < int(n%16) && len(body) > 0; i++ {
			at = append(at, int(cuts>>(4*i)%uint64(len(body)+1)))
		}
		slices.Sort(at)
		want := handoffKey{hash: xxh3.Hash128Seed(body, handoff.seed), n: len(body)}
		if got := handoffKeyOf(testbodies.Cut(body, at...)); got != want {
			t.Fatalf("len %d cut at %v: key %+v, want %+v", len(body), at, got, want)
		}
	})
}

// RecallSlices finds what Remember stored for the same bytes however Envoy
// cut them, and nothing for other bytes of the same length, a prefix, or
// the same slices in another order.
func TestRecallSlices(t *testing.T) {
	body := LargeChatBody(100<<10, false)
	f := Findings{Members: 7, Stream: true}
	tk := Remember(body, f, 0)
	defer tk.Forget()
	changed := slices.Clone(body)
	changed[50<<10] ^= 1
	for _, tc := range []struct {
		name string
		body [][]byte
		want bool
	}{
		{"one slice", [][]byte{body}, true},
		{"16 KiB slices", testbodies.Split(body, 16<<10), true},
		{"uneven, with empty slices", testbodies.Cut(body, 0, 1, 1, 1000, 70000, 70000), true},
		{"other bytes", testbodies.Split(changed, 16<<10), false},
		{"a prefix", testbodies.Split(body[:len(body)-1], 16<<10), false},
		{"reordered", append(testbodies.Cut(body, 1000)[1:], body[:1000]), false},
	} {
		got, ok := RecallSlices(tc.body, 0)
		if ok != tc.want || ok && !reflect.DeepEqual(got, f) {
			t.Errorf("%s: RecallSlices = %+v %v, want found %v", tc.name, got, ok, tc.want)
		}
	}
	// A 1 MiB body in Envoy's 64 slices is recalled without an allocation.
	big := LargeChatBody(1<<20, false)
	tk2 := Remember(big, f, 0)
	defer tk2.Forget()
	parts := testbodies.Split(big, 16<<10)
	if n := testing.AllocsPerRun(20, func() {
		if _, ok := RecallSlices(parts, 0); !ok {
			t.Fatal("not recalled")
		}
	}); n != 0 && !raceEnabled {
		t.Errorf("%v allocations per RecallSlices, want 0", n)
	}
}

// TestHandoffShardsApart: no two shards' locks and maps, nor one and the
// seed every request reads, can share a cache line (nor the pair of lines a
// core fetches together), wherever the linker puts the handoff: what a
// shard writes is its first bytes, and shards lie two lines apart.
func TestHandoffShardsApart(t *testing.T) {
	var sh handoffShard
	hot := unsafe.Offsetof(sh.handoffTable) + unsafe.Sizeof(sh.handoffTable)
	if n := unsafe.Sizeof(sh); n != 2*cacheLine || hot > cacheLine {
		t.Fatalf("a shard is %d bytes with %d written, want %d with at most %d", n, hot, 2*cacheLine, cacheLine)
	}
	if off := unsafe.Offsetof(handoff.shards); off < cacheLine {
		t.Fatalf("the shards start %d bytes after the seed", off)
	}
}

// BenchmarkHandoffParallel is BenchmarkHandoff on every worker at once,
// each request with a body of its own (the requests in flight differ), as
// Envoy's workers run it: ns/op with -cpu 2 against -cpu 1 is what one
// worker's handoff costs the other.
func BenchmarkHandoffParallel(b *testing.B) {
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		w := next.Add(1)
		bodies := make([][]byte, 1024)
		for i := range bodies {
			bodies[i] = []byte(`{"model":"gpt-4o","messages":[],"n":"` + strconv.FormatInt(w, 10) + "-" + strconv.Itoa(i) + `"}`)
		}
		i := 0
		for pb.Next() {
			body := bodies[i%len(bodies)]
			i++
			tk := Remember(body, Findings{}, uint32(w))
			if _, ok := Recall(body, uint32(w)); !ok {
				b.Fatal("not recalled")
			}
			tk.Forget()
		}
	})
}

// Findings stay with the worker thread that remembered them: recalled there
// (and under a number that names its shard too), not on another worker,
// and forgotten from there.
func TestHandoffPerWorker(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","messages":[]}`)
	f := Findings{Members: 2}
	base := remembered()
	tk := Remember(body, f, 3)
	if got, ok := Recall(body, 3); !ok || !reflect.DeepEqual(got, f) {
		t.Fatalf("not recalled on the worker that remembered it: %+v %v", got, ok)
	}
	if _, ok := RecallSlices([][]byte{body[:5], body[5:]}, 3+handoffShards); !ok {
		t.Fatal("not recalled under a worker number of the same shard")
	}
	if _, ok := Recall(body, 4); ok {
		t.Fatal("recalled on another worker")
	}
	other := Remember(body, f, 4) // the same body on another worker: its own entry
	tk.Forget()
	if _, ok := Recall(body, 3); ok {
		t.Fatal("recalled after Forget")
	}
	if _, ok := Recall(body, 4); !ok {
		t.Fatal("another worker's entry went with this one's Forget")
	}
	other.Forget()
	if n := remembered(); n != base {
		t.Fatalf("%d bodies remembered, want %d", n, base)
	}
}

// WorkerOf reads a Worker's number, and 0 of anything else.
func TestWorkerOf(t *testing.T) {
	if n := WorkerOf(workerNumber(7)); n != 7 {
		t.Fatalf("WorkerOf = %d, want 7", n)
	}
	if n := WorkerOf(struct{}{}); n != 0 {
		t.Fatalf("WorkerOf of a non-Worker = %d", n)
	}
}

type workerNumber uint32

func (w workerNumber) WorkerThread() uint32 { return uint32(w) }
