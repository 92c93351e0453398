package upstream

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/aigw/aigw/internal/oaierr"
)

// state is where one attempt is. Every hook switches on it first, so a
// hook Envoy calls after the attempt was answered locally does nothing.
type state uint8

const (
	// stateNew: request headers not seen yet.
	stateNew state = iota
	// stateForwarding: the attempt goes to the backend.
	stateForwarding
	// stateFailed: FailAttempt answered the attempt. Envoy runs our own
	// response hooks for that local response (send_response_headers enters
	// the upstream encoder chain), which must pass it through untouched;
	// request data still arriving is dropped.
	stateFailed
	// stateAborted: SendResponse ended the whole request (a panic or an
	// error no backend could fix). Everything stops.
	stateAborted
)

// Filter is the upstream filter for one attempt. Envoy calls a filter's hooks
// from one worker thread, one at a time (re-entrantly when we answer
// locally), so Filter needs no locking.
type Filter struct {
	cfg     *Config
	a       Attempt
	state   state
	backend *Backend
}

// NewFilter returns the filter for one attempt. It must not call a; Envoy
// attaches the attempt's callbacks only after creating the filter.
func NewFilter(cfg *Config, a Attempt) *Filter {
	return &Filter{cfg: cfg, a: a}
}

// Backend is the backend this attempt was routed to, nil before the request
// headers or when the attempt failed.
func (f *Filter) Backend() *Backend { return f.backend }

// OnRequestHeaders resolves the chosen endpoint to a configured backend and
// records it. The endpoint (and so its metadata) is fixed when the upstream
// request is created, before this hook runs.
func (f *Filter) OnRequestHeaders(endStream bool) (st HeadersStatus) {
	defer func() {
		if r := recover(); r != nil {
			f.abort("request headers", r)
			st = HeadersStopAllIterationAndBuffer
		}
	}()
	if f.state != stateNew {
		return f.requestHeadersStatus()
	}
	value, found := f.a.EndpointMetadata(f.cfg.metadataNamespace, f.cfg.metadataKey)
	b, failure := f.cfg.resolveBackend(value, found)
	if failure != nil {
		f.fail(failure)
		return HeadersStopAllIterationAndBuffer
	}
	f.backend = b
	f.state = stateForwarding
	f.a.SetDynamicMetadata(MetadataNamespace, MetadataBackendName, b.Name)
	return HeadersContinue
}

// OnRequestBody forwards the body of a resolved attempt and drops it once
// the attempt was answered locally.
func (f *Filter) OnRequestBody(endStream bool) (st BodyStatus) {
	defer func() {
		if r := recover(); r != nil {
			f.abort("request body", r)
			st = BodyStopIterationNoBuffer
		}
	}()
	if f.state == stateForwarding {
		return BodyContinue
	}
	// Headers stopped the attempt (or never ran): do not let the body reach
	// the codec, and do not buffer what will never be sent.
	return BodyStopIterationNoBuffer
}

// OnRequestTrailers mirrors OnRequestBody.
func (f *Filter) OnRequestTrailers() (st TrailersStatus) {
	defer func() {
		if r := recover(); r != nil {
			f.abort("request trailers", r)
			st = TrailersStopIteration
		}
	}()
	if f.state == stateForwarding {
		return TrailersContinue
	}
	return TrailersStopIteration
}

// OnResponseHeaders passes the backend's response (or our own local
// response for a failed attempt) on.
func (f *Filter) OnResponseHeaders(endStream bool) (st HeadersStatus) {
	defer func() {
		if r := recover(); r != nil {
			f.abort("response headers", r)
			st = HeadersStopIteration
		}
	}()
	if f.state == stateAborted {
		return HeadersStopIteration
	}
	return HeadersContinue
}

// OnResponseBody passes the response body on.
func (f *Filter) OnResponseBody(endStream bool) (st BodyStatus) {
	defer func() {
		if r := recover(); r != nil {
			f.abort("response body", r)
			st = BodyStopIterationNoBuffer
		}
	}()
	if f.state == stateAborted {
		return BodyStopIterationNoBuffer
	}
	return BodyContinue
}

// OnResponseTrailers passes the response trailers on.
func (f *Filter) OnResponseTrailers() (st TrailersStatus) {
	defer func() {
		if r := recover(); r != nil {
			f.abort("response trailers", r)
			st = TrailersStopIteration
		}
	}()
	if f.state == stateAborted {
		return TrailersStopIteration
	}
	return TrailersContinue
}

// OnDestroy releases the attempt. Envoy passes no callbacks to destroy, so
// the Attempt must not be used from here on.
func (f *Filter) OnDestroy() {
	f.a = nil
	f.backend = nil
}

// requestHeadersStatus is the answer to a repeated request-headers hook,
// which Envoy never sends; kept total so a misbehaving host cannot make a
// failed attempt forward.
func (f *Filter) requestHeadersStatus() HeadersStatus {
	if f.state == stateForwarding {
		return HeadersContinue
	}
	return HeadersStopAllIterationAndBuffer
}

// fail answers the attempt with failure through FailAttempt.
//
// Why FailAttempt (send_response_headers) and not SendResponse
// (send_response): in an upstream filter send_response goes to the router's
// downstream callbacks (UpstreamFilterManager::sendLocalReply in
// source/common/router/upstream_request.cc) and ends the request; the retry
// policy never sees it. send_response_headers instead enters the upstream
// filter manager's encode path, reaches UpstreamRequest::decodeHeaders and
// Router::Filter::onUpstreamHeaders exactly like a backend's response
// (source/common/router/router.cc), so `retry_on: 5xx` with
// previous_priorities moves the request to the next priority, where the
// endpoint may carry valid metadata. The state is set first because Envoy
// runs our response hooks for that response before FailAttempt returns.
func (f *Filter) fail(e *failure) {
	f.a.Log(LogError, e.log)
	f.state = stateFailed
	f.a.FailAttempt(e.err.Status, jsonHeaders, e.err.JSON())
}

// abort turns a panic in a hook into a 500 for this request only.
func (f *Filter) abort(hook string, r any) {
	if f.state == stateAborted || f.a == nil {
		return
	}
	prev := f.state
	f.state = stateAborted
	f.a.Log(LogCritical, fmt.Sprintf("aigw-upstream: panic in %s hook: %v\n%s", hook, r, debug.Stack()))
	if prev == stateFailed {
		// The attempt is already answered; its response is on its way.
		return
	}
	err := oaierr.New(http.StatusInternalServerError, "server_error", "internal_error",
		"internal error in the gateway's upstream filter")
	f.a.SendResponse(err.Status, jsonHeaders, err.JSON())
}

var jsonHeaders = []Header{{Key: "content-type", Value: "application/json"}}
