package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aigw/aigw/test/host"
)

// The spoofing hole of issue 11 through the built .so: a client's routing headers on a
// request the router phase does not inspect would match a provider's route when the
// headers arrive (the host, like Envoy's HCM, matches before any filter runs); the router
// phase removes them (or refuses the request) and clears the route cache, and the host
// matches again. Every method × path × header set × client_backend_selection.
func TestRoutingHeadersE2E(t *testing.T) {
	// "rogue" has a route and a cluster but is not a configured backend.
	routes := func(m map[string]*mock) []host.Route {
		rs := backendRoutes("rogue")
		return append(rs, defaultRoutes(m)...)
	}
	clusters := func(m map[string]*mock) []host.Cluster {
		return append(defaultClusters(m), host.Cluster{Name: "rogue", Endpoints: []host.Endpoint{ep(m["deploy-b"], 0)}})
	}
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	paths := []string{"/v1/chat/completions", "/v1/embeddings", "/v1/files", "/v1/files/file-abc", "/v1/batches", "/v1/unknown", "/v1/models"}
	type hdrs struct{ model, backend string } // "-": absent
	headerSets := []hdrs{
		{"-", "-"}, {"gpt-4o", "-"}, {"-", "deploy-a"}, {"-", "rogue"}, {"-", ""},
		{"gpt-4o", "deploy-a"}, {"gpt-4o", "rogue"},
	}
	const chat = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	for _, sel := range []string{"configured", "any", "off"} {
		t.Run(sel, func(t *testing.T) {
			e := newEnv(t, envOptions{routes: routes, clusters: clusters, editConfig: func(doc []byte) []byte {
				return bytes.Replace(doc, []byte(`"client_backend_selection":"configured"`), []byte(`"client_backend_selection":"`+sel+`"`), 1)
			}})
			for _, method := range methods {
				for _, path := range paths {
					for _, hs := range headerSets {
						name := fmt.Sprintf("%s %s model=%s backend=%q", method, path, hs.model, hs.backend)
						checkRoutingHeaders(t, e, sel, name, method, path, hs.model, hs.backend, chat)
					}
				}
			}
		})
	}
}

func checkRoutingHeaders(t *testing.T, e *env, sel, name, method, path, model, backend, chat string) {
	t.Helper()
	hasModel, hasBackend := model != "-", backend != "-"
	var body io.Reader
	if method != "GET" && method != "DELETE" {
		body = strings.NewReader(chat)
	}
	req, err := http.NewRequestWithContext(ctx10s(t), method, e.h.URL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	id := newRequestID(t)
	req.Header.Set("x-request-id", id)
	req.Header.Set("content-type", "application/json")
	if hasModel {
		req.Header.Set("x-ai-eg-model", model)
	}
	if hasBackend {
		req.Header["X-Ai-Eg-Backend"] = []string{backend}
	}
	before := e.mockRequests()
	resp, err := oneShot.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	a := e.access(id)
	reached := e.mockRequests() - before

	// The route the client's own headers match (backend routes come first).
	initial := "no-backend"
	switch {
	case hasBackend && backend != "":
		initial = "backend-" + backend
	case hasModel:
		initial = "model-" + model
	}
	inspected := method == "POST" && (path == "/v1/chat/completions" || path == "/v1/embeddings")
	refuse := 0
	if hasBackend && sel != "off" {
		switch {
		case backend == "":
			refuse = 400
		case sel == "configured" && backend != "deploy-a":
			refuse = 404
		}
	}
	keep := hasBackend && sel != "off" && refuse == 0
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s\naccess: %+v\nresponse %d: %s", name, fmt.Sprintf(format, args...), a, resp.StatusCode, respBody)
	}
	if a.InitialRoute != initial && !(method == "GET" && path == "/v1/models") {
		fail("matched %q on arrival, want %q", a.InitialRoute, initial)
	}
	switch {
	case method == "GET" && path == "/v1/models":
		if resp.StatusCode != 200 || a.Attempts != 0 || reached != 0 {
			fail("want the filter's model list")
		}
	case refuse != 0:
		var doc struct {
			Error map[string]any `json:"error"`
		}
		if resp.StatusCode != refuse || json.Unmarshal(respBody, &doc) != nil || doc.Error == nil || a.Attempts != 0 || reached != 0 {
			fail("want %d OpenAI error and no upstream attempt", refuse)
		}
	case inspected:
		want := "model-gpt-4o-mini"
		if keep {
			want = "backend-" + backend
		}
		if a.Route != want || a.RouteCacheClears != 1 || reached == 0 {
			fail("routed on %q, want %q after one route-cache clear", a.Route, want)
		}
	case keep:
		// The selection allows this backend: the header stays, the route stands.
		if a.Route != initial || a.Cluster != backend || a.ModelHeader != nil || a.BackendHeader == nil || *a.BackendHeader != backend {
			fail("want the allowed backend %q kept and the model header removed", backend)
		}
		if want := map[bool]int{true: 1}[hasModel]; a.RouteCacheClears != want {
			fail("%d route-cache clears, want %d", a.RouteCacheClears, want)
		}
	default:
		// Nothing the client sent steers it: re-matched without the headers, it gets
		// the catch-all and no provider sees it.
		removed := hasModel || hasBackend
		if a.Route != "no-backend" || resp.StatusCode != 404 || reached != 0 || a.Attempts != 0 {
			fail("reached route %q cluster %q (%d provider requests), want the catch-all", a.Route, a.Cluster, reached)
		}
		if want := map[bool]int{true: 1}[removed]; a.RouteCacheClears != want {
			fail("%d route-cache clears, want %d", a.RouteCacheClears, want)
		}
		if removed && a.InitialRoute == a.Route && initial != "no-backend" {
			fail("the spoofed header did not change the route")
		}
	}
}

// mockRequests is how many requests every mock provider received so far.
func (e *env) mockRequests() int64 {
	var n int64
	for _, m := range e.mocks {
		n += m.count.Load()
	}
	return n
}

// ctx10s bounds one request of a long table: a hang fails fast instead of at the test's end.
func ctx10s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// oneShot sends each request on its own connection: a local reply to a request whose body
// the host did not read may close the connection, and Go would not retry a PATCH on it.
var oneShot = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
