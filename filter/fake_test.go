package filter

import (
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// Fakes of what the filter sees of Envoy (envoy.go). They behave as the ABI
// adapter does: Get hands out copies, Bytes is a copy into Go memory that the
// adapter reuses once the callback returns (the fake scribbles over it, so a
// filter that kept it would fail the tests), and a second local reply is a
// bug.

type fakeHeaders struct {
	h       map[string][]string
	panicOn string
	// gets, when logGets is set, is every name Get was asked for, in order.
	gets    []string
	logGets bool
}

var _ RequestHeaders = (*fakeHeaders)(nil)

func newHeaders(kv ...string) *fakeHeaders {
	f := &fakeHeaders{h: map[string][]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		k := strings.ToLower(kv[i])
		f.h[k] = append(f.h[k], kv[i+1])
	}
	return f
}

func (f *fakeHeaders) Get(k string) (string, bool) {
	if f.logGets {
		f.gets = append(f.gets, k)
	}
	v, ok := f.h[strings.ToLower(k)]
	if !ok || len(v) == 0 {
		return "", false
	}
	return strings.Clone(v[0]), true
}
func (f *fakeHeaders) Set(k, v string) {
	if f.panicOn == k {
		panic("injected failure")
	}
	f.h[strings.ToLower(k)] = []string{strings.Clone(v)}
}
func (f *fakeHeaders) Del(k string) { delete(f.h, strings.ToLower(k)) }

type fakeBuffer struct {
	b          []byte
	bytesCalls int
	lent       []byte // the last copy handed out, scribbled over after the callback
}

var _ Body = (*fakeBuffer)(nil)

func (f *fakeBuffer) Bytes() []byte {
	f.bytesCalls++
	f.lent = append([]byte(nil), f.b...) // like Envoy: a copy into Go memory
	return f.lent
}
func (f *fakeBuffer) Len() int     { return len(f.b) }
func (f *fakeBuffer) Set(b []byte) { f.b = append(f.b[:0:0], b...) }

// endCallback does what the adapter does once a callback returns: the
// copy it lent is reused for the next request.
func (f *fakeBuffer) endCallback() {
	for i := range f.lent {
		f.lent[i] = '#'
	}
}

type localReply struct {
	status     int
	body       string
	details    string
	retryAfter string
	headers    []string // SendLocalReplyHeaders' pairs
}

type fakeStream struct {
	reply        *localReply
	clearedRoute int
	meta         map[string]string
	nums         map[string]float64
	logs         []string
	responseCode int
}

var _ Stream = (*fakeStream)(nil)

func newStream() *fakeStream {
	return &fakeStream{meta: map[string]string{}, nums: map[string]float64{}}
}

func (f *fakeStream) SendLocalReply(status int, body, details string) {
	if f.reply != nil {
		panic("second local reply")
	}
	f.reply = &localReply{status: status, body: body, details: details}
}
func (f *fakeStream) SendRetryLater(status int, body, details string) {
	f.SendLocalReply(status, body, details)
	f.reply.retryAfter = RetryAfterSeconds
}
func (f *fakeStream) SendLocalReplyHeaders(status int, body, details string, headers []string) {
	f.SendLocalReply(status, body, details)
	f.reply.headers = append([]string(nil), headers...)
}
func (f *fakeStream) SetMetadataNumber(key string, v float64) { f.nums[key] = v }
func (f *fakeStream) ClearRouteCache()                        { f.clearedRoute++ }
func (f *fakeStream) SetMetadata(key, value string)           { f.meta[key] = strings.Clone(value) }
func (f *fakeStream) Log(_ api.LogType, msg string)           { f.logs = append(f.logs, msg) }
func (f *fakeStream) ResponseCode() (int, bool) {
	if f.reply != nil {
		return f.reply.status, true
	}
	return f.responseCode, f.responseCode != 0
}

// metadata is what the filter recorded in namespace
// config.DynamicMetadataNamespace, as an access log would read it.
func (f *fakeStream) metadata() map[string]string { return f.meta }

type fakeCounter struct{ n int64 }

func (c *fakeCounter) Increment(d int64) { c.n += d }
func (c *fakeCounter) Get() uint64       { return uint64(c.n) }
func (c *fakeCounter) Record(v uint64)   { c.n = int64(v) }

type fakeConfigCallbacks struct {
	counters map[string]*fakeCounter
}

var _ api.ConfigCallbacks = (*fakeConfigCallbacks)(nil)

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
