package config

import (
	"os"
	"testing"
)

// FuzzParse: any document an operator (or a broken xDS update) hands the
// filter is either refused with an error or parsed, never a panic on
// Envoy's main thread; parsing is deterministic (the digest Envoy's access
// logs carry is the same for the same document), and a parsed config
// answers the questions the filters ask of it.
func FuzzParse(f *testing.F) {
	for _, file := range []string{"../deploy/production/aigw.json", "../deploy/demo/aigw.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, doc := range []string{
		`{}`, `{"backends":[{"name":"a","models":["m"]}]}`,
		`{"backends":[{"name":"a","auth":{"type":"bearer","key_env":"K"}}],"client_backend_selection":"any"}`,
		`{"paths":["/v1/x"],"model_header":"x-m","backend_header":"x-m"}`,
		`{"metrics":{"listen_address":"127.0.0.1:0","header_attributes":["x-team"]}}`,
		`{"quota":{"rules":[{"name":"r","limit":10,"window":"1m","key":{"header":"x-team"}}]}}`,
		`{"backends":[{"name":"v","schema":"gcp_vertex_gemini","region":"us-east5","project":"p"}]}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc)
		if err != nil {
			if c != nil {
				t.Fatalf("a refused document also returned a config")
			}
			return
		}
		again, err := Parse(doc)
		if err != nil || again.Digest() != c.Digest() {
			t.Fatalf("parsed twice: %v, digests %q and %q", err, c.Digest(), again.Digest())
		}
		_ = c.MetricsSpec()
		for _, b := range c.Backends {
			if got, ok := c.Backend(b.Name); !ok || got != b {
				t.Fatalf("backend %q not found by name", b.Name)
			}
		}
		for _, p := range c.Paths {
			if !c.IsInferencePath(p) {
				t.Fatalf("configured path %q is not an inference path", p)
			}
		}
	})
}
