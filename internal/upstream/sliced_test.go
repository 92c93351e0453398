package upstream

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/testbodies"
)

// An attempt over a body Envoy holds in several slices (SlicedBody) whose
// findings the router phase remembered, to a passthrough that edits it,
// takes no contiguous copy of it (Bytes is never called) and ends exactly
// as the same attempt over the body in one piece: the same request
// headers (content-length included), body, dynamic metadata and counters.
// A stream the gateway asks usage for is among them: its stream_options
// member is found outside the messages value (translate's outline).
// Whenever the whole body is needed (no findings, a translation to
// another schema, a streamed completion's stream_options, a body whose
// slices cannot be read) it is read in one piece, once, as before.
func TestAttemptOverSlicedBody(t *testing.T) {
	cfg := pipelineConfig(t)
	big := testbodies.Chat(1<<20, false)
	stream := []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("x", 300) + `"}]}`)
	streamBig := append([]byte(`{"stream":true,"stream_options":{"include_usage":false},`), big[1:]...)
	prompt := []byte(`{"model":"gpt-4o-mini","stream":true,"prompt":"` + strings.Repeat("x", 300) + `"}`)
	tests := []struct {
		name     string
		backend  string
		path     string
		body     []byte
		slice    int  // slice size
		findings bool // the router phase remembered the body
		// unreadable: Slices fails.
		unreadable bool
		wantCopy   bool
	}{
		{name: "override, 16 KiB slices", backend: "oai", path: "/v1/chat/completions", body: big, slice: 16 << 10, findings: true},
		{name: "override, 1 KiB slices", backend: "oai", path: "/v1/chat/completions", body: big[:0:0], slice: 1 << 10, findings: true},
		{name: "override, small body in 7-byte slices", backend: "oai", path: "/v1/chat/completions", body: []byte(chatBody), slice: 7, findings: true},
		{name: "no override (azure)", backend: "az", path: "/v1/embeddings", body: []byte(`{"model":"text-embedding-3-small","input":"` + strings.Repeat("y", 500) + `"}`), slice: 100, findings: true},
		{name: "no findings", backend: "oai", path: "/v1/chat/completions", body: big, slice: 16 << 10, wantCopy: true},
		{name: "translated to anthropic", backend: "claude", path: "/v1/chat/completions", body: big, slice: 16 << 10, findings: true, wantCopy: true},
		{name: "slices unreadable", backend: "oai", path: "/v1/chat/completions", body: big, slice: 16 << 10, findings: true, unreadable: true, wantCopy: true},
		{name: "stream asks usage", backend: "oai", path: "/v1/chat/completions", body: stream, slice: 64, findings: true},
		{name: "stream asks usage, 1 MiB", backend: "oai", path: "/v1/chat/completions", body: streamBig, slice: 16 << 10, findings: true},
		{name: "completion stream asks usage, no messages", backend: "oai", path: "/v1/completions", body: prompt, slice: 64, findings: true, wantCopy: true},
		{name: "one slice", backend: "oai", path: "/v1/chat/completions", body: big, slice: 2 << 20, findings: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if len(body) == 0 {
				body = big
			}
			if tc.findings {
				remember(t, body)
			}
			// The reference: the body in one piece (fakeBody is no
			// SlicedBody), as every attempt read it before.
			ref := clientRequest(tc.backend, tc.path, string(body))
			rf := NewFilter(cfg, ref)
			if h, _, last := sendRequest(t, rf); h == Answered || last != Continue {
				t.Fatalf("reference answered %v", ref.responses)
			}
			rf.OnDestroy()

			a := clientRequest(tc.backend, tc.path, "")
			sb := splitBody(body, tc.slice)
			sb.unreadable = tc.unreadable
			a.reqBody = sb
			f := NewFilter(cfg, a)
			if h, _, last := sendRequest(t, f); h == Answered || last != Continue {
				t.Fatalf("answered %v", a.responses)
			}
			f.OnDestroy()

			if got, want := string(sb.result()), string(ref.reqB.b); got != want {
				t.Errorf("body differs (%d bytes, want %d): %.200q", len(got), len(want), got)
			}
			if !maps.Equal(a.reqH, ref.reqH) {
				t.Errorf("headers %v\nwant    %v", a.reqH, ref.reqH)
			}
			if !reflect.DeepEqual(a.dynMD, ref.dynMD) || a.counters != ref.counters || !maps.Equal(a.state, ref.state) {
				t.Errorf("metadata %v counters %v state %v\nwant     %v counters %v state %v", a.dynMD, a.counters, a.state, ref.dynMD, ref.counters, ref.state)
			}
			wantCopies := 0
			if tc.wantCopy && len(sb.slices) > 1 {
				wantCopies = 1
			}
			if sb.copies != wantCopies {
				t.Errorf("%d contiguous copies of a body in %d slices, want %d", sb.copies, len(sb.slices), wantCopies)
			}
			if fmt.Sprint(sb.edited > 0) != fmt.Sprint(ref.reqB.edited > 0) {
				t.Errorf("edited %d times, the reference %d", sb.edited, ref.reqB.edited)
			}
		})
	}
}
