package upstream

import (
	"strings"
	"testing"

	"github.com/aigw/aigw/config"
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
	reqHM     HeaderMap
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
func (a *fakeAttempt) RequestBody() Body          { a.maybePanic("RequestBody"); return &a.reqB }
func (a *fakeAttempt) ResponseBody() Body         { a.maybePanic("ResponseBody"); return &a.respB }

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

func mustConfig(t *testing.T, doc string) *Config {
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
