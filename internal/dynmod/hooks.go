package dynmod

import (
	"unsafe"

	"github.com/aigw/aigw/internal/upstream"
)

// Status values of abi.h's envoy_dynamic_module_type_on_http_filter_*_status
// enums (TestEnumValuesMatchABI reads them from abi.h). The request and
// response enums of a kind have the same members.
const (
	headersContinue uint32 = iota
	headersStopIteration
	headersContinueAndDontEndStream
	headersStopAllIterationAndBuffer
	headersStopAllIterationAndWatermark
)

const (
	bodyContinue uint32 = iota
	bodyStopIterationAndBuffer
	bodyStopIterationAndWatermark
	bodyStopIterationNoBuffer
)

const (
	trailersContinue uint32 = iota
	trailersStopIteration
)

// streamHook is one of the per-stream event hooks: its name in logs, the ABI
// status each upstream.Action means for it, and its answer for a stream
// without a filter.
type streamHook struct {
	name   string
	status [4]uint32 // indexed by upstream.Action
	// noFilter is the answer when the stream has no filter: only
	// on_http_filter_new failing leaves one without, and Envoy still runs
	// the stream. The request must not be forwarded (it would carry the
	// client's request and credentials to a backend nothing was resolved
	// for); a response can only be the answer to a request already
	// answered, which must reach the client.
	noFilter upstream.Action
	// answerUnknown: answer a stream without an aigw_filter with a 500 (the
	// request headers hook does, which such a stream always enters in Go:
	// filter.c), so the client gets an answer rather than a hang.
	answerUnknown bool
	// request: a request hook, which answers with a 500 when it is the one
	// that failed to make the Go filter (the stream's first hook into Go).
	request bool
}

// The hooks' mappings. Request headers Hold is StopIteration, never
// StopAllIteration*: after StopAll, Envoy buffers the body without calling
// this filter's body hook (FilterManager::handleDataIfStopAll,
// source/common/http/filter_manager.cc) until the filter continues, which it
// never would. Answered stops without buffering what will never be sent.
var (
	requestHeadersHook = streamHook{name: "request headers", status: [4]uint32{
		upstream.Continue: headersContinue, upstream.Hold: headersStopIteration, upstream.Answered: headersStopAllIterationAndBuffer,
		upstream.Await: headersStopIteration,
	}, noFilter: upstream.Answered, answerUnknown: true, request: true}
	requestBodyHook      = streamHook{name: "request body", status: bodyStatus, noFilter: upstream.Answered, request: true}
	requestTrailersHook  = streamHook{name: "request trailers", status: trailersStatus, noFilter: upstream.Answered, request: true}
	responseHeadersHook  = streamHook{name: "response headers", status: responseHeadersStatus, noFilter: upstream.Continue}
	responseBodyHook     = streamHook{name: "response body", status: bodyStatus, noFilter: upstream.Continue}
	responseTrailersHook = streamHook{name: "response trailers", status: trailersStatus, noFilter: upstream.Continue}

	// Await (a request waiting for its credential) holds like Hold: the
	// body hook buffers the complete body until the wake-up continues.
	responseHeadersStatus = [4]uint32{upstream.Continue: headersContinue, upstream.Hold: headersStopIteration, upstream.Answered: headersStopIteration, upstream.Await: headersStopIteration}
	bodyStatus            = [4]uint32{upstream.Continue: bodyContinue, upstream.Hold: bodyStopIterationAndBuffer, upstream.Answered: bodyStopIterationNoBuffer, upstream.Await: bodyStopIterationAndBuffer}
	// Trailers are never held: Hold would stop them as Answered does.
	trailersStatus = [4]uint32{upstream.Continue: trailersContinue, upstream.Hold: trailersStopIteration, upstream.Answered: trailersStopIteration, upstream.Await: trailersStopIteration}
)

// run serves one call of h for filter id: it looks the filter up, lets it
// call Envoy through envoyFilter for the duration of the call, runs fn
// behind the panic boundary and maps its Action to h's ABI status. The
// outermost hook that served the end of the attempt's response destroys
// the filter (endFilter): nothing is left for on_http_filter_destroy but
// C's free.
func (h *streamHook) run(envoyFilter unsafe.Pointer, id filterID, fn func(*upstream.Filter) upstream.Action) uint32 {
	fl, l := filterOf(id)
	if l != found {
		if l == madeNone && h.request || l == noFilter && h.answerUnknown {
			failUnknown(envoyFilter)
		}
		return h.status[h.noFilter]
	}
	// Hooks nest when a local reply runs our own hooks from inside one: the
	// outer hook gets its pointer back.
	prev := fl.a.enter(envoyFilter)
	act := guard(h.name, fl.f, upstream.Answered, func() upstream.Action {
		act := fn(fl.f)
		if act == upstream.Await {
			fl.await(envoyFilter)
		}
		return act
	})
	fl.a.exit(prev)
	if prev == nil && filterEnded(fl.f) {
		endFilter(id)
	}
	return h.status[act]
}

// filterEnded is upstream.Filter.Ended; a variable so the tests, which have
// no Envoy to drive an attempt to its end, can end one.
var filterEnded = (*upstream.Filter).Ended

// failer is the request a panic fails: upstream.Filter.Fail logs the panic
// once and answers the request with a 500 unless it already was answered.
type failer interface {
	Fail(hook string, p any)
}

// guard is the module's one panic boundary: every hook runs its Go side
// through it, because a Go panic unwinding into Envoy aborts the process.
// A panic in fn makes the hook return failed; req, when the hook belongs to
// a request, fails that request only (other streams are unaffected);
// without one the panic is logged.
func guard[T any](hook string, req failer, failed T, fn func() T) (out T) {
	defer func() {
		if p := recover(); p != nil {
			out = failed
			recovered(hook, req, p)
		}
	}()
	return fn()
}

func recovered(hook string, req failer, p any) {
	defer func() {
		// Failing the request panicked too (Envoy refused the reply):
		// nothing is left to answer.
		if p2 := recover(); p2 != nil {
			logPanic(hook+" (answering an earlier panic)", p2)
		}
	}()
	if req == nil {
		logPanic(hook, p)
		return
	}
	req.Fail(hook, p)
}
