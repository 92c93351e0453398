package upstream

import (
	"fmt"
	"runtime/debug"
	"strconv"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/credentials"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/translate"
)

// state is where one attempt is. Every hook switches on it first, so a
// hook Envoy calls after the attempt was answered locally does nothing.
type state uint8

const (
	// stateNew: request headers not seen yet.
	stateNew state = iota
	// stateResolved: the backend is known; the request is held until its
	// body is complete, then rewritten for the backend.
	stateResolved
	// stateForwarding: the rewritten request went to the backend; the
	// response is translated back.
	stateForwarding
	// stateAwaiting: the request is complete and held, waiting for the
	// backend's credential (Await); Resume plans it again.
	stateAwaiting
	// stateAborted: SendResponse ended the whole request (a request-time
	// failure, a held response that cannot be translated, or a panic).
	// Everything stops.
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

	tr translate.Translator
	// spent is tr after OnDestroy, until Recycle.
	spent translate.Translator
	mode  translate.ResponseMode
	// replaceResponse, when set, is the body that replaces the backend's
	// (a response the translator could not handle, answered as 502).
	replaceResponse []byte
	// headersHeld is set while the response headers wait for the body
	// (StopIteration), which only a status the router never retries may do.
	headersHeld bool
	usage       translate.Usage
	// ms is the attempt's metrics (measure.go).
	ms measure
	// format is the client's error shape (oaierr.FormatFor its path).
	format oaierr.Format
	budget budgetState
	// held is the client's request line, read when the attempt resolves
	// (originals) and used when the request is complete (forward), and the
	// request of an attempt waiting for its credential (its body stays in
	// Envoy's buffer), waitFail the credential's failure.
	held     request
	waitFail *failure
	waited   bool
	// ended: the response ended and the attempt is recorded (Ended).
	ended bool
}

// NewFilter returns the filter for one attempt. It must not call a; Envoy
// attaches the attempt's callbacks only after creating the filter.
func NewFilter(cfg *Config, a Attempt) *Filter {
	f := new(Filter)
	f.Init(cfg, a)
	return f
}

// Init makes f a new filter for one attempt, as NewFilter does, in memory
// an adapter reuses: nothing of an earlier attempt is left.
func (f *Filter) Init(cfg *Config, a Attempt) { *f = Filter{cfg: cfg, a: a} }

// Backend is the backend this attempt was routed to, nil before the request
// headers or when the attempt failed.
func (f *Filter) Backend() *Backend { return f.backend }

// OnRequestHeaders resolves the chosen endpoint to a configured backend and
// records it (resolve). The endpoint (and so its metadata) is fixed when the
// upstream request is created, before this hook runs. An adapter may leave
// this hook out for a request with a body (its answer would be Hold): the
// body's or the trailers' hook then resolves first.
func (f *Filter) OnRequestHeaders(endStream bool) Action {
	if f.state != stateNew {
		return f.requestHeadersAction()
	}
	if !f.resolve() {
		return Answered
	}
	if endStream {
		// No body (e.g. GET /v1/models): rewrite now.
		return f.forward(nil)
	}
	// Hold the headers until the body is complete: the path, the model and
	// content-length depend on it. StopIteration, not StopAllIteration: after
	// StopAll Envoy buffers the body without calling this filter's own body
	// hook (FilterManager::handleDataIfStopAll in
	// source/common/http/filter_manager.cc) until the filter continues, which
	// it never would, so the attempt would hang until the route timeout. With
	// StopIteration the body hook runs and holds the body itself
	// (StopIterationAndBuffer until end of stream).
	return Hold
}

// resolve reads what the request headers say of the attempt and resolves
// its backend (state stateResolved), or answers the request and returns
// false. It runs once, at the first request hook (state stateNew).
func (f *Filter) resolve() bool {
	f.measureHeaders()
	// The client's request line is read once, here, and kept for the body
	// hook (forward): every read from Envoy is a cgo call, and nothing
	// changes the header map between the two hooks of one attempt.
	f.held = f.originals()
	f.format = oaierr.FormatFor(f.held.path)
	routerDigest, routed := f.a.DynamicMetadata(MetadataNamespace, config.MetaConfigDigest)
	if failure := f.cfg.checkDigest(routerDigest, routed); failure != nil {
		f.end(failure)
		return false
	}
	value, found := f.a.EndpointMetadata(f.cfg.metadataNamespace, f.cfg.metadataKey)
	b, failure := f.cfg.resolveBackend(value, found)
	if failure != nil {
		f.end(failure)
		return false
	}
	f.backend = b
	f.state = stateResolved
	f.measureBackend(b)
	f.a.SetDynamicMetadata(MetadataNamespace, MetadataBackendName, b.Name)
	f.findTicket()
	return true
}

// forward rewrites the attempt for its backend from the original request
// (planRequest decides, apply carries it out). It runs once, when the
// request is complete, and answers Continue, or Answered when the attempt
// ended here. body is the complete request body as Envoy holds it, nil
// for a request without one; the plan reads it as it needs it.
func (f *Filter) forward(body Body) Action {
	req := f.held
	req.src, req.hasBody = body, body != nil
	return f.plan(req)
}

// plan decides the attempt for the complete request req and carries the
// decision out: the rewrite (Continue), a wait for the credential (Await),
// or the answer (Answered).
func (f *Filter) plan(req request) Action {
	p, fail := f.cfg.planRequest(f.backend, req, credentialFor(f.backend))
	if fail != nil && fail.await != nil {
		return f.wait(req, fail)
	}
	if fail != nil {
		f.end(fail)
		return Answered
	}
	f.apply(&p)
	f.tr = p.tr
	f.state = stateForwarding
	f.measureRequest(req.path, &p)
	f.held = request{} // a stream held open keeps no copy of the request line
	return Continue
}

// wait holds an attempt whose backend has no valid credential yet (the first
// fetch is under way, or refreshes failed and the last one expired) instead
// of ending the request: a local reply from here ends it with no failover
// (Filter.end), while a held attempt either resumes as soon as the
// credential's refresher stores one (the adapter wakes it and calls Resume)
// or is reset by Envoy's per-try timeout, which the route's retry policy
// retries like any reset, on the next priority with previous_priorities
// (docs/attempts.md cites the Envoy source). Nothing blocks: the worker goes
// on with other streams and the body stays in Envoy's buffer.
func (f *Filter) wait(req request, fail *failure) Action {
	if !f.waited {
		f.waited = true
		f.a.Log(LogWarn, fmt.Sprintf("aigw-upstream: backend %q has no valid credential; holding the attempt until its refresher stores one "+
			"(Envoy's per-try timeout fails it over to the next priority if none comes)", f.backend.Name))
	}
	req.body, req.src, req.n = nil, nil, 0
	f.held, f.waitFail, f.state = req, fail, stateAwaiting
	return Await
}

// AbandonWait answers a held attempt the adapter cannot wake (the host gave
// it no scheduler) with the failure it waited on: the 503
// credential_unavailable that ends the request.
func (f *Filter) AbandonWait() {
	if f.state == stateAwaiting {
		f.end(f.waitFail)
	}
}

// AwaitCredential is the credential a held attempt (Await) waits for, nil
// when it is not waiting.
func (f *Filter) AwaitCredential() credentials.Awaitable {
	if f.state != stateAwaiting {
		return nil
	}
	return f.waitFail.await
}

// Resume plans a held attempt again once the adapter was woken (on the
// worker, in a scheduled event): Continue when it now has its credential
// (the request was rewritten; the adapter continues decoding), Await when it
// still has none (wait again), Answered when it ended here. Hold means the
// attempt was not waiting: nothing to do.
func (f *Filter) Resume() Action {
	if f.state != stateAwaiting {
		return Hold
	}
	f.state = stateResolved
	req := f.held
	if req.hasBody {
		// The complete body, held in Envoy's buffer since the last body
		// hook (StopIterationAndBuffer).
		req.src = f.a.RequestBody()
	}
	return f.plan(req)
}

// Filter state keys holding the client's :path and :authority, recorded by
// the first attempt before it rewrites them.
const (
	stateKeyPath      = "aigw.upstream.original_path"
	stateKeyAuthority = "aigw.upstream.original_authority"
)

// originals returns the client's request line: its :method, and its :path
// and :authority. Envoy shares the request header map between attempts, so
// from the second attempt on the map holds the previous attempt's rewrite;
// the first attempt saves the originals in the request's filter state. retry
// reports that an earlier attempt got this far (it resolved):
// since every failure before the provider answered ends the request, that
// attempt went to its provider, failed on the way there (a reset, a
// connect failure, a per-try timeout), or waited for its credential until
// Envoy moved on (Filter.wait).
func (f *Filter) originals() request {
	h := f.a.RequestHeaders()
	var r request
	r.worker = bodyscan.WorkerOf(f.a)
	r.method, _ = h.Get(":method")
	if p, ok := f.a.FilterState(stateKeyPath); ok {
		r.path, r.retry = p, true
		r.authority, _ = f.a.FilterState(stateKeyAuthority)
		return r
	}
	r.path, _ = h.Get(":path")
	r.authority, _ = h.Get(":authority")
	f.a.SetFilterState(stateKeyPath, r.path)
	f.a.SetFilterState(stateKeyAuthority, r.authority)
	return r
}

// OnRequestBody forwards the body of a resolved attempt and drops it once
// the attempt was answered locally.
func (f *Filter) OnRequestBody(endStream bool) Action {
	if f.state == stateNew && !f.resolve() {
		return Answered // the request headers hook was left out (OnRequestHeaders)
	}
	switch f.state {
	case stateForwarding:
		return Continue
	case stateAwaiting:
		return Hold
	case stateResolved:
		if !endStream {
			return Hold
		}
		// With buffering, Envoy adds the last chunk to the buffer before
		// this hook (filter.cc decodeData), so this is the whole body.
		return f.forward(f.a.RequestBody())
	}
	// The attempt was answered locally (or never resolved): do not let the
	// body reach the codec, and do not buffer what will never be sent.
	return Answered
}

// OnRequestTrailers mirrors OnRequestBody.
func (f *Filter) OnRequestTrailers() Action {
	if f.state == stateNew && !f.resolve() {
		return Answered // as in OnRequestBody
	}
	switch f.state {
	case stateForwarding:
		return Continue
	case stateAwaiting:
		return Hold
	case stateResolved:
		// Trailers end a body whose last data frame did not: the body is
		// complete and buffered now.
		return f.forward(f.a.RequestBody())
	}
	return Answered
}

// OnResponseHeaders passes the backend's response on.
func (f *Filter) OnResponseHeaders(endStream bool) Action {
	switch f.state {
	case stateAborted:
		return Answered
	case stateForwarding:
		return f.responseHeaders(endStream)
	}
	return Continue
}

// responseHeaders asks the translator how to treat the response and adjusts
// the headers accordingly.
func (f *Filter) responseHeaders(endStream bool) Action {
	h := f.a.ResponseHeaders()
	statusText, _ := h.Get(":status")
	status, _ := strconv.Atoi(statusText)
	ct, _ := h.Get("content-type")
	ce, _ := h.Get("content-encoding")
	if r, ok := f.tr.(translate.ResponseHeaderReader); ok {
		r.ReadResponseHeaders(h) // Bedrock's token-count headers
	}
	mode, err := f.tr.ResponseHeaders(status, ct, ce)
	f.measureStatus(status)
	if err != nil {
		e := responseFailure(f.backend, err)
		f.ms.m.ErrorType = e.Code
		f.a.Log(LogError, fmt.Sprintf("aigw-upstream: backend %q response (status %d) cannot be translated: %v", f.backend.Name, status, err))
		h.Set(":status", strconv.Itoa(e.Status))
		h.Set("content-type", "application/json")
		h.Remove("content-encoding")
		f.replaceResponse = e.Render(f.format)
		h.Set("content-length", strconv.Itoa(len(f.replaceResponse)))
		f.mode = translate.ResponseMode{}
		return Continue
	}
	f.mode = mode
	if mode.ContentType != "" {
		h.Set("content-type", mode.ContentType)
	}
	if mode.RemoveContentEncoding {
		h.Remove("content-encoding")
	}
	if mode.ModifiesBody {
		h.Remove("content-length")
	}
	if endStream || !mode.BufferBody {
		return Continue
	}
	if mayRetry(status) {
		// The router decides on these headers whether to retry; they go on
		// now and only the body is held (mayRetry says why). content-length
		// is gone when the body will change (ModifiesBody, above).
		return Continue
	}
	// Hold the headers too: the body hook sets content-length once the
	// translated body is known, or ends the request with a 502 when the
	// body cannot be translated.
	f.headersHeld = true
	return Hold
}

// OnResponseBody passes the response body on.
func (f *Filter) OnResponseBody(endStream bool) Action {
	switch f.state {
	case stateAborted:
		return Answered
	case stateForwarding:
		act := f.responseBody(endStream)
		f.ended = endStream && act == Continue && f.ms.done
		return act
	}
	return Continue
}

// Ended reports that the attempt ended with its response: a response hook
// passed on the end of stream, and the attempt is recorded. No later hook
// has anything to do (an adapter may destroy the filter then).
func (f *Filter) Ended() bool { return f.ended }

// responseBody translates one piece of the response (the whole body when the
// translator asked for buffering) and accounts tokens at its end.
func (f *Filter) responseBody(endStream bool) Action {
	body := f.a.ResponseBody()
	if f.replaceResponse != nil {
		if !endStream {
			body.Replace(nil)
			return Continue
		}
		body.Replace(f.replaceResponse)
		f.finish("")
		return Continue
	}
	if f.mode.BufferBody && !endStream {
		return Hold
	}
	if f.budget.cut {
		// The stream was cut at the budget: nothing more reaches the client.
		body.Replace(nil)
		return Continue
	}
	in := body.Bytes()
	out, usage, err := f.tr.ResponseBody(in, endStream)
	f.record(usage)
	if err == nil && f.mode.Stream && !f.mode.Error {
		if !f.mode.ModifiesBody {
			out = body.Bytes()
		}
		if cut, ok := f.streamed(out, endStream); !ok {
			body.Replace(cut)
			f.measureOutput(len(cut))
			return Continue
		}
	}
	if err != nil {
		if f.ms.m.ErrorType == "" {
			f.ms.m.ErrorType = translate.CodeBadResponse
		}
		f.a.Log(LogError, fmt.Sprintf("aigw-upstream: backend %q response body cannot be translated: %v", f.backend.Name, err))
		switch {
		case f.headersHeld:
			// Nothing reached the router yet: end the request with a 502.
			// Releasing the held headers rewritten to a 5xx would let the
			// router retry on them while their body follows (mayRetry).
			f.end(&failure{err: responseFailure(f.backend, err),
				log: fmt.Sprintf("aigw-upstream: answering 502 for backend %q's untranslatable response", f.backend.Name)})
			return Answered
		case f.mode.BufferBody:
			// An error status whose headers already went on: its body
			// becomes the gateway's OpenAI error.
			out = responseFailure(f.backend, err).Render(f.format)
			f.mode.ModifiesBody = true
		}
		// A stream under way ends with what the translator returned (an
		// OpenAI error event where it can). Its headers cannot be held
		// until the first output and then released: once a body hook
		// continues after held headers, Envoy 1.36.2 keeps an encoding
		// buffer for the rest of the stream (common/http/filter_manager.cc:
		// 218-223, 1910-1912) and the module's body accessor shows that
		// buffer instead of each later chunk
		// (filters/http/dynamic_modules/abi_impl.cc:962-973).
	}
	if f.mode.ModifiesBody {
		if f.headersHeld {
			// Before the body: an adapter may carry the header with it
			// (one call into Envoy).
			f.a.ResponseHeaders().Set("content-length", strconv.Itoa(len(out)))
		}
		body.Replace(out)
		f.measureOutput(len(out))
	} else {
		f.measureOutput(len(in))
	}
	if endStream {
		f.finish("")
	}
	return Continue
}

// record accounts the attempt's token usage as soon as it is known or
// changes, not at end of stream: Envoy never calls stream_complete for
// upstream filters, and a client that hangs up on "data: [DONE]" (openai-go
// closes the body there) resets the stream before the backend's final empty
// frame, so an end-of-stream hook may never come. Usage changes a few times
// per response at most (Anthropic: message_start, then message_delta).
func (f *Filter) record(u translate.Usage) {
	if u == f.usage || u == (translate.Usage{}) {
		return
	}
	prev := f.usage
	f.usage = u
	// Usage is cumulative per attempt; the counters get what is new.
	addDelta(f.a, CounterInputTokens, prev.InputTokens, u.InputTokens)
	addDelta(f.a, CounterOutputTokens, prev.OutputTokens, u.OutputTokens)
	addDelta(f.a, CounterCachedInputTokens, prev.CachedInputTokens, u.CachedInputTokens)
	v := UsageMetadata{float64(u.InputTokens), float64(u.OutputTokens), float64(u.TotalTokens),
		float64(u.CachedInputTokens), float64(u.CacheCreationInputTokens), float64(u.ReasoningTokens)}
	if s, ok := f.a.(UsageMetadataSetter); ok {
		s.SetUsageMetadata(v)
	} else {
		for i, k := range MetadataUsageKeys {
			f.a.SetDynamicMetadataNumber(MetadataNamespace, k, v[i])
		}
	}
	f.usageChanged()
}

func addDelta(a Attempt, c Counter, prev, cur int64) {
	if cur > prev {
		a.AddCounter(c, uint64(cur-prev))
	}
}

// OnResponseTrailers passes the response trailers on.
func (f *Filter) OnResponseTrailers() Action {
	switch f.state {
	case stateAborted:
		return Answered
	case stateForwarding:
		// The body ended without end of stream: finish the translator for
		// its usage. Output it still holds cannot be appended from a
		// trailers hook; it is only logged as lost.
		if f.replaceResponse == nil {
			out, usage, err := f.tr.ResponseBody(nil, true)
			f.record(usage)
			if err != nil || len(out) > 0 {
				f.a.Log(LogWarn, fmt.Sprintf("aigw-upstream: backend %q response ended with trailers; %d translated bytes dropped (err: %v)", f.backend.Name, len(out), err))
			}
		}
		f.finish("")
		f.ended = true
	}
	return Continue
}

// OnDestroy releases the attempt. Envoy passes no callbacks to destroy, so
// the Attempt must not be used from here on.
func (f *Filter) OnDestroy() {
	if f.state == stateAwaiting {
		f.finish(ErrorCredentialUnavailable)
	}
	if f.backend != nil && !f.ms.done {
		// Envoy ended the attempt without its end of stream: the client
		// hung up, the provider reset or timed out, or the router moved on
		// to a retry (a retried status is already the error type). A
		// client that hangs up on reading the stream's terminal event,
		// before the provider's end of stream reached Envoy, got the whole
		// response: its attempt is complete.
		switch {
		case f.ms.respStarted && f.state == stateForwarding && translate.StreamEnded(f.tr):
			f.finish("")
		case f.ms.respStarted:
			f.finish(ErrorClientAbort)
		default:
			f.finish(ErrorUpstreamReset)
		}
	}
	f.a = nil
	f.backend = nil
	f.spent, f.tr = f.tr, nil
	f.replaceResponse = nil
	f.waitFail = nil
}

// Recycle lets a later attempt reuse the memory of this one's translator
// (translate.Release). The adapter calls it after OnDestroy, and only when
// nothing can still use what the translator returned: not while a hook of
// this filter is on the stack (a hook whose local reply destroyed its own
// filter goes on with the translator's output), nor while anything else
// holds the filter.
func (f *Filter) Recycle() {
	translate.Release(f.spent)
	f.spent = nil
}

// requestHeadersAction is the answer to a repeated request-headers hook,
// which Envoy never sends; kept total so a misbehaving host cannot make a
// failed attempt forward.
func (f *Filter) requestHeadersAction() Action {
	switch f.state {
	case stateForwarding:
		return Continue
	case stateResolved, stateAwaiting:
		return Hold
	}
	return Answered
}

// end answers the whole request with failure through SendResponse.
//
// It is the only way the upstream phase answers locally, because it is the
// only one Envoy v1.36.2 supports before the provider answered: in an
// upstream filter send_response goes to
// UpstreamFilterManager::sendLocalReply (source/common/router/
// upstream_request.cc:64-75), the downstream local reply, which ends the
// request without a retry. send_response_headers would instead hand the
// headers to Router::Filter::onUpstreamHeaders, which dereferences the
// attempt's upstream host (router.cc:1726) through an unchecked OptRef
// (envoy/common/optref.h:52); that host is set only once the connection pool
// is ready or failed (upstream_request.cc:372-378), and the upstream filters
// run right after newStream (upstream_request.cc:412-441), so with no idle
// connection Envoy would crash ("Encoding by non-terminal upstream filter is
// not supported", test/integration/filter_integration_test.cc:1419). The
// dynamic-modules ABI has no callback to reset the upstream stream either
// (source/extensions/dynamic_modules/abi.h). So a failure here is never
// retried on another priority: docs/attempts.md says what that means per
// case. A missing credential is therefore not answered here but held
// (Filter.wait), leaving the failover to Envoy's per-try timeout.
func (f *Filter) end(e *failure) {
	f.a.Log(LogError, e.log)
	f.state = stateAborted
	f.finish(answeredErrorType(e.err))
	f.a.SendResponse(e.err.Status, jsonHeaders, e.err.Render(f.format))
}

// Fail is what a panic in one of f's hooks means for the request, called by
// the adapter's panic boundary after it recovered p in hook (this package
// recovers nothing): the panic is logged once, with its stack, the request
// is answered with a 500 unless it already was, and every later hook answers
// Answered, so a panic fails only its own request. Fail must not be called
// after OnDestroy.
func (f *Filter) Fail(hook string, p any) {
	if f.a == nil {
		return
	}
	f.a.Log(LogCritical, fmt.Sprintf("aigw-upstream: panic in %s hook: %v\n%s", hook, p, debug.Stack()))
	f.finish(ErrorInternal)
	if f.state == stateAborted {
		// The request is already answered.
		return
	}
	f.state = stateAborted
	body := errInternalJSON
	if f.format != oaierr.FormatOpenAI {
		body = ErrInternal.Render(f.format)
	}
	f.a.SendResponse(ErrInternal.Status, jsonHeaders, body)
}

// ErrInternal is the upstream phase's answer to a request it failed on (a
// recovered panic); the cause goes to Envoy's log, never to the client.
var (
	ErrInternal     = oaierr.Internal("internal error in the gateway's upstream filter")
	errInternalJSON = ErrInternal.JSON()
)

var jsonHeaders = []Header{{Key: "content-type", Value: "application/json"}}
