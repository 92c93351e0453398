package filter

import (
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// Fakes of the Envoy Go API. Each embeds its interface so a call the filter
// is not expected to make panics (nil method), which the filter recovers as
// a 500: an unexpected call shows up as a failed test, never as silence.

type fakeHeaders struct {
	api.RequestHeaderMap
	h       map[string][]string
	panicOn string
}

func newHeaders(kv ...string) *fakeHeaders {
	f := &fakeHeaders{h: map[string][]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		k := strings.ToLower(kv[i])
		f.h[k] = append(f.h[k], kv[i+1])
	}
	return f
}

func (f *fakeHeaders) Get(k string) (string, bool) {
	v, ok := f.h[strings.ToLower(k)]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}
func (f *fakeHeaders) Set(k, v string) {
	if f.panicOn == k {
		panic("injected failure")
	}
	f.h[strings.ToLower(k)] = []string{v}
}
func (f *fakeHeaders) Del(k string)   { delete(f.h, strings.ToLower(k)) }
func (f *fakeHeaders) Method() string { v, _ := f.Get(":method"); return v }
func (f *fakeHeaders) Path() string   { v, _ := f.Get(":path"); return v }
func (f *fakeHeaders) Status() (int, bool) {
	return 0, false
}

type fakeResponseHeaders struct {
	api.ResponseHeaderMap
	status int
}

func (f *fakeResponseHeaders) Status() (int, bool) { return f.status, true }

type fakeBuffer struct {
	api.BufferInstance
	b          []byte
	bytesCalls int
}

func (f *fakeBuffer) Bytes() []byte {
	f.bytesCalls++
	return append([]byte(nil), f.b...) // like Envoy: a copy into Go memory
}
func (f *fakeBuffer) Len() int { return len(f.b) }
func (f *fakeBuffer) Set(b []byte) error {
	f.b = append(f.b[:0:0], b...)
	return nil
}

type localReply struct {
	status  int
	body    string
	headers map[string][]string
}

type fakeCallbacks struct {
	api.FilterCallbackHandler
	reply        *localReply
	clearedRoute int
	meta         *fakeMetadata
	logs         []string
	responseCode int
}

func newCallbacks() *fakeCallbacks {
	return &fakeCallbacks{meta: &fakeMetadata{m: map[string]map[string]interface{}{}}}
}

func (f *fakeCallbacks) DecoderFilterCallbacks() api.DecoderFilterCallbacks {
	return &fakeDecoder{f: f}
}
func (f *fakeCallbacks) ClearRouteCache()              { f.clearedRoute++ }
func (f *fakeCallbacks) StreamInfo() api.StreamInfo    { return &fakeStreamInfo{f: f} }
func (f *fakeCallbacks) Log(l api.LogType, msg string) { f.logs = append(f.logs, msg) }

type fakeDecoder struct {
	api.DecoderFilterCallbacks
	f *fakeCallbacks
}

func (d *fakeDecoder) SendLocalReply(status int, body string, headers map[string][]string, grpc int64, details string) {
	if d.f.reply != nil {
		panic("second local reply")
	}
	d.f.reply = &localReply{status: status, body: body, headers: headers}
}

type fakeStreamInfo struct {
	api.StreamInfo
	f *fakeCallbacks
}

func (s *fakeStreamInfo) DynamicMetadata() api.DynamicMetadata { return s.f.meta }
func (s *fakeStreamInfo) ResponseCode() (uint32, bool) {
	if s.f.reply != nil {
		return uint32(s.f.reply.status), true
	}
	return uint32(s.f.responseCode), s.f.responseCode != 0
}

type fakeMetadata struct {
	m map[string]map[string]interface{}
}

func (m *fakeMetadata) Get(ns string) map[string]interface{} { return m.m[ns] }
func (m *fakeMetadata) Set(ns, k string, v interface{}) {
	if m.m[ns] == nil {
		m.m[ns] = map[string]interface{}{}
	}
	m.m[ns][k] = v
}

type fakeCounter struct{ n int64 }

func (c *fakeCounter) Increment(d int64) { c.n += d }
func (c *fakeCounter) Get() uint64       { return uint64(c.n) }
func (c *fakeCounter) Record(v uint64)   { c.n = int64(v) }

type fakeConfigCallbacks struct {
	api.ConfigCallbackHandler
	counters map[string]*fakeCounter
}

func (f *fakeConfigCallbacks) DefineCounterMetric(name string) api.CounterMetric {
	c := &fakeCounter{}
	f.counters[name] = c
	return c
}
func (f *fakeConfigCallbacks) DefineGaugeMetric(name string) api.GaugeMetric {
	c := &fakeCounter{}
	f.counters[name] = c
	return c
}
