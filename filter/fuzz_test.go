package filter

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/oaierr/oaierrtest"
)

var fuzzPaths = []string{"/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/completions"}

// FuzzRouter: any client body on any inspected path, with or without
// routing headers of the client's own: no panic (run's guard would make it a
// 500); the request is either rejected with a 4xx error in the client's own
// format, or routed by exactly one routing header whose value comes from the
// body (or from a backend header naming a configured backend), never from a
// client's model header; a routed body is JSON, as encoding/json reads it,
// and goes on unchanged but for its backend member.
func FuzzRouter(f *testing.F) {
	for _, b := range []string{
		`{"model":"gpt-4o-mini","messages":[]}`,
		`{"model":"gpt-4o-mini","backend":"deploy-b","messages":[]}`,
		`{"model":"gpt\u002d4o","backend":"deploy-\u0061"}`,
		`{"messages":[{"content":"{\"model\":\"evil\"}","model":"evil"}],"model":"gpt-4o"}`,
		`{"model":"gpt-4o","model":"x"}`,
		`{"model":"gpt-4o","backend":"nope"}`,
		` {"backend" : "deploy-a" , "model":"m"} `,
		`{"model":"a\ud800b"}`,
		"{\"model\":\"\xff\"}",
		`[]`, ``, `{"model":1e999}`,
	} {
		for spoof := uint8(0); spoof < 3; spoof++ {
			f.Add([]byte(b), uint8(0), spoof)
			f.Add([]byte(b), uint8(1), spoof)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, path, spoof uint8) {
		p := fuzzPaths[int(path)%len(fuzzPaths)]
		h := post(p)
		switch spoof % 3 {
		case 1:
			h.Set("x-ai-eg-model", "evil")
		case 2:
			h.Set("x-ai-eg-backend", "deploy-a")
		}
		x := run(t, testConfig, h, string(body))
		if r := x.cb.reply; r != nil {
			if x.status != api.LocalReply || r.status < 400 || r.status > 499 {
				t.Fatalf("status %v, reply %d %s", x.status, r.status, r.body)
			}
			oaierrtest.Check(t, oaierr.FormatFor(p), []byte(r.body))
			if strings.Contains(r.body, "evil") {
				t.Fatalf("a client's routing header in the error: %s", r.body)
			}
			if x.cb.clearedRoute != 0 {
				t.Fatal("route cache cleared for a rejected request")
			}
			return
		}
		if x.hdrState != api.StopAndBuffer || x.status != api.Continue || x.cb.clearedRoute != 1 {
			t.Fatalf("statuses %v/%v, route cache cleared %d times", x.hdrState, x.status, x.cb.clearedRoute)
		}
		var in, out map[string]json.RawMessage
		if err := json.Unmarshal(body, &in); err != nil || in == nil {
			t.Fatalf("routed a body encoding/json rejects (%v): %q", err, body)
		}
		model, hasM := x.headers.Get("x-ai-eg-model")
		backend, hasB := x.headers.Get("x-ai-eg-backend")
		if hasM == hasB {
			t.Fatalf("routing headers: model %q (%v), backend %q (%v): want exactly one", model, hasM, backend, hasB)
		}
		member := func(k string) (string, bool) {
			raw, ok := in[k]
			var s string
			return s, ok && json.Unmarshal(raw, &s) == nil
		}
		if hasM {
			if m, ok := member("model"); !ok || m != model {
				t.Fatalf("model header %q, the body's model is %q (%v)", model, m, ok)
			}
		}
		if hasB {
			b, _ := member("backend")
			if spoof%3 == 2 {
				b = "deploy-a" // the client's backend header wins (route.Decide)
			}
			if backend != b || (backend != "deploy-a" && backend != "deploy-b") {
				t.Fatalf("backend header %q, want %q", backend, b)
			}
		}
		_, hadBackend := in["backend"]
		if !hadBackend {
			if !bytes.Equal(x.buf.b, body) {
				t.Fatalf("body changed: %q -> %q", body, x.buf.b)
			}
			return
		}
		if err := json.Unmarshal(x.buf.b, &out); err != nil {
			t.Fatalf("forwarded body is not JSON (%v): %q", err, x.buf.b)
		}
		delete(in, "backend")
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("forwarded body is not the client's without its backend member:\n%q\n%q", body, x.buf.b)
		}
	})
}
