package upstream

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aigw/aigw/internal/translate"
)

const twoBackends = `{
  "backends": [
    {"name": "openai-primary", "models": ["gpt-4o-mini"]},
    {"name": "azure-fallback", "models": ["gpt-4o-mini"], "schema": "azure_openai", "api_version": "2024-10-21"}
  ]
}`

const customMetadata = `{
  "backends": [{"name": "b1"}],
  "endpoint_metadata_namespace": "acme",
  "endpoint_metadata_key": "llm"
}`

type openAIError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func TestRequestHeadersResolveBackend(t *testing.T) {
	tests := []struct {
		name     string
		config   string
		metadata map[[2]string]string

		wantStatus  Action
		wantBackend string // "" means the attempt fails
		wantLog     []string
		wantMessage string
	}{
		{
			// Held until the body is complete (the body hook holds the body).
			name:        "endpoint names a configured backend",
			config:      twoBackends,
			metadata:    map[[2]string]string{{"aigw", "backend"}: "azure-fallback"},
			wantStatus:  Hold,
			wantBackend: "azure-fallback",
		},
		{
			name:        "custom metadata namespace and key",
			config:      customMetadata,
			metadata:    map[[2]string]string{{"acme", "llm"}: "b1", {"aigw", "backend"}: "nope"},
			wantStatus:  Hold,
			wantBackend: "b1",
		},
		{
			name:        "metadata missing",
			config:      twoBackends,
			metadata:    map[[2]string]string{{"other", "backend"}: "openai-primary"},
			wantStatus:  Answered,
			wantLog:     []string{`filter_metadata["aigw"]["backend"]`, "503", "no failover"},
			wantMessage: "the selected upstream endpoint is not bound to an aigw backend",
		},
		{
			name:        "metadata empty",
			config:      twoBackends,
			metadata:    map[[2]string]string{{"aigw", "backend"}: ""},
			wantStatus:  Answered,
			wantLog:     []string{`filter_metadata["aigw"]["backend"]`},
			wantMessage: "the selected upstream endpoint is not bound to an aigw backend",
		},
		{
			name:        "custom location missing although the default one is set",
			config:      customMetadata,
			metadata:    map[[2]string]string{{"aigw", "backend"}: "b1"},
			wantStatus:  Answered,
			wantLog:     []string{`filter_metadata["acme"]["llm"]`},
			wantMessage: "the selected upstream endpoint is not bound to an aigw backend",
		},
		{
			name:        "metadata names an unknown backend",
			config:      twoBackends,
			metadata:    map[[2]string]string{{"aigw", "backend"}: "gone\n"},
			wantStatus:  Answered,
			wantLog:     []string{`names backend "gone\n"`, "not in the config"},
			wantMessage: `the selected upstream endpoint names backend "gone\n", which is not configured`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAttempt()
			a.endpointMD = tt.metadata
			f := NewFilter(mustConfig(t, tt.config), a)

			if got := f.OnRequestHeaders(false); got != tt.wantStatus {
				t.Fatalf("OnRequestHeaders = %v, want %v", got, tt.wantStatus)
			}
			if tt.wantBackend != "" {
				if f.Backend() == nil || f.Backend().Name != tt.wantBackend || f.Backend().Conf.Name != tt.wantBackend {
					t.Fatalf("Backend() = %+v, want %s", f.Backend(), tt.wantBackend)
				}
				if got := a.dynMD[MetadataNamespace+"/"+MetadataBackendName]; got != tt.wantBackend {
					t.Errorf("dynamic metadata backend_name = %v, want %s", got, tt.wantBackend)
				}
				if len(a.responses) != 0 || len(a.logs) != 0 {
					t.Errorf("unexpected responses %v / logs %v", a.responses, a.logs)
				}
				return
			}

			if f.Backend() != nil {
				t.Errorf("Backend() = %+v for a failed attempt", f.Backend())
			}
			if len(a.dynMD) != 0 {
				t.Errorf("dynamic metadata set for a failed attempt: %v", a.dynMD)
			}
			if !a.logged(LogError, tt.wantLog...) {
				t.Errorf("no error log with %q in %v", tt.wantLog, a.logs)
			}
			if len(a.responses) != 1 {
				t.Fatalf("responses = %v, want one", a.responses)
			}
			r := a.responses[0]
			if r.status != http.StatusServiceUnavailable {
				t.Errorf("response = %+v, want a 503 (SendResponse)", r)
			}
			if len(r.headers) != 1 || r.headers[0] != (Header{Key: "content-type", Value: "application/json"}) {
				t.Errorf("headers = %v", r.headers)
			}
			var e openAIError
			if err := json.Unmarshal([]byte(r.body), &e); err != nil {
				t.Fatalf("body %q is not JSON: %v", r.body, err)
			}
			if e.Error.Message != tt.wantMessage || e.Error.Type != "server_error" ||
				e.Error.Code == nil || *e.Error.Code != "backend_not_configured" || e.Error.Param != nil {
				t.Errorf("error body = %s", r.body)
			}
		})
	}
}

// The hooks after the request headers, for each way the attempt can go.
func TestLaterHooksFollowState(t *testing.T) {
	type statuses struct {
		reqBody     Action
		reqTrailers Action
		respHeaders Action
		respBody    Action
		respTrailer Action
	}
	tests := []struct {
		name    string
		backend string
		panicOn string
		want    statuses
	}{
		{
			// A non-streamed JSON response is held until complete (usage is
			// read from the whole body), then passed.
			name:    "forwarding passes everything",
			backend: "openai-primary",
			want:    statuses{Continue, Continue, Hold, Continue, Continue},
		},
		{
			// The request was answered (SendResponse): everything stops.
			name:    "failed attempt",
			backend: "unknown",
			want:    statuses{Answered, Answered, Answered, Answered, Answered},
		},
		{
			name:    "aborted request stops everything",
			backend: "openai-primary",
			panicOn: "EndpointMetadata",
			want:    statuses{Answered, Answered, Answered, Answered, Answered},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAttempt()
			a.endpointMD[[2]string{"aigw", "backend"}] = tt.backend
			a.panicOn = tt.panicOn
			a.reqH = fakeHeaders{":method": "POST", ":path": "/v1/chat/completions"}
			f := NewFilter(mustConfig(t, twoBackends), a)
			guarded(f, "request headers", func() Action { return f.OnRequestHeaders(false) })
			got := statuses{
				f.OnRequestBody(true), f.OnRequestTrailers(),
				f.OnResponseHeaders(false), f.OnResponseBody(true), f.OnResponseTrailers(),
			}
			if got != tt.want {
				t.Errorf("statuses = %+v, want %+v", got, tt.want)
			}
			// A repeated request-headers hook keeps the decision.
			again := f.OnRequestHeaders(false)
			if tt.want.reqBody == Continue && len(a.responses) != 0 {
				t.Errorf("forwarded attempt answered locally: %v", a.responses)
			}
			if wantAgain := map[bool]Action{true: Continue, false: Answered}[tt.want.reqBody == Continue]; again != wantAgain {
				t.Errorf("second OnRequestHeaders = %v, want %v", again, wantAgain)
			}
			if n := len(a.responses); n > 1 {
				t.Errorf("%d local responses, want at most one", n)
			}
		})
	}
}

// guarded runs a hook behind the adapters' panic boundary (dynmod's guard
// hands a recovered panic to Filter.Fail and answers Answered), as Envoy's
// calls reach the filter. This package recovers nothing itself.
func guarded(f *Filter, hook string, run func() Action) (act Action) {
	defer func() {
		if p := recover(); p != nil {
			f.Fail(hook, p)
			act = Answered
		}
	}()
	return run()
}

func TestPanicIsContainedToTheRequest(t *testing.T) {
	tests := []struct {
		name    string
		panicOn string
		end     bool
	}{
		{"reading endpoint metadata", "EndpointMetadata", false},
		{"setting dynamic metadata", "SetDynamicMetadata", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAttempt()
			a.endpointMD[[2]string{"aigw", "backend"}] = "openai-primary"
			a.panicOn = tt.panicOn
			f := NewFilter(mustConfig(t, twoBackends), a)
			if got := guarded(f, "request headers", func() Action { return f.OnRequestHeaders(tt.end) }); got != Answered {
				t.Fatalf("status = %v, want Answered", got)
			}
			if !a.logged(LogCritical, "panic in request headers hook", "injected panic in "+tt.panicOn, "goroutine") {
				t.Errorf("no critical log with the panic and stack: %v", a.logs)
			}
			if len(a.responses) != 1 {
				t.Fatalf("responses = %v, want one", a.responses)
			}
			r := a.responses[0]
			if r.status != http.StatusInternalServerError {
				t.Errorf("response = %+v, want a final 500 (SendResponse)", r)
			}
			var e openAIError
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Type != "server_error" ||
				e.Error.Code == nil || *e.Error.Code != "internal_error" {
				t.Errorf("body = %s (%v)", r.body, err)
			}
			// A second panic must not answer again.
			a.panicOn = "ResponseHeaders"
			if got := guarded(f, "response headers", func() Action { return f.OnResponseHeaders(false) }); got != Answered {
				t.Errorf("response headers after the panic = %v, want Answered", got)
			}
			f.Fail("response headers", "again")
			if len(a.responses) != 1 {
				t.Errorf("second panic answered again: %v", a.responses)
			}
			if n := countLogs(a, LogCritical); n != 2 {
				t.Errorf("%d critical log lines for two panics, want one each: %v", n, a.logs)
			}
		})
	}
}

// A panic after the request was answered must not send a second response,
// but is still logged.
func TestPanicAfterFailedAttemptDoesNotAnswerTwice(t *testing.T) {
	a := newFakeAttempt()
	f := NewFilter(mustConfig(t, twoBackends), a)
	f.OnRequestHeaders(false)
	f.Fail("response body", "boom")
	if len(a.responses) != 1 || a.responses[0].status != http.StatusServiceUnavailable {
		t.Errorf("responses = %v, want only the 503", a.responses)
	}
	if !a.logged(LogCritical, "panic in response body hook", "boom") {
		t.Errorf("panic not logged: %v", a.logs)
	}
}

func TestOnDestroyDropsTheAttempt(t *testing.T) {
	a := newFakeAttempt()
	a.endpointMD[[2]string{"aigw", "backend"}] = "openai-primary"
	a.reqH = fakeHeaders{":method": "POST", ":path": "/v1/chat/completions"}
	f := NewFilter(mustConfig(t, twoBackends), a)
	f.OnRequestHeaders(true)
	f.OnDestroy()
	if f.a != nil || f.Backend() != nil {
		t.Errorf("filter still references the attempt after OnDestroy")
	}
	// Envoy calls nothing after destroy, but a late Fail must not crash.
	f.Fail("late", "x")
	if len(a.logs) != 0 || len(a.responses) != 0 {
		t.Errorf("destroyed filter used the attempt: logs %v, responses %v", a.logs, a.responses)
	}
}

func countLogs(a *fakeAttempt, level LogLevel) int {
	n := 0
	for _, l := range a.logs {
		if l.level == level {
			n++
		}
	}
	return n
}

// releaseCounter is a translator that counts its releases.
type releaseCounter struct {
	translate.Translator
	released int
}

func (r *releaseCounter) Release() { r.released++ }

// OnDestroy keeps the attempt's translator (a hook that destroyed its own
// filter may still use its output); Recycle, which the adapter calls once
// nothing can, releases it exactly once. A filter that never got one has
// nothing to release.
func TestRecycleReleasesTheTranslatorOnce(t *testing.T) {
	cfg := pipelineConfig(t)
	a := clientRequest("oai", "/v1/chat/completions", chatBody)
	f := NewFilter(cfg, a)
	if f.OnRequestHeaders(false) != Hold || f.OnRequestBody(true) != Continue {
		t.Fatalf("request not forwarded: %v", a.responses)
	}
	rc := &releaseCounter{Translator: f.tr}
	f.tr = rc
	a.respH = fakeHeaders{":status": "200", "content-type": "application/json"}
	f.OnResponseHeaders(false)
	a.respB.b = []byte(`{"model":"m","usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	f.OnResponseBody(true)
	f.OnDestroy()
	if rc.released != 0 {
		t.Fatal("the translator was released by OnDestroy")
	}
	f.Recycle()
	f.Recycle()
	if rc.released != 1 {
		t.Fatalf("released %d times, want once", rc.released)
	}
	idle := NewFilter(cfg, clientRequest("oai", "/v1/chat/completions", chatBody))
	idle.OnDestroy()
	idle.Recycle()
}
