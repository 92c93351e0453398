package dynmod

import (
	"bytes"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/testbodies"
	"github.com/aigw/aigw/internal/translate"
	"github.com/aigw/aigw/internal/upstream"
)

// fakeEnvoyBody plays Envoy's side of the body calls for one request body
// held in slices: it counts the contiguous copies (aigw_body_copy) and the
// slice reads, and records the body's change.
type fakeEnvoyBody struct {
	slices        [][]byte
	copies, reads int
	edits         []translate.Edit
	replaced      []byte
	changedOps    []byte // the writes the change carried
	changed       int
}

// install makes bodyCalls, fetchReads and sendOps answer from b and reads
// for the rest of t.
func (b *fakeEnvoyBody) install(t *testing.T, reads map[upstream.Read]string) {
	oldBody, oldFetch, oldOps := bodyCalls, fetchReads, sendOps
	t.Cleanup(func() { bodyCalls, fetchReads, sendOps = oldBody, oldFetch, oldOps })
	bodyCalls.view = func(_ unsafe.Pointer, _ bool) ([]byte, int, bool) {
		if len(b.slices) == 1 {
			return b.slices[0], len(b.slices[0]), true
		}
		n := 0
		for _, s := range b.slices {
			n += len(s)
		}
		return nil, n, true
	}
	bodyCalls.copy = func(_ unsafe.Pointer, _ bool, dst []byte) int {
		b.copies++
		n := 0
		for _, s := range b.slices {
			n += copy(dst[n:], s)
		}
		return n
	}
	bodyCalls.slices = func(_ unsafe.Pointer, _ bool, v *sliceViews) ([][]byte, bool) {
		b.reads++
		v.views = append(v.views[:0], b.slices...)
		return v.views, true
	}
	bodyCalls.edit = func(_ unsafe.Pointer, _ bool, edits []translate.Edit, _, ops []byte) (bool, bool) {
		b.edits = slices.Clone(edits)
		for i := range b.edits {
			b.edits[i].Text = slices.Clone(b.edits[i].Text)
		}
		b.changedOps = slices.Clone(ops)
		b.changed++
		return true, true
	}
	bodyCalls.replace = func(_ unsafe.Pointer, _ bool, data, ops []byte) {
		b.replaced = slices.Clone(data)
		b.changedOps = slices.Clone(ops)
		b.changed++
	}
	fetchReads = func(_ unsafe.Pointer, s *readSet, f *fetchedValues) {
		for i, r := range s.items {
			if r.Kind == upstream.ReadEndpointMetadata {
				f.vals[i], f.ok[i] = "oai", true
				continue
			}
			f.vals[i], f.ok[i] = reads[upstream.Read{Kind: r.Kind, Key: r.Key}]
		}
	}
	sendOps = func(unsafe.Pointer, []byte) {}
}

// result is the body Envoy holds after the change.
func (b *fakeEnvoyBody) result() []byte {
	whole := bytes.Join(b.slices, nil)
	switch {
	case b.edits != nil:
		return translate.ApplyEdits(whole, b.edits)
	case b.replaced != nil:
		return b.replaced
	}
	return whole
}

// A 1 MiB request body Envoy holds in 64 slices, whose findings the router
// phase remembered, goes through the attempt's hooks without a contiguous
// copy (no aigw_body_copy, no bufpool scratch): the slices are read once
// and the model is edited in Envoy's buffer, content-length set in the
// same call. Without findings the body is copied once, scanned and
// replaced, as before; both forward the same bytes.
func TestAttemptReadsSlicesWithoutCopy(t *testing.T) {
	cfgID := moduleConfigOf(t, `{"backends": [{"name": "oai", "model_override": {"gpt-4o-mini": "gpt-4o-mini-2024-07-18"},
		"auth": {"type": "bearer", "key_env": "AIGW_TEST_KEY"}}]}`)
	body := testbodies.Chat(1<<20, false)
	want := bytes.Replace(body, []byte(`"model":"gpt-4o-mini"`), []byte(`"model":"gpt-4o-mini-2024-07-18"`), 1)
	parts := testbodies.Split(body, 16<<10)
	if len(parts) != 64 {
		t.Fatalf("%d slices", len(parts))
	}
	reads := map[upstream.Read]string{
		{Kind: upstream.ReadRequestHeader, Key: ":method"}:    "POST",
		{Kind: upstream.ReadRequestHeader, Key: ":path"}:      "/v1/chat/completions",
		{Kind: upstream.ReadRequestHeader, Key: ":authority"}: "gateway.local",
	}
	scan, err := bodyscan.Scan(body, "backend")
	if err != nil {
		t.Fatal(err)
	}
	// The findings are the worker thread's that made the filter
	// (aigw_filter.thread): remembered on another, the attempt scans.
	for _, tc := range []struct {
		name               string
		remember           bool
		rememberOn, thread uint32
		findings           bool
		wantCopies, wantRd int
	}{
		{"findings", true, 0, 0, true, 0, 1},
		{"findings of this worker", true, 5, 5, true, 0, 1},
		{"findings of another worker", true, 4, 5, false, 1, 1},
		{"no findings", false, 0, 0, false, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.remember {
				ticket := bodyscan.Remember(body, bodyscan.FindingsOf(scan, bodyscan.Member{}), tc.rememberOn)
				defer ticket.Forget()
			}
			eb := &fakeEnvoyBody{slices: parts}
			eb.install(t, reads)
			var envoy byte
			cf := &cFilter{config: uintptr(cfgID), thread: tc.thread}
			defer func() { destroyFilter(uint64(cf.id)) }()
			if st := requestHeadersHook.run(unsafe.Pointer(&envoy), cf.ref(), func(f *upstream.Filter) upstream.Action {
				return f.OnRequestHeaders(false)
			}); st != headersStopIteration {
				t.Fatalf("request headers: status %d", st)
			}
			if st := requestBodyHook.run(unsafe.Pointer(&envoy), cf.ref(), func(f *upstream.Filter) upstream.Action {
				return f.OnRequestBody(true)
			}); st != bodyContinue {
				t.Fatalf("request body: status %d", st)
			}
			if eb.copies != tc.wantCopies || eb.reads != tc.wantRd {
				t.Errorf("%d contiguous copies and %d slice reads, want %d and %d", eb.copies, eb.reads, tc.wantCopies, tc.wantRd)
			}
			if eb.changed != 1 || !bytes.Equal(eb.result(), want) {
				t.Fatalf("body changed %d times, to %d bytes, want once to %d", eb.changed, len(eb.result()), len(want))
			}
			if tc.findings == (eb.edits == nil) {
				t.Errorf("edits %v, want them with findings only", eb.edits)
			}
			if !bytes.Contains(eb.changedOps, []byte("content-length"+strconv.Itoa(len(want)))) {
				t.Error("the body change did not carry content-length")
			}
			fl, _ := filters.get(uint64(cf.id))
			if fl.a.reqBody.views != nil || fl.a.reqBody.scratch != nil {
				t.Error("the hook's slice views or scratch copy outlived it")
			}
		})
	}
}

// Slices hands out views in pooled memory: reading the slices of a body in
// 64 slices allocates nothing once the pool is warm, and a change of the
// body clears the views handed out.
func TestSlicesPooled(t *testing.T) {
	parts := make([][]byte, 64)
	for i := range parts {
		parts[i] = make([]byte, 16<<10)
	}
	eb := &fakeEnvoyBody{slices: parts}
	eb.install(t, nil)
	a := newAttempt()
	var envoy byte
	wantPooled(t, "read of 64 slices", testing.AllocsPerRun(100, func() {
		prev := a.enter(unsafe.Pointer(&envoy))
		if got, ok := a.reqBody.Slices(); !ok || len(got) != 64 {
			t.Fatalf("%d slices, %v", len(got), ok)
		}
		a.exit(prev)
	}))
	prev := a.enter(unsafe.Pointer(&envoy))
	got, _ := a.reqBody.Slices()
	a.reqBody.Replace([]byte("x"))
	if got[0] != nil || got[63] != nil {
		t.Error("views still handed out after the body changed")
	}
	a.exit(prev)
}
