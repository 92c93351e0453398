package upstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/translate"
)

// The translators own the schemas and their rules: NewConfig checks every
// backend's target against them, and loads the keys (config.Parse, which
// the router phase shares, does neither).
func TestNewConfigChecksTargetsAndKeys(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	cases := []struct{ doc, want string }{
		{`{"backends":[{"name":"a","schema":"bedrock"}]}`, `aigw config: backends[0] (a): schema: "bedrock" is not a supported schema (anthropic, `},
		{`{"backends":[{"name":"ok"},{"name":"a","schema":"azure_openai"}]}`, `backends[1] (a): `},
		{`{"backends":[{"name":"a","schema":"azure_openai"}]}`, `needs an api_version`},
		{`{"backends":[{"name":"az","schema":"azure_openai","api_version":"v","model_override":".."}]}`, `backends[0] (az): `},
		{`{"backends":[{"name":"a","auth":{"type":"bearer","key_file":"` + empty + `"}}]}`, `backends[0] (a): auth.key_file:`},
		{`{"backends":[{"name":"a","auth":{"type":"bearer","key_file":"/nonexistent/k"}}]}`, `auth.key_file: reading key file`},
		{`{"backends":[{"name":"a","auth":{"type":"bearer","key_env":"AIGW_SURELY_UNSET"}}]}`, `auth.key_env: environment variable AIGW_SURELY_UNSET is unset`},
	}
	for _, tc := range cases {
		c, err := config.Parse([]byte(tc.doc))
		if err != nil {
			t.Fatalf("%s: config.Parse: %v (the router phase's parse must accept it)", tc.doc, err)
		}
		if _, err := NewConfig(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}

// The targets NewConfig builds: the schema's paths, the model override as
// production resolves it (translate.Target.ResolveModel) and the response
// limits, defaulted and overridden.
func TestNewConfigTargets(t *testing.T) {
	t.Setenv("AIGW_TEST_ENV_KEY", "sk-env")
	uc := mustConfig(t, `{"max_stream_event_bytes":1e6,"max_decoded_response_bytes":2048,"backends": [
	    {"name":"oa","models":["gpt"],"schema":"openai","model_override":"gpt-x"},
	    {"name":"az","schema":"azure_openai","api_version":"2024-10-21","model_override":{"gpt":"my-deploy"},
	     "auth":{"type":"azure_api_key","key_env":"AIGW_TEST_ENV_KEY"}},
	    {"name":"an","schema":"anthropic","path_prefix":"/v1/"}]}`)
	for _, tc := range []struct {
		backend, path string
		models        map[string]string // client model -> upstream model
	}{
		{"oa", "/v1/chat/completions", map[string]string{"gpt": "gpt-x", "other": "gpt-x"}},
		{"az", "/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21", map[string]string{"gpt": "my-deploy", "o": "o"}},
		{"an", "/v1/messages", map[string]string{"gpt": "gpt"}},
	} {
		b, ok := uc.backends[tc.backend]
		if !ok {
			t.Fatalf("%s missing", tc.backend)
		}
		for from, to := range tc.models {
			if got := b.Target.ResolveModel(from); got != to {
				t.Errorf("%s: model %q resolves to %q, want %q", tc.backend, from, got, to)
			}
		}
		if l := b.Target.Limits; l.MaxEventBytes != 1e6 || l.MaxDecodedBytes != 2048 {
			t.Errorf("%s: limits %+v", tc.backend, l)
		}
		tr, err := translate.New(b.Target, "/v1/chat/completions")
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.RequestBody([]byte(`{"model":"gpt","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil || res.Path != tc.path {
			t.Errorf("%s: path %q (%v), want %q", tc.backend, res.Path, err, tc.path)
		}
	}
	if k := uc.backends["az"].Conf.Auth.Key(); k.Reveal() != "sk-env" {
		t.Error("az: key not loaded")
	}
	l := mustConfig(t, `{"backends":[{"name":"a"}]}`).backends["a"].Target.Limits
	if l.MaxEventBytes != config.DefaultMaxStreamEventBytes || l.MaxDecodedBytes != config.DefaultMaxDecodedResponseBytes {
		t.Errorf("default limits %+v", l)
	}
}

// config states the defaults it shares with the translators without
// importing them; they must agree.
func TestConfigDefaultsAreTranslates(t *testing.T) {
	if config.SchemaOpenAI != translate.SchemaOpenAI ||
		config.DefaultMaxStreamEventBytes != translate.DefaultMaxEventBytes ||
		config.DefaultMaxDecodedResponseBytes != translate.DefaultMaxDecodedBytes {
		t.Fatal("config's defaults differ from translate's")
	}
}
