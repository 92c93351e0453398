package envoyconfig

import (
	"testing"

	"github.com/aigw/aigw/internal/envoygen"
)

// Not only the checked-in outputs: whatever the generator writes for other inputs passes every
// check, the production ones included for a TLS deployment (rel under examples/). The bootstrap
// goes through Render and the Envoy-like YAML loader, as a file would.
func TestGeneratedConfigsPassChecks(t *testing.T) {
	root := repoRoot(t)
	ep := func(host string, port uint32) []envoygen.Address {
		return []envoygen.Address{{Address: host, Port: port}}
	}
	tests := []struct {
		rel  string
		aigw string
		d    envoygen.Deployment
	}{
		{
			rel: "generated/three-deployments.yaml",
			aigw: `{"backends": [
			  {"name": "old", "models": ["m"], "auth": {"type": "bearer", "key_file": "/run/secrets/aigw/old"}},
			  {"name": "mid", "models": ["m"], "schema": "anthropic", "auth": {"type": "anthropic_api_key", "key_file": "/run/secrets/aigw/mid"}},
			  {"name": "new", "models": ["m", "n"], "auth": {"type": "bearer", "key_file": "/run/secrets/aigw/new"}},
			  {"name": "canary-a", "models": ["c"], "auth": {"type": "none"}},
			  {"name": "canary-b", "models": ["c"], "auth": {"type": "none"}}
			]}`,
			d: envoygen.Deployment{
				Ops:      envoygen.Ops{Admin: envoygen.Address{Address: "127.0.0.1", Port: 9901}},
				Upstream: envoygen.Upstream{Protocol: "http1", DNS: "strict", DNSLookupFamily: "V4_ONLY"},
				Backends: map[string]envoygen.BackendDeployment{
					"old":      {Endpoints: ep("old.internal", 8080), Priority: 20},
					"mid":      {Endpoints: ep("mid.internal", 8080), Priority: 10},
					"new":      {Endpoints: append(ep("new-1.internal", 8080), ep("new-2.internal", 8080)...)},
					"canary-a": {Endpoints: ep("a.internal", 8080)},
					"canary-b": {Endpoints: ep("b.internal", 8080)},
				},
			},
		},
		{
			rel: "examples/generated-tls.yaml",
			aigw: `{"backends": [
			  {"name": "openai", "models": ["gpt-4o"], "host": "api.openai.com", "auth": {"type": "bearer", "key_file": "/run/secrets/aigw/openai"}},
			  {"name": "azure-west", "models": ["gpt-4o"], "schema": "azure_openai", "api_version": "2024-10-21",
			   "host": "west.openai.azure.com", "auth": {"type": "azure_api_key", "key_file": "/run/secrets/aigw/azure-west"}},
			  {"name": "anthropic", "models": ["gpt-4o", "claude"], "schema": "anthropic", "model_override": {"gpt-4o": "claude-3-5-haiku-latest"},
			   "host": "api.anthropic.com", "auth": {"type": "anthropic_api_key", "key_file": "/run/secrets/aigw/anthropic"}}
			], "max_request_body_bytes": 8388608}`,
			d: envoygen.Deployment{
				Ops:                      envoygen.Ops{Admin: envoygen.Address{Address: "127.0.0.1", Port: 9901}, Listener: envoygen.Address{Port: 9902}},
				MaxDownstreamConnections: 5000,
				Backends: map[string]envoygen.BackendDeployment{
					"openai":     {Endpoints: ep("api.openai.com", 443), TLS: &envoygen.TLS{SNI: "api.openai.com"}},
					"azure-west": {Endpoints: ep("west.openai.azure.com", 443), TLS: &envoygen.TLS{SNI: "west.openai.azure.com"}},
					"anthropic":  {Endpoints: ep("api.anthropic.com", 443), Priority: 1, TLS: &envoygen.TLS{SNI: "api.anthropic.com"}},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rel, func(t *testing.T) {
			in, err := envoygen.NewInput([]byte(tt.aigw), tt.d)
			if err != nil {
				t.Fatal(err)
			}
			b, err := envoygen.Generate(in)
			if err != nil {
				t.Fatal(err)
			}
			y, err := envoygen.Render(b, tt.rel)
			if err != nil {
				t.Fatal(err)
			}
			js, err := YAMLToJSON(y)
			if err != nil {
				t.Fatal(err)
			}
			loaded, err := Decode(js)
			if err != nil {
				t.Fatal(err)
			}
			checkBootstrap(t, root, tt.rel, loaded)
		})
	}
}
