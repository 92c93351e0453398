package config

import (
	"strings"
	"testing"
)

// A Vertex backend without a host gets its region's endpoint, the global
// endpoint for "global"; a configured host wins; the region must be a
// hostname label; other schemas keep the host unset.
func TestVertexHostFromRegion(t *testing.T) {
	for _, tc := range []struct {
		name, backend string
		wantHost, err string
	}{
		{name: "gemini regional", backend: `"schema":"gcp_vertex_gemini","project":"p","region":"us-central1"`, wantHost: "us-central1-aiplatform.googleapis.com"},
		{name: "claude regional", backend: `"schema":"gcp_vertex_anthropic","project":"p","region":"europe-west1"`, wantHost: "europe-west1-aiplatform.googleapis.com"},
		{name: "global endpoint", backend: `"schema":"gcp_vertex_gemini","project":"p","region":"global"`, wantHost: "aiplatform.googleapis.com"},
		{name: "configured host wins", backend: `"schema":"gcp_vertex_gemini","project":"p","region":"us-east5","host":"vertex.internal:8443"`, wantHost: "vertex.internal:8443"},
		{name: "no region: nothing derived", backend: `"schema":"gcp_vertex_gemini","project":"p"`, wantHost: ""},
		{name: "other schema: nothing derived", backend: `"schema":"openai","region":"us-east5"`, wantHost: ""},
		{name: "dot in region", backend: `"schema":"gcp_vertex_gemini","project":"p","region":"us-east5.evil.example"`, err: `region: "us-east5.evil.example" is not a Vertex AI location`},
		{name: "colon in region", backend: `"schema":"gcp_vertex_anthropic","project":"p","region":"us-east5:443"`, err: `region: "us-east5:443"`},
		{name: "underscore in region", backend: `"schema":"gcp_vertex_gemini","project":"p","region":"us_east5"`, err: `region: "us_east5"`},
		{name: "leading dash", backend: `"schema":"gcp_vertex_gemini","project":"p","region":"-us"`, err: `region: "-us"`},
		{name: "trailing dash", backend: `"schema":"gcp_vertex_gemini","project":"p","region":"us-"`, err: `region: "us-"`},
		{name: "too long", backend: `"schema":"gcp_vertex_gemini","project":"p","region":"` + strings.Repeat("a", 64) + `"`, err: `is not a Vertex AI location`},
		{name: "upper case", backend: `"schema":"gcp_vertex_gemini","project":"p","region":"US-EAST5"`, err: `region: "US-EAST5"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(`{"backends":[{"name":"v",` + tc.backend + `}]}`))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "backends[0] (v)") {
					t.Fatalf("%v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := c.Backend("v")
			if b.Host != tc.wantHost {
				t.Fatalf("host %q, want %q", b.Host, tc.wantHost)
			}
		})
	}
	// A 63-byte label is the longest allowed.
	if !isHostLabel(strings.Repeat("a", 63)) || isHostLabel("") {
		t.Fatal("label length bounds")
	}
}
