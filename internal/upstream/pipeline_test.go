package upstream

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/credentials"
	"github.com/aigw/aigw/internal/translate"
)

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// pipelineConfig has one backend per schema, each with its own key.
func pipelineConfig(t *testing.T) *Config {
	t.Helper()
	t.Setenv("AIGW_TEST_OPENAI_KEY", "sk-openai-secret")
	t.Setenv("AIGW_TEST_AZURE_KEY", "azure-secret")
	t.Setenv("AIGW_TEST_ANTHROPIC_KEY", "anthropic-secret")
	return mustConfig(t, `{
  "backends": [
    {"name": "oai", "host": "api.openai.example", "model_override": {"gpt-4o-mini": "gpt-4o-mini-2024-07-18"},
     "auth": {"type": "bearer", "key_env": "AIGW_TEST_OPENAI_KEY"}},
    {"name": "az", "schema": "azure_openai", "api_version": "2024-10-21",
     "auth": {"type": "azure_api_key", "key_env": "AIGW_TEST_AZURE_KEY"}},
    {"name": "claude", "schema": "anthropic", "model_override": "claude-3-5-haiku-latest",
     "auth": {"type": "anthropic_api_key", "key_env": "AIGW_TEST_ANTHROPIC_KEY"}}
  ]
}`)
}

// clientRequest is a fake attempt carrying a client request to backend.
func clientRequest(backend, path, body string) *fakeAttempt {
	a := newFakeAttempt()
	a.endpointMD[[2]string{"aigw", "backend"}] = backend
	a.reqH = fakeHeaders{
		":method": "POST", ":path": path, ":authority": "gateway.local",
		"authorization": "Bearer client-key", "api-key": "client-key", "x-api-key": "client-key",
		"content-type": "application/json", "content-length": "999",
	}
	a.reqB.b = []byte(body)
	return a
}

// sendRequest runs the request hooks the way Envoy does for a body in two
// chunks (the fake body already holds all of it, as Envoy's buffer does
// by the last chunk).
func sendRequest(t *testing.T, f *Filter) (Action, Action, Action) {
	t.Helper()
	return f.OnRequestHeaders(false), f.OnRequestBody(false), f.OnRequestBody(true)
}

// testSecrets are every credential the tests' configs hold, and the
// client's own key.
var testSecrets = []string{"sk-openai-secret", "azure-secret", "anthropic-secret", "client-key",
	awsTestKey.SecretAccessKey}

// secretIn is the first of testSecrets that s holds, or "".
func secretIn(s string) string {
	for _, k := range testSecrets {
		if strings.Contains(s, k) {
			return k
		}
	}
	return ""
}

func noSecretsLogged(t testing.TB, a *fakeAttempt) {
	t.Helper()
	for _, l := range a.logs {
		if secretIn(l.msg) != "" {
			t.Errorf("log line leaks a credential: %q", l.msg)
		}
	}
}

func TestRequestRewrittenPerBackend(t *testing.T) {
	tests := []struct {
		backend  string
		wantPath string
		wantAuth [2]string
		wantHost string
		wantBody map[string]any // members checked in the upstream body
		wantSet  map[string]string
	}{
		{
			backend: "oai", wantPath: "/v1/chat/completions",
			wantAuth: [2]string{"authorization", "Bearer sk-openai-secret"}, wantHost: "api.openai.example",
			wantBody: map[string]any{"model": "gpt-4o-mini-2024-07-18"},
		},
		{
			backend: "az", wantPath: "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
			wantAuth: [2]string{"api-key", "azure-secret"}, wantHost: "gateway.local",
			wantBody: map[string]any{"model": "gpt-4o-mini"},
		},
		{
			backend: "claude", wantPath: "/v1/messages",
			wantAuth: [2]string{"x-api-key", "anthropic-secret"}, wantHost: "gateway.local",
			wantBody: map[string]any{"model": "claude-3-5-haiku-latest"},
			wantSet:  map[string]string{"anthropic-version": "2023-06-01"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.backend, func(t *testing.T) {
			cfg := pipelineConfig(t)
			a := clientRequest(tt.backend, "/v1/chat/completions", chatBody)
			f := NewFilter(cfg, a)
			h, b1, b2 := sendRequest(t, f)
			if h != Hold || b1 != Hold || b2 != Continue {
				t.Fatalf("statuses = %v %v %v, want Hold Hold Continue", h, b1, b2)
			}
			if len(a.responses) != 0 {
				t.Fatalf("local responses: %v", a.responses)
			}
			for _, k := range []string{"authorization", "api-key", "x-api-key"} {
				v, ok := a.reqH[k]
				if k == tt.wantAuth[0] {
					if v != tt.wantAuth[1] {
						t.Errorf("%s = %q, want the backend's key", k, v)
					}
				} else if ok {
					t.Errorf("client credential %s = %q forwarded", k, v)
				}
			}
			if a.reqH[":path"] != tt.wantPath || a.reqH[":authority"] != tt.wantHost {
				t.Errorf(":path %q :authority %q, want %q %q", a.reqH[":path"], a.reqH[":authority"], tt.wantPath, tt.wantHost)
			}
			for k, v := range tt.wantSet {
				if a.reqH[k] != v {
					t.Errorf("%s = %q, want %q", k, a.reqH[k], v)
				}
			}
			var body map[string]any
			if err := json.Unmarshal(a.reqB.b, &body); err != nil {
				t.Fatalf("upstream body %q: %v", a.reqB.b, err)
			}
			for k, v := range tt.wantBody {
				if body[k] != v {
					t.Errorf("body %s = %v, want %v", k, body[k], v)
				}
			}
			if a.reqH["content-length"] != itoa(len(a.reqB.b)) {
				t.Errorf("content-length %s for a %d-byte body", a.reqH["content-length"], len(a.reqB.b))
			}
			if a.dynMD[MetadataNamespace+"/"+MetadataBackendName] != tt.backend {
				t.Errorf("backend_name = %v", a.dynMD)
			}
			noSecretsLogged(t, a)
		})
	}
}

// A body that needs no rewrite is left in Envoy's buffer untouched.
func TestUnchangedBodyIsNotReplaced(t *testing.T) {
	cfg := pipelineConfig(t)
	a := clientRequest("az", "/v1/chat/completions", chatBody)
	f := NewFilter(cfg, a)
	sendRequest(t, f)
	if a.reqB.replaced != 0 || string(a.reqB.b) != chatBody {
		t.Errorf("body replaced %d times: %s", a.reqB.replaced, a.reqB.b)
	}
	if a.reqH["content-length"] != itoa(len(chatBody)) {
		t.Errorf("content-length = %s", a.reqH["content-length"])
	}
}

// The request header map is shared by all attempts of a request; a retry to
// another backend must start from the client's path and authority.
func TestRetryStartsFromOriginalRequest(t *testing.T) {
	cfg := pipelineConfig(t)
	first := clientRequest("oai", "/v1/chat/completions", chatBody)
	f1 := NewFilter(cfg, first)
	sendRequest(t, f1)
	if first.reqH[":authority"] != "api.openai.example" {
		t.Fatalf("first attempt authority = %q", first.reqH[":authority"])
	}

	// Second attempt: same header map and filter state, fresh body copy.
	second := clientRequest("az", "", chatBody)
	second.reqH, second.state = first.reqH, first.state
	f2 := NewFilter(cfg, second)
	sendRequest(t, f2)
	if got := second.reqH[":path"]; got != "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21" {
		t.Errorf("retry :path = %q", got)
	}
	if got := second.reqH[":authority"]; got != "gateway.local" {
		t.Errorf("retry :authority = %q, want the client's", got)
	}
	if _, ok := second.reqH["authorization"]; ok {
		t.Errorf("previous attempt's authorization kept: %q", second.reqH["authorization"])
	}
	if second.reqH["api-key"] != "azure-secret" {
		t.Errorf("api-key = %q", second.reqH["api-key"])
	}
}

// Every request the attempt's backend cannot take ends the request with
// SendResponse (the only local answer Envoy supports before the provider
// answered) and never carries a credential anywhere.
func TestRequestTranslationFailures(t *testing.T) {
	const nTwo = `{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name         string
		backend      string
		method, path string
		body         string
		retry        bool // an earlier attempt of the request went to a provider
		wantStatus   int
		wantType     string
		wantCode     string
	}{
		{
			name: "malformed body is the client's error for every backend", backend: "oai",
			path: "/v1/chat/completions", body: `{"model": "gpt-4o-mini", "messages": [`,
			wantStatus: http.StatusBadRequest, wantType: "invalid_request_error", wantCode: "invalid_value",
		},
		{
			name: "malformed body on a retry is still the client's error", backend: "claude", retry: true,
			path: "/v1/chat/completions", body: `{"model": 1, "messages": []}`,
			wantStatus: http.StatusBadRequest, wantType: "invalid_request_error", wantCode: "invalid_value",
		},
		{
			name: "first attempt: anthropic cannot express n", backend: "claude",
			path: "/v1/chat/completions", body: nTwo,
			wantStatus: http.StatusBadRequest, wantType: "invalid_request_error", wantCode: "unsupported_parameter",
		},
		{
			name: "retry: the fallback cannot express what the failed backend could", backend: "claude", retry: true,
			path: "/v1/chat/completions", body: nTwo,
			wantStatus: http.StatusServiceUnavailable, wantType: "server_error", wantCode: "unsupported_parameter",
		},
		{
			name: "endpoint the schema does not define", backend: "claude",
			path: "/v1/embeddings", body: `{"model":"m","input":"x"}`,
			wantStatus: http.StatusNotFound, wantType: "invalid_request_error", wantCode: "unknown_endpoint",
		},
		{
			name: "retry to a schema without the endpoint", backend: "claude", retry: true,
			path: "/v1/embeddings", body: `{"model":"m","input":"x"}`,
			wantStatus: http.StatusServiceUnavailable, wantType: "server_error", wantCode: "unknown_endpoint",
		},
		{
			name: "non-schema path to an openai backend", backend: "oai",
			path: "/v1/files", body: `{}`,
			wantStatus: http.StatusNotFound, wantType: "invalid_request_error", wantCode: "unknown_endpoint",
		},
		{
			name: "non-schema path to azure", backend: "az",
			path: "/openai/deployments/x/files?api-version=1", body: `{}`,
			wantStatus: http.StatusNotFound, wantType: "invalid_request_error", wantCode: "unknown_endpoint",
		},
		{
			name: "schema path with another method", backend: "oai", method: "PUT",
			path: "/v1/chat/completions", body: chatBody,
			wantStatus: http.StatusNotFound, wantType: "invalid_request_error", wantCode: "unknown_endpoint",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := clientRequest(tt.backend, tt.path, tt.body)
			if tt.method != "" {
				a.reqH[":method"] = tt.method
			}
			if tt.retry {
				a.state[stateKeyPath] = tt.path
				a.state[stateKeyAuthority] = "gateway.local"
			}
			f := NewFilter(pipelineConfig(t), a)
			if _, _, b := sendRequest(t, f); b != Answered {
				t.Errorf("last body hook = %v, want Answered", b)
			}
			if len(a.responses) != 1 {
				t.Fatalf("responses = %v", a.responses)
			}
			r := a.responses[0]
			if r.status != tt.wantStatus {
				t.Errorf("response status %d, want %d", r.status, tt.wantStatus)
			}
			var e openAIError
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Code == nil || *e.Error.Code != tt.wantCode || e.Error.Type != tt.wantType {
				t.Errorf("body %s (%v), want type %s code %s", r.body, err, tt.wantType, tt.wantCode)
			}
			// Nothing is rewritten for an attempt that does not go out, and
			// no backend key is on the request.
			if a.reqH["authorization"] != "Bearer client-key" || a.reqH["api-key"] != "client-key" ||
				a.reqH["x-api-key"] != "client-key" || a.reqH[":path"] != tt.path {
				t.Errorf("headers rewritten for a failed attempt: %v", a.reqH)
			}
			if a.reqB.replaced != 0 {
				t.Errorf("body replaced for a failed attempt")
			}
			noSecretsLogged(t, a)
			for _, s := range []string{"sk-openai-secret", "azure-secret", "anthropic-secret"} {
				if strings.Contains(r.body, s) {
					t.Errorf("response leaks a key: %s", r.body)
				}
			}
		})
	}
}

func TestCredentialHeader(t *testing.T) {
	tests := []struct {
		auth      *config.Auth
		wantName  string
		wantError bool
		wantCode  string
	}{
		{auth: nil},
		{auth: &config.Auth{Type: config.AuthNone}},
		// A key source that yields nothing: the attempt must not go out
		// unauthenticated.
		{auth: &config.Auth{Type: config.AuthBearer}, wantError: true},
		{auth: &config.Auth{Type: "basic"}, wantError: true},
		// A token type whose cache holds no valid token: no header, a 503.
		{auth: &config.Auth{Type: config.AuthGCPADC}, wantError: true, wantCode: "credential_unavailable"},
		{auth: &config.Auth{Type: config.AuthAzureEntra}, wantError: true, wantCode: "credential_unavailable"},
	}
	for _, tt := range tests {
		b := &Backend{Name: "b", Conf: &config.Backend{Name: "b", Auth: tt.auth}}
		c := credentialFor(b)
		name, f := c.name, c.fail
		if name != tt.wantName || (f != nil) != tt.wantError {
			t.Errorf("%+v: name %q failure %v", tt.auth, name, f)
		}
		code := tt.wantCode
		if code == "" {
			code = "backend_misconfigured"
		}
		if f != nil && (f.err.Status != http.StatusServiceUnavailable || f.err.Code != code) {
			t.Errorf("%+v: failure %+v, want a retryable 503", tt.auth, f.err)
		}
	}
}

// respond runs the response hooks for a response delivered in chunks; the
// fake's body holds the chunk (or, when buffering, everything so far).
func respond(f *Filter, a *fakeAttempt, headers fakeHeaders, chunks []string, buffered bool) (Action, []Action, string) {
	a.respH = headers
	hs := f.OnResponseHeaders(false)
	var st []Action
	var out strings.Builder
	var acc string
	for i, c := range chunks {
		eos := i == len(chunks)-1
		if buffered {
			acc += c
			a.respB.b = []byte(acc)
		} else {
			a.respB.b = []byte(c)
		}
		s := f.OnResponseBody(eos)
		st = append(st, s)
		if s == Continue {
			out.Write(a.respB.b)
		}
	}
	return hs, st, out.String()
}

func TestOpenAIResponseAccountsTokens(t *testing.T) {
	cfg := pipelineConfig(t)
	a := clientRequest("oai", "/v1/chat/completions", chatBody)
	f := NewFilter(cfg, a)
	sendRequest(t, f)
	resp := `{"id":"x","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`
	hs, st, out := respond(f, a, fakeHeaders{":status": "200", "content-type": "application/json"},
		[]string{resp[:20], resp[20:]}, true)
	if hs != Hold || st[0] != Hold || st[1] != Continue {
		t.Errorf("statuses %v %v", hs, st)
	}
	if out != resp || a.respB.replaced != 0 {
		t.Errorf("body %q replaced %d times, want the backend's untouched", out, a.respB.replaced)
	}
	for k, v := range map[string]float64{MetadataInputToken: 11, MetadataOutputToken: 7, MetadataTotalToken: 18} {
		if a.dynMD[MetadataNamespace+"/"+k] != v {
			t.Errorf("%s = %v, want %v", k, a.dynMD[MetadataNamespace+"/"+k], v)
		}
	}
}

func TestAnthropicResponsesTranslated(t *testing.T) {
	t.Run("buffered JSON", func(t *testing.T) {
		cfg := pipelineConfig(t)
		a := clientRequest("claude", "/v1/chat/completions", chatBody)
		f := NewFilter(cfg, a)
		sendRequest(t, f)
		resp := `{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-latest",` +
			`"content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":9}}`
		hs, st, out := respond(f, a, fakeHeaders{":status": "200", "content-type": "application/json", "content-length": "200"},
			[]string{resp[:30], resp[30:]}, true)
		if hs != Hold || st[1] != Continue {
			t.Fatalf("statuses %v %v", hs, st)
		}
		var chat struct {
			Object  string `json:"object"`
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(out), &chat); err != nil || chat.Object != "chat.completion" ||
			len(chat.Choices) != 1 || chat.Choices[0].Message.Content != "Hello" {
			t.Errorf("translated body %s (%v)", out, err)
		}
		if a.respH["content-length"] != itoa(len(out)) {
			t.Errorf("content-length %q for %d bytes", a.respH["content-length"], len(out))
		}
		if a.dynMD[MetadataNamespace+"/"+MetadataTotalToken] != float64(21) {
			t.Errorf("total tokens = %v", a.dynMD)
		}
	})
	t.Run("stream chunk by chunk", func(t *testing.T) {
		cfg := pipelineConfig(t)
		a := clientRequest("claude", "/v1/chat/completions",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
		f := NewFilter(cfg, a)
		sendRequest(t, f)
		sse := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n" +
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi there\"}}\n\n" +
			"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":4}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
		var chunks []string
		for i := 0; i < len(sse); i += 37 {
			chunks = append(chunks, sse[i:min(i+37, len(sse))])
		}
		hs, st, out := respond(f, a, fakeHeaders{":status": "200", "content-type": "text/event-stream"}, chunks, false)
		if hs != Continue {
			t.Errorf("headers status %v", hs)
		}
		for i, s := range st {
			if s != Continue {
				t.Errorf("chunk %d status %v: streams are never buffered", i, s)
			}
		}
		if !strings.Contains(out, `"chat.completion.chunk"`) || !strings.Contains(out, "Hi there") || !strings.HasSuffix(out, "data: [DONE]\n\n") {
			t.Errorf("translated stream:\n%s", out)
		}
		if a.respH["content-type"] != "text/event-stream" {
			t.Errorf("content-type %q", a.respH["content-type"])
		}
		if a.dynMD[MetadataNamespace+"/"+MetadataInputToken] != float64(5) || a.dynMD[MetadataNamespace+"/"+MetadataOutputToken] != float64(4) {
			t.Errorf("tokens = %v", a.dynMD)
		}
	})
	t.Run("undecodable encoding becomes a 502", func(t *testing.T) {
		cfg := pipelineConfig(t)
		a := clientRequest("claude", "/v1/chat/completions", chatBody)
		f := NewFilter(cfg, a)
		sendRequest(t, f)
		hs, st, out := respond(f, a, fakeHeaders{":status": "200", "content-type": "application/json", "content-encoding": "br"},
			[]string{"\x00\x01", "\x02"}, false)
		if hs != Continue || st[0] != Continue || st[1] != Continue {
			t.Errorf("statuses %v %v", hs, st)
		}
		var e openAIError
		if a.respH[":status"] != "502" || json.Unmarshal([]byte(out), &e) != nil || e.Error.Code == nil ||
			*e.Error.Code != "unsupported_content_encoding" || a.respH["content-length"] != itoa(len(out)) {
			t.Errorf("status %s headers %v body %q", a.respH[":status"], a.respH, out)
		}
		if _, ok := a.respH["content-encoding"]; ok {
			t.Errorf("content-encoding kept for a JSON error body")
		}
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// An adapter may leave the request headers hook out for a request with a
// body (the dynamic-modules adapter does: filter.c): the body's first hook,
// or the trailers' when no data frame came, resolves the attempt. The
// attempt is then the same as with the hook: the same request upstream,
// metadata, counters, answers and logs, for every schema and for an
// endpoint that names no backend.
func TestRequestHeadersHookLeftOut(t *testing.T) {
	cfg := pipelineConfig(t)
	type hooks func(f *Filter) []Action
	withHeaders := func(f *Filter) []Action {
		return []Action{f.OnRequestHeaders(false), f.OnRequestBody(false), f.OnRequestBody(true)}
	}
	const notCalled = Action(255)
	bodyFirst := func(f *Filter) []Action { return []Action{notCalled, f.OnRequestBody(false), f.OnRequestBody(true)} }
	lastChunkOnly := func(f *Filter) []Action { return []Action{notCalled, notCalled, f.OnRequestBody(true)} }
	trailersOnly := func(f *Filter) []Action { return []Action{notCalled, notCalled, f.OnRequestTrailers()} }
	for _, backend := range []string{"oai", "az", "claude", "unknown"} {
		for name, h := range map[string]hooks{"body first": bodyFirst, "last chunk only": lastChunkOnly, "trailers only": trailersOnly} {
			t.Run(backend+"/"+name, func(t *testing.T) {
				want := clientRequest(backend, "/v1/chat/completions", chatBody)
				wantActs := withHeaders(NewFilter(cfg, want))
				got := clientRequest(backend, "/v1/chat/completions", chatBody)
				gotActs := h(NewFilter(cfg, got))
				for i := range gotActs {
					if gotActs[i] != notCalled && gotActs[i] != wantActs[i] {
						t.Errorf("hooks answered %v, with the headers hook %v", gotActs, wantActs)
					}
				}
				for what, pair := range map[string][2]any{
					"request headers": {got.reqH, want.reqH}, "request body": {string(got.reqB.b), string(want.reqB.b)},
					"dynamic metadata": {got.dynMD, want.dynMD}, "counters": {got.counters, want.counters},
					"responses": {got.responses, want.responses}, "logs": {got.logs, want.logs},
				} {
					if !reflect.DeepEqual(pair[0], pair[1]) {
						t.Errorf("%s: %v, with the headers hook %v", what, pair[0], pair[1])
					}
				}
				if backend != "unknown" && len(want.responses) != 0 || backend == "unknown" && len(want.responses) != 1 {
					t.Fatalf("the reference attempt answered %v", want.responses)
				}
			})
		}
	}
}

// orderAttempt records the writes of each hook in order: an adapter carries
// the writes queued before a body replace with it (one call into Envoy), so
// a write after the body costs a call of its own.
type orderAttempt struct {
	*fakeAttempt
	writes []string
}

type orderHeaders struct {
	o *orderAttempt
	fakeHeaders
}

func (h orderHeaders) Set(k, v string) {
	h.o.writes = append(h.o.writes, "header "+k)
	h.fakeHeaders.Set(k, v)
}
func (h orderHeaders) Remove(k string) {
	h.o.writes = append(h.o.writes, "header "+k)
	h.fakeHeaders.Remove(k)
}

type orderBody struct {
	o *orderAttempt
	*fakeBody
}

func (b orderBody) Replace(n []byte) { b.o.writes = append(b.o.writes, "body"); b.fakeBody.Replace(n) }
func (b orderBody) Edit(e []translate.Edit) {
	b.o.writes = append(b.o.writes, "body")
	b.fakeBody.Edit(e)
}

func (o *orderAttempt) ResponseHeaders() HeaderMap { return orderHeaders{o, o.respH} }
func (o *orderAttempt) ResponseBody() Body         { return orderBody{o, &o.respB} }
func (o *orderAttempt) SetDynamicMetadata(ns, key, value string) {
	o.writes = append(o.writes, "metadata "+key)
	o.fakeAttempt.SetDynamicMetadata(ns, key, value)
}
func (o *orderAttempt) SetDynamicMetadataNumber(ns, key string, value float64) {
	o.writes = append(o.writes, "metadata "+key)
	o.fakeAttempt.SetDynamicMetadataNumber(ns, key, value)
}
func (o *orderAttempt) AddCounter(c Counter, n uint64) {
	o.writes = append(o.writes, "counter")
	o.fakeAttempt.AddCounter(c, n)
}

// In each response body hook the body is the last write: the usage
// metadata, the counters and a held response's content-length come first.
func TestResponseBodyIsTheHooksLastWrite(t *testing.T) {
	sse := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":4}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	for _, tt := range []struct {
		name, body string
		headers    fakeHeaders
		chunks     []string
		buffered   bool
	}{
		{"buffered JSON", chatBody, fakeHeaders{":status": "200", "content-type": "application/json", "content-length": "200"},
			[]string{`{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-latest",`,
				`"content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":9}}`}, true},
		{"stream", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			fakeHeaders{":status": "200", "content-type": "text/event-stream"}, strings.SplitAfter(sse, "\n\n"), false},
		{"undecodable", chatBody, fakeHeaders{":status": "200", "content-type": "application/json", "content-encoding": "br"},
			[]string{"\x00\x01", "\x02"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := &orderAttempt{fakeAttempt: clientRequest("claude", "/v1/chat/completions", tt.body)}
			f := NewFilter(pipelineConfig(t), o)
			sendRequest(t, f)
			o.respH = tt.headers
			f.OnResponseHeaders(false)
			acc, bodies := "", 0
			for i, c := range tt.chunks {
				if tt.buffered {
					acc += c
					o.respB.b = []byte(acc)
				} else {
					o.respB.b = []byte(c)
				}
				o.writes = nil
				f.OnResponseBody(i == len(tt.chunks)-1)
				for j, w := range o.writes {
					if w == "body" {
						bodies++
						if j != len(o.writes)-1 {
							t.Errorf("chunk %d: writes %v: the body is not the last", i, o.writes)
						}
					}
				}
			}
			if bodies == 0 || !f.Ended() {
				t.Fatalf("no body replaced (%d) or the attempt did not end (%v)", bodies, f.Ended())
			}
		})
	}
}

// A client's credential headers never reach the provider, whichever schema
// serves the attempt: each is removed, and where the backend's own
// credential goes in one of them, only the backend's value is there. The
// plan removes each header name once.
func TestClientCredentialHeadersRemoved(t *testing.T) {
	headers := []string{"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "x-goog-api-key",
		"x-amz-security-token", "ocp-apim-subscription-key"}
	if !slices.Equal(headers, credentials.RequestCredentialHeaders[:]) {
		t.Errorf("credentials.RequestCredentialHeaders = %v; this test sends %v", credentials.RequestCredentialHeaders, headers)
	}
	cfg := pipelineConfig(t)
	seen := map[string]bool{}
	for _, h := range cfg.removeHeaders {
		if seen[h] {
			t.Errorf("the plan removes %s twice", h)
		}
		seen[h] = true
	}
	for _, backend := range []string{"oai", "az", "claude"} {
		t.Run(backend, func(t *testing.T) {
			a := clientRequest(backend, "/v1/chat/completions", chatBody)
			for _, h := range headers {
				a.reqH[h] = "client-secret-" + h
			}
			f := NewFilter(cfg, a)
			if _, _, act := sendRequest(t, f); act != Continue {
				t.Fatalf("the request was not forwarded: %v (%v)", act, a.responses)
			}
			for _, h := range headers {
				if !seen[h] {
					t.Errorf("%s is not in the plan's remove list", h)
				}
				if v, ok := a.reqH[h]; ok && strings.Contains(v, "client-secret") {
					t.Errorf("the client's %s reached the provider", h)
				}
			}
			noSecretsLogged(t, a)
		})
	}
}
