package filter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/oaierr/oaierrtest"
)

// Every method × path × client routing header × client_backend_selection:
// a routing header reaches Envoy's router only if the gateway set it or the
// selection allows it, and the route cache is cleared whenever a header the
// client sent was removed. The expectations below are the rules
// written out, not a call into route.Uninspected.
func TestRoutingHeadersMatrix(t *testing.T) {
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	paths := []string{
		"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages",
		"/v1/chat/completions?stream=true", "/v1/chat/completions/", "/v1/chat",
		"/v1/files", "/v1/files/file-abc", "/v1/batches", "/v1/unknown", "/v1/models", "/v1/models/gpt-4o", "/healthz", "/",
	}
	const configured, unconfigured = "deploy-a", "openai-primary"
	type hdrs struct{ model, backend *string }
	s := func(v string) *string { return &v }
	headerSets := map[string]hdrs{
		"none":                      {},
		"model":                     {model: s("gpt-4o")},
		"backend configured":        {backend: s(configured)},
		"backend unconfigured":      {backend: s(unconfigured)},
		"backend empty":             {backend: s("")},
		"model+backend configured":  {model: s("gpt-4o"), backend: s(configured)},
		"model+backend unconfigure": {model: s("gpt-4o"), backend: s(unconfigured)},
	}
	const body = `{"model":"gpt-4o-mini","messages":[]}`
	inference := map[string]bool{"/v1/chat/completions": true, "/v1/completions": true, "/v1/embeddings": true, "/v1/messages": true}
	n := 0
	for _, sel := range []string{"configured", "any", "off"} {
		doc := strings.Replace(testConfig, `"backends"`, `"client_backend_selection":"`+sel+`","backends"`, 1)
		for _, method := range methods {
			for _, path := range paths {
				for hname, hs := range headerSets {
					n++
					name := fmt.Sprintf("%s/%s %s/%s", sel, method, path, hname)
					kv := []string{":method", method, ":path", path}
					if hs.model != nil {
						kv = append(kv, "x-ai-eg-model", *hs.model)
					}
					if hs.backend != nil {
						kv = append(kv, "x-ai-eg-backend", *hs.backend)
					}
					x := run(t, doc, newHeaders(kv...), body)
					bare, _, _ := strings.Cut(path, "?")
					inspected := method == "POST" && inference[bare]
					b, hasB := x.headers.Get("x-ai-eg-backend")
					m, hasM := x.headers.Get("x-ai-eg-model")

					// What the rules say the client's backend header gets.
					refuse := 0
					if hs.backend != nil && sel != "off" {
						switch {
						case *hs.backend == "":
							refuse = 400
						case sel == "configured" && *hs.backend != configured:
							refuse = 404
						}
					}
					switch {
					case method == "GET" && bare == "/v1/models":
						if x.status != api.LocalReply || x.cb.reply.status != 200 {
							t.Fatalf("%s: %v %+v, want the model list", name, x.status, x.cb.reply)
						}
					case refuse != 0:
						if x.status != api.LocalReply || x.cb.reply.status != refuse {
							t.Fatalf("%s: %v %+v, want %d", name, x.status, x.cb.reply, refuse)
						}
						// oaierr.FormatFor: an Anthropic client's path gets Anthropic's shape.
						if err := oaierrtest.Validate(oaierr.FormatFor(bare), []byte(x.cb.reply.body)); err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						if x.buf.bytesCalls != 0 && !inspected {
							t.Fatalf("%s: buffered an uninspected request", name)
						}
					case inspected:
						// As before this change: exactly one routing header, from the body
						// unless the selection allows the client's backend.
						if x.status != api.Continue || x.cb.reply != nil || x.cb.clearedRoute != 1 {
							t.Fatalf("%s: %v %+v cleared=%d", name, x.status, x.cb.reply, x.cb.clearedRoute)
						}
						wantB := ""
						if hs.backend != nil && sel != "off" {
							wantB = *hs.backend
						}
						if wantB != "" {
							if b != wantB || hasM {
								t.Fatalf("%s: backend=%q model=%q(%v), want backend %q only", name, b, m, hasM, wantB)
							}
						} else if m != "gpt-4o-mini" || hasB {
							t.Fatalf("%s: backend=%q(%v) model=%q, want model gpt-4o-mini only", name, b, hasB, m)
						}
					default:
						// Uninspected: never buffered, the model header never survives,
						// the backend header only where the selection allows it.
						if x.status != api.Continue || x.cb.reply != nil || x.buf.bytesCalls != 0 || x.hdrState != api.Continue {
							t.Fatalf("%s: %v/%v %+v copies=%d", name, x.hdrState, x.status, x.cb.reply, x.buf.bytesCalls)
						}
						if hasM {
							t.Fatalf("%s: client model header %q kept", name, m)
						}
						keep := hs.backend != nil && sel != "off"
						if hasB != keep || (keep && b != *hs.backend) {
							t.Fatalf("%s: backend header %q(%v), keep=%v", name, b, hasB, keep)
						}
						// A kept backend header can reach that backend's cluster: the
						// upstream phase gets the digest to check, as for a routed request.
						if d, ok := x.cb.meta[config.MetaConfigDigest]; ok != keep || (keep && d != x.cfg.digest) {
							t.Fatalf("%s: config digest %q(%v), want it recorded=%v", name, d, ok, keep)
						}
						removed := hs.model != nil || (hs.backend != nil && sel == "off")
						if want := map[bool]int{true: 1}[removed]; x.cb.clearedRoute != want {
							t.Fatalf("%s: route cache cleared %d times, want %d", name, x.cb.clearedRoute, want)
						}
						if got := x.counters["aigw_routing_headers_removed_total"].n; got != int64(x.cb.clearedRoute) {
							t.Fatalf("%s: removal counted %d", name, got)
						}
						if x.counters["aigw_requests_total"].n != 0 {
							t.Fatalf("%s: counted as an inference request", name)
						}
					}
				}
			}
		}
	}
	if n != 3*len(methods)*len(paths)*len(headerSets) {
		t.Fatalf("ran %d cases", n)
	}
}

// A client's routing header under a name the config changed is the one
// removed: the filter follows model_header and backend_header.
func TestUninspectedFollowsConfiguredHeaderNames(t *testing.T) {
	doc := `{"client_backend_selection":"off","model_header":"x-m","backend_header":"x-b"}`
	x := run(t, doc, newHeaders(":method", "GET", ":path", "/v1/files", "x-m", "gpt-4o", "x-b", "deploy-a", "x-ai-eg-model", "other"), "")
	if _, ok := x.headers.Get("x-m"); ok {
		t.Fatal("x-m kept")
	}
	if _, ok := x.headers.Get("x-b"); ok {
		t.Fatal("x-b kept")
	}
	if v, _ := x.headers.Get("x-ai-eg-model"); v != "other" {
		t.Fatal("a header that is not a routing header under this config was touched")
	}
	if x.cb.clearedRoute != 1 {
		t.Fatalf("cleared %d", x.cb.clearedRoute)
	}
}
