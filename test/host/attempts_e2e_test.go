package host_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/host"
)

// The tests of this file are about how an attempt fails (docs/attempts.md). The host models
// what Envoy v1.36.2 does there: the upstream host stays unset until the connection pool is
// ready (a filter encoding a response before that is reported as Envoy's crash), the router's
// retry decision runs inside send_response_headers, and body bytes reaching the router after
// it unlinked the attempt are reported. Each test starts a new host, so its first request on a
// worker finds no idle connection.

// testRoute routes on a header only the tests send, so the router phase's handling of the
// client's routing headers does not decide which cluster a non-inference request reaches.
func testRoute(backend string) host.Route {
	return host.Route{Name: "test-" + backend, Headers: []host.HeaderMatch{{Name: "x-test-upstream", Value: backend}},
		Prefix: "/", Cluster: "backend-" + backend, Retries: 1, RetryOn: []string{"5xx", "reset", "connect-failure"}, TimeoutMS: 20000}
}

// send sends one request as is (for requests the SDK would not build): content-type JSON
// unless hdr says otherwise.
// priorities routes model gpt-4o-mini to one cluster of the endpoints eps returns (their
// priorities in order), retrying once on retryOn with previous_priorities.
func priorities(o *trOptions, eps func(m map[string]*trMock) []host.Endpoint, retryOn []string, codes ...int) {
	o.clusters = func(m map[string]*trMock) []host.Cluster {
		return []host.Cluster{{Name: "priorities", Endpoints: eps(m)}}
	}
	o.routes = func(map[string]*trMock) []host.Route {
		return []host.Route{{Name: "model", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o-mini"}},
			Prefix: "/", Cluster: "priorities", Retries: 1, RetryOn: retryOn, RetriableStatusCodes: codes,
			PreviousPriorities: true, TimeoutMS: 20000}}
	}
}

func send(t *testing.T, method, url, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("content-type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// openAIErrorBody checks the OpenAI error shape and returns type and code ("" when null).
func openAIErrorBody(t *testing.T, b []byte) (typ, code string) {
	t.Helper()
	var doc struct {
		Error *struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Error == nil || doc.Error.Message == "" || doc.Error.Type == "" {
		t.Fatalf("not an OpenAI error: %s (%v)", b, err)
	}
	if doc.Error.Code != nil {
		code = *doc.Error.Code
	}
	return doc.Error.Type, code
}

// TestNonSchemaRequestNeverCarriesAKeyE2E (issue 11, upstream half): a request the backend's
// schema does not define, reaching the upstream phase through any route, is answered 404 with
// an OpenAI error and never reaches the provider, with or without a key.
func TestNonSchemaRequestNeverCarriesAKeyE2E(t *testing.T) {
	oai, claude := schemaBackends[0], schemaBackends[2]
	e := newTrEnv(t, trOptions{backends: []trBackend{oai, claude},
		routes: func(map[string]*trMock) []host.Route { return []host.Route{testRoute("oai"), testRoute("claude")} }})
	cases := []struct {
		backend, method, path, body string
	}{
		{"oai", http.MethodPost, "/v1/files", `{"purpose":"batch"}`},
		{"oai", http.MethodGet, "/v1/files", ""},
		{"oai", http.MethodDelete, "/v1/files/file-1", ""},
		{"oai", http.MethodGet, "/v1/chat/completions", ""},
		{"oai", http.MethodPut, "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[]}`},
		{"oai", http.MethodPost, "/v1/messages/count_tokens", `{"model":"gpt-4o-mini","messages":[]}`},
		{"oai", http.MethodPost, "/admin/keys", `{}`},
		{"oai", http.MethodGet, "/v1/models/gpt-4o-mini", ""},
		{"claude", http.MethodPost, "/v1/embeddings", `{"model":"gpt-4o-mini","input":"x"}`},
		{"claude", http.MethodPost, "/v1/completions", `{"model":"gpt-4o-mini","prompt":"x"}`},
		{"claude", http.MethodGet, "/v1/messages", ""},
		{"claude", http.MethodPost, "/v1/messages/batches", `{}`},
	}
	for _, tc := range cases {
		t.Run(tc.backend+" "+tc.method+" "+tc.path, func(t *testing.T) {
			id := newRequestID(t)
			resp, b := send(t, tc.method, e.h.URL()+tc.path, tc.body, map[string]string{
				"x-test-upstream": tc.backend, "x-request-id": id,
				"authorization": "Bearer " + clientKey, "x-api-key": clientKey, "api-key": clientKey})
			if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("content-type"), "application/json") {
				t.Fatalf("status %d content-type %q body %s", resp.StatusCode, resp.Header.Get("content-type"), b)
			}
			if strings.HasPrefix(tc.path, "/v1/messages?") || tc.path == "/v1/messages" {
				// A client on Anthropic's path gets Anthropic's error shape (oaierr.FormatFor).
				var doc struct {
					Type  string `json:"type"`
					Error struct{ Type, Message string }
				}
				if json.Unmarshal(b, &doc) != nil || doc.Type != "error" || doc.Error.Type != "not_found_error" || doc.Error.Message == "" {
					t.Errorf("not an Anthropic not_found_error: %s", b)
				}
			} else if typ, code := openAIErrorBody(t, b); typ != "invalid_request_error" || code != "unknown_endpoint" {
				t.Errorf("error type %q code %q", typ, code)
			}
			if a := e.access(id); a.Attempts != 1 {
				t.Errorf("attempts %d", a.Attempts)
			}
		})
	}
	// Scan everything the providers received: nothing at all, so no key either.
	for name, m := range e.mocks {
		for _, r := range m.srv.Requests() {
			t.Errorf("%s received %s %s (headers %v)", name, r.Method, r.Path, r.Header)
		}
	}
	// The schema's own endpoints still work through the same routes.
	resp, b := send(t, http.MethodPost, e.h.URL()+"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"x-test-upstream": "claude"})
	if resp.StatusCode != 200 {
		t.Fatalf("chat through the test route: %d %s", resp.StatusCode, b)
	}
}

// TestRequestTimeFailuresEndTheRequestE2E: every failure the upstream phase finds before the
// provider answered ends the request with send_response (a precise error, one attempt, nothing
// sent upstream), on the first request of a fresh host, i.e. with no idle pooled connection,
// where encoding a response from the upstream filter would crash Envoy.
func TestRequestTimeFailuresEndTheRequestE2E(t *testing.T) {
	oai, claude := schemaBackends[0], schemaBackends[2]
	ghost := func(m map[string]*trMock) host.Endpoint {
		return host.Endpoint{Priority: 0, Addr: m["oai"].addr(), Metadata: map[string]map[string]string{"aigw": {"backend": "ghost"}}}
	}
	bare := func(m map[string]*trMock) host.Endpoint { return host.Endpoint{Priority: 0, Addr: m["oai"].addr()} }
	cases := []struct {
		name       string
		first      func(m map[string]*trMock) host.Endpoint
		params     func(p *openai.ChatCompletionNewParams)
		wantStatus int
		wantCode   string
	}{
		{"endpoint names an unknown backend", ghost, nil, 503, "backend_not_configured"},
		{"endpoint without metadata", bare, nil, 503, "backend_not_configured"},
		// The first attempt goes to Anthropic, which cannot express n: every such request
		// would, so the client gets the translator's 400 at once.
		{"first backend cannot express the request", func(m map[string]*trMock) host.Endpoint { return m["claude"].endpoint(0) },
			func(p *openai.ChatCompletionNewParams) { p.N = openai.Int(2) }, 400, "unsupported_parameter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := trOptions{backends: []trBackend{oai, claude}}
			priorities(&o, func(m map[string]*trMock) []host.Endpoint { return []host.Endpoint{tc.first(m), m["oai"].endpoint(1)} },
				[]string{"5xx", "reset", "connect-failure"})
			e := newTrEnv(t, o)
			id := newRequestID(t)
			p := chatWithSystem()
			if tc.params != nil {
				tc.params(&p)
			}
			c := e.client()
			_, err := c.Chat.Completions.New(ctxT(t), p, option.WithHeader("x-request-id", id))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("%v is not an *openai.Error", err)
			}
			if apiErr.StatusCode != tc.wantStatus || apiErr.Code != tc.wantCode {
				t.Errorf("status %d code %q, want %d %q: %s", apiErr.StatusCode, apiErr.Code, tc.wantStatus, tc.wantCode, apiErr.RawJSON())
			}
			if a := e.access(id); a.Attempts != 1 || a.Status != tc.wantStatus {
				t.Errorf("attempts %d status %d: send_response ends the request, no failover", a.Attempts, a.Status)
			}
			for name, m := range e.mocks {
				if n := len(m.srv.Requests()); n != 0 {
					t.Errorf("%s got %d requests", name, n)
				}
			}
		})
	}
}

// TestFallbackCannotExpressE2E: the OpenAI primary fails with 503 and the retry reaches an
// Anthropic fallback that cannot express the request. The backend that could serve it failed,
// so the client gets a 503 (a later request may succeed) naming the parameter.
func TestFallbackCannotExpressE2E(t *testing.T) {
	oai, claude := schemaBackends[0], schemaBackends[2]
	o := trOptions{backends: []trBackend{oai, claude}}
	priorities(&o, func(m map[string]*trMock) []host.Endpoint {
		return []host.Endpoint{m["oai"].endpoint(0), m["claude"].endpoint(1)}
	},
		[]string{"5xx", "reset", "connect-failure"})
	e := newTrEnv(t, o)
	e.mocks["oai"].srv.SetFailStatus(503)
	id := newRequestID(t)
	p := chatWithSystem()
	p.N = openai.Int(2)
	c := e.client()
	_, err := c.Chat.Completions.New(ctxT(t), p, option.WithHeader("x-request-id", id))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("%v is not an *openai.Error", err)
	}
	if apiErr.StatusCode != 503 || apiErr.Param != "n" || apiErr.Type != "server_error" || !strings.Contains(apiErr.Message, `"claude"`) {
		t.Errorf("error %d %s", apiErr.StatusCode, apiErr.RawJSON())
	}
	if a := e.access(id); a.Attempts != 2 {
		t.Errorf("attempts %d", a.Attempts)
	}
	if n := len(e.mocks["oai"].srv.Requests()); n != 1 {
		t.Errorf("the primary got %d requests", n)
	}
	if n := len(e.mocks["claude"].srv.Requests()); n != 0 {
		t.Errorf("the fallback got %d requests it cannot serve", n)
	}
}

// TestProviderErrorHeadersE2E: the Anthropic provider answers an error. A status the router
// may retry (529, and 429 here, which the route names in retriable_status_codes) is retried
// on the next priority, and when no retry is left it reaches the client translated, with
// headers that were never held (no content-length: the body changed after they went on). A
// status the router never retries (400) keeps held headers and an exact content-length.
func TestProviderErrorHeadersE2E(t *testing.T) {
	claude := schemaBackends[2]
	claude2 := claude
	claude2.name = "claude2"
	for _, tc := range []struct {
		status    int
		retryable bool
	}{{529, true}, {503, true}, {429, true}, {400, false}, {401, false}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			o := trOptions{backends: []trBackend{claude, claude2}}
			priorities(&o, func(m map[string]*trMock) []host.Endpoint {
				return []host.Endpoint{m["claude"].endpoint(0), m["claude2"].endpoint(1)}
			},
				[]string{"5xx", "retriable-status-codes"}, 429)
			e := newTrEnv(t, o)
			e.mocks["claude"].srv.SetFailStatus(tc.status)
			e.mocks["claude2"].srv.SetFailStatus(tc.status)
			id := newRequestID(t)
			resp, b := send(t, http.MethodPost, e.h.URL()+"/v1/chat/completions",
				`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"x-request-id": id})
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d body %s", resp.StatusCode, b)
			}
			openAIErrorBody(t, b)
			if tc.retryable && resp.ContentLength != -1 {
				t.Errorf("content-length %d on a retryable status: its headers were held", resp.ContentLength)
			}
			if !tc.retryable && resp.ContentLength != int64(len(b)) {
				t.Errorf("content-length %d for %d bytes", resp.ContentLength, len(b))
			}
			wantAttempts := 1
			if tc.retryable {
				wantAttempts = 2
			}
			if a := e.access(id); a.Attempts != wantAttempts {
				t.Errorf("attempts %d, want %d", a.Attempts, wantAttempts)
			}
		})
	}
}

// TestUntranslatableSuccessEndsWith502E2E: an Anthropic 200 whose body cannot be decoded. Its
// headers were held (200 is never retried), so the request ends with a 502 through
// send_response from the response-body hook; the held 200 is never released, and the route's
// 5xx retry does not run (the router never saw a 5xx).
func TestUntranslatableSuccessEndsWith502E2E(t *testing.T) {
	var hits atomic.Int32
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("content-type", "application/json")
		w.Header().Set("content-encoding", "gzip")
		w.Write([]byte("\x1f\x8b\x08\x00 this is not gzip"))
	}))
	t.Cleanup(bad.Close)
	cfg := []byte(`{` + testMetricsJSON + `,"backends":[{"name":"bad","schema":"anthropic","models":["gpt-4o-mini"],"auth":{"type":"none"}}]}`)
	anyCfg, err := host.StringValueAny(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(bad.URL, "http://")
	h := host.StartT(t, host.Config{
		Workers: 1, PluginConfig: anyCfg, UpstreamConfig: cfg,
		Clusters: []host.Cluster{{Name: "bad", Endpoints: []host.Endpoint{
			{Priority: 0, Addr: addr, Metadata: map[string]map[string]string{"aigw": {"backend": "bad"}}},
			{Priority: 1, Addr: addr, Metadata: map[string]map[string]string{"aigw": {"backend": "bad"}}}}}},
		Routes: []host.Route{{Name: "model", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o-mini"}},
			Prefix: "/", Cluster: "bad", Retries: 1, RetryOn: []string{"5xx", "reset", "connect-failure"},
			PreviousPriorities: true, TimeoutMS: 20000}, catchAll()},
	})
	id := newRequestID(t)
	resp, b := send(t, http.MethodPost, h.URL()+"/v1/chat/completions",
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"x-request-id": id})
	if resp.StatusCode != http.StatusBadGateway || resp.ContentLength != int64(len(b)) {
		t.Fatalf("status %d content-length %d body %s", resp.StatusCode, resp.ContentLength, b)
	}
	if typ, code := openAIErrorBody(t, b); typ != "server_error" || code != "bad_backend_response" {
		t.Errorf("type %q code %q", typ, code)
	}
	a, err := h.WaitAccess(id, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if a.Attempts != 1 || hits.Load() != 1 {
		t.Errorf("attempts %d, provider hits %d: the request ends at the untranslatable body", a.Attempts, hits.Load())
	}
}
