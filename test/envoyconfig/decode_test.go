package envoyconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/proto"
)

func TestYAMLToJSON(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    string // JSON
		wantErr string
	}{
		{name: "yaml-cpp bools", yaml: "a: yes\nb: Off\nc: TRUE\nd: y\ne: tRue", want: `{"a":true,"b":false,"c":true,"d":true,"e":"tRue"}`},
		{name: "quoted stays string", yaml: `a: "yes"` + "\nb: '42'\nc: \"null\"", want: `{"a":"yes","b":"42","c":"null"}`},
		{name: "ints", yaml: "a: 42\nb: -7\nc: 0x1F\nd: 0o17\ne: +3", want: `{"a":42,"b":-7,"c":31,"d":15,"e":3}`},
		{name: "big ints become strings", yaml: "a: 33554432000\nb: 2147483647\nc: 2147483648", want: `{"a":"33554432000","b":2147483647,"c":"2147483648"}`},
		{name: "floats stay strings", yaml: "a: 0.5\nb: 1e3", want: `{"a":"0.5","b":"1e3"}`},
		{name: "nulls", yaml: "a: ~\nb: null\nc:\nd: NULL", want: `{"a":null,"b":null,"c":null,"d":null}`},
		{name: "block scalar is string", yaml: "a: |\n  {\"x\": 1}\n", want: `{"a":"{\"x\": 1}\n"}`},
		{name: "anchors and aliases", yaml: "a: &x {k: 1}\nb: *x\nc: &s |\n  doc\nd: *s", want: `{"a":{"k":1},"b":{"k":1},"c":"doc\n","d":"doc\n"}`},
		{name: "merge key is a plain key in yaml-cpp", yaml: "a: &x {k: 1}\nb:\n  <<: *x", want: `{"a":{"k":1},"b":{"<<":{"k":1}}}`},
		{name: "sequences", yaml: "a: [1, two, [3]]", want: `{"a":[1,"two",[3]]}`},
		{name: "duplicate key", yaml: "a: 1\na: 2", wantErr: "duplicate key"},
		{name: "two documents", yaml: "a: 1\n---\nb: 2", wantErr: "more than one document"},
		{name: "syntax error", yaml: "a: [1", wantErr: "yaml:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := YAMLToJSON([]byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// minimal is a valid bootstrap the decoder tests break in one place each.
const minimal = `
static_resources:
  listeners:
  - name: l
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: s
          route_config: {name: r}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": %s
              %s
`

func TestDecodeRejects(t *testing.T) {
	const router = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
	tests := []struct {
		name      string
		yaml      string
		decodeErr string // error from Decode (strict protojson)
		walkErr   string // error from Walk/Validate (Any contents)
	}{
		{name: "valid", yaml: fmt.Sprintf(minimal, router, "")},
		{name: "unknown top-level field", yaml: "bogus_field: 1\n" + fmt.Sprintf(minimal, router, ""), decodeErr: "bogus_field"},
		{name: "unknown field inside Any", yaml: fmt.Sprintf(minimal, router, "not_a_router_field: true"), decodeErr: "not_a_router_field"},
		{name: "unregistered Any type", yaml: fmt.Sprintf(minimal, "type.googleapis.com/envoy.extensions.filters.http.nonexistent.v3.Nope", ""), decodeErr: "nonexistent"},
		{name: "wrong value type", yaml: strings.Replace(fmt.Sprintf(minimal, router, ""), "port_value: 10000", "port_value: ten", 1), decodeErr: "portValue"},
		{name: "ValidateAll: port out of range", yaml: strings.Replace(fmt.Sprintf(minimal, router, ""), "port_value: 10000", "port_value: 70000", 1), walkErr: "PortValue"},
		{name: "ValidateAll inside Any: empty stat_prefix", yaml: strings.Replace(fmt.Sprintf(minimal, router, ""), "stat_prefix: s", "stat_prefix: ''", 1), walkErr: "StatPrefix"},
		{name: "ValidateAll inside TypedStruct", yaml: fmt.Sprintf(minimal, "type.googleapis.com/xds.type.v3.TypedStruct", `type_url: type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
              value: {stat_prefix: ""}`), walkErr: "StatPrefix"},
		{name: "unknown field inside TypedStruct", yaml: fmt.Sprintf(minimal, "type.googleapis.com/xds.type.v3.TypedStruct", `type_url: type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
              value: {bogus: 1}`), walkErr: "bogus"},
		{name: "merge key rejected like Envoy", yaml: "x: &a {}\n" + fmt.Sprintf(minimal, router, ""), decodeErr: `"x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js, err := YAMLToJSON([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			b, err := Decode(js)
			if tc.decodeErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.decodeErr) {
					t.Fatalf("Decode err = %v, want containing %q", err, tc.decodeErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = Validate(b)
			if tc.walkErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.walkErr) {
				t.Fatalf("Validate err = %v, want containing %q", err, tc.walkErr)
			}
		})
	}
}

// TestWalkUnpacksEveryAny proves the walker fails on an Any whose type is unknown even when
// the Any was built without protojson (which would have rejected it earlier), and that it
// reaches Any values nested inside other Any values.
func TestWalkUnpacksEveryAny(t *testing.T) {
	js, err := YAMLToJSON([]byte(fmt.Sprintf(minimal, "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", "")))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode(js)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	if err := Walk(b, func(path string, m proto.Message) error {
		seen = append(seen, string(m.ProtoReflect().Descriptor().FullName()))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
		"envoy.extensions.filters.http.router.v3.Router", // an Any inside an Any
	} {
		if !contains(seen, want) {
			t.Errorf("walk did not reach %s (saw %v)", want, seen)
		}
	}
	hcmAny := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig()
	hcmAny.TypeUrl = "type.googleapis.com/envoy.nope.Missing"
	err = Walk(b, func(string, proto.Message) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "envoy.nope.Missing") {
		t.Fatalf("Walk err = %v, want an unregistered-type error", err)
	}
	stop := errors.New("stop")
	if err := Walk(&bootstrapv3.Bootstrap{}, func(string, proto.Message) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("visitor error not returned: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDeprecatedDetected(t *testing.T) {
	// per_request_buffer_limit_bytes is deprecated in favour of request_body_buffer_limit.
	y := strings.Replace(fmt.Sprintf(minimal, "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", ""),
		"route_config: {name: r}", "route_config: {name: r, virtual_hosts: [{name: v, domains: ['*'], per_request_buffer_limit_bytes: 10}]}", 1)
	js, err := YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode(js)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := Deprecated(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(dep) != 1 || !strings.HasSuffix(dep[0], ".per_request_buffer_limit_bytes") {
		t.Fatalf("Deprecated = %v", dep)
	}
}

func TestIsBootstrapYAML(t *testing.T) {
	tests := []struct {
		yaml string
		want bool
	}{
		{"static_resources: {}", true},
		{"admin: {}", true},
		{"dynamic_resources: {}", true},
		{"services: {envoy: {}}", false},
		{"- a\n- b", false},
		{"not: [valid", false},
	}
	for _, tc := range tests {
		if got := IsBootstrapYAML([]byte(tc.yaml)); got != tc.want {
			t.Errorf("IsBootstrapYAML(%q) = %v", tc.yaml, got)
		}
	}
}

// recorder runs checks against a broken config and keeps what they report instead of
// failing the test; Fatalf stops the check like t.Fatalf stops a test.
type recorder struct {
	*testing.T
	errs []string
}

type fatal struct{}

func (r *recorder) Helper()                      {}
func (r *recorder) Errorf(f string, args ...any) { r.errs = append(r.errs, fmt.Sprintf(f, args...)) }
func (r *recorder) Fatalf(f string, args ...any) {
	r.Errorf(f, args...)
	panic(fatal{})
}

func runChecks(t *testing.T, root, rel string, yamlText string) (errs []string) {
	r := &recorder{T: t}
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(fatal); !ok {
				panic(p)
			}
		}
		errs = r.errs
	}()
	js, err := YAMLToJSON([]byte(yamlText))
	if err != nil {
		r.Fatalf("%v", err)
	}
	b, err := Decode(js)
	if err != nil {
		r.Fatalf("%v", err)
	}
	checkBootstrap(r, root, rel, b)
	return r.errs
}

// TestChecksCatchBrokenConfigs breaks envoy.yaml one way at a time and expects the semantic
// checks to name the problem, so a passing TestEnvoyConfigs means something.
func TestChecksCatchBrokenConfigs(t *testing.T) {
	root := repoRoot(t)
	// The mutations edit the hand-written envoy.yaml as it was before cmd/aigw-envoygen
	// generated it (testdata/mutation-base): the text the cases replace is stable there, and
	// TestEnvoyConfigs checks the generated envoy.yaml itself.
	raw, err := os.ReadFile(filepath.Join(root, mutationBase, "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	orig := string(raw)
	if errs := runChecks(t, root, "envoy.yaml", orig); len(errs) != 0 {
		t.Fatalf("envoy.yaml itself fails: %v", errs)
	}
	golangFilter := `          - name: envoy.filters.http.golang
            typed_config:`
	routerFilter := `          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
`
	tests := []mutation{
		{"router before golang filter", golangFilter, routerFilter + golangFilter, "must come before the router"},
		{"codec before dynamic module", `        http_filters:
        - name: envoy.filters.http.dynamic_modules`, `        http_filters:
        - name: envoy.filters.http.upstream_codec
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec
        - name: envoy.filters.http.dynamic_modules`, "upstream codec must be last"},
		{"wrong-backend bug: named backend routed to a shared cluster", `string_match: { exact: deploy-b }
                route:
                  cluster: deploy-b`, `string_match: { exact: deploy-b }
                route:
                  cluster: model-gpt-4o-mini`, "(backend deploy-b) can reach endpoint of backend deploy-a"},
		{"model routed to a backend without it", `cluster: failover-gpt-4o`, `cluster: deploy-a`, "does not serve it"},
		{"failover without retry priority", `                    retry_priority:
                      name: envoy.retry_priorities.previous_priorities
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig
                        update_frequency: 1
`, "", "no envoy.retry_priorities.previous_priorities"},
		{"failover without 5xx retry", `retry_on: 5xx,reset,connect-failure,retriable-status-codes
                    retriable_status_codes: [429]
                    num_retries: 1
                    per_try_idle_timeout: 120s
                    rate_limited_retry_back_off: *retry_after
                    retry_priority:`, `retry_on: reset,connect-failure,retriable-status-codes
                    retriable_status_codes: [429]
                    num_retries: 1
                    per_try_idle_timeout: 120s
                    rate_limited_retry_back_off: *retry_after
                    retry_priority:`, "failover needs retry_on 5xx"},
		{"same backend in both priorities", `socket_address: { address: mock-anthropic-fallback, port_value: 8080 }
          metadata:
            filter_metadata:
              aigw: { backend: anthropic-fallback }

  - name: azure-east`, `socket_address: { address: mock-anthropic-fallback, port_value: 8080 }
          metadata:
            filter_metadata:
              aigw: { backend: openai-primary }

  - name: azure-east`, "is in priorities"},
		{"route body buffer too small", `                        update_frequency: 1
                request_body_buffer_limit: 33554432`, `                        update_frequency: 1
                request_body_buffer_limit: 1024`, "request_body_buffer_limit 1024"},
		{"listener buffer too small", `per_connection_buffer_limit_bytes: 33554432`, `per_connection_buffer_limit_bytes: 1048576`, "per_connection_buffer_limit_bytes 1048576"},
		{"unknown endpoint backend", `aigw: { backend: azure-east }`, `aigw: { backend: azure-west }`, "not a configured backend"},
		{"second document differs", `              value: *aigw_config`, `              value: '{"backends": []}'`, "differs from the first one"},
		{"library copy", `library_path: /usr/local/lib/aigw/libaigw.so`, `library_path: /usr/local/lib/aigw-copy/libaigw.so`, "library_path"},
		{"module may be closed", `do_not_close: true`, `do_not_close: false`, "do_not_close false"},
		{"unknown aigw config field", `"backend_field": "backend",`, `"backend_field": "backend", "bogus": 1,`, "golang plugin_config"},
		{"key file not in docker/keys", `/etc/aigw/keys/deploy-b"`, `/etc/aigw/keys/deploy-z"`, "docker/keys/deploy-z does not exist"},
		{"access log without token counts", `llm_input_token: "%DYNAMIC_METADATA(io.envoy.ai_gateway:llm_input_token)%"`, ``, "access log lacks %DYNAMIC_METADATA(io.envoy.ai_gateway:llm_input_token)%"},
		{"access log without endpoint metadata", `endpoint_backend: "%UPSTREAM_METADATA(aigw:backend)%"`, ``, "access log lacks %UPSTREAM_METADATA(aigw:backend)%"},
		{"no JSON catch-all", `                response_headers_to_add:
                - header: { key: content-type, value: application/json }`, `                response_headers_to_add:
                - header: { key: content-type, value: text/plain }`, "content-type: application/json"},
		{"backend without a route", `string_match: { exact: azure-east }`, `string_match: { exact: azure-west }`, "backend azure-east has no x-ai-eg-backend route"},
		{"admin on another interface", `socket_address: { address: 0.0.0.0, port_value: 9901 }`, `socket_address: { address: 10.0.0.1, port_value: 9901 }`, "loopback"},
		// Issue 11: which requests reach a provider.
		{"provider route without method match", `                  - *post
                  - name: x-ai-eg-backend
                    string_match: { exact: deploy-b }`, `                  - name: x-ai-eg-backend
                    string_match: { exact: deploy-b }`, "only POST to"},
		{"provider route on every path", `                  safe_regex: *inference_paths
                  headers:
                  - *post
                  - name: x-ai-eg-model
                    string_match: { exact: gpt-4o }`, `                  prefix: /
                  headers:
                  - *post
                  - name: x-ai-eg-model
                    string_match: { exact: gpt-4o }`, "only POST to"},
		{"inference regex rejects a query string", `regex: '/v1/(chat/completions|completions|embeddings|messages)(\?.*)?'`,
			`regex: '/v1/(chat/completions|completions|embeddings|messages)'`, "?x=1 map[x-ai-eg-backend:deploy-a] does not reach backend deploy-a"},
		{"no JSON 404 for unserved requests", `              - name: not-served
                match: { prefix: / }`, `              - name: not-served
                match: { prefix: /nothing }`, "matches no route"},
		// Streams, retries, load.
		{"overall route timeout", `                  cluster: deploy-a
                  timeout: 0s`, `                  cluster: deploy-a
                  timeout: 300s`, "route backend-deploy-a: timeout 5m0s; want 0s"},
		{"no per-try idle timeout", `                    per_try_idle_timeout: 120s
                    rate_limited_retry_back_off: &retry_after`, `                    rate_limited_retry_back_off: &retry_after`, "no retry per_try_idle_timeout"},
		{"route idle timeout shorter than its attempts", `                  idle_timeout: 300s
                  retry_policy: &retry_single`, `                  idle_timeout: 200s
                  retry_policy: &retry_single`, "idle_timeout 3m20s < 2 attempts"},
		{"Retry-After ignored", `- { name: retry-after, format: SECONDS }`, `- { name: x-ratelimit-reset, format: UNIX_TIMESTAMP }`, "retry-after (SECONDS)"},
		{"429 not retried", `retriable_status_codes: [429, 503]`, `retriable_status_codes: [503]`, "lack 429"},
		{"default retry concurrency", `max_retries: 8192`, `max_retries: 3`, "max_retries value:3 < max_requests 8192"},
		{"no circuit breakers", `    circuit_breakers: *circuit_breakers
`, ``, "cluster deploy-b: no circuit_breakers"},
		{"no outlier detection", `    outlier_detection: *outlier_detection
`, ``, "cluster deploy-b: no outlier_detection"},
		{"outlier detection cannot eject", `max_ejection_percent: 100`, `max_ejection_percent: 10`, "max_ejection_percent 10 < 50%"},
		{"stream idle timeout not stated", `          stream_idle_timeout: 300s
`, ``, "stream_idle_timeout not stated"},
		// Envoy's own local replies.
		{"body_format wraps every local reply", `          local_reply_config:
            mappers:`, `          local_reply_config:
            body_format: { text_format: "%LOCAL_REPLY_BODY%" }
            mappers:`, "would wrap aigw's own JSON again"},
		{"Envoy's 4xx stay plain text", `default_value: 400, runtime_key: aigw.local_reply.4xx`, `default_value: 499, runtime_key: aigw.local_reply.4xx`, `HTTP/1 codec error (400, details http1.codec_error) on "" (request headers map[]): Envoy's own reply stays plain text`},
		{"Envoy's 413 without a clear message", `message: "request body too large for the gateway: %LOCAL_REPLY_BODY%"`, `message: ""`, "(413, details request_payload_too_large) on \"/v1/messages\" (request headers map[:path:/v1/messages]) (a client reading Anthropic's errors): renders an empty message"},
		{"unmodelled local reply filter", `response.code_details in ['dynamic_module', 'direct_response']`, `response.code_details in ['dynamic_module']`, "is not modelled by this check"},
		{"mapper wraps aigw's own replies", `                  - *envoy_own_reply
                  - status_code_filter:
                      comparison: { op: GE, value: { default_value: 500`, `                  - status_code_filter: { comparison: { op: GE, value: { default_value: 0, runtime_key: aigw.any } } }
                  - status_code_filter:
                      comparison: { op: GE, value: { default_value: 500`, "aigw's own reply, already in the client's format, is rewritten by a local_reply mapper"},
		{"wrong OpenAI error type", `type: server_error`, `type: upstream_error`, "with type upstream_error"},
		// Messages API clients: Envoy's own replies and the unrouted 404s in Anthropic's shape.
		{"Messages clients get OpenAI's local replies", `                      - header_filter: { header: { name: x-envoy-original-path, string_match: { safe_regex: { regex: '/v1/messages/?(\?.*)?' } } } }`,
			`                      - header_filter: { header: { name: x-envoy-original-path, string_match: { safe_regex: { regex: '/v2/messages/?(\?.*)?' } } } }`,
			`(a client reading Anthropic's errors): renders {"error":`},
		{"Messages mapper reads the rewritten :path", `                          - header_filter: { header: { name: x-envoy-original-path, present_match: false } }
`, `                          - header_filter: { header: { name: ":path", present_match: true } }
`, `on "/v1/messagesx" (request headers map[:path:/v1/messages x-envoy-original-path:/v1/messagesx]) (a client reading OpenAI's errors): renders {"error":{"message"`},
		{"Messages mapper requires the original path", `x-envoy-original-path, present_match: false`, `x-envoy-original-path, present_match: true`,
			`on "/v1/messages" (request headers map[:path:/v1/messages]) (a client reading Anthropic's errors)`},
		{"Messages client gets OpenAI's 404", `              - name: not-served-messages
                match: { safe_regex: { regex: '/v1/messages/?(\?.*)?' } }`, `              - name: not-served-messages
                match: { safe_regex: { regex: '/v2/messages/?(\?.*)?' } }`, "gets route not-served's error in OpenAI's shape; a /v1/messages client reads Anthropic's"},
		{"unknown model of a Messages client in OpenAI's shape", `                    inline_string: '{"type":"error","error":{"type":"not_found_error","message":"no backend serves this request: name a configured model or backend"}}'`,
			`                    inline_string: '{"error":{"message":"no backend serves this request: name a configured model or backend","type":"invalid_request_error","param":"model","code":"model_not_found"}}'`,
			"gets route no-backend-messages's error in OpenAI's shape; a /v1/messages client reads Anthropic's"},
		// Access log.
		{"client can forge the logged path", `use_remote_address: true`, `use_remote_address: false`, "use_remote_address false"},
		{"private clients trusted", `          use_remote_address: true
`, `          use_remote_address: true
          internal_address_config: { cidr_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 8 }] }
`, "internal_address_config makes some clients internal"},
		{"access log shows the provider path", `path: "%PATH(NQ:ORIG_OR_PATH)%"`, `path: "%REQ(:PATH)%"`, "does not record the client's path"},
		{"access log records a key", `request_id: "%REQ(X-REQUEST-ID)%"`, `request_id: "%REQ(X-REQUEST-ID)%"
                  key: "%REQ(X-API-KEY)%"`, "records the X-API-KEY header"},
		{"original path not stored", `key: x-envoy-original-path`, `key: x-original-path`, "no request_headers_to_add x-envoy-original-path"},
		{"deprecated field", `request_body_buffer_limit: 33554432
              - name: model-gpt-4.1-mini`, `per_request_buffer_limit_bytes: 33554432
              - name: model-gpt-4.1-mini`, "deprecated fields"},
	}
	checkMutations(t, root, "envoy.yaml", orig, tests)
}

// mutationBase holds the hand-written configs the mutation tests break.
const mutationBase = "test/envoyconfig/testdata/mutation-base"

// mutation breaks a config in one place and names the error the checks must report.
type mutation struct {
	name string
	old  string // replaced once; must occur in the config
	new  string
	want string // substring of one reported error
}

func checkMutations(t *testing.T, root, rel, orig string, tests []mutation) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(orig, tc.old) {
				t.Fatalf("%s no longer contains %q: update this case", rel, tc.old)
			}
			errs := runChecks(t, root, rel, strings.Replace(orig, tc.old, tc.new, 1))
			for _, e := range errs {
				if strings.Contains(e, tc.want) {
					return
				}
			}
			t.Fatalf("no reported error contains %q; got %q", tc.want, errs)
		})
	}
}
