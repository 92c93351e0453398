package dynmod

import (
	"testing"

	"github.com/aigw/aigw/internal/upstream"
)

// fakeFailer records what the panic boundary hands to the request.
type fakeFailer struct {
	hooks  []string
	panics []any
}

func (f *fakeFailer) Fail(hook string, p any) {
	f.hooks = append(f.hooks, hook)
	f.panics = append(f.panics, p)
}

func TestGuardFailsOnlyItsRequest(t *testing.T) {
	tests := []struct {
		name      string
		fn        func() upstream.Action
		want      upstream.Action
		wantFails int
	}{
		{"no panic", func() upstream.Action { return upstream.Hold }, upstream.Hold, 0},
		{"panic", func() upstream.Action { panic("boom") }, upstream.Answered, 1},
		{"nil map write", func() upstream.Action {
			var m map[string]int
			m["x"] = 1
			return upstream.Continue
		}, upstream.Answered, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, other := &fakeFailer{}, &fakeFailer{}
			got := guard("request body", req, upstream.Answered, tt.fn)
			if got != tt.want {
				t.Errorf("guard = %v, want %v", got, tt.want)
			}
			if len(req.hooks) != tt.wantFails {
				t.Fatalf("Fail called %d times, want %d", len(req.hooks), tt.wantFails)
			}
			if tt.wantFails == 1 && (req.hooks[0] != "request body" || req.panics[0] == nil) {
				t.Errorf("Fail(%q, %v), want the hook's name and the panic", req.hooks[0], req.panics[0])
			}
			// The next request is served as if nothing happened.
			if got := guard("request body", other, upstream.Answered, func() upstream.Action { return upstream.Continue }); got != upstream.Continue || len(other.hooks) != 0 {
				t.Errorf("next request: %v, %d failures", got, len(other.hooks))
			}
		})
	}
}

// watchPanicLog replaces logPanic (Envoy's log, which a test binary lacks)
// for one test and returns what it was given.
func watchPanicLog(t *testing.T) *[]string {
	t.Helper()
	var hooks []string
	saved := logPanic
	logPanic = func(hook string, _ any) { hooks = append(hooks, hook) }
	t.Cleanup(func() { logPanic = saved })
	return &hooks
}

// A hook with no request (config, filter creation and destruction) logs the
// panic once and returns its failed value.
func TestGuardWithoutRequestLogsOnce(t *testing.T) {
	logged := watchPanicLog(t)
	if got := guard("filter new", nil, uint64(0), func() uint64 { panic("boom") }); got != 0 {
		t.Errorf("guard = %d, want 0", got)
	}
	if len(*logged) != 1 || (*logged)[0] != "filter new" {
		t.Errorf("logged %v, want one line for the hook", *logged)
	}
}

// A request whose failing panics too (Envoy refused the reply) must still not
// unwind into Envoy; the second panic is logged.
func TestGuardSurvivesAPanickingFail(t *testing.T) {
	logged := watchPanicLog(t)
	got := guard("request headers", panickingFailer{}, uint32(7), func() uint32 { panic("first") })
	if got != 7 {
		t.Errorf("guard = %d, want the failed value", got)
	}
	if len(*logged) != 1 {
		t.Errorf("logged %v, want the second panic once", *logged)
	}
}

type panickingFailer struct{}

func (panickingFailer) Fail(string, any) { panic("second") }

// The mapping of upstream's Actions onto each hook's ABI statuses.
func TestStreamHookStatuses(t *testing.T) {
	tests := []struct {
		hook                               *streamHook
		cont, hold, answered, noFlt, await uint32
	}{
		// Hold must be StopIteration, not StopAllIteration*: Envoy would
		// buffer the body without calling the body hook, and the request
		// would hang until the route timeout.
		// Await (waiting for a credential) holds the complete request
		// like Hold: the body stays buffered until the wake-up continues
		// decoding.
		{&requestHeadersHook, headersContinue, headersStopIteration, headersStopAllIterationAndBuffer, headersStopAllIterationAndBuffer, headersStopIteration},
		{&requestBodyHook, bodyContinue, bodyStopIterationAndBuffer, bodyStopIterationNoBuffer, bodyStopIterationNoBuffer, bodyStopIterationAndBuffer},
		{&requestTrailersHook, trailersContinue, trailersStopIteration, trailersStopIteration, trailersStopIteration, trailersStopIteration},
		// Without a filter a response passes: it can only be the answer to
		// a request already answered.
		{&responseHeadersHook, headersContinue, headersStopIteration, headersStopIteration, headersContinue, headersStopIteration},
		{&responseBodyHook, bodyContinue, bodyStopIterationAndBuffer, bodyStopIterationNoBuffer, bodyContinue, bodyStopIterationAndBuffer},
		{&responseTrailersHook, trailersContinue, trailersStopIteration, trailersStopIteration, trailersContinue, trailersStopIteration},
	}
	for _, tt := range tests {
		h := tt.hook
		got := [5]uint32{h.status[upstream.Continue], h.status[upstream.Hold], h.status[upstream.Answered], h.status[h.noFilter], h.status[upstream.Await]}
		if want := [5]uint32{tt.cont, tt.hold, tt.answered, tt.noFlt, tt.await}; got != want {
			t.Errorf("%s: Continue, Hold, Answered, no filter, Await = %v, want %v", h.name, got, want)
		}
		if h.answerUnknown != (h == &requestHeadersHook) {
			t.Errorf("%s: answerUnknown = %v; only the request headers hook answers a stream without a filter", h.name, h.answerUnknown)
		}
	}
}
