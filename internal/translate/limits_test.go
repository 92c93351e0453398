package translate

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// heapAfterGC is the live Go heap.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestSSEParserCaps(t *testing.T) {
	const max = 64
	long := strings.Repeat("x", max+1)
	cases := []struct {
		name   string
		pieces []string
		events int // dispatched before the cap, or all when ok
		ok     bool
	}{
		{"line at the cap split across chunks", []string{"data: " + strings.Repeat("x", max-6-1), "y\n\n"}, 1, true},
		{"unterminated line over the cap", []string{"data: ", long}, 0, false},
		{"unterminated line grows over the cap across chunks", []string{"data: " + long[:40], long[:40]}, 0, false},
		{"terminated line over the cap in one chunk", []string{"data: " + long + "\n\n"}, 0, false},
		{"joined data lines over the cap", []string{"data: ok\n\n", strings.Repeat("data: "+long[:20]+"\n", 4)}, 1, false},
		{"many small events are fine", []string{strings.Repeat("data: "+long[:50]+"\n\n", 100)}, 100, true},
		{"comment line over the cap", []string{": " + long + "\n"}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := sseParser{max: max}
			n := 0
			var err error
			for _, piece := range tc.pieces {
				if err = p.feed([]byte(piece), false, func(_, _ []byte) error { n++; return nil }); err != nil {
					break
				}
			}
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				if !errors.Is(err, errEventTooLarge) {
					t.Fatalf("err %v, want errEventTooLarge", err)
				}
				if p.line != nil || p.data != nil || p.event != nil {
					t.Fatal("buffers kept after the cap")
				}
				if err := p.feed([]byte("data: x\n\n"), true, func(_, _ []byte) error { n++; return nil }); !errors.Is(err, errEventTooLarge) {
					t.Fatalf("parsing resumed after the cap: %v", err)
				}
			}
			if n != tc.events {
				t.Fatalf("%d events, want %d", n, tc.events)
			}
		})
	}
}

// One line without a terminator: 16 MiB in 256 KiB chunks, cap 1 MiB. The passthrough
// passes every byte on, stops reading usage past the cap, and holds no more
// than the cap; before, the line accumulator grew with the stream.
func TestPassthroughStreamBounded(t *testing.T) {
	tr, err := New(Target{Limits: Limits{MaxEventBytes: 1 << 20}}, "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.ResponseHeaders(200, "text/event-stream", ""); err != nil {
		t.Fatal(err)
	}
	before := heapAfterGC()
	chunk := bytes.Repeat([]byte("a"), 256<<10)
	first := append([]byte("data: {\"usage\":"), chunk[16:]...)
	for i := range 64 { // 16 MiB
		in := chunk
		if i == 0 {
			in = first
		}
		out, _, err := tr.ResponseBody(in, false)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("chunk %d: passthrough changed the bytes (%v)", i, err)
		}
	}
	grown := int64(heapAfterGC()) - int64(before)
	runtime.KeepAlive(tr)
	t.Logf("Go heap grew %d KiB over 16 MiB of one line (cap 1 MiB)", grown>>10)
	if grown > 1<<20 {
		t.Fatalf("Go heap grew %d MiB: the stream is not bounded", grown>>20)
	}
	// The stream goes on, usage is no longer read, bytes still pass.
	tail := []byte("\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\n")
	out, u, err := tr.ResponseBody(tail, true)
	if err != nil || !bytes.Equal(out, tail) || u != (Usage{}) {
		t.Fatalf("after the cap: %q %+v %v", out, u, err)
	}
}

// A translated stream ends for the client with an error event at the cap,
// and its memory returns.
func TestAnthropicStreamEventCap(t *testing.T) {
	tr := newAnthropicT(t, Target{Schema: SchemaAnthropic, Limits: Limits{MaxEventBytes: 1 << 20}})
	if _, err := tr.RequestBody([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.ResponseHeaders(200, "text/event-stream", ""); err != nil {
		t.Fatal(err)
	}
	start := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"model\":\"c\",\"usage\":{\"input_tokens\":3}}}\n\n"
	out, _, err := tr.ResponseBody([]byte(start), false)
	if err != nil || !bytes.Contains(out, []byte(`"role":"assistant"`)) {
		t.Fatalf("%q %v", out, err)
	}
	before := heapAfterGC()
	chunk := bytes.Repeat([]byte("b"), 256<<10)
	var all []byte
	var firstErr error
	for i := range 32 { // 8 MiB of one unterminated line
		out, _, err := tr.ResponseBody(chunk, false)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		all = append(all, out...)
		if i == 0 {
			all = append([]byte{}, all...)
		}
	}
	if !errors.Is(firstErr, errEventTooLarge) {
		t.Fatalf("err %v", firstErr)
	}
	payloads := checkSSEOutput(t, all)
	if len(payloads) != 1 || !bytes.Contains(payloads[0], []byte(`"error"`)) || !bytes.Contains(payloads[0], []byte("max_stream_event_bytes")) {
		t.Fatalf("client output %q", all)
	}
	if grown := int64(heapAfterGC()) - int64(before); grown > 1<<20 {
		t.Fatalf("Go heap grew %d KiB after the cap", grown>>10)
	}
	out, _, err = tr.ResponseBody([]byte("\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), true)
	if err != nil || len(out) != 0 {
		t.Fatalf("output after the stream ended: %q %v", out, err)
	}
}

// gzipFlushed compresses each piece with a sync flush after it, as a
// streaming server does, and returns the compressed pieces.
func gzipFlushed(t testing.TB, pieces ...string) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	var out [][]byte
	for i, p := range pieces {
		zw.Write([]byte(p))
		if i == len(pieces)-1 {
			zw.Close()
		} else {
			zw.Flush()
		}
		out = append(out, bytes.Clone(buf.Bytes()))
		buf.Reset()
	}
	return out
}

// A gzip stream is decoded as it arrives, not at its end.
func TestGzipStreamIncremental(t *testing.T) {
	events := strings.SplitAfter(openAIStreamFixture, "\n\n")
	events = events[:len(events)-1]
	tr, _ := New(Target{}, "/v1/chat/completions")
	mode, err := tr.ResponseHeaders(200, "text/event-stream", "gzip")
	if err != nil || !mode.Stream || mode.BufferBody {
		t.Fatalf("%+v %v", mode, err)
	}
	var usage Usage
	for i, piece := range gzipFlushed(t, events...) {
		out, u, err := tr.ResponseBody(piece, i == len(events)-1)
		if err != nil || string(out) != events[i] {
			t.Fatalf("piece %d: %q %v, want %q", i, out, err, events[i])
		}
		usage = u
	}
	if usage.TotalTokens != 12 {
		t.Fatalf("usage %+v", usage)
	}

	// The Anthropic translator too: each flushed event comes out at once.
	in, _ := stringsFromFile(t, "testdata/anthropic/stream/text.sse")
	want, _ := translateStream(t, true, []byte(in))
	st := anthropicResponseTranslator(t, true, true)
	mode, err = st.ResponseHeaders(200, "text/event-stream", "gzip")
	if err != nil || !mode.Stream || mode.BufferBody {
		t.Fatalf("%+v %v", mode, err)
	}
	ev := strings.SplitAfter(in, "\n\n")
	var got []byte
	for i, piece := range gzipFlushed(t, ev...) {
		out, _, err := st.ResponseBody(piece, i == len(ev)-1)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && len(out) == 0 {
			t.Fatal("message_start not translated when it arrived")
		}
		got = append(got, out...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("gzip stream:\n%s\nwant\n%s", got, want)
	}
}

func stringsFromFile(t testing.TB, path string) (string, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

// Undecodable or oversized gzip is an error for 200 and error responses,
// buffered or streamed; a stream's output ends with an error event.
func TestGzipFailures(t *testing.T) {
	bomb := gzipBytes(t, make([]byte, 8<<20)) // 8 MiB of zeros: ~8 KiB compressed
	truncated := gzipBytes(t, []byte(openAIChatResponse))
	truncated = truncated[:len(truncated)-6]
	truncatedSSE := gzipBytes(t, []byte(openAIStreamFixture))
	truncatedSSE = truncatedSSE[:len(truncatedSSE)-6]
	lim := Limits{MaxDecodedBytes: 1 << 20}
	cases := []struct {
		name   string
		status int
		ct     string
		body   []byte
		split  bool
	}{
		{"not gzip, 200 json", 200, "application/json", []byte("not gzip at all"), false},
		{"not gzip, 200 stream", 200, "text/event-stream", []byte("data: {}\n\n"), true},
		{"not gzip, 500", 500, "application/json", []byte(`{"error":{"message":"x"}}`), false},
		{"truncated, 200 json", 200, "application/json", truncated, true},
		{"truncated, 200 stream", 200, "text/event-stream", truncatedSSE, true},
		{"truncated, 429", 429, "application/json", truncated, false},
		{"bomb, 200 json", 200, "application/json", bomb, false},
		{"bomb, 200 stream", 200, "text/event-stream", bomb, true},
		{"bomb, 503", 503, "application/json", bomb, false},
	}
	for _, schema := range []string{SchemaOpenAI, SchemaAnthropic} {
		for _, tc := range cases {
			t.Run(schema+"/"+tc.name, func(t *testing.T) {
				var tr Translator
				if schema == SchemaAnthropic {
					tr = newAnthropicT(t, Target{Schema: SchemaAnthropic, Limits: lim})
					tr.RequestBody([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`))
				} else {
					tr, _ = New(Target{Limits: lim}, "/v1/chat/completions")
				}
				mode, err := tr.ResponseHeaders(tc.status, tc.ct, "gzip")
				if err != nil {
					t.Fatal(err)
				}
				pieces := [][]byte{tc.body}
				if tc.split {
					pieces = [][]byte{tc.body[:len(tc.body)/2], tc.body[len(tc.body)/2:]}
				}
				var out []byte
				var firstErr error
				for i, p := range pieces {
					o, _, err := tr.ResponseBody(p, i == len(pieces)-1)
					out = append(out, o...)
					if err != nil && firstErr == nil {
						firstErr = err
					}
				}
				if !isBadResponse(firstErr) {
					t.Fatalf("err %v, out %q: want a badResponse", firstErr, out)
				}
				if mode.Stream && !mode.BufferBody {
					payloads := checkSSEOutput(t, out)
					if len(payloads) == 0 || !bytes.Contains(payloads[len(payloads)-1], []byte(`"error"`)) {
						t.Fatalf("stream does not end with an error event: %q", out)
					}
				}
			})
		}
	}
}

// A gzip bomb allocates about the cap, not a multiple of it or of the input
// (before: 4x the compressed size preallocated, then bytes.Buffer doubling:
// ~251 MiB for a 1 MiB bomb).
func TestGzipBombAllocation(t *testing.T) {
	const limit = 4 << 20
	bomb := gzipBytes(t, make([]byte, 16<<20)) // ~16 KiB compressed, 4x the cap
	t.Logf("bomb: %d KiB compressed", len(bomb)>>10)
	for _, whole := range []bool{true, false} {
		// Whole: a buffered body, handed over at its end. In pieces: a stream.
		tr, _ := New(Target{Limits: Limits{MaxDecodedBytes: limit, MaxEventBytes: 1 << 10}}, "/v1/chat/completions")
		ct := "application/json"
		if !whole {
			ct = "text/event-stream"
		}
		tr.ResponseHeaders(200, ct, "gzip")
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var err error
		if whole {
			_, _, err = tr.ResponseBody(bomb, true)
		} else {
			for i := 0; i < len(bomb); i += 1 << 10 {
				end := min(i+1<<10, len(bomb))
				if _, _, err = tr.ResponseBody(bomb[i:end], end == len(bomb)); err != nil {
					break
				}
			}
		}
		runtime.ReadMemStats(&after)
		if !isBadResponse(err) {
			t.Fatalf("bomb accepted: %v", err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("whole=%v: allocated %d MiB decoding to the %d MiB cap", whole, alloc>>20, limit>>20)
		// Whole: the blocks, up to the cap. In pieces: each call's blocks
		// and its joined output (released after the call), up to the cap.
		bound := uint64(limit*5/4 + 1<<20)
		if !whole {
			bound = 2*limit + 1<<20
		}
		if alloc > bound {
			t.Fatalf("allocated %d MiB for a %d MiB cap", alloc>>20, limit>>20)
		}
	}
}

// An abandoned streaming decoder (the attempt ended mid-stream) does not
// leave its goroutine behind.
func TestGzipDecoderAbandoned(t *testing.T) {
	gz := gzipBytes(t, []byte(openAIStreamFixture))
	// Earlier tests' abandoned decoders end when a GC runs their cleanup:
	// let that happen before the base count, so they do not end during
	// this test and make the counts below drift.
	base := runtime.NumGoroutine()
	for range 100 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == base {
			break
		}
		base = n
	}
	// Held until counted: a GC during the loop may otherwise already have
	// cleaned up an abandoned decoder (the behaviour under test), making
	// the count below one short.
	held := make([]Translator, 0, 20)
	for range 20 {
		tr, _ := New(Target{}, "/v1/chat/completions")
		tr.ResponseHeaders(200, "text/event-stream", "gzip")
		if _, _, err := tr.ResponseBody(gz[:len(gz)/2], false); err != nil {
			t.Fatal(err)
		}
		held = append(held, tr)
	}
	if n := runtime.NumGoroutine(); n < base+20 {
		t.Fatalf("expected the decoders' goroutines to be running: %d vs %d", n, base)
	}
	runtime.KeepAlive(held) // from here on they are abandoned
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left behind", runtime.NumGoroutine()-base)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
