package upstream

import (
	"strings"
	"testing"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/testbodies"
	"github.com/aigw/aigw/internal/translate"
)

// fakeHeaders is a lower-case single-value header map.
type fakeHeaders map[string]string

func (h fakeHeaders) Get(k string) (string, bool) { v, ok := h[k]; return v, ok }
func (h fakeHeaders) Set(k, v string)             { h[k] = v }
func (h fakeHeaders) Remove(k string)             { delete(h, k) }

// fakeBody holds a body; Replace records that it ran.
type fakeBody struct {
	b        []byte
	replaced int
	// edited counts the replacements made with Edit.
	edited int
	// reuse (benchmarks) writes replacements into spare, swapped with b,
	// as Envoy reuses its buffer's memory: the fake then allocates nothing
	// and B/op is the filter's own. Tests keep it off: a body a test kept
	// from before a replacement stays as it was.
	reuse bool
	spare []byte
}

func (b *fakeBody) Bytes() []byte { return b.b }
func (b *fakeBody) Replace(n []byte) {
	b.swap(append(b.dst(), n...))
	b.replaced++
}

// Edit is Replace with the edited body, as Envoy's buffer would hold it.
func (b *fakeBody) Edit(edits []translate.Edit) {
	b.swap(translate.AppendEdits(b.dst(), b.b, edits))
	b.replaced++
	b.edited++
}

func (b *fakeBody) dst() []byte {
	if b.reuse {
		return b.spare[:0]
	}
	return nil
}

func (b *fakeBody) swap(n []byte) {
	if b.reuse {
		b.spare = b.b
	}
	b.b = n
}

// slicedBody plays a body Envoy holds as a list of slices (the codec's
// 16 KiB reads, which the router's per-attempt copy keeps): Bytes joins them
// into one scratch buffer as internal/dynmod's adapter does (aigw_body_copy
// into a pooled buffer), counted in copies; Edit records its edits, which
// Envoy applies from its own slices (aigw_body_edit), and Replace its body.
// The scratch buffer is reused, so in a benchmark B/op is the filter's own.
type slicedBody struct {
	slices  [][]byte
	scratch []byte
	copies  int
	// edits are the last Edit's; edited and replaced count the calls
	// (an Edit counts as a replacement, as in fakeBody), replacement is
	// the last Replace's body.
	edits            []translate.Edit
	edited, replaced int
	replacement      []byte
	// unreadable makes Slices fail (Bytes still works).
	unreadable bool
}

// splitBody is body in slices of size bytes (the last one shorter).
func splitBody(body []byte, size int) *slicedBody {
	return &slicedBody{slices: testbodies.Split(body, size)}
}

// remember has the router phase remember body's findings until the end of
// tb, as it does for the body it forwards.
func remember(tb testing.TB, body []byte) {
	tb.Helper()
	scan, err := bodyscan.Scan(body, "backend")
	if err != nil {
		tb.Fatal(err)
	}
	ticket := bodyscan.Remember(body, bodyscan.FindingsOf(scan, bodyscan.Member{}), 0)
	tb.Cleanup(ticket.Forget)
}

func (b *slicedBody) Bytes() []byte {
	if len(b.slices) == 1 {
		return b.slices[0]
	}
	b.copies++
	b.scratch = b.scratch[:0]
	for _, s := range b.slices {
		b.scratch = append(b.scratch, s...)
	}
	return b.scratch
}

// Slices is SlicedBody: the slices as they are, unless unreadable.
func (b *slicedBody) Slices() ([][]byte, bool) {
	if b.unreadable {
		return nil, false
	}
	return b.slices, true
}

func (b *slicedBody) Replace(n []byte) {
	b.replacement = append(b.replacement[:0], n...)
	b.replaced++
}

func (b *slicedBody) Edit(edits []translate.Edit) {
	b.edits = append(b.edits[:0], edits...)
	b.edited++
	b.replaced++
}

// result is the body Envoy holds after the last change (tests).
func (b *slicedBody) result() []byte {
	var whole []byte
	for _, s := range b.slices {
		whole = append(whole, s...)
	}
	switch {
	case b.edited > 0:
		return translate.ApplyEdits(whole, b.edits)
	case b.replaced > 0:
		return b.replacement
	}
	return whole
}

type response struct {
	status  int
	headers []Header
	body    string
}

type logLine struct {
	level LogLevel
	msg   string
}

// fakeAttempt plays Envoy for one attempt.
type fakeAttempt struct {
	endpointMD map[[2]string]string
	reqH       fakeHeaders
	// reqHM, when set, is the request header map instead of reqH.
	reqHM HeaderMap
	// reqBody, when set, is the request body instead of reqB.
	reqBody   Body
	respH     fakeHeaders
	reqB      fakeBody
	respB     fakeBody
	dynMD     map[string]any // "ns/key" -> string or float64
	counters  [NumCounters]uint64
	state     map[string]string
	logs      []logLine
	responses []response
	panicOn   string // name of the method that panics
}

func newFakeAttempt() *fakeAttempt {
	return &fakeAttempt{
		endpointMD: map[[2]string]string{},
		reqH:       fakeHeaders{},
		respH:      fakeHeaders{},
		dynMD:      map[string]any{},
		state:      map[string]string{},
	}
}

func (a *fakeAttempt) maybePanic(name string) {
	if a.panicOn == name {
		panic("injected panic in " + name)
	}
}

func (a *fakeAttempt) RequestHeaders() HeaderMap {
	a.maybePanic("RequestHeaders")
	if a.reqHM != nil {
		return a.reqHM
	}
	return a.reqH
}
func (a *fakeAttempt) ResponseHeaders() HeaderMap { a.maybePanic("ResponseHeaders"); return a.respH }
func (a *fakeAttempt) RequestBody() Body {
	a.maybePanic("RequestBody")
	if a.reqBody != nil {
		return a.reqBody
	}
	return &a.reqB
}
func (a *fakeAttempt) ResponseBody() Body { a.maybePanic("ResponseBody"); return &a.respB }

func (a *fakeAttempt) EndpointMetadata(ns, key string) (string, bool) {
	a.maybePanic("EndpointMetadata")
	v, ok := a.endpointMD[[2]string{ns, key}]
	return v, ok
}

func (a *fakeAttempt) DynamicMetadata(ns, key string) (string, bool) {
	a.maybePanic("DynamicMetadata")
	v, ok := a.dynMD[ns+"/"+key].(string)
	return v, ok
}

func (a *fakeAttempt) SetDynamicMetadata(ns, key, value string) {
	a.maybePanic("SetDynamicMetadata")
	a.dynMD[ns+"/"+key] = value
}

func (a *fakeAttempt) DynamicMetadataNumber(ns, key string) (float64, bool) {
	v, ok := a.dynMD[ns+"/"+key].(float64)
	return v, ok
}

func (a *fakeAttempt) SetDynamicMetadataNumber(ns, key string, value float64) {
	a.maybePanic("SetDynamicMetadataNumber")
	a.dynMD[ns+"/"+key] = value
}

func (a *fakeAttempt) AddCounter(c Counter, n uint64) {
	a.maybePanic("AddCounter")
	a.counters[c] += n
}

func (a *fakeAttempt) FilterState(key string) (string, bool) { v, ok := a.state[key]; return v, ok }
func (a *fakeAttempt) SetFilterState(key, value string)      { a.state[key] = value }

func (a *fakeAttempt) Log(level LogLevel, msg string) { a.logs = append(a.logs, logLine{level, msg}) }

func (a *fakeAttempt) SendResponse(status int, headers []Header, body []byte) {
	a.responses = append(a.responses, response{status, headers, string(body)})
}

// logged reports whether a line at level contains every fragment.
func (a *fakeAttempt) logged(level LogLevel, fragments ...string) bool {
	for _, l := range a.logs {
		if l.level != level {
			continue
		}
		all := true
		for _, f := range fragments {
			all = all && strings.Contains(l.msg, f)
		}
		if all {
			return true
		}
	}
	return false
}

func mustConfig(t testing.TB, doc string) *Config {
	t.Helper()
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	uc, err := NewConfig(c)
	if err != nil {
		t.Fatalf("NewConfig: %v", err)
	}
	return uc
}
