package golangabi

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/filter"
	"github.com/aigw/aigw/internal/cthread"
)

// Envoy calls every per-request entry point on the worker thread that owns
// the stream (httpRequest.worker_id), one call at a time, and aigw's filter
// never leaves work running after a callback returns. So each worker's
// state is used by one thread only and needs no lock, and a request's Go
// state can be recycled the moment Envoy destroys the stream: no finalizer,
// and in steady state no allocation per request.
type worker struct {
	id int
	// thread is the number of this worker's thread (internal/cthread) + 1,
	// 0 until its first request asks (WorkerThread): the number the
	// attempts of its streams see too.
	thread  uint32
	live    map[unsafe.Pointer]*request // by Envoy's httpRequest
	peak    int                         // the most live streams since live was made
	free    []*request
	configs map[*filter.Config]*filter.Config // each config as this worker's requests use it
	// Scratch space valid until the current callback returns (see
	// filter.RequestHeaders.Get and filter.Body.Bytes).
	body  []byte
	arena []byte
	meta  []byte
	// ops queues the writes of the callback in progress (request.queue);
	// setBody is the body a queued opSetBuffer replaces the callback's
	// buffer with (setQueued: one is queued).
	ops       []byte
	setBody   []byte
	setQueued bool

	// groups are the header groups the router reads together in the
	// callback in progress (filter.HeaderReads), group the one whose values
	// (read in one call: headers.Get) are in groupVals/groupOK, 0 when none
	// is; keys is scratch for packing a group's names.
	groups    [][]string
	group     int
	groupVals [maxHeaderGroup]string
	groupOK   [maxHeaderGroup]bool
	keys      []byte
}

const (
	// maxPooledRequests bounds each worker's free list: enough to serve the
	// streams one worker opens and closes under load without allocating,
	// while a burst of more leaves at most 1024 x 384 bytes behind.
	maxPooledRequests = 1024
	// shrinkLiveFrom: a live map whose peak reached it is rebuilt at the size
	// in use once that is an eighth of the peak (a Go map keeps the buckets
	// of its peak size: 10,000 streams would leave ~300 KB per worker).
	shrinkLiveFrom = 1024
	// maxRetainedBody is the largest body buffer a worker keeps for the next
	// request; bigger bodies get a buffer of their own, freed by the GC.
	maxRetainedBody = 1 << 20
	// maxCachedConfigs bounds each worker's per-config cache: far more
	// listener and per-route configs than are live at once.
	maxCachedConfigs = 64
)

// workerTable grows to Envoy's concurrency (httpConfig.concurrency) and, as a
// safety net, to any worker_id it meets; it never shrinks, so a *worker stays
// valid.
type workerTable struct {
	mu sync.Mutex
	ws atomic.Pointer[[]*worker]
}

var workers workerTable

func (t *workerTable) ensure(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var cur []*worker
	if p := t.ws.Load(); p != nil {
		cur = *p
	}
	if len(cur) >= n {
		return
	}
	next := make([]*worker, n)
	copy(next, cur)
	for i := len(cur); i < n; i++ {
		next[i] = &worker{id: i, live: make(map[unsafe.Pointer]*request, 64), configs: map[*filter.Config]*filter.Config{}}
	}
	t.ws.Store(&next)
}

func (t *workerTable) get(id uint32) *worker {
	if p := t.ws.Load(); p != nil && int(id) < len(*p) {
		return (*p)[id]
	}
	t.ensure(int(id) + 1)
	return (*t.ws.Load())[id]
}

// request is aigw's state for one stream: the router filter plus what the
// adapter needs to serve its calls into Envoy.
type request struct {
	c      unsafe.Pointer // Envoy's httpRequest
	s      unsafe.Pointer // the processState of the callback in progress
	w      *worker
	reads  *filter.HeaderReads
	buffer uint64 // Envoy's Buffer::Instance of the DecodeData in progress
	length uint64
	router filter.Router
}

// WorkerThread is the number of the worker thread serving the stream
// (bodyscan.Worker): the router phase keeps its findings under it for the
// stream's attempts, which the dynamic module runs on the same thread. The
// worker asks once, on its own thread.
func (r *request) WorkerThread() uint32 {
	w := r.w
	if w.thread == 0 {
		w.thread = cthread.Number() + 1
	}
	return w.thread - 1
}

// start returns the Go state of the stream, creating it on the stream's
// first callback; nil if Envoy names a config Go does not have.
func (w *worker) start(c *cHTTPRequest) *request {
	key := unsafe.Pointer(c)
	if r := w.live[key]; r != nil {
		return r
	}
	cfg := w.config(c.configID)
	if cfg == nil {
		return nil
	}
	var r *request
	if n := len(w.free); n > 0 {
		r, w.free = w.free[n-1], w.free[:n-1]
	} else {
		r = new(request)
	}
	r.c, r.w, r.reads = key, w, &cfg.Reads
	r.router.Init(cfg, r)
	w.live[key] = r
	w.peak = max(w.peak, len(w.live))
	return r
}

// config is Envoy's config id as this worker's requests use it: the same
// config, counting its stats into this worker's slots (filter.Config.ForWorker).
func (w *worker) config(id uint64) *filter.Config {
	shared := loadConfig(id)
	if shared == nil {
		return nil
	}
	cfg := w.configs[shared]
	if cfg == nil {
		// Configs Envoy destroyed stay in the cache until it is full; then it
		// starts over, which costs only rebuilding the entries in use.
		if len(w.configs) >= maxCachedConfigs {
			clear(w.configs)
		}
		cfg = shared.ForWorker(w.id)
		w.configs[shared] = cfg
	}
	return cfg
}

// end forgets the stream and releases Envoy's httpRequest: Envoy frees it
// only when Go calls envoyGoFilterHttpFinalize (cgo.cc), and since no Go
// code can still hold the request, that is now.
func (w *worker) end(c unsafe.Pointer) {
	if r := w.live[c]; r != nil {
		delete(w.live, c)
		if n := len(w.live); w.peak >= shrinkLiveFrom && n*8 <= w.peak {
			w.shrinkLive(n)
		}
		r.router.OnDestroy()
		*r = request{}
		if len(w.free) < maxPooledRequests {
			w.free = append(w.free, r)
		}
	}
	finalizeRequest(c)
}

// shrinkLive rebuilds the live map for its n streams.
func (w *worker) shrinkLive(n int) {
	m := make(map[unsafe.Pointer]*request, max(n, 64))
	for k, v := range w.live {
		m[k] = v
	}
	w.live, w.peak = m, n
}

// beginCallback records the processState of the callback and resets the
// per-callback scratch space; groups are the header groups the router
// reads in it (r.reads.Headers or Data; nil in callbacks that read none).
func (r *request) beginCallback(s unsafe.Pointer, groups [][]string) {
	r.s = s
	r.w.arena = r.w.arena[:0]
	r.w.ops, r.w.setBody, r.w.setQueued = r.w.ops[:0], nil, false
	r.w.groups, r.w.group = groups, 0
}

// The router's writes (header sets and removes, dynamic metadata, the
// route cache clear) are queued and reach Envoy in one cgo call (aigw_ops)
// instead of one each: before any read or local reply, and when the
// callback ends (flush in exports.go), so Envoy sees them in order within
// the callback that made them and the filter reads what it wrote. Each is a
// kind byte, three string lengths (native uint32) and the strings' bytes.
// Only one callback runs on a worker at a time, so the worker's buffer
// holds the queue of the request in progress.
func (r *request) queue(kind byte, a, b string, c []byte) {
	ops := append(r.w.ops, kind)
	ops = binary.NativeEndian.AppendUint32(ops, uint32(len(a)))
	ops = binary.NativeEndian.AppendUint32(ops, uint32(len(b)))
	ops = binary.NativeEndian.AppendUint32(ops, uint32(len(c)))
	ops = append(ops, a...)
	ops = append(ops, b...)
	r.w.ops = append(ops, c...)
}

// flush makes the queued writes.
func (r *request) flush() {
	if len(r.w.ops) > 0 {
		w := r.w
		ops, body := w.ops, w.setBody
		w.ops, w.setBody, w.setQueued = ops[:0], nil, false // emptied first: a failed write panics
		applyOps(r.s, r.c, ops, r.buffer, body)
	}
}

// filter.Stream

func (r *request) SendLocalReply(status int, body, details string) {
	r.flush()
	sendLocalReply(r.s, status, body, details, false)
}

func (r *request) SendRetryLater(status int, body, details string) {
	r.flush()
	sendLocalReply(r.s, status, body, details, true)
}

func (r *request) ClearRouteCache() { r.queue(opClearRouteCache, "", "", nil) }

func (r *request) SetMetadata(key, value string) {
	r.w.meta = appendStringValue(r.w.meta[:0], value)
	r.queue(opSetMetadata, config.DynamicMetadataNamespace, key, r.w.meta)
}

func (r *request) SetMetadataNumber(key string, value float64) {
	r.w.meta = appendNumberValue(r.w.meta[:0], value)
	r.queue(opSetMetadata, config.DynamicMetadataNamespace, key, r.w.meta)
}

func (r *request) SendLocalReplyHeaders(status int, body, details string, headers []string) {
	r.flush()
	sendLocalReplyHeaders(r.s, status, body, details, headers)
}

func (r *request) ResponseCode() (int, bool) {
	r.flush()
	return responseCode(r.c)
}

func (r *request) Log(level api.LogType, msg string) { logf(level, msg) }

// headers is filter.RequestHeaders on the request's header map.
type headers request

// Get reads a header of the callback's groups with the rest of its group,
// in one call, the first time one of them is read in the callback (until a
// write); any other header alone.
func (h *headers) Get(name string) (string, bool) {
	r, w := (*request)(h), h.w
	for gi, g := range w.groups {
		if i := slices.Index(g, name); i >= 0 && i < maxHeaderGroup {
			if w.group != gi+1 && !r.readGroup(g) {
				break
			}
			w.group = gi + 1
			return w.groupVals[i], w.groupOK[i]
		}
	}
	r.flush()
	return getHeader(h.s, name, &w.arena)
}

// readGroup reads the headers of g (its first maxHeaderGroup) into the
// worker's groupVals/groupOK in one call, after the queued writes; false
// when a name is too long to pack (it is then read alone).
func (r *request) readGroup(g []string) bool {
	keys, ok := r.packGroup(g)
	if !ok {
		return false
	}
	r.flush()
	fetchGroup(r.s, keys, &r.w.arena, &r.w.groupVals, &r.w.groupOK)
	return true
}

// packGroup packs g's names for aigw_get_headers into the worker's scratch.
func (r *request) packGroup(g []string) ([]byte, bool) {
	keys := r.w.keys[:0]
	for _, k := range g[:min(len(g), maxHeaderGroup)] {
		if len(k) > 255 {
			return nil, false
		}
		keys = append(append(keys, byte(len(k))), k...)
	}
	r.w.keys = keys
	return keys, true
}

// fetchGroup is getHeaders; a variable so the tests, which have no Envoy,
// can count the calls.
var fetchGroup = getHeaders

func (h *headers) Set(name, value string) {
	h.w.group = 0 // the read values may be stale now
	(*request)(h).queue(opSetHeader, name, value, nil)
}
func (h *headers) Del(name string) {
	h.w.group = 0
	(*request)(h).queue(opRemoveHeader, name, "", nil)
}

// body is filter.Body on the buffer of the DecodeData in progress.
type body request

func (b *body) Len() int { return int(b.length) }

// Bytes copies the body into the worker's buffer; the callback's first
// header group comes along in the same call (the router reads it next),
// unless one was read already.
func (b *body) Bytes() []byte {
	n := int(b.length)
	buf := b.w.body
	if cap(buf) < n {
		buf = make([]byte, n)
		if n <= maxRetainedBody {
			b.w.body = buf
		}
	}
	buf = buf[:n]
	r, w := (*request)(b), b.w
	if len(w.groups) > 0 && w.group == 0 {
		if keys, ok := r.packGroup(w.groups[0]); ok {
			r.flush()
			copyBufferHeaders(b.s, b.buffer, buf, keys, &w.arena, &w.groupVals, &w.groupOK)
			w.group = 1
			return buf
		}
	}
	r.flush()
	copyBuffer(b.s, b.buffer, buf)
	return buf
}

// Set queues the replacement with the header writes: b goes to Envoy (which
// copies it) with them, before the next read or when the callback returns.
func (b *body) Set(p []byte) {
	r := (*request)(b)
	if r.w.setQueued {
		r.flush() // one replacement per batch
	}
	r.w.setBody, r.w.setQueued = p, true
	r.queue(opSetBuffer, "", "", nil)
}

// internalError answers a stream the filter cannot serve (an adapter bug or
// a config Envoy names that Go does not have) with an OpenAI error.
func internalError(s unsafe.Pointer) {
	sendLocalReply(s, filter.ErrInternal.Status, string(filter.ErrInternal.JSON()), "aigw_internal_error", false)
}
