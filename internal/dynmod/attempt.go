package dynmod

import (
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"unsafe"

	"github.com/aigw/aigw/internal/bufpool"
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
	// thread is the number of the worker thread serving the attempt.
	thread uint32
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

	// ops queues the hook's writes (header sets and removes, dynamic
	// metadata, filter state, counters: see queue) until a read, a local
	// response, or the end of the hook sends them to Envoy in one call;
	// nil when none are queued.
	ops *[]byte

	// reads are the values the request hooks (0) and the response hooks
	// (1) read, each set fetched in one call (readSet); fetched holds a
	// set's values within one hook, nil until the first read of one.
	reads   [2]*readSet
	fetched [2]*fetchedValues
	// next is where the next search of each set starts (readSet.find).
	next [2]uint8
}

// exit ends a hook entered with enter (prev is what enter returned): the
// outer hook gets its pointer back, and when the outermost hook ends the
// bodies' scratch buffers go back to their pools (a body read in a hook is
// valid only during it: upstream.Body).
func (a *attempt) exit(prev unsafe.Pointer) {
	a.flush()
	a.forgetReads()
	a.envoy = prev
	if prev == nil {
		a.reqBody.release()
		a.respBody.release()
	}
}

func newAttempt() *attempt {
	a := &attempt{}
	a.init()
	return a
}

// init makes a a new attempt, in memory that may have served an earlier
// one (filterPool): nothing of it is kept.
func (a *attempt) init() {
	*a = attempt{}
	a.reqHeaders = headerMap{a: a}
	a.respHeaders = headerMap{a: a, response: true}
	a.reqBody = body{a: a}
	a.respBody = body{a: a, response: true}
}

// enter records the Envoy pointer for the duration of a hook and returns the
// previous one: hooks nest when a local response runs our own response hooks
// from inside a request hook, and the outer hook must get its pointer back.
func (a *attempt) enter(envoy unsafe.Pointer) unsafe.Pointer {
	a.flush() // the outer hook's writes, under its own pointer
	a.forgetReads()
	prev := a.envoy
	a.envoy = envoy
	return prev
}

// WorkerThread is the number of the worker thread that made the attempt's
// filter (filter.c, internal/cthread), which serves all its hooks
// (bodyscan.Worker: the router phase's findings for its body are kept
// under it).
func (a *attempt) WorkerThread() uint32 { return a.thread }

func (a *attempt) RequestHeaders() upstream.HeaderMap  { return &a.reqHeaders }
func (a *attempt) ResponseHeaders() upstream.HeaderMap { return &a.respHeaders }
func (a *attempt) RequestBody() upstream.Body          { return &a.reqBody }
func (a *attempt) ResponseBody() upstream.Body         { return &a.respBody }

func (a *attempt) EndpointMetadata(ns, key string) (string, bool) {
	if a.envoy == nil {
		return "", false
	}
	if v, ok, hit := a.read(upstream.ReadEndpointMetadata, ns, key); hit {
		return v, ok
	}
	a.flush()
	return metadataString(a.envoy, metadataSourceHost, ns, key)
}

func (a *attempt) DynamicMetadata(ns, key string) (string, bool) {
	if a.envoy == nil {
		return "", false
	}
	if v, ok, hit := a.read(upstream.ReadDynamicMetadata, ns, key); hit {
		return v, ok
	}
	a.flush()
	return metadataString(a.envoy, metadataSourceDynamic, ns, key)
}

func (a *attempt) SetDynamicMetadata(ns, key, value string) {
	if a.envoy != nil {
		a.stale(0, upstream.ReadDynamicMetadata)
		a.queue(opMetadataString, ns, key, value, 0, 0)
	}
}

func (a *attempt) DynamicMetadataNumber(ns, key string) (float64, bool) {
	if a.envoy == nil {
		return 0, false
	}
	a.flush()
	return dynamicMetadataNumber(a.envoy, ns, key)
}

func (a *attempt) SetDynamicMetadataNumber(ns, key string, value float64) {
	if a.envoy != nil {
		a.stale(0, upstream.ReadDynamicMetadata)
		a.queue(opMetadataNumber, ns, key, "", math.Float64bits(value), 0)
	}
}

// usageKeys are upstream.MetadataUsageKeys packed as aigw_ops reads
// opMetadataNumbers' keys: a length byte and the bytes each.
var usageKeys = func() string {
	var b []byte
	for _, k := range upstream.MetadataUsageKeys {
		b = append(append(b, byte(len(k))), k...)
	}
	return string(b)
}()

// SetUsageMetadata is upstream.UsageMetadataSetter: one op for the six
// numbers (opMetadataNumbers).
func (a *attempt) SetUsageMetadata(v upstream.UsageMetadata) {
	if a.envoy == nil {
		return
	}
	a.stale(0, upstream.ReadDynamicMetadata)
	var vals [len(v) * 8]byte
	for i, x := range v {
		binary.NativeEndian.PutUint64(vals[i*8:], math.Float64bits(x))
	}
	a.queue(opMetadataNumbers, upstream.MetadataNamespace, usageKeys, unsafe.String(&vals[0], len(vals)), 0, 0)
}

func (a *attempt) AddCounter(c upstream.Counter, n uint64) {
	if a.envoy != nil && a.counters != nil {
		a.queue(opCounter, "", "", "", a.counters[c], n)
	}
}

func (a *attempt) FilterState(key string) (string, bool) {
	if a.envoy == nil {
		return "", false
	}
	if v, ok, hit := a.read(upstream.ReadFilterState, "", key); hit {
		return v, ok
	}
	a.flush()
	return filterState(a.envoy, key)
}

func (a *attempt) SetFilterState(key, value string) {
	if a.envoy != nil {
		a.stale(0, upstream.ReadFilterState)
		a.queue(opFilterState, key, value, "", 0, 0)
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

// Writes are queued and sent to Envoy together: a plan sets and removes a
// dozen request headers (upstream.Filter.apply) and accounting sets six
// metadata numbers and a few counters, and one cgo call per write cost
// more than the writes themselves. Each op is a kind byte, three string
// lengths (uint32), two numbers (uint64), all in native order, then the
// strings' bytes; aigw_ops in envoy.go makes the calls in order. Every
// read flushes first, so the filter always reads what it wrote, and so do
// a local response and the end of the hook: Envoy sees the writes in the
// hook that made them, in their order.
const (
	// opHeader is a header write: a = key, b = value; the kind's bits
	// opHeaderResponse and opHeaderRemove say which map and whether to
	// remove.
	opHeader         = 0
	opHeaderResponse = 1
	opHeaderRemove   = 2
	// opMetadataString sets dynamic metadata ns a, key b to string c.
	opMetadataString = 4
	// opMetadataNumber sets dynamic metadata ns a, key b to the float64
	// whose bits are x.
	opMetadataNumber = 5
	// opFilterState sets filter state a to bytes b.
	opFilterState = 6
	// opCounter adds y to the counter whose Envoy id is x.
	opCounter = 7
	// opHeaderList removes every header named in a (each name a length
	// byte and its bytes) from the request map, or with opHeaderResponse
	// from the response map.
	opHeaderList = 8
	// opMetadataNumbers sets dynamic metadata ns a, each key of b (a length
	// byte and its bytes) to the next float64 of c (native order).
	opMetadataNumbers = 10
	// opFixed is the size of an op before its strings.
	opFixed = 1 + 3*4 + 2*8
)

var opsPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (a *attempt) queue(kind byte, sa, sb, sc string, x, y uint64) {
	if a.ops == nil {
		a.ops = opsPool.Get().(*[]byte)
	}
	// One grow and fixed-offset stores, and no copy of an empty string
	// (each still calls memmove): appending field by field cost about 180
	// instructions per op.
	n := opFixed + len(sa) + len(sb) + len(sc)
	b := slices.Grow(*a.ops, n)
	off := len(b)
	b = b[:off+n]
	op := b[off : off+n]
	op[0] = kind
	binary.NativeEndian.PutUint32(op[1:5], uint32(len(sa)))
	binary.NativeEndian.PutUint32(op[5:9], uint32(len(sb)))
	binary.NativeEndian.PutUint32(op[9:13], uint32(len(sc)))
	binary.NativeEndian.PutUint64(op[13:21], x)
	binary.NativeEndian.PutUint64(op[21:29], y)
	i := opFixed
	if len(sa) > 0 {
		i += copy(op[i:], sa)
	}
	if len(sb) > 0 {
		i += copy(op[i:], sb)
	}
	if len(sc) > 0 {
		copy(op[i:], sc)
	}
	*a.ops = b
}

// queueRemoveList queues the removal of every header in keys as one op
// (opHeaderList: each key a length byte and its bytes, in the op's first
// string): a plan removes about fifteen headers, one op each cost more
// than Envoy's removes. A key longer than a length byte says is removed
// by an op of its own.
func (a *attempt) queueRemoveList(response bool, keys []string) {
	n := 0
	for _, k := range keys {
		if len(k) <= 255 {
			n += 1 + len(k)
		}
	}
	if n == 0 {
		for _, k := range keys {
			a.queueHeader(response, true, k, "")
		}
		return
	}
	kind := a.headerOp(opHeaderList, response)
	if a.ops == nil {
		a.ops = opsPool.Get().(*[]byte)
	}
	b := slices.Grow(*a.ops, opFixed+n)
	op := b[len(b) : len(b)+opFixed+n]
	clear(op[:opFixed])
	op[0] = kind
	binary.NativeEndian.PutUint32(op[1:5], uint32(n))
	i := opFixed
	for _, k := range keys {
		if len(k) <= 255 {
			op[i] = byte(len(k))
			i += 1 + copy(op[i+1:], k)
		}
	}
	*a.ops = b[:len(b)+opFixed+n]
	for _, k := range keys {
		if len(k) > 255 {
			a.queueHeader(response, true, k, "")
		}
	}
}

// headerOp is the kind of a header op (base) on the response or the
// request map; that map's fetched values are stale from here on.
func (a *attempt) headerOp(base byte, response bool) byte {
	if response {
		a.stale(1, upstream.ReadResponseHeader)
		return base | opHeaderResponse
	}
	a.stale(0, upstream.ReadRequestHeader)
	return base
}

// queueHeader queues a header write.
func (a *attempt) queueHeader(response, remove bool, key, value string) {
	kind := a.headerOp(opHeader, response)
	if remove {
		kind |= opHeaderRemove
	}
	a.queue(kind, key, value, "", 0, 0)
}

// flush sends the queued header writes to Envoy.
func (a *attempt) flush() {
	if a.ops == nil {
		return
	}
	if a.envoy != nil && len(*a.ops) > 0 {
		sendOps(a.envoy, *a.ops)
	}
	a.dropOps()
}

// dropOps forgets the queued writes: a call that makes them on its way
// (replaceBody, editBody: one call fewer per body the hook changes) sent
// them.
func (a *attempt) dropOps() {
	if a.ops == nil {
		return
	}
	*a.ops = (*a.ops)[:0]
	opsPool.Put(a.ops)
	a.ops = nil
}

// forgetReads drops the fetched values: they hold only within one hook (a
// nested hook may change what Envoy holds).
func (a *attempt) forgetReads() {
	for i, f := range a.fetched {
		if f != nil {
			a.fetched[i] = nil
			*f = fetchedValues{}
			fetchedPool.Put(f)
		}
	}
}

// stale marks the values of kind in set i as written since they were
// fetched: reads of them go to Envoy again, each in a call of its own.
func (a *attempt) stale(i int, kind upstream.ReadKind) {
	if f := a.fetched[i]; f != nil {
		f.stale |= 1 << kind
	}
}

// bodyCalls are the calls that read a body, and those that change it and
// make the hook's queued writes on the way: variables so the tests, which
// have no Envoy, can watch what each call carries.
var bodyCalls = struct {
	replace func(f unsafe.Pointer, response bool, b, ops []byte)
	edit    func(f unsafe.Pointer, response bool, edits []translate.Edit, texts, ops []byte) (ok, sent bool)
	view    func(f unsafe.Pointer, response bool) (view []byte, total int, ok bool)
	copy    func(f unsafe.Pointer, response bool, dst []byte) int
	slices  func(f unsafe.Pointer, response bool, v *sliceViews) ([][]byte, bool)
}{replaceBody, editBody, bodyView, copyBody, bodySlices}

// sendOps makes the queued writes (applyOps); a variable for the tests, as
// bodyCalls.
var sendOps = applyOps

// readSet is a set of values upstream.Filter reads in the same hook
// (upstream.Config.RequestReads, upstream.ResponseReads). The first read of
// any of them in a hook reads them all in one call (readValues), and the
// rest are then answered from there until the hook ends or a write of
// their kind (stale).
type readSet struct {
	items []upstream.Read
	// packed is each item as aigw_read takes it: kind byte, namespace and
	// key each as a length byte and the bytes.
	packed string
}

// newReadSet packs reads, up to maxReads of them; a read that does not
// fit (or whose namespace or key is longer than 255 bytes) is left out and
// answered by a call of its own.
func newReadSet(reads []upstream.Read) *readSet {
	s := &readSet{}
	var packed []byte
	for _, r := range reads {
		if len(s.items) == maxReads || len(r.NS) > 255 || len(r.Key) > 255 || slices.Contains(s.items, r) {
			continue
		}
		s.items = append(s.items, r)
		packed = append(packed, byte(r.Kind), byte(len(r.NS)))
		packed = append(packed, r.NS...)
		packed = append(packed, byte(len(r.Key)))
		packed = append(packed, r.Key...)
	}
	s.packed = string(packed)
	return s
}

// index is the position of the read in the set, -1 when it is not in it.
func (s *readSet) index(kind upstream.ReadKind, ns, key string) int {
	return s.find(kind, ns, key, 0)
}

// find is index searching from position from on, then from the start: the
// filter reads a set's values mostly in the order it lists them, so a
// search from just after the last hit finds the next one first.
func (s *readSet) find(kind upstream.ReadKind, ns, key string, from int) int {
	if from >= len(s.items) {
		from = 0
	}
	for i := from; i < len(s.items); i++ {
		if r := &s.items[i]; r.Kind == kind && r.Key == key && r.NS == ns {
			return i
		}
	}
	for i := range from {
		if r := &s.items[i]; r.Kind == kind && r.Key == key && r.NS == ns {
			return i
		}
	}
	return -1
}

// fetchedValues holds a read set's values within one hook. It lives in a
// pool rather than in every attempt: a stream held open between hooks keeps
// none (10,000 open streams held about 2 MB more with header values inline,
// bench TestStreamMemory).
type fetchedValues struct {
	vals [maxReads]string
	ok   [maxReads]bool
	// stale has bit 1<<kind set for the kinds written since the fetch.
	stale uint8
}

var fetchedPool = sync.Pool{New: func() any { return new(fetchedValues) }}

// fetchReads reads a set's values from Envoy in one call; a variable so the
// tests, which have no Envoy, can count the calls.
var fetchReads = func(envoy unsafe.Pointer, s *readSet, f *fetchedValues) {
	readValues(envoy, s.packed, &f.vals, &f.ok)
}

// read answers a read from the hook's read set: hit is false when the value
// is not in the set, or was written since it was fetched, and the caller
// reads it alone.
func (a *attempt) read(kind upstream.ReadKind, ns, key string) (v string, ok, hit bool) {
	i := 0
	if kind == upstream.ReadResponseHeader {
		i = 1
	}
	s := a.reads[i]
	if s == nil {
		return "", false, false
	}
	n := s.find(kind, ns, key, int(a.next[i]))
	if n < 0 {
		return "", false, false
	}
	a.next[i] = uint8(n + 1)
	f := a.fetched[i]
	if f == nil {
		a.flush() // the values must include the hook's own writes
		f = fetchedPool.Get().(*fetchedValues)
		fetchReads(a.envoy, s, f)
		a.fetched[i] = f
	} else if f.stale&(1<<kind) != 0 {
		return "", false, false
	}
	return f.vals[n], f.ok[n], true
}

type headerMap struct {
	a        *attempt
	response bool
}

func (h *headerMap) Get(key string) (string, bool) {
	if h.a.envoy == nil {
		return "", false
	}
	kind := upstream.ReadRequestHeader
	if h.response {
		kind = upstream.ReadResponseHeader
	}
	if v, ok, hit := h.a.read(kind, "", key); hit {
		return v, ok
	}
	h.a.flush()
	return getHeader(h.a.envoy, h.response, key)
}

func (h *headerMap) Set(key, value string) {
	if h.a.envoy != nil {
		h.a.queueHeader(h.response, false, key, value)
	}
}

func (h *headerMap) Remove(key string) {
	if h.a.envoy != nil {
		h.a.queueHeader(h.response, true, key, "")
	}
}

// RemoveAll is upstream.HeaderListRemover: one queued op for the list.
func (h *headerMap) RemoveAll(keys []string) {
	if h.a.envoy != nil && len(keys) > 0 {
		h.a.queueRemoveList(h.response, keys)
	}
}

type body struct {
	a        *attempt
	response bool
	// scratch holds the contiguous copy of a multi-slice body for the
	// current hook, nil otherwise: a bufpool buffer, back in its pool when
	// the outermost hook of the attempt returns (release). A body is valid
	// only during its hook (upstream.Body), so no buffer is shared by two
	// attempts in flight, retries included (each attempt is its own filter
	// instance with its own buffers), and a stream that stays open holds
	// none between its hooks. The router phase's findings are keyed by the
	// body's hash, never by this memory (bodyscan.Remember).
	scratch *[]byte
	// views holds what Slices handed out in the current hook, nil
	// otherwise: back in viewsPool when the outermost hook returns
	// (release), like scratch.
	views *sliceViews
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
	view, total, ok := bodyCalls.view(b.a.envoy, b.response)
	if !ok || total == 0 || view != nil {
		return view
	}
	if b.scratch == nil || cap(*b.scratch) < total {
		b.releaseScratch()
		b.scratch = bufpool.Get(total)
	}
	dst := (*b.scratch)[:total]
	n := bodyCalls.copy(b.a.envoy, b.response, dst)
	if n < 0 {
		return nil
	}
	return dst[:n]
}

// Slices is upstream.SlicedBody: the body as Envoy holds it, views of its
// slices (bodySlices) in pooled memory kept until the hook ends. Nothing
// is copied, whatever the number of slices.
func (b *body) Slices() ([][]byte, bool) {
	if b.a.envoy == nil {
		return nil, false
	}
	if b.views == nil {
		b.views = viewsPool.Get().(*sliceViews)
	}
	return bodyCalls.slices(b.a.envoy, b.response, b.views)
}

// release returns the scratch buffer and the slice views to their pools.
func (b *body) release() {
	b.releaseScratch()
	if b.views != nil {
		b.views.forget()
		viewsPool.Put(b.views)
		b.views = nil
	}
}

func (b *body) releaseScratch() {
	if b.scratch != nil {
		bufpool.Put(b.scratch)
		b.scratch = nil
	}
}

// upstream's Filter reads the request body as slices through this.
var _ upstream.SlicedBody = (*body)(nil)

// forgetViews drops the views Slices handed out: a change of the body ends
// them (bodySlices), and a caller that still read them would find empty
// slices rather than memory Envoy freed.
func (b *body) forgetViews() {
	if b.views != nil {
		b.views.forget()
	}
}

func (b *body) Replace(data []byte) {
	b.forgetViews()
	switch {
	case b.a.envoy == nil:
	case b.a.ops == nil:
		// A stream's events: nothing queued (the common case, once per
		// event).
		bodyCalls.replace(b.a.envoy, b.response, data, nil)
	default:
		bodyCalls.replace(b.a.envoy, b.response, data, *b.a.ops)
		b.a.dropOps()
	}
}

// Edit has Envoy build the edited body from its own slices (editBody);
// edits it cannot take in one call go through a Go copy and Replace.
func (b *body) Edit(edits []translate.Edit) {
	if b.a.envoy == nil {
		return
	}
	b.forgetViews()
	texts := b.texts[:0]
	if len(edits) == 1 {
		texts = edits[0].Text
	} else {
		for _, e := range edits {
			texts = append(texts, e.Text...)
		}
		b.texts = texts
	}
	var ops []byte
	if b.a.ops != nil {
		ops = *b.a.ops
	}
	ok, sent := bodyCalls.edit(b.a.envoy, b.response, edits, texts, ops)
	if sent {
		b.a.dropOps()
	}
	if !ok {
		b.Replace(translate.ApplyEdits(b.Bytes(), edits))
	}
}
