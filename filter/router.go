package filter

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/quota"
	"github.com/aigw/aigw/internal/route"
)

// Dynamic metadata keys in namespace config.DynamicMetadataNamespace.
const (
	MetaModel   = "model"
	MetaBackend = "backend"
)

// Router is the per-request filter. Its state is what one request needs
// between callbacks: the header map from DecodeHeaders (Envoy keeps it
// writable until the request continues) and what accounting needs. It has
// no response-side methods: responses pass through untouched (the adapter
// answers Envoy's encode calls with Continue without calling in here).
// The adapter reuses Router values across requests; Init resets one.
type Router struct {
	cfg *Config
	s   Stream

	headers         RequestHeaders
	inspected       bool // an inference request this filter buffered and routed
	answeredLocally bool // rejected (or failed) by this filter, never sent upstream
	start           time.Time
	reserved        int64         // bytes of cfg.budget this request holds until OnDestroy
	format          oaierr.Format // the client's error shape, from its path
	// findings hands what the scan found to the upstream phase's attempts
	// until OnDestroy (bodyscan.Remember).
	findings bodyscan.Ticket

	// ticket names hold in quota.Held while the request holds a token
	// reservation (quota.budgets); 0 when it holds none.
	ticket         uint64
	hold           quota.Hold
	overrunCounted uint16 // rules whose overrun at reserve time was counted
}

// Init makes r a fresh filter for one request.
func (r *Router) Init(cfg *Config, s Stream) { *r = Router{cfg: cfg, s: s} }

// DecodeHeaders picks the requests to inspect. Everything that is not a POST
// to an inference path passes unbuffered, with the client's routing headers
// removed or refused (route.Uninspected).
func (r *Router) DecodeHeaders(h RequestHeaders, endStream bool) (status api.StatusType) {
	path, _ := h.Get(":path")
	r.format = oaierr.FormatFor(path)
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if q := r.cfg.Quota; q != nil {
		// Every request carries a number for each cost, 0 until the upstream
		// phase knows the usage: the rate limit filter drops a descriptor
		// whose hits_addend is absent (docs/quotas.md).
		r.zeroCosts(q)
	}
	method, _ := h.Get(":method")
	if method == http.MethodGet && path == "/v1/models" {
		if m := r.cfg.metrics; m != nil {
			m.ModelsListed.Increment(1)
		}
		r.s.SendLocalReply(http.StatusOK, r.cfg.modelsBody, "aigw_models")
		return api.LocalReply
	}
	if method != http.MethodPost || !r.cfg.IsInferencePath(path) {
		return r.uninspected(h)
	}
	r.inspected = true
	r.start = time.Now()
	if m := r.cfg.metrics; m != nil {
		m.Requests.Increment(1)
	}
	if endStream {
		return r.reject(oaierr.InvalidRequest("", "request body is empty"))
	}
	// Reserve what Envoy will buffer before it calls DecodeData: the
	// content-length, which Envoy's codecs enforce, or for a body of unknown
	// length the most the gateway accepts.
	reserve := int64(r.cfg.MaxRequestBodyBytes)
	if cl, ok := h.Get("content-length"); ok {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			if n > int64(r.cfg.MaxRequestBodyBytes) {
				return r.reject(tooLarge(r.cfg.MaxRequestBodyBytes))
			}
			reserve = n
		}
	}
	if !r.reserve(reserve) {
		return r.shed()
	}
	r.headers = h
	// Envoy buffers the whole body and calls DecodeData once with it.
	return api.StopAndBuffer
}

// DecodeData routes on the buffered body.
func (r *Router) DecodeData(buf Body, endStream bool) (status api.StatusType) {
	if !r.inspected {
		return api.Continue
	}
	if buf.Len() > int(r.cfg.MaxRequestBodyBytes) {
		return r.reject(tooLarge(r.cfg.MaxRequestBodyBytes))
	}
	// Hold exactly what Envoy buffered: give back the rest of a reservation
	// for a body of unknown length; take more if Envoy somehow holds more.
	if n := int64(buf.Len()); n < r.reserved {
		r.cfg.budget.Release(r.reserved - n)
		r.reserved = n
	} else if n > r.reserved && !r.reserve(n-r.reserved) {
		return r.shed()
	}
	// The body is complete whether or not endStream is set: after
	// StopAndBuffer, Envoy calls DecodeData once, with end_stream, or
	// without it when trailers follow the body (golang_filter.cc doTrailer,
	// WaitingAllData). Asking to buffer more then would let Envoy pass the
	// body and the trailers on unrouted (processor_state.cc
	// handleDataGolangStatus), so route now.
	cfg := r.cfg.Config
	h := r.headers
	body := buf.Bytes() // Envoy's one copy into Go memory; everything below works on it in place.
	scan, err := bodyscan.Scan(body, cfg.BackendField)
	if err != nil {
		return r.reject(route.ScanError(err))
	}
	headerBackend, hasHeaderBackend := h.Get(cfg.BackendHeader)
	d, e := route.Decide(cfg, route.Input{HeaderBackend: headerBackend, HasHeaderBackend: hasHeaderBackend, Body: scan})
	if e != nil {
		return r.reject(e)
	}
	if q := cfg.Quota; q != nil && q.Engine() != nil {
		if st, rejected := r.reserveTokens(q, h, scan, d, len(body)); rejected {
			return st
		}
	}
	if d.Backend != "" {
		h.Set(cfg.BackendHeader, d.Backend)
		h.Del(cfg.ModelHeader)
	} else {
		h.Set(cfg.ModelHeader, d.Model)
		h.Del(cfg.BackendHeader)
	}
	var removed bodyscan.Member
	if d.RemoveBackendMember {
		body = bodyscan.RemoveMember(body, scan.Backend)
		buf.Set(body)
		h.Set("content-length", strconv.Itoa(len(body)))
		removed = scan.Backend
	}
	r.findings = bodyscan.Remember(body, bodyscan.FindingsOf(scan, removed), bodyscan.WorkerOf(r.s))
	r.s.ClearRouteCache()
	if d.Model != "" {
		r.s.SetMetadata(MetaModel, d.Model)
	}
	if d.Backend != "" {
		r.s.SetMetadata(MetaBackend, d.Backend)
	}
	r.s.SetMetadata(config.MetaConfigDigest, r.cfg.digest)
	r.headers = nil // not ours to touch once the request continues
	return api.Continue
}

// OnStreamComplete accounts the request. It reads the response code from
// stream info (one integer) rather than copying the response headers in
// EncodeHeaders. Token usage is counted by the upstream phase, which sees
// the provider's response; reading it back from dynamic metadata here would
// cost a protobuf decode per request. Latency is in Envoy's own %DURATION%.
func (r *Router) OnStreamComplete() {
	r.settleTokens(true)
	m := r.cfg.metrics
	if !r.inspected || m == nil {
		return
	}
	m.Completed.Increment(1)
	m.LatencyMsTotal.Increment(time.Since(r.start).Milliseconds())
	if code, ok := r.s.ResponseCode(); ok && code >= 500 && !r.answeredLocally {
		m.UpstreamErrors.Increment(1)
	}
}

// OnDestroy ends the request: the bytes it reserved are released. Envoy
// calls it for every stream, including reset and aborted ones, and only
// then frees the body it buffered: after routing, the router keeps it for
// retries until the stream ends (source/common/router/router.cc:1043-1058,
// addDecodedData while a retry or redirect is possible).
func (r *Router) OnDestroy() {
	r.release()
	r.findings.Forget()
	r.settleTokens(false)
}

// uninspected applies route.Uninspected: a client's routing headers never
// steer a request the router phase did not route.
func (r *Router) uninspected(h RequestHeaders) api.StatusType {
	cfg := r.cfg.Config
	_, hasModel := h.Get(cfg.ModelHeader)
	backend, hasBackend := h.Get(cfg.BackendHeader)
	if !hasModel && !hasBackend {
		return api.Continue
	}
	hy, e := route.Uninspected(cfg, hasModel, backend, hasBackend)
	if e != nil {
		return r.reject(e)
	}
	if hy.DelModel {
		h.Del(cfg.ModelHeader)
	}
	if hy.DelBackend {
		h.Del(cfg.BackendHeader)
	} else if hasBackend {
		// A kept backend header can reach that backend's cluster: its
		// attempts check the digest like those of a routed request.
		r.s.SetMetadata(config.MetaConfigDigest, r.cfg.digest)
	}
	if hy.Changed() {
		// Envoy matched the route when the headers arrived, on the
		// client's headers: match again without them.
		r.s.ClearRouteCache()
		if m := r.cfg.metrics; m != nil {
			m.HeadersRemoved.Increment(1)
		}
	}
	return api.Continue
}

// reserve takes n bytes of the process's buffering budget for this request.
func (r *Router) reserve(n int64) bool {
	if !r.cfg.budget.Reserve(n, int64(r.cfg.MaxBufferedBytes)) {
		return false
	}
	r.reserved += n
	return true
}

func (r *Router) release() {
	if r.reserved != 0 {
		r.cfg.budget.Release(r.reserved)
		r.reserved = 0
	}
}

// shed answers 503 with Retry-After: the process holds max_buffered_bytes
// of request bodies already.
func (r *Router) shed() api.StatusType {
	if m := r.cfg.metrics; m != nil {
		m.Overloaded.Increment(1)
	}
	r.answeredLocally = true
	r.headers = nil
	r.release()
	r.s.SendRetryLater(errOverloaded.Status, string(errOverloaded.Render(r.format)), "aigw_overloaded")
	return api.LocalReply
}

// RetryAfterSeconds is the Retry-After of a 503 for max_buffered_bytes:
// buffered bodies are routed within milliseconds, so room comes back soon.
const RetryAfterSeconds = "1"

var errOverloaded = oaierr.New(http.StatusServiceUnavailable, "server_error", "gateway_overloaded",
	"the gateway is buffering too many request bodies right now; retry after %s second", RetryAfterSeconds)

// reject answers the client with the error in the client's format (OpenAI's,
// or Anthropic's on /v1/messages); the request never reaches a backend.
func (r *Router) reject(e *oaierr.Error) api.StatusType {
	if m := r.cfg.metrics; m != nil {
		if e.Status >= 500 {
			m.InternalErrors.Increment(1)
		} else {
			m.Rejected.Increment(1)
		}
	}
	r.answeredLocally = true
	r.headers = nil
	// Envoy drains the buffered body before it sends the local reply
	// (contrib/golang/filters/http/source/golang_filter.cc:452-456).
	r.release()
	r.s.SendLocalReply(e.Status, string(e.Render(r.format)), "aigw_"+strings.ReplaceAll(strings.ToLower(http.StatusText(e.Status)), " ", "_"))
	return api.LocalReply
}

// Fail answers the request with the gateway's 500 after the adapter's
// panic boundary recovered a panic in DecodeHeaders or DecodeData (this
// package recovers nothing; the adapter logs the panic): this request only
// fails, and is accounted as an internal error.
func (r *Router) Fail() api.StatusType { return r.reject(ErrInternal) }

// ErrInternal answers a request the router phase failed on (a recovered
// panic); the cause goes to Envoy's log, never to the client.
var ErrInternal = oaierr.Internal("the gateway failed to process this request")

func tooLarge(limit config.ByteSize) *oaierr.Error {
	return oaierr.New(http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "request body exceeds the gateway limit of %d bytes", int64(limit))
}
