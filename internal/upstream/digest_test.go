package upstream

import (
	"strings"
	"testing"

	"github.com/aigw/aigw/config"
)

// An attempt routed by a router phase that ran another config is answered 500 before
// anything is sent; the same digest, or none recorded, is served as before.
func TestConfigDigestCheck(t *testing.T) {
	cfg := mustConfig(t, twoBackends)
	other := mustConfig(t, `{"backends": [{"name": "openai-primary", "models": ["gpt-4o"]}]}`)
	tests := []struct {
		name   string
		digest *string // nil: the router phase recorded none
		status int     // 0: forwarded
	}{
		{"same config", &cfg.digest, 0},
		{"no digest recorded", nil, 0},
		{"another config", &other.digest, 500},
		{"empty digest", new(string), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAttempt()
			a.endpointMD[[2]string{"aigw", "backend"}] = "openai-primary"
			a.reqH = fakeHeaders{":method": "POST", ":path": "/v1/chat/completions"}
			if tt.digest != nil {
				a.dynMD[MetadataNamespace+"/"+config.MetaConfigDigest] = *tt.digest
			}
			f := NewFilter(cfg, a)
			got := f.OnRequestHeaders(false)
			if tt.status == 0 {
				if got != Hold || len(a.responses) != 0 {
					t.Fatalf("OnRequestHeaders = %v, responses %v: want the attempt held for its body", got, a.responses)
				}
				return
			}
			if got != Answered || len(a.responses) != 1 {
				t.Fatalf("OnRequestHeaders = %v, responses %v: want one local answer", got, a.responses)
			}
			r := a.responses[0]
			if r.status != tt.status || !strings.Contains(r.body, `"code":"config_mismatch"`) || !strings.Contains(r.body, `"type":"server_error"`) {
				t.Errorf("answer %d %s, want %d config_mismatch", r.status, r.body, tt.status)
			}
			if f.Backend() != nil {
				t.Errorf("backend %q resolved for a refused attempt", f.Backend().Name)
			}
			if len(a.logs) == 0 || !strings.Contains(a.logs[len(a.logs)-1].msg, "config digest") {
				t.Errorf("logs %v: want the operator told which digests differ", a.logs)
			}
		})
	}
}
