package dynmod

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/aigw/aigw/internal/translate"
	"github.com/aigw/aigw/internal/upstream"
)

// attempt implements upstream.Attempt over the dynamic-modules callbacks for
// one filter instance. envoy is the DynamicModuleHttpFilter pointer of the
// hook being run; it is refreshed on every hook and cleared after it, so a
// callback can only be made while Envoy is inside one of our hooks (the ABI
// forbids callbacks at any other time, e.g. from on_http_filter_new or
// on_http_filter_destroy).
type attempt struct {
	envoy unsafe.Pointer
	// answered is set once this attempt sent a local response: Envoy must
	// not be asked to answer one request twice.
	answered bool

	// The accessors hand out pointers to these, so the interfaces cost no
	// allocation per call.
	reqHeaders, respHeaders headerMap
	reqBody, respBody       body

	// counters are the Envoy ids of upstream.Counters for this filter's
	// config; nil when the host refused to define them.
	counters *[upstream.NumCounters]uint64

	// ops queues the hook's header writes (headerOps) until a read, a
	// local response, or the end of the hook sends them to Envoy in one
	// call; nil when none are queued.
	ops *[]byte
}

// exit ends a hook entered with enter (prev is what enter returned): the
// outer hook gets its pointer back, and when the outermost hook ends the
// bodies' scratch buffers go back to their pools (a body read in a hook is
// valid only during it: upstream.Body).
func (a *attempt) exit(prev unsafe.Pointer) {
	a.flush()
	a.envoy = prev
	if prev == nil {
		a.reqBody.release()
		a.respBody.release()
	}
}

func newAttempt() *attempt {
	a := &attempt{}
	a.reqHeaders = headerMap{a: a}
	a.respHeaders = headerMap{a: a, response: true}
	a.reqBody = body{a: a}
	a.respBody = body{a: a, response: true}
	return a
}

// enter records the Envoy pointer for the duration of a hook and returns the
// previous one: hooks nest when a local response runs our own response hooks
// from inside a request hook, and the outer hook must get its pointer back.
func (a *attempt) enter(envoy unsafe.Pointer) unsafe.Pointer {
	a.flush() // the outer hook's writes, under its own pointer
	prev := a.envoy
	a.envoy = envoy
	return prev
}

func (a *attempt) RequestHeaders() upstream.HeaderMap  { return &a.reqHeaders }
func (a *attempt) ResponseHeaders() upstream.HeaderMap { return &a.respHeaders }
func (a *attempt) RequestBody() upstream.Body          { return &a.reqBody }
func (a *attempt) ResponseBody() upstream.Body         { return &a.respBody }

func (a *attempt) EndpointMetadata(ns, key string) (string, bool) {
	if a.envoy == nil {
		return "", false
	}
	return metadataString(a.envoy, metadataSourceHost, ns, key)
}

func (a *attempt) DynamicMetadata(ns, key string) (string, bool) {
	if a.envoy == nil {
		return "", false
	}
	return metadataString(a.envoy, metadataSourceDynamic, ns, key)
}

func (a *attempt) SetDynamicMetadata(ns, key, value string) {
	if a.envoy != nil {
		setDynamicMetadataString(a.envoy, ns, key, value)
	}
}

func (a *attempt) DynamicMetadataNumber(ns, key string) (float64, bool) {
	if a.envoy == nil {
		return 0, false
	}
	return dynamicMetadataNumber(a.envoy, ns, key)
}

func (a *attempt) SetDynamicMetadataNumber(ns, key string, value float64) {
	if a.envoy != nil {
		setDynamicMetadataNumber(a.envoy, ns, key, value)
	}
}

func (a *attempt) AddCounter(c upstream.Counter, n uint64) {
	if a.envoy != nil && a.counters != nil {
		incrementCounter(a.envoy, a.counters[c], n)
	}
}

func (a *attempt) FilterState(key string) (string, bool) {
	if a.envoy == nil {
		return "", false
	}
	return filterState(a.envoy, key)
}

func (a *attempt) SetFilterState(key, value string) {
	if a.envoy != nil {
		setFilterState(a.envoy, key, value)
	}
}

func (a *attempt) Log(level upstream.LogLevel, msg string) { logAt(int(level), msg) }

func (a *attempt) SendResponse(status int, headers []upstream.Header, b []byte) {
	if a.envoy == nil || a.answered {
		return
	}
	a.answered = true
	a.flush()
	sendResponse(a.envoy, status, headers, b)
}

// Header writes are queued and sent to Envoy together: a plan sets and
// removes a dozen request headers (upstream.Filter.apply), and one cgo
// call per header cost more than the writes themselves. Each op is a kind
// byte (headerOpResponse, headerOpRemove), the key and value lengths
// (uint32, native order) and the key and value bytes; aigw_header_ops in
// envoy.go makes the calls in order. Reads flush first, so the filter
// always reads what it wrote.
const (
	headerOpResponse = 1
	headerOpRemove   = 2
)

var opsPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (a *attempt) queue(response, remove bool, key, value string) {
	if a.ops == nil {
		a.ops = opsPool.Get().(*[]byte)
	}
	var kind byte
	if response {
		kind |= headerOpResponse
	}
	if remove {
		kind |= headerOpRemove
	}
	b := append(*a.ops, kind)
	b = binary.NativeEndian.AppendUint32(b, uint32(len(key)))
	b = binary.NativeEndian.AppendUint32(b, uint32(len(value)))
	b = append(b, key...)
	*a.ops = append(b, value...)
}

// flush sends the queued header writes to Envoy.
func (a *attempt) flush() {
	if a.ops == nil {
		return
	}
	if a.envoy != nil && len(*a.ops) > 0 {
		applyHeaderOps(a.envoy, *a.ops)
	}
	*a.ops = (*a.ops)[:0]
	opsPool.Put(a.ops)
	a.ops = nil
}

type headerMap struct {
	a        *attempt
	response bool
}

func (h *headerMap) Get(key string) (string, bool) {
	if h.a.envoy == nil {
		return "", false
	}
	h.a.flush()
	return getHeader(h.a.envoy, h.response, key)
}

func (h *headerMap) Set(key, value string) {
	if h.a.envoy != nil {
		h.a.queue(h.response, false, key, value)
	}
}

func (h *headerMap) Remove(key string) {
	if h.a.envoy != nil {
		h.a.queue(h.response, true, key, "")
	}
}

type body struct {
	a        *attempt
	response bool
	// scratch holds the contiguous copy of a multi-slice body for the
	// current hook (scratch.go), nil otherwise.
	scratch *[]byte
	// texts joins the texts of several edits for one editBody call.
	texts []byte
}

// Bytes returns the body as one slice: a view of Envoy's memory when Envoy
// holds it in one slice, else a copy in a pooled scratch buffer kept until
// the hook ends.
func (b *body) Bytes() []byte {
	if b.a.envoy == nil {
		return nil
	}
	view, total, ok := bodyView(b.a.envoy, b.response)
	if !ok || total == 0 || view != nil {
		return view
	}
	if b.scratch == nil || cap(*b.scratch) < total {
		b.release()
		b.scratch = getScratch(total)
	}
	dst := (*b.scratch)[:total]
	n := copyBody(b.a.envoy, b.response, dst)
	if n < 0 {
		return nil
	}
	return dst[:n]
}

// release returns the scratch buffer to its pool.
func (b *body) release() {
	if b.scratch != nil {
		putScratch(b.scratch)
		b.scratch = nil
	}
}

func (b *body) Replace(data []byte) {
	if b.a.envoy != nil {
		replaceBody(b.a.envoy, b.response, data)
	}
}

// Edit has Envoy build the edited body from its own slices (editBody);
// edits it cannot take in one call go through a Go copy and Replace.
func (b *body) Edit(edits []translate.Edit) {
	if b.a.envoy == nil {
		return
	}
	texts := b.texts[:0]
	if len(edits) == 1 {
		texts = edits[0].Text
	} else {
		for _, e := range edits {
			texts = append(texts, e.Text...)
		}
		b.texts = texts
	}
	if !editBody(b.a.envoy, b.response, edits, texts) {
		b.Replace(translate.ApplyEdits(b.Bytes(), edits))
	}
}
