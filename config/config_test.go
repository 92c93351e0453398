package config

import (
	"fmt"

	"github.com/aigw/aigw/internal/metrics"
	"os"
	"path/filepath"
	"strings"
	"testing"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(`{"backends":[{"name":"a","models":["m2","m1"]},{"name":"b","models":["m1"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientBackendSelection != SelectConfigured || c.ModelHeader != "x-ai-eg-model" || c.BackendHeader != "x-ai-eg-backend" ||
		c.BackendField != "backend" || c.MaxRequestBodyBytes != 32<<20 || c.EndpointMetadataNamespace != "aigw" || c.EndpointMetadataKey != "backend" {
		t.Fatalf("defaults not applied: %+v", c)
	}
	for _, p := range DefaultPaths {
		if !c.IsInferencePath(p) {
			t.Errorf("%s not an inference path", p)
		}
	}
	if c.IsInferencePath("/v1/models") {
		t.Error("/v1/models must not be inspected")
	}
	if got := strings.Join(c.Models(), ","); got != "m1,m2" {
		t.Errorf("models %q", got)
	}
	b, ok := c.Backend("a")
	if !ok || b.Schema != SchemaOpenAI || b.Auth.Type != AuthNone || !b.Auth.Key().Empty() {
		t.Fatalf("backend a: %+v", b)
	}
	if _, ok := c.Backend("zzz"); ok {
		t.Fatal("unknown backend found")
	}
}

func TestParseFull(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k")
	os.WriteFile(keyFile, []byte("sk-file\n"), 0o600)
	t.Setenv("AIGW_TEST_ENV_KEY", "sk-env")
	doc := `{
	  "backends": [
	    {"name":"oa","models":["gpt"],"schema":"openai","model_override":"gpt-x","host":"api.openai.com",
	     "auth":{"type":"bearer","key_file":"` + keyFile + `"}},
	    {"name":"az","schema":"azure_openai","api_version":"2024-10-21","model_override":{"gpt":"my-deploy"},
	     "auth":{"type":"azure_api_key","key_env":"AIGW_TEST_ENV_KEY"}},
	    {"name":"an","schema":"anthropic","path_prefix":"/v1/","auth":{"type":"anthropic_api_key","key_env":"AIGW_TEST_ENV_KEY"}}
	  ],
	  "client_backend_selection":"any","model_header":"x-m","backend_header":"x-b","backend_field":"target",
	  "max_request_body_bytes": 1.048576e+06, "paths":["/v1/chat/completions"],
	  "endpoint_metadata_namespace":"ns","endpoint_metadata_key":"k"}`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxRequestBodyBytes != 1<<20 || c.BackendField != "target" || c.ClientBackendSelection != SelectAny {
		t.Fatalf("%+v", c)
	}
	oa, _ := c.Backend("oa")
	az, _ := c.Backend("az")
	if !oa.Auth.Key().Empty() || !az.Auth.Key().Empty() {
		t.Fatal("Parse read a key: only LoadKeys may")
	}
	if err := c.LoadKeys(); err != nil {
		t.Fatal(err)
	}
	// How an override resolves is translate.Target.ResolveModel's, tested
	// with the target built from this config in internal/upstream.
	if oa.Auth.Key().Reveal() != "sk-file" || oa.ModelOverride.All != "gpt-x" || oa.ModelOverride.ByModel != nil {
		t.Fatalf("oa %+v", oa)
	}
	if az.Auth.Key().Reveal() != "sk-env" || az.ModelOverride.All != "" || az.ModelOverride.ByModel["gpt"] != "my-deploy" {
		t.Fatalf("az %+v", az)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	cases := []struct{ doc, want string }{
		{`{"backend":[]}`, `unknown field "backend"`},
		{`{"backends":[{"name":"a","modles":[]}]}`, `unknown field "modles"`},
		{`{"backends":[{"name":"a","auth":{"type":"bearer","key":"x"}}]}`, `unknown field "key"`},
		{`{"backends":[{"models":["m"]}]}`, `backends[0] (): name: required`},
		{`{"backends":[{"name":"a"},{"name":"a"}]}`, `backends[1].name: "a" is used twice`},
		{`{"backends":[{"name":"a","models":[""]}]}`, `models[0]: empty model name`},
		{`{"backends":[{"name":"a","auth":{"type":"bearer"}}]}`, `needs key_file or key_env`},
		{`{"backends":[{"name":"a","auth":{"type":"basic"}}]}`, `auth.type: "basic" is not one of`},
		{`{"backends":[{"name":"a","auth":{"type":"none","key_env":"X"}}]}`, `type none takes no key_file`},
		{`{"backends":[{"name":"a","auth":{"type":"bearer","key_file":"` + empty + `"}}]}`, `auth.key_file:`},
		{`{"backends":[{"name":"a","auth":{"type":"bearer","key_file":"/nonexistent/k"}}]}`, `auth.key_file: reading key file`},
		{`{"backends":[{"name":"a","auth":{"type":"bearer","key_env":"AIGW_SURELY_UNSET"}}]}`, `auth.key_env: environment variable AIGW_SURELY_UNSET is unset`},
		{`{"backends":[{"name":"a","model_override":3}]}`, `must be a string or an object`},
		{`{"backends":[{"name":"a","host":"http://x"}]}`, `host:`},
		{`{"client_backend_selection":"sometimes"}`, `client_backend_selection: "sometimes"`},
		{`{"model_header":"X-Model"}`, `model_header: "X-Model" is not a lower-case`},
		{`{"model_header":"x-b","backend_header":"x-b"}`, `both "x-b"`},
		{`{"backend_field":"model"}`, `backend_field`},
		{`{"max_request_body_bytes":1.5}`, `whole`},
		{`{"max_request_body_bytes":"big"}`, `number of bytes`},
		{`{"paths":["v1/chat"]}`, `paths[0]`},
		{`{"max_request_body_bytes":2048,"max_buffered_bytes":1024}`, `max_buffered_bytes: 1024 is below max_request_body_bytes (2048)`},
		{`{"max_buffered_bytes":-1}`, `whole, non-negative`},
		{`{"backends":"a"}`, `field "backends"`},
		{`{} {}`, `trailing data`},
		{`{"metrics":{"listen_address":"1064"}}`, `metrics.listen_address: "1064" is not host:port`},
		{`{"metrics":{"listen_address":":70000"}}`, `metrics.listen_address`},
		{`{"metrics":{"path":"metrics"}}`, `metrics.path: "metrics"`},
		{`{"metrics":{"max_values_per_attribute":-1}}`, `whole, non-negative`},
		{`{"metrics":{"max_values_per_attribute":2.5}}`, `whole, non-negative`},
		{`{"metrics":{"header_attributes":{"authorization":"who"}}}`, `metrics.header_attributes["authorization"]: the header may carry a credential`},
		{`{"metrics":{"header_attributes":{"x-api-key":"who"}}}`, `metrics.header_attributes["x-api-key"]: the header may carry a credential`},
		{`{"metrics":{"header_attributes":{"cookie":"who"}}}`, `metrics.header_attributes["cookie"]`},
		{`{"metrics":{"header_attributes":{"X-Team":"team"}}}`, `metrics.header_attributes: "X-Team" is not a lower-case`},
		{`{"metrics":{"header_attributes":{"x-team":"gen_ai.request.model"}}}`, `metrics.header_attributes["x-team"]: attribute name "gen_ai.request.model" is reserved`},
		{`{"metrics":{"header_attributes":{"x-team":"team-name"}}}`, `metrics.header_attributes["x-team"]: attribute name "team-name"`},
		{`{"metrics":{"header_attributes":{"x-a":"t","x-b":"t"}}}`, `metrics.header_attributes["x-b"]: attribute "t" is also set from "x-a"`},
		{`{"metrics":{"header_attributes":{"x-a":"a","x-b":"b","x-c":"c","x-d":"d","x-e":"e","x-f":"f","x-g":"g","x-h":"h","x-i":"i"}}}`, `at most 8`},
		{`{"metrics":{"header_attributes":{"x-a":"team"}},"backends":[{"name":"a","metric_attributes":{"team":"x"}}]}`, `backends[0] (a).metric_attributes["team"]: also set from header "x-a"`},
		{`{"backends":[{"name":"a","metric_attributes":{"error.type":"x"}}]}`, `backends[0] (a).metric_attributes: attribute name "error.type" is reserved`},
		{`{"backends":[{"name":"a","metric_attributes":{"aim_service_id":""}}]}`, `metric_attributes["aim_service_id"]: the value must be non-empty`},
		{`{"metrics":{"listen":":1064"}}`, `unknown field "listen"`},
		{`not json`, `aigw config:`},
	}
	for _, tc := range cases {
		c, err := Parse([]byte(tc.doc))
		if err == nil {
			err = c.LoadKeys()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}

// The router phase parses the same document but never uses keys: Parse reads
// none (a key file or variable that is missing is not its error), and only
// LoadKeys, which the upstream phase calls, fails on it.
func TestParseReadsNoKeys(t *testing.T) {
	for _, auth := range []string{
		`{"type":"bearer","key_file":"/nonexistent/k"}`,
		`{"type":"anthropic_api_key","key_env":"AIGW_SURELY_UNSET"}`,
	} {
		c, err := Parse([]byte(`{"backends":[{"name":"a","auth":` + auth + `}]}`))
		if err != nil {
			t.Fatalf("%s: Parse read the key: %v", auth, err)
		}
		if b, _ := c.Backend("a"); !b.Auth.Key().Empty() {
			t.Fatalf("%s: a key before LoadKeys", auth)
		}
		if err := c.LoadKeys(); err == nil || !strings.Contains(err.Error(), "backends[0] (a): auth.key_") {
			t.Fatalf("%s: LoadKeys: %v", auth, err)
		}
	}
}

func TestKeysNeverInErrors(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "k")
	os.WriteFile(f, []byte("sk-VERY-SECRET"), 0o600)
	_, err := Parse([]byte(`{"backends":[{"name":"a","auth":{"type":"bearer","key_file":"` + f + `"}},{"name":"a"}]}`))
	if err == nil || strings.Contains(err.Error(), "sk-VERY-SECRET") {
		t.Fatalf("%v", err)
	}
}

const sampleJSON = `{"backends":[{"name":"b1","models":["m"]}],"client_backend_selection":"off","max_request_body_bytes":2048}`

func TestFromAny(t *testing.T) {
	st, err := structpb.NewStruct(map[string]any{
		"backends":                 []any{map[string]any{"name": "b1", "models": []any{"m"}}},
		"client_backend_selection": "off",
		"max_request_body_bytes":   2048,
	})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(m proto.Message) *anypb.Any {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	udpa := mk(&xdstype.TypedStruct{TypeUrl: "x", Value: st})
	udpa.TypeUrl = "type.googleapis.com/udpa.type.v1.TypedStruct"
	for name, a := range map[string]*anypb.Any{
		"typed struct": mk(&xdstype.TypedStruct{TypeUrl: "type.googleapis.com/aigw", Value: st}),
		"udpa":         udpa,
		"struct":       mk(st),
		"string":       mk(wrapperspb.String(sampleJSON)),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := FromAny(a)
			if err != nil {
				t.Fatal(err)
			}
			if c.ClientBackendSelection != SelectOff || c.MaxRequestBodyBytes != 2048 {
				t.Fatalf("%+v", c)
			}
			if _, ok := c.Backend("b1"); !ok {
				t.Fatal("b1 missing")
			}
		})
	}
	if _, err := FromAny(mk(wrapperspb.Int64(3))); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("int64: %v", err)
	}
	if _, err := FromAny(mk(wrapperspb.String(`{"nope":1}`))); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("bad json: %v", err)
	}
	if _, err := FromAny(nil); err == nil {
		t.Fatal("nil accepted")
	}
}

func TestFromDynamicModuleConfig(t *testing.T) {
	c, err := FromDynamicModuleConfig([]byte("\n " + sampleJSON))
	if err != nil || c.ClientBackendSelection != SelectOff {
		t.Fatalf("json: %v", err)
	}
	st, _ := structpb.NewStruct(map[string]any{"client_backend_selection": "any", "backends": []any{map[string]any{"name": "x"}}})
	raw, _ := proto.Marshal(st)
	c, err = FromDynamicModuleConfig(raw)
	if err != nil || c.ClientBackendSelection != SelectAny {
		t.Fatalf("struct bytes: %v", err)
	}
	if _, err := FromDynamicModuleConfig(nil); err == nil {
		t.Fatal("empty accepted")
	}
	if _, err := FromDynamicModuleConfig([]byte{0xff, 0xff, 0x01}); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestMaxBufferedBytesDefault(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want ByteSize
	}{
		{`{}`, DefaultMaxBufferedBytes},
		{`{"max_request_body_bytes":1024,"max_buffered_bytes":4096}`, 4096},
		// A body limit above the default cap raises the default, so one
		// request of the largest size can always be admitted.
		{`{"max_request_body_bytes":1e9}`, 1e9},
	} {
		c, err := Parse([]byte(tc.doc))
		if err != nil {
			t.Fatal(err)
		}
		if c.MaxBufferedBytes != tc.want {
			t.Errorf("%s: max_buffered_bytes %d, want %d", tc.doc, c.MaxBufferedBytes, tc.want)
		}
	}
}

func TestLimitDefaultsAndOverrides(t *testing.T) {
	c, err := Parse([]byte(`{"backends":[{"name":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxNameBytes != DefaultMaxNameBytes || c.MaxStreamEventBytes != DefaultMaxStreamEventBytes || c.MaxDecodedResponseBytes != DefaultMaxDecodedResponseBytes {
		t.Fatalf("defaults %d %d %d", c.MaxNameBytes, c.MaxStreamEventBytes, c.MaxDecodedResponseBytes)
	}
	c, err = Parse([]byte(`{"max_name_bytes":64,"max_stream_event_bytes":1e6,"max_decoded_response_bytes":2048,"backends":[{"name":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxNameBytes != 64 || c.MaxStreamEventBytes != 1e6 || c.MaxDecodedResponseBytes != 2048 {
		t.Fatalf("overrides %d %d %d", c.MaxNameBytes, c.MaxStreamEventBytes, c.MaxDecodedResponseBytes)
	}
	if _, err := Parse([]byte(`{"max_stream_event_bytes":-1}`)); err == nil {
		t.Fatalf("negative limit: %v", err)
	}
}

func TestMetricsConfig(t *testing.T) {
	c, err := Parse([]byte(`{"backends":[{"name":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Metrics; m.ListenAddress != ":1064" || m.Path != "/metrics" || m.MaxValuesPerAttribute != 1000 || len(m.HeaderAttributes) != 0 {
		t.Fatalf("metrics defaults: %+v", m)
	}
	c, err = Parse([]byte(`{"metrics":{"listen_address":"127.0.0.1:9464","path":"/m","max_values_per_attribute":1e4,
		"header_attributes":{"x-team":"team","x-api-key-id":"api_key_id"}},
		"backends":[{"name":"a","metric_attributes":{"aim_service_id":"svc-a"}},{"name":"b"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.MetricsSpec()
	want := metrics.Spec{ListenAddress: "127.0.0.1:9464", Path: "/m", MaxValuesPerAttribute: 10000,
		Headers:           []metrics.HeaderAttribute{{Header: "x-api-key-id", Attribute: "api_key_id"}, {Header: "x-team", Attribute: "team"}},
		BackendAttributes: map[string]map[string]string{"a": {"aim_service_id": "svc-a"}}}
	if fmt.Sprintf("%+v", s) != fmt.Sprintf("%+v", want) {
		t.Fatalf("spec\n got  %+v\n want %+v", s, want)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if c, err = Parse([]byte(`{"metrics":{"listen_address":"off"}}`)); err != nil || c.MetricsSpec().ListenAddress != metrics.ListenOff {
		t.Fatalf("off: %v", err)
	}
}

func TestTokenAuthFields(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"backends":[{"name":"a","auth":{"type":"gcp_service_account"}}]}`, `gcp_service_account needs key_file`},
		{`{"backends":[{"name":"a","auth":{"type":"gcp_service_account","key_env":"X"}}]}`, `gcp_service_account needs key_file`},
		{`{"backends":[{"name":"a","auth":{"type":"gcp_adc","key_file":"/x"}}]}`, `gcp_adc takes no key_file`},
		{`{"backends":[{"name":"a","auth":{"type":"gcp_adc","client_id":"c"}}]}`, `tenant_id and client_id are for azure_entra`},
		{`{"backends":[{"name":"a","auth":{"type":"azure_entra","client_id":"c","key_env":"X"}}]}`, `auth.tenant_id: required`},
		{`{"backends":[{"name":"a","auth":{"type":"azure_entra","tenant_id":"t/x","client_id":"c","key_env":"X"}}]}`, `auth.tenant_id: "t/x"`},
		{`{"backends":[{"name":"a","auth":{"type":"azure_entra","tenant_id":"t","key_env":"X"}}]}`, `auth.client_id: required`},
		{`{"backends":[{"name":"a","auth":{"type":"azure_entra","tenant_id":"t","client_id":"c"}}]}`, `needs key_file or key_env (the client secret)`},
		{`{"backends":[{"name":"a","auth":{"type":"azure_entra","tenant_id":"t","client_id":"c","key_env":"X","token_url":"ftp://x"}}]}`, `auth.token_url: "ftp://x" must be an http(s) URL`},
		{`{"backends":[{"name":"a","auth":{"type":"azure_entra","tenant_id":"t","client_id":"c","key_env":"X","scopes":["a b"]}}]}`, `auth.scopes[0]`},
		{`{"backends":[{"name":"a","auth":{"type":"bearer","key_env":"X","tenant_id":"t"}}]}`, `not for type "bearer"`},
		{`{"backends":[{"name":"a","project":"My/Proj"}]}`, `project: "My/Proj"`},
		{`{"backends":[{"name":"a","region":"us east"}]}`, `region: "us east"`},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
	c, err := Parse([]byte(`{"backends":[{"name":"a","schema":"azure_openai","project":"my-proj","region":"us-east5",
		"auth":{"type":"azure_entra","tenant_id":"contoso.onmicrosoft.com","client_id":"app","key_env":"X"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Backend("a"); !b.Auth.IsBearer() || b.Project != "my-proj" || b.Region != "us-east5" {
		t.Fatalf("%+v", b)
	}
}

func TestTokenAuthLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "sa.json")
	os.WriteFile(bad, []byte(`{"type":"authorized_user","refresh_token":"r3fr3sh"}`), 0o600)
	for _, tc := range []struct{ doc, want string }{
		{`{"backends":[{"name":"v","auth":{"type":"gcp_service_account","key_file":"` + bad + `"}}]}`, `backends[0] (v): auth.key_file: ` + bad + `: key type "authorized_user" is not service_account`},
		{`{"backends":[{"name":"v","auth":{"type":"gcp_service_account","key_file":"/nonexistent/sa.json"}}]}`, `auth.key_file: reading key file`},
		{`{"backends":[{"name":"a","auth":{"type":"azure_entra","tenant_id":"t","client_id":"c","key_env":"AIGW_SURELY_UNSET"}}]}`, `auth.key_env: environment variable AIGW_SURELY_UNSET is unset`},
	} {
		c, err := Parse([]byte(tc.doc))
		if err != nil {
			t.Fatalf("%s: Parse: %v", tc.doc, err)
		}
		err = c.LoadKeys()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "r3fr3sh") {
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
}
