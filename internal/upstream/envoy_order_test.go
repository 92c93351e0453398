package upstream

import (
	"testing"
)

// decodeLikeEnvoy delivers a request to f under the iteration rules of Envoy's
// FilterManager (source/common/http/filter_manager.cc) for a filter followed
// by the upstream codec, and reports whether the request reached the codec.
// The rule that matters (Action Hold maps to StopIteration for a reason):
// after a headers hook returned StopAllIteration*,
// handleDataIfStopAll buffers body data *without calling the filter's own body
// hook*; only the filter's continueDecoding would release it, and this filter
// never calls it. After StopIteration the body hook runs; its Continue
// releases the held headers with the buffered body.
func decodeLikeEnvoy(t *testing.T, f *Filter, a *fakeAttempt, chunks []string) (reached bool) {
	t.Helper()
	st := f.OnRequestHeaders(false)
	switch st {
	case Continue:
		reached = true
	case Hold:
	case Answered:
		// The body is buffered for a filter that is never called again.
		return false
	default:
		t.Fatalf("request headers status %v", st)
	}
	var buffered string
	for i, c := range chunks {
		end := i == len(chunks)-1
		// With buffering, the filter sees everything buffered so far plus
		// this chunk, as Envoy's decoding buffer.
		buffered += c
		a.reqB.b = []byte(buffered)
		switch bs := f.OnRequestBody(end); bs {
		case Continue:
			reached = true
		case Hold:
		case Answered:
			return false
		default:
			t.Fatalf("request body status %v", bs)
		}
	}
	return reached
}

// Regression: the request-headers hook returned StopAllIterationAndBuffer, so
// in Envoy (and the C test host) the body hook never ran, the request was never
// rewritten or sent, and every request ended in the route timeout (504).
func TestRequestReachesBackendUnderEnvoyIteration(t *testing.T) {
	for _, backend := range []string{"oai", "az", "claude"} {
		for _, chunks := range [][]string{{chatBody}, {chatBody[:10], chatBody[10:]}, {chatBody[:5], chatBody[5:20], chatBody[20:]}} {
			cfg := pipelineConfig(t)
			a := clientRequest(backend, "/v1/chat/completions", "")
			f := NewFilter(cfg, a)
			if !decodeLikeEnvoy(t, f, a, chunks) {
				t.Fatalf("%s, body in %d chunk(s): the request never reached the backend", backend, len(chunks))
			}
			if len(a.responses) != 0 {
				t.Fatalf("%s: answered locally: %v", backend, a.responses)
			}
			if a.reqB.replaced == 0 && backend != "az" {
				t.Errorf("%s: body not rewritten", backend)
			}
		}
	}
}

// The router phase's routing headers steer Envoy's route match only; they are
// removed from what the provider gets, whatever names the config gives them.
func TestRoutingHeadersNotForwarded(t *testing.T) {
	tests := []struct {
		name      string
		config    string
		routing   []string // removed
		unrelated []string // kept (not this config's routing headers)
	}{
		{
			name:      "default names",
			config:    `{"backends":[{"name":"b","auth":{"type":"none"}}]}`,
			routing:   []string{"x-ai-eg-backend", "x-ai-eg-model"},
			unrelated: []string{"x-route-backend"},
		},
		{
			name:      "configured names",
			config:    `{"backends":[{"name":"b","auth":{"type":"none"}}],"backend_header":"x-route-backend","model_header":"x-route-model"}`,
			routing:   []string{"x-route-backend", "x-route-model"},
			unrelated: []string{"x-ai-eg-model"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := clientRequest("b", "/v1/chat/completions", chatBody)
			for _, h := range append(append([]string(nil), tt.routing...), tt.unrelated...) {
				a.reqH[h] = "b"
			}
			f := NewFilter(mustConfig(t, tt.config), a)
			if !decodeLikeEnvoy(t, f, a, []string{chatBody}) {
				t.Fatal("request not forwarded")
			}
			for _, h := range tt.routing {
				if _, ok := a.reqH[h]; ok {
					t.Errorf("routing header %s forwarded to the provider", h)
				}
			}
			for _, h := range tt.unrelated {
				if _, ok := a.reqH[h]; !ok {
					t.Errorf("unrelated header %s removed", h)
				}
			}
		})
	}
}

// Envoy shares the request header map between the attempts of a request. An
// Anthropic attempt sets anthropic-version (and x-api-key); when it fails and
// the retry goes to an OpenAI backend, neither may reach OpenAI.
func TestLaterAttemptStartsFromClientHeaders(t *testing.T) {
	cfg := pipelineConfig(t)
	first := clientRequest("claude", "/v1/chat/completions", chatBody)
	f1 := NewFilter(cfg, first)
	if !decodeLikeEnvoy(t, f1, first, []string{chatBody}) {
		t.Fatal("first attempt not forwarded")
	}
	if first.reqH["anthropic-version"] == "" || first.reqH[":path"] != "/v1/messages" {
		t.Fatalf("first attempt not translated for Anthropic: %v", first.reqH)
	}
	// The retry: a new filter and a fresh body copy, but the same header map
	// and the request's filter state.
	second := clientRequest("oai", "", chatBody)
	second.reqH, second.state = first.reqH, first.state
	f2 := NewFilter(cfg, second)
	if !decodeLikeEnvoy(t, f2, second, []string{chatBody}) {
		t.Fatal("second attempt not forwarded")
	}
	h := second.reqH
	for _, k := range []string{"anthropic-version", "x-api-key", "api-key"} {
		if v, ok := h[k]; ok {
			t.Errorf("%s = %q from the Anthropic attempt reached OpenAI", k, v)
		}
	}
	if h[":path"] != "/v1/chat/completions" || h["authorization"] != "Bearer sk-openai-secret" {
		t.Errorf("second attempt path %q authorization %q", h[":path"], h["authorization"])
	}
}
