package filter

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/route"
)

// Dynamic metadata keys in namespace config.DynamicMetadataNamespace.
const (
	MetaModel   = "model"
	MetaBackend = "backend"
)

// Router is the per-request filter. Its state is what one request needs
// between callbacks: the header map from DecodeHeaders (Envoy keeps it
// writable until the request continues) and what accounting needs. It does
// not implement EncodeHeaders/EncodeData: responses pass through the
// embedded pass-through filter untouched.
type Router struct {
	api.PassThroughStreamFilter
	cfg *Config
	cb  api.FilterCallbackHandler

	headers         api.RequestHeaderMap
	inspected       bool // an inference request this filter buffered and routed
	answeredLocally bool // rejected (or failed) by this filter, never sent upstream
	start           time.Time
}

var jsonHeaders = map[string][]string{"content-type": {"application/json"}}

// DecodeHeaders picks the requests to inspect. Everything that is not a POST
// to an inference path passes untouched and unbuffered.
func (r *Router) DecodeHeaders(h api.RequestHeaderMap, endStream bool) (status api.StatusType) {
	defer r.recoverAs(&status)
	path := h.Path()
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	method := h.Method()
	if method == http.MethodGet && path == "/v1/models" {
		if m := r.cfg.metrics; m != nil {
			m.ModelsListed.Increment(1)
		}
		r.cb.DecoderFilterCallbacks().SendLocalReply(http.StatusOK, r.cfg.modelsBody, jsonHeaders, 0, "aigw_models")
		return api.LocalReply
	}
	if method != http.MethodPost || !r.cfg.IsInferencePath(path) {
		return api.Continue
	}
	r.inspected = true
	r.start = time.Now()
	if m := r.cfg.metrics; m != nil {
		m.Requests.Increment(1)
	}
	if endStream {
		return r.reject(oaierr.InvalidRequest("", "request body is empty"))
	}
	if cl, ok := h.Get("content-length"); ok {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n > int64(r.cfg.MaxRequestBodyBytes) {
			return r.reject(tooLarge(r.cfg.MaxRequestBodyBytes))
		}
	}
	r.headers = h
	// Envoy buffers the whole body and calls DecodeData once with it.
	return api.StopAndBuffer
}

// DecodeData routes on the buffered body.
func (r *Router) DecodeData(buf api.BufferInstance, endStream bool) (status api.StatusType) {
	defer r.recoverAs(&status)
	if !r.inspected {
		return api.Continue
	}
	if buf.Len() > int(r.cfg.MaxRequestBodyBytes) {
		return r.reject(tooLarge(r.cfg.MaxRequestBodyBytes))
	}
	if !endStream {
		return api.StopAndBuffer
	}
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
	if d.Backend != "" {
		h.Set(cfg.BackendHeader, d.Backend)
		h.Del(cfg.ModelHeader)
	} else {
		h.Set(cfg.ModelHeader, d.Model)
		h.Del(cfg.BackendHeader)
	}
	if d.RemoveBackendMember {
		body = bodyscan.RemoveMember(body, scan.Backend)
		if err := buf.Set(body); err != nil {
			panic(fmt.Sprintf("replacing the request body: %v", err))
		}
		h.Set("content-length", strconv.Itoa(len(body)))
	}
	r.cb.ClearRouteCache()
	md := r.cb.StreamInfo().DynamicMetadata()
	if d.Model != "" {
		md.Set(config.DynamicMetadataNamespace, MetaModel, d.Model)
	}
	if d.Backend != "" {
		md.Set(config.DynamicMetadataNamespace, MetaBackend, d.Backend)
	}
	r.headers = nil // not ours to touch once the request continues
	return api.Continue
}

// OnStreamComplete accounts the request. It reads the response code from
// stream info (one integer) rather than copying the response headers in
// EncodeHeaders. Token usage is counted by the upstream phase, which sees
// the provider's response; reading it back from dynamic metadata here would
// cost a protobuf decode per request. Latency is in Envoy's own %DURATION%.
func (r *Router) OnStreamComplete() {
	defer func() {
		if p := recover(); p != nil {
			r.cb.Log(api.Error, fmt.Sprintf("aigw: panic in response accounting: %v", p))
		}
	}()
	m := r.cfg.metrics
	if !r.inspected || m == nil {
		return
	}
	m.Completed.Increment(1)
	m.LatencyMsTotal.Increment(time.Since(r.start).Milliseconds())
	if code, ok := r.cb.StreamInfo().ResponseCode(); ok && code >= 500 && !r.answeredLocally {
		m.UpstreamErrors.Increment(1)
	}
}

// reject answers the client with an OpenAI error; the request never reaches
// a backend.
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
	r.cb.DecoderFilterCallbacks().SendLocalReply(e.Status, string(e.JSON()), jsonHeaders, 0, "aigw_"+strings.ReplaceAll(strings.ToLower(http.StatusText(e.Status)), " ", "_"))
	return api.LocalReply
}

// recoverAs turns a panic in this request's processing into an OpenAI 500
// for this request only.
func (r *Router) recoverAs(status *api.StatusType) {
	p := recover()
	if p == nil {
		return
	}
	r.cb.Log(api.Error, fmt.Sprintf("aigw: recovered panic while routing: %v", p))
	*status = r.reject(oaierr.New(http.StatusInternalServerError, "server_error", "internal_error", "the gateway failed to process this request"))
}

func tooLarge(limit config.ByteSize) *oaierr.Error {
	return oaierr.New(http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "request body exceeds the gateway limit of %d bytes", int64(limit))
}
