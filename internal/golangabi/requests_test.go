package golangabi

import (
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/aigw/aigw/filter"
	"github.com/aigw/aigw/internal/cthread"
)

// A header of the callback's groups is read with the rest of its group in
// one call, once per callback; a write makes the next read of a group read
// it again (after the write reaches Envoy); the next callback reads again.
func TestHeaderGroupsReadOnce(t *testing.T) {
	var fetched []string
	old := fetchGroup
	defer func() { fetchGroup = old }()
	fetchGroup = func(_ unsafe.Pointer, keys []byte, arena *[]byte, vals *[maxHeaderGroup]string, ok *[maxHeaderGroup]bool) {
		var names []string
		for i := 0; i < len(keys); i += 1 + int(keys[i]) {
			names = append(names, string(keys[i+1:i+1+int(keys[i])]))
		}
		fetched = append(fetched, strings.Join(names, ","))
		for i := range vals {
			vals[i], ok[i] = "", false
			if i < len(names) && names[i] != "absent" {
				vals[i], ok[i] = "v:"+names[i], true
			}
		}
	}
	reads := filter.HeaderReads{Headers: [][]string{{":path", ":method", "absent"}, {"x-model", "x-backend"}}}
	w := &worker{}
	r := &request{w: w, reads: &reads}
	h := (*headers)(r)
	get := func(name, want string, wantOK bool) {
		t.Helper()
		if v, ok := h.Get(name); v != want || ok != wantOK {
			t.Errorf("Get(%q) = %q %v, want %q %v", name, v, ok, want, wantOK)
		}
	}
	var s byte
	r.beginCallback(unsafe.Pointer(&s), reads.Headers)
	get(":method", "v::method", true)
	get(":path", "v::path", true)
	get("absent", "", false)
	if len(fetched) != 1 || fetched[0] != ":path,:method,absent" {
		t.Fatalf("reads %q, want the first group once", fetched)
	}
	get("x-backend", "v:x-backend", true)
	get(":path", "v::path", true)
	if len(fetched) != 3 {
		t.Fatalf("reads %q: one per group switch", fetched)
	}
	h.Del("x-model")
	// The queued removal goes to Envoy before the next read (applyOps has
	// no Envoy here: empty the queue as flush would).
	w.ops = w.ops[:0]
	get("x-model", "v:x-model", true)
	if len(fetched) != 4 {
		t.Fatalf("reads %q: a write must make the group be read again", fetched)
	}
	r.beginCallback(unsafe.Pointer(&s), reads.Headers)
	get("x-model", "v:x-model", true)
	if len(fetched) != 5 {
		t.Fatalf("reads %q: a new callback reads again", fetched)
	}
}

// queue lays a write out as aigw_ops reads it: kind, the three string
// lengths (native uint32), then the strings.
func TestQueueLayout(t *testing.T) {
	r := &request{w: &worker{}}
	r.queue(opSetMetadata, "ns", "key", []byte("val"))
	r.queue(opClearRouteCache, "", "", nil)
	b, le := r.w.ops, binary.NativeEndian
	if opFixed != 13 || b[0] != opSetMetadata || le.Uint32(b[1:]) != 2 || le.Uint32(b[5:]) != 3 || le.Uint32(b[9:]) != 3 ||
		string(b[13:21]) != "nskeyval" || b[21] != opClearRouteCache || len(b) != 21+opFixed {
		t.Fatalf("queued % x", b)
	}
}

// A request's worker thread is the number cthread gives the thread its
// worker runs on (the dynamic module's attempts read the same number from
// C), asked once per worker.
func TestWorkerThreadIsTheThreads(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := &worker{}
	r := &request{w: w}
	want := cthread.Number()
	if got := r.WorkerThread(); got != want {
		t.Fatalf("WorkerThread = %d, the thread's number is %d", got, want)
	}
	if w.thread != want+1 {
		t.Fatalf("the worker did not keep its thread's number: %d", w.thread)
	}
	if got := (&request{w: w}).WorkerThread(); got != want {
		t.Fatalf("another request of the worker: %d, want %d", got, want)
	}
}
