package envoyconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	apikeyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/api_key_auth/v3"
	rlfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// Issue 15's pieces of the compose demo: the rate limit service and its
// Redis (docker/compose.yaml), and envoy.yaml's quota filters.
const (
	ratelimitCluster = "ratelimit"
	redisService     = "redis"
)

// checkRatelimitService: the endpoint of envoy.yaml's rate limit cluster is
// the service on its gRPC port, on Redis over TCP, with the descriptor
// config mounted where its runtime settings read it, counting the domain
// envoy.yaml's filter sends.
func checkRatelimitService(t *testing.T, c composeFile, name string, s composeService, port int) {
	t.Helper()
	env := s.Environment
	if env["GRPC_PORT"] != strconv.Itoa(port) {
		t.Errorf("%s: GRPC_PORT %q, envoy.yaml calls port %d", name, env["GRPC_PORT"], port)
	}
	if env["REDIS_SOCKET_TYPE"] != "tcp" || env["REDIS_URL"] != redisService+":6379" || env["USE_STATSD"] != "false" {
		t.Errorf("%s: redis/statsd settings %v", name, env)
	}
	if _, ok := c.Services[redisService]; !ok {
		t.Errorf("no %s service", redisService)
	}
	if _, ok := s.DependsOn[redisService]; !ok {
		t.Errorf("%s does not depend on %s", name, redisService)
	}
	want := "/" + strings.Trim(env["RUNTIME_ROOT"], "/") + "/" + env["RUNTIME_SUBDIRECTORY"] + "/" + env["RUNTIME_APPDIRECTORY"] + "/"
	var src string
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[1], want) {
			src = parts[0]
		}
	}
	if src == "" {
		t.Fatalf("%s: no descriptor config mounted under %s", name, want)
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", src))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Domain      string `yaml:"domain"`
		Descriptors []struct {
			Key       string `yaml:"key"`
			RateLimit struct {
				Unit            string `yaml:"unit"`
				RequestsPerUnit uint32 `yaml:"requests_per_unit"`
			} `yaml:"rate_limit"`
		} `yaml:"descriptors"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, d := range doc.Descriptors {
		if d.RateLimit.RequestsPerUnit == 0 || d.RateLimit.Unit == "" {
			t.Errorf("descriptor %s: no limit", d.Key)
		}
		keys[d.Key] = true
	}
	rl := quotaFilters(t, filepath.Join(repoRoot(t), "envoy.yaml")).ratelimit
	if doc.Domain != rl.GetDomain() {
		t.Errorf("descriptor config domain %q, the filter sends %q", doc.Domain, rl.GetDomain())
	}
	for _, r := range rl.GetRateLimits() {
		for _, a := range r.GetActions() {
			k := a.GetRequestHeaders().GetDescriptorKey() + a.GetMetadata().GetDescriptorKey()
			if !keys[k] {
				t.Errorf("the filter sends descriptor %q, the service config has no limit for it", k)
			}
		}
	}
}

type quotaChain struct {
	apiKey    *apikeyv3.ApiKeyAuth
	ratelimit *rlfilterv3.RateLimit
	order     []string
}

func quotaFilters(t *testing.T, path string) quotaChain {
	t.Helper()
	b, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var q quotaChain
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
					continue
				}
				var order []string
				for _, hf := range hcm.GetHttpFilters() {
					order = append(order, hf.GetName())

					switch hf.GetName() {
					case "envoy.filters.http.api_key_auth":
						q.apiKey = &apikeyv3.ApiKeyAuth{}
						if err := hf.GetTypedConfig().UnmarshalTo(q.apiKey); err != nil {
							t.Fatal(err)
						}
					case "envoy.filters.http.ratelimit":
						q.ratelimit = &rlfilterv3.RateLimit{}
						if err := hf.GetTypedConfig().UnmarshalTo(q.ratelimit); err != nil {
							t.Fatal(err)
						}
					}
				}
				if slices.Contains(order, "envoy.filters.http.golang") {
					q.order = order // the aigw listener's chain, not a readiness listener's
				}
			}
		}
	}
	return q
}

// The shipped configs authenticate clients with api_key_auth first, forwarding the
// client id as aigw's identity header and nothing of the key; its rate
// limit filter runs after the router phase and before the router, with
// exactly the tested typed_config (test/ratelimit/filter.yaml, played
// against the real service by test/ratelimit and test/host).
func TestQuotaFiltersInEnvoyYAML(t *testing.T) {
	root := repoRoot(t)
	// The production example carries no client keys, so no quotas
	// (deploy/production/deployment.yaml says why).
	for _, f := range []string{"envoy.yaml"} {
		t.Run(f, func(t *testing.T) {
			for _, e := range quotaProblems(t, root, filepath.Join(root, f)) {
				t.Error(e)
			}
		})
	}
}

// Each quota rule fails on a config broken for it.
func TestQuotaChecksCatchBrokenConfigs(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		// envoy.yaml is generated (internal/envoygen): these are its lines.
		{"router phase not in the chain", "                  - name: envoy.filters.http.golang\n", "                  - name: envoy.filters.http.ratelimit_moved\n", "http_filters"},
		{"identity not forwarded", "                        header: x-api-key-id\n", "                        header: x-client\n", "api_key_auth forwarding"},
		{"key forwarded", "                        hide_credentials: true\n", "                        hide_credentials: false\n", "api_key_auth forwarding"},
		{"filter differs from the tested one", "                      timeout: \"0.100s\"\n", "                      timeout: 2s\n", "differs from the tested"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(raw), tc.from) {
				t.Fatalf("envoy.yaml lacks %q", tc.from)
			}
			path := filepath.Join(t.TempDir(), "envoy.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(raw), tc.from, tc.to, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			errs := quotaProblems(t, root, path)
			if !strings.Contains(strings.Join(errs, "\n"), tc.want) {
				t.Fatalf("errors %v lack %q", errs, tc.want)
			}
		})
	}
}

// quotaProblems: the shipped configs authenticate clients with api_key_auth
// first, forwarding the client id as aigw's identity header and nothing of
// the key; the rate limit filter runs after the router phase and before the
// router, with exactly the tested typed_config (test/ratelimit/filter.yaml,
// played against the real service by test/ratelimit and test/host), every
// hits_addend reading a cost aigw writes.
func quotaProblems(t *testing.T, root, path string) (errs []string) {
	q := quotaFilters(t, path)
	want := []string{"envoy.filters.http.api_key_auth", "envoy.filters.http.golang", "envoy.filters.http.ratelimit", "envoy.filters.http.router"}
	if strings.Join(q.order, ",") != strings.Join(want, ",") {
		errs = append(errs, fmt.Sprintf("http_filters %v, want %v", q.order, want))
	}
	b, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := parseAigw(t, root, b)
	if cfg.Quota == nil {
		return append(errs, "no quota member in the aigw config")
	}
	if fw := q.apiKey.GetForwarding(); fw.GetHeader() != cfg.Quota.IdentityHeader || !fw.GetHideCredentials() {
		errs = append(errs, fmt.Sprintf("api_key_auth forwarding %v, aigw identity header %s", fw, cfg.Quota.IdentityHeader))
	}
	raw, err := os.ReadFile(filepath.Join(root, "test", "ratelimit", "filter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	var tested rlfilterv3.RateLimit
	if err := protojson.Unmarshal(js, &tested); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&tested, q.ratelimit) {
		errs = append(errs, "the rate limit filter differs from the tested test/ratelimit/filter.yaml")
	}
	costs := map[string]bool{}
	for _, c := range cfg.Quota.Costs {
		costs["%DYNAMIC_METADATA(io.envoy.ai_gateway:"+c.Name+")%"] = true
	}
	for _, r := range q.ratelimit.GetRateLimits() {
		if f := r.GetHitsAddend().GetFormat(); f != "" && !costs[f] {
			errs = append(errs, fmt.Sprintf("hits_addend %s is not one of aigw's costs", f))
		}
		if r.GetHitsAddend() == nil {
			errs = append(errs, "a rate_limits entry without hits_addend charges one per request")
		}
	}
	return errs
}
