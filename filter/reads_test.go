package filter

import (
	"slices"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The adapter reads each group of Config.Reads in one call into Envoy, so
// every header the router reads must be listed for the callback that reads
// it: inference requests routed by body, by header and with quota budgets,
// rejected ones, uninspected ones with and without the client's routing
// headers, and GET /v1/models.
func TestHeaderReadsListEveryRead(t *testing.T) {
	plain := func() *Config {
		a, _ := anypb.New(wrapperspb.String(testConfig))
		c, err := Parser{}.Parse(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.budget = new(Budget)
		return c
	}
	for _, tc := range []struct {
		name    string
		cfg     func() *Config
		headers *fakeHeaders
		body    string
	}{
		{"routed by body", plain, post("/v1/chat/completions", "content-length", "64"), `{"model":"gpt-4o-mini","backend":"deploy-a"}`},
		{"routed by header", plain, post("/v1/chat/completions", "x-ai-eg-backend", "deploy-b"), `{"model":"gpt-4o-mini"}`},
		{"model only", plain, post("/v1/chat/completions?x=1"), `{"model":"gpt-4o"}`},
		{"rejected", plain, post("/v1/chat/completions"), `{"model":1}`},
		{"quota", func() *Config { return quotaConfig(t, "reads", "enforce", 1000000) },
			post("/v1/chat/completions", "x-api-key-id", "team-a"), `{"model":"gpt-4o-mini"}`},
		{"uninspected", plain, newHeaders(":method", "GET", ":path", "/v1/files"), ""},
		{"uninspected spoofed", plain, newHeaders(":method", "DELETE", ":path", "/v1/files/x", "x-ai-eg-model", "m", "x-ai-eg-backend", "deploy-a"), ""},
		{"models", plain, newHeaders(":method", "GET", ":path", "/v1/models"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			var r Router
			r.Init(cfg, newStream())
			tc.headers.logGets = true
			st := r.DecodeHeaders(tc.headers, tc.body == "")
			if len(tc.headers.gets) == 0 {
				t.Fatal("no header read recorded")
			}
			for _, k := range tc.headers.gets {
				if !slices.ContainsFunc(cfg.Reads.Headers, func(g []string) bool { return slices.Contains(g, k) }) {
					t.Errorf("DecodeHeaders read %q, not in Reads.Headers %q", k, cfg.Reads.Headers)
				}
			}
			if st == api.StopAndBuffer {
				tc.headers.gets = nil
				r.DecodeData(&fakeBuffer{b: []byte(tc.body)}, true)
				for _, k := range tc.headers.gets {
					if !slices.ContainsFunc(cfg.Reads.Data, func(g []string) bool { return slices.Contains(g, k) }) {
						t.Errorf("DecodeData read %q, not in Reads.Data %q", k, cfg.Reads.Data)
					}
				}
			}
			r.OnStreamComplete()
			r.OnDestroy()
		})
	}
}
