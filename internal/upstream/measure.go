package upstream

import (
	"strconv"
	"time"

	"github.com/aigw/aigw/internal/metrics"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/translate"
)

// now is the attempt's clock (a variable so tests can step it):
// monotonicNow.
var now = monotonicNow

// epoch is monotonicNow's origin.
var epoch = time.Now()

// monotonicNow is the time as an attempt's metrics need it: only ever
// subtracted from another reading (duration, TTFT, TPOT), so it reads only
// the monotonic clock (time.Since), one clock read where time.Now makes two
// (wall and monotonic). Its wall reading is epoch's plus the monotonic time
// elapsed since, which a wall clock step does not move.
func monotonicNow() time.Time { return epoch.Add(time.Since(epoch)) }

// Error types (error.type) of attempts that ended without a provider status.
const (
	// ErrorClientAbort: the stream was destroyed after the provider's
	// response began and before it ended (the client hung up mid-stream,
	// or the provider reset it).
	ErrorClientAbort = "client_abort"
	// ErrorUpstreamReset: the attempt was destroyed before any response
	// (connect failure, reset, per-try timeout, the client hanging up while
	// the provider thinks).
	ErrorUpstreamReset = "upstream_reset"
	// ErrorCredentialUnavailable: the attempt was destroyed while it waited
	// for its backend's credential (Envoy's per-try timeout moved the
	// request on, or the client hung up).
	ErrorCredentialUnavailable = "credential_unavailable"
	// ErrorInternal: a panic failed the request.
	ErrorInternal = "internal_error"
)

// measure is one attempt's metrics, filled as the hooks run and recorded
// exactly once when the attempt ends: at end of stream, when the upstream
// phase answers the request itself, or from OnDestroy for an attempt that
// never ended otherwise (Envoy never calls stream_complete in the upstream
// chain, and destroy gets no Envoy pointer: recording calls nothing of
// Envoy's).
type measure struct {
	m           metrics.Attempt
	respStarted bool
	done        bool
}

// measureHeaders notes the request headers that become attributes.
func (f *Filter) measureHeaders() {
	if hs := f.cfg.rec.Headers(); len(hs) > 0 {
		h := f.a.RequestHeaders()
		for i, x := range hs {
			f.ms.m.Headers[i], _ = h.Get(x.Header)
		}
	}
}

// measureBackend notes the backend serving the attempt.
func (f *Filter) measureBackend(b *Backend) {
	f.ms.m.Backend = b.Name
	f.ms.m.Provider = translate.ProviderName(b.Target.Schema)
}

// measureRequest notes the request as it leaves for the provider.
func (f *Filter) measureRequest(clientPath string, p *plan) {
	f.ms.m.Operation = translate.OperationName(clientPath)
	f.ms.m.RequestModel = p.requestModel
	f.ms.m.Streaming = p.stream
	f.ms.m.Start = now()
}

// measureStatus notes the provider's status: any other than 2xx fails the
// attempt with the status as its error.type.
func (f *Filter) measureStatus(status int) {
	f.ms.respStarted = true
	if status < 200 || status > 299 {
		f.ms.m.ErrorType = statusErrorType(status)
	}
}

// statusErrors are the statuses' strings, so the common ones cost no
// allocation.
var statusErrors = func() (m [600]string) {
	for s := 100; s < len(m); s++ {
		m[s] = strconv.Itoa(s)
	}
	return m
}()

func statusErrorType(status int) string {
	if status >= 0 && status < len(statusErrors) && statusErrors[status] != "" {
		return statusErrors[status]
	}
	return strconv.Itoa(status)
}

// measureOutput notes the first response bytes of a successful stream that
// go to the client (the first token, for TTFT).
func (f *Filter) measureOutput(n int) {
	if n > 0 && f.ms.m.FirstToken.IsZero() && f.mode.Stream && f.ms.m.ErrorType == "" {
		f.ms.m.FirstToken = now()
	}
}

// finish records the attempt once; errorType, when set and none is yet,
// fails it.
func (f *Filter) finish(errorType string) {
	if f.ms.done {
		return
	}
	f.ms.done = true
	if f.cfg.rec == nil {
		return
	}
	m := &f.ms.m
	if m.ErrorType == "" {
		m.ErrorType = errorType
	}
	u := &f.usage
	m.ResponseModel = u.Model
	m.Usage = metrics.Usage{
		Input: u.InputTokens, Output: u.OutputTokens, CachedInput: u.CachedInputTokens,
		CacheCreationInput: u.CacheCreationInputTokens, Reasoning: u.ReasoningTokens,
		Reported: u.TotalTokens > 0, // the total is at least the sum of its parts (Usage.sane)
	}
	m.End = now()
	f.cfg.rec.Record(m)
}

// answeredErrorType is the error.type of an attempt the upstream phase
// answered itself: the answer's code, else its status.
func answeredErrorType(e *oaierr.Error) string {
	if e.Code != "" {
		return e.Code
	}
	return statusErrorType(e.Status)
}
