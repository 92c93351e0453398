package envoyconfig

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	dynmodv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	codecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	prevprio "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/credentials/credtest"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/upstream"
)

// Deployment facts shared with compose_test.go.
const (
	// keysMount is where docker/compose.yaml mounts keysDir in the Envoy container.
	keysMount = "/etc/aigw/keys"
	keysDir   = "docker/keys"
	// libraryPath is the one libaigw.so both ABIs load (see docker/Dockerfile).
	libraryPath      = "/usr/local/lib/aigw/libaigw.so"
	dynamicModule    = "aigw"
	upstreamFilter   = "aigw-upstream"
	goPluginName     = "aigw"
	hcmProtocolOpts  = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	previousPriority = "envoy.retry_priorities.previous_priorities"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// discover returns every Envoy bootstrap YAML in the repository (relative paths), so configs
// added later (under docker/, bench/, ...) are checked without editing this test.
func discover(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "build":
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if IsBootstrapYAML(raw) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(out, "envoy.yaml") {
		t.Fatalf("envoy.yaml not discovered (found %v)", out)
	}
	return out
}

func unpack(t tb, where string, a *anypb.Any) proto.Message {
	t.Helper()
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return m
}

func TestEnvoyConfigs(t *testing.T) {
	root := repoRoot(t)
	for _, rel := range discover(t, root) {
		t.Run(rel, func(t *testing.T) {
			b, err := LoadFile(filepath.Join(root, rel))
			if err != nil {
				t.Fatal(err)
			}
			checkBootstrap(t, root, rel, b)
		})
	}
}

// tb is the part of testing.T the checks use, so the mutation test can run them against
// broken configs and collect what they report.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
	Setenv(key, value string)
}

// checkBootstrap runs every check on a decoded bootstrap; rel is its path in the repository.
func checkBootstrap(t tb, root, rel string, b *bootstrapv3.Bootstrap) {
	if err := Validate(b); err != nil {
		t.Fatalf("ValidateAll:\n%v", err)
	}
	dep, err := Deprecated(b)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if len(dep) > 0 {
		t.Errorf("deprecated fields/values in use: %v", dep)
	}
	checkFilterOrder(t, b)
	if usesAigw(t, b) {
		checkAigw(t, root, rel, b)
	}
}

// hcms returns every HTTP connection manager of the static listeners.
func hcms(t tb, b *bootstrapv3.Bootstrap) []*hcmv3.HttpConnectionManager {
	var out []*hcmv3.HttpConnectionManager
	for _, l := range b.GetStaticResources().GetListeners() {
		chains := l.GetFilterChains()
		if l.GetDefaultFilterChain() != nil {
			chains = append(chains, l.GetDefaultFilterChain())
		}
		for _, fc := range chains {
			for _, f := range fc.GetFilters() {
				if h, ok := unpack(t, l.GetName()+"/"+f.GetName(), f.GetTypedConfig()).(*hcmv3.HttpConnectionManager); ok {
					out = append(out, h)
				}
			}
		}
	}
	return out
}

// upstreamFilters returns a cluster's upstream HTTP filters (nil when it has none).
func upstreamFilters(t tb, c *clusterv3.Cluster) []*hcmv3.HttpFilter {
	a, ok := c.GetTypedExtensionProtocolOptions()[hcmProtocolOpts]
	if !ok {
		return nil
	}
	po, ok := unpack(t, c.GetName(), a).(*upstreamhttpv3.HttpProtocolOptions)
	if !ok {
		t.Fatalf("cluster %s: %s holds %s", c.GetName(), hcmProtocolOpts, a.GetTypeUrl())
	}
	return po.GetHttpFilters()
}

// checkFilterOrder applies to every config: the router ends each downstream chain, the Go
// filter precedes it, and the upstream codec ends each upstream chain.
func checkFilterOrder(t tb, b *bootstrapv3.Bootstrap) {
	for _, h := range hcms(t, b) {
		filters := h.GetHttpFilters()
		router, golang := -1, -1
		for i, f := range filters {
			switch unpack(t, f.GetName(), f.GetTypedConfig()).(type) {
			case *routerv3.Router:
				if router >= 0 {
					t.Errorf("hcm %s: router at %d and %d; only the last filter may be the router", h.GetStatPrefix(), router, i)
				}
				if router < 0 {
					router = i
				}
			case *golangv3alpha.Config:
				golang = i
			case *codecv3.UpstreamCodec:
				t.Errorf("hcm %s: upstream codec %q in a downstream chain", h.GetStatPrefix(), f.GetName())
			}
		}
		if router != len(filters)-1 {
			t.Errorf("hcm %s: router is filter %d of %d, must be last", h.GetStatPrefix(), router, len(filters))
		}
		if golang >= 0 && golang > router {
			t.Errorf("hcm %s: golang filter (%d) must come before the router (%d)", h.GetStatPrefix(), golang, router)
		}
	}
	for _, c := range b.GetStaticResources().GetClusters() {
		filters := upstreamFilters(t, c)
		for i, f := range filters {
			_, isCodec := unpack(t, c.GetName()+"/"+f.GetName(), f.GetTypedConfig()).(*codecv3.UpstreamCodec)
			if isCodec != (i == len(filters)-1) {
				t.Errorf("cluster %s: upstream filter %d (%s): the upstream codec must be last, and only last", c.GetName(), i, f.GetName())
			}
		}
	}
}

func usesAigw(t tb, b *bootstrapv3.Bootstrap) bool {
	for _, h := range hcms(t, b) {
		for _, f := range h.GetHttpFilters() {
			if g, ok := unpack(t, f.GetName(), f.GetTypedConfig()).(*golangv3alpha.Config); ok && g.GetPluginName() == goPluginName {
				return true
			}
		}
	}
	for _, c := range b.GetStaticResources().GetClusters() {
		for _, f := range upstreamFilters(t, c) {
			if d, ok := unpack(t, f.GetName(), f.GetTypedConfig()).(*dynmodv3.DynamicModuleFilter); ok && d.GetDynamicModuleConfig().GetName() == dynamicModule {
				return true
			}
		}
	}
	return false
}

// configJSON extracts the aigw JSON document from a plugin_config/filter_config Any.
func configJSON(t tb, where string, a *anypb.Any) []byte {
	t.Helper()
	switch m := unpack(t, where, a).(type) {
	case *wrapperspb.StringValue:
		return []byte(m.GetValue())
	case *wrapperspb.BytesValue:
		return m.GetValue()
	case *structpb.Struct:
		js, err := protojson.Marshal(m)
		if err != nil {
			t.Fatalf("%v", err)
		}
		return js
	case *xdstypev3.TypedStruct:
		js, err := protojson.Marshal(m.GetValue())
		if err != nil {
			t.Fatalf("%v", err)
		}
		return js
	default:
		t.Fatalf("%s: aigw config is a %T; want StringValue, BytesValue, Struct or TypedStruct", where, m)
		return nil
	}
}

// repack puts js back into an Any of the same type as orig.
func repack(t tb, orig *anypb.Any, js []byte) *anypb.Any {
	t.Helper()
	var m proto.Message
	switch unpack(t, "repack", orig).(type) {
	case *wrapperspb.StringValue:
		m = wrapperspb.String(string(js))
	case *wrapperspb.BytesValue:
		m = wrapperspb.Bytes(js)
	case *structpb.Struct, *xdstypev3.TypedStruct:
		s := &structpb.Struct{}
		if err := protojson.Unmarshal(js, s); err != nil {
			t.Fatalf("%v", err)
		}
		m = s
		if ts, ok := unpack(t, "repack", orig).(*xdstypev3.TypedStruct); ok {
			m = &xdstypev3.TypedStruct{TypeUrl: ts.GetTypeUrl(), Value: s}
		}
	}
	a, err := anypb.New(m)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return a
}

// dynamicModuleBytes is what Envoy 1.36.2 hands the module for filter_config: StringValue and
// BytesValue unwrapped, any other type as its serialized Any.value
// (source/extensions/filters/http/dynamic_modules/factory.cc).
func dynamicModuleBytes(t tb, a *anypb.Any) []byte {
	switch m := unpack(t, "filter_config", a).(type) {
	case *wrapperspb.StringValue:
		return []byte(m.GetValue())
	case *wrapperspb.BytesValue:
		return m.GetValue()
	}
	return a.GetValue()
}

// localizeKeys points the config's key files at files that exist here, so the upstream
// phase's load (upstream.NewConfig, which reads the keys) can run: /etc/aigw/keys/X is docker/keys/X, which compose
// mounts there (checked in compose_test.go), and must exist; any other path gets a temp
// file; key_env variables get a test value.
func localizeKeys(t tb, root string, js []byte) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("aigw config is not a JSON object: %v", err)
	}
	backends, _ := doc["backends"].([]any)
	for _, be := range backends {
		bm, _ := be.(map[string]any)
		auth, _ := bm["auth"].(map[string]any)
		switch auth["type"] {
		case config.AuthAWSSigV4:
			fakeAWSCredentials(t)
		case config.AuthGCPServiceAccount:
			// Always a key for a token endpoint on loopback: the compose demo's key names
			// the mock's endpoint by its compose host name, which resolves only there.
			if kf, ok := auth["key_file"].(string); ok {
				if rest, under := strings.CutPrefix(kf, keysMount+"/"); under {
					if _, err := os.Stat(filepath.Join(root, keysDir, rest)); err != nil {
						t.Errorf("backend %v: key_file %s: %s does not exist in the repo (compose mounts %s there)", bm["name"], kf, filepath.Join(keysDir, rest), keysDir)
					}
				}
				auth["key_file"] = gcpServiceAccountFile(t, kf)
				continue
			}
		}
		if kf, ok := auth["key_file"].(string); ok {
			if rest, under := strings.CutPrefix(kf, keysMount+"/"); under {
				local := filepath.Join(root, keysDir, rest)
				if _, err := os.Stat(local); err != nil {
					t.Errorf("backend %v: key_file %s: %s does not exist in the repo (compose mounts %s there)", bm["name"], kf, filepath.Join(keysDir, rest), keysDir)
				}
				auth["key_file"] = local
			} else {
				tmp := filepath.Join(t.TempDir(), "key")
				if err := os.WriteFile(tmp, []byte("test-key"), 0o600); err != nil {
					t.Fatalf("%v", err)
				}
				auth["key_file"] = tmp
			}
		}
		if ke, ok := auth["key_env"].(string); ok && os.Getenv(ke) == "" {
			t.Setenv(ke, "test-key-from-env")
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// fakeAWSCredentials gives the AWS SDK's default chain static test keys (AWS's documented
// example key) from the environment and nothing else: no shared files, no EC2 instance
// metadata (a network address off loopback), so the upstream phase's AWS refresher loads
// without the network.
func fakeAWSCredentials(t tb) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE":           filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
}

// gcpKeys holds the fake service-account keys of each test: a key file for a fake Google
// token endpoint on loopback (credtest), so the upstream phase's token cache loads and
// fetches without the network. One per test and original key_file, not per call: a key is
// an RSA key generation.
var gcpKeys struct {
	sync.Mutex
	m      map[gcpKeyID]string
	origin map[string]string // fake path -> the key_file it stands for
}

type gcpKeyID struct {
	t    *testing.T
	orig string
}

func gcpServiceAccountFile(t tb, orig string) string {
	var tt *testing.T
	switch x := t.(type) {
	case *testing.T:
		tt = x
	case *recorder:
		tt = x.T
	default:
		t.Fatalf("gcp_service_account key: %T is not a *testing.T", t)
	}
	gcpKeys.Lock()
	defer gcpKeys.Unlock()
	id := gcpKeyID{tt, orig}
	if p, ok := gcpKeys.m[id]; ok {
		return p
	}
	if gcpKeys.m == nil {
		gcpKeys.m, gcpKeys.origin = map[gcpKeyID]string{}, map[string]string{}
	}
	p := filepath.Join(tt.TempDir(), "vertex-sa.json")
	credtest.NewGoogle(tt, time.Hour).ServiceAccount(tt, p, "aigw@example.iam.gserviceaccount.com")
	gcpKeys.m[id], gcpKeys.origin[p] = p, orig
	tt.Cleanup(func() {
		gcpKeys.Lock()
		delete(gcpKeys.m, id)
		delete(gcpKeys.origin, p)
		gcpKeys.Unlock()
	})
	return p
}

// gcpKeyOrigin is the key_file a fake service-account key of localizeKeys stands for.
func gcpKeyOrigin(path string) (string, bool) {
	gcpKeys.Lock()
	defer gcpKeys.Unlock()
	orig, ok := gcpKeys.origin[path]
	return orig, ok
}

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// checkAigw checks a config that loads libaigw.so against aigw's own rules and its config
// document, with the real config package doing the parsing each phase does.
func checkAigw(t tb, root, rel string, b *bootstrapv3.Bootstrap) {
	var cfg *config.Config
	var doc []byte // the first aigw document; every other one must equal it
	sameDoc := func(where string, js []byte) {
		if doc == nil {
			doc = js
		} else if !sameJSON(doc, js) {
			t.Errorf("%s: aigw config differs from the first one: both phases must read one document", where)
		}
	}

	// Router phase.
	var golangHCMs []*hcmv3.HttpConnectionManager
	for _, h := range hcms(t, b) {
		for _, f := range h.GetHttpFilters() {
			g, ok := unpack(t, f.GetName(), f.GetTypedConfig()).(*golangv3alpha.Config)
			if !ok || g.GetPluginName() != goPluginName {
				continue
			}
			golangHCMs = append(golangHCMs, h)
			if g.GetLibraryId() != "aigw" || g.GetLibraryPath() != libraryPath {
				t.Errorf("golang filter: library_id %q library_path %q; want aigw, %s", g.GetLibraryId(), g.GetLibraryPath(), libraryPath)
			}
			js := configJSON(t, "plugin_config", g.GetPluginConfig())
			sameDoc("golang plugin_config", js)
			c, err := config.FromAny(repack(t, g.GetPluginConfig(), localizeKeys(t, root, js)))
			if err != nil {
				t.Fatalf("golang plugin_config: %v", err)
			}
			cfg = c
		}
	}
	if cfg == nil {
		t.Fatalf("config uses the aigw dynamic module but has no aigw golang filter: the router phase is missing")
	}

	// Upstream phase, per cluster.
	clusters := map[string][]endpoint{}
	for _, c := range b.GetStaticResources().GetClusters() {
		var dm *dynmodv3.DynamicModuleFilter
		for _, f := range upstreamFilters(t, c) {
			if d, ok := unpack(t, f.GetName(), f.GetTypedConfig()).(*dynmodv3.DynamicModuleFilter); ok && d.GetDynamicModuleConfig().GetName() == dynamicModule {
				dm = d
			}
		}
		if dm == nil {
			// A cluster outside aigw (e.g. the admin cluster behind a readiness listener) is
			// fine; one whose endpoints name aigw backends is not.
			for _, loc := range c.GetLoadAssignment().GetEndpoints() {
				for _, ep := range loc.GetLbEndpoints() {
					if _, ok := ep.GetMetadata().GetFilterMetadata()[cfg.EndpointMetadataNamespace]; ok {
						t.Errorf("cluster %s: no aigw upstream filter (credentials and translation would be skipped)", c.GetName())
					}
				}
			}
			continue
		}
		if !dm.GetDynamicModuleConfig().GetDoNotClose() || dm.GetFilterName() != upstreamFilter {
			t.Errorf("cluster %s: dynamic module do_not_close %v filter_name %q; want true, %s", c.GetName(), dm.GetDynamicModuleConfig().GetDoNotClose(), dm.GetFilterName(), upstreamFilter)
		}
		js := configJSON(t, c.GetName()+" filter_config", dm.GetFilterConfig())
		sameDoc("cluster "+c.GetName(), js)
		// The upstream phase's whole load: parse, then check the targets
		// against the translators and read the keys (upstream.NewConfig).
		if uc, err := config.FromDynamicModuleConfig(dynamicModuleBytes(t, repack(t, dm.GetFilterConfig(), localizeKeys(t, root, js)))); err != nil {
			t.Errorf("cluster %s filter_config: %v", c.GetName(), err)
		} else if _, err := upstream.NewConfig(uc); err != nil {
			t.Errorf("cluster %s filter_config: %v", c.GetName(), err)
		}
		for _, loc := range c.GetLoadAssignment().GetEndpoints() {
			for _, ep := range loc.GetLbEndpoints() {
				v := ep.GetMetadata().GetFilterMetadata()[cfg.EndpointMetadataNamespace].GetFields()[cfg.EndpointMetadataKey]
				name := v.GetStringValue()
				if _, ok := cfg.Backend(name); !ok {
					t.Errorf("cluster %s: endpoint %v has metadata %s.%s = %v, not a configured backend", c.GetName(),
						ep.GetEndpoint().GetAddress().GetSocketAddress().GetAddress(), cfg.EndpointMetadataNamespace, cfg.EndpointMetadataKey, v)
				}
				clusters[c.GetName()] = append(clusters[c.GetName()], endpoint{name, loc.GetPriority()})
			}
		}
	}

	// Buffers: the Go filter buffers the body within the connection buffer limit.
	for _, l := range b.GetStaticResources().GetListeners() {
		if !listenerHasAigw(t, l) {
			continue
		}
		if got := int64(l.GetPerConnectionBufferLimitBytes().GetValue()); got < int64(cfg.MaxRequestBodyBytes) {
			t.Errorf("listener %s: per_connection_buffer_limit_bytes %d < max_request_body_bytes %d: Envoy would answer 413 first", l.GetName(), got, cfg.MaxRequestBodyBytes)
		}
	}
	checkAdmin(t, rel, b)
	if isProductionExample(rel) {
		checkProductionShape(t, b, cfg)
	}

	// Routes.
	backendRoutes, modelRoutes, routedClusters := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, h := range golangHCMs {
		checkAccessLog(t, h, cfg)
		checkHCMHardening(t, h)
		for _, vh := range h.GetRouteConfig().GetVirtualHosts() {
			routes := vh.GetRoutes()
			checkRouteScope(t, vh, cfg, clusters)
			checkOriginalPath(t, vh)
			for i, r := range routes {
				if i == len(routes)-1 {
					checkCatchAll(t, r)
					continue
				}
				if r.GetDirectResponse() != nil {
					checkJSONDirectResponse(t, r)
					continue
				}
				action := r.GetRoute()
				eps, ok := clusters[action.GetCluster()]
				if !ok {
					t.Errorf("route %s: cluster %q is not an aigw cluster of this config", r.GetName(), action.GetCluster())
					continue
				}
				if got := r.GetRequestBodyBufferLimit().GetValue(); got < uint64(cfg.MaxRequestBodyBytes) {
					t.Errorf("route %s: request_body_buffer_limit %d < max_request_body_bytes %d: retries could not replay the body", r.GetName(), got, cfg.MaxRequestBodyBytes)
				}
				backend, model := headerMatch(r, cfg.BackendHeader), headerMatch(r, cfg.ModelHeader)
				switch {
				case backend != "" && model != "":
					t.Errorf("route %s matches both %s and %s; the router phase sets only one", r.GetName(), cfg.BackendHeader, cfg.ModelHeader)
				case backend != "":
					backendRoutes[backend] = true
					// The wrong-backend guarantee: a named backend reaches only that backend.
					for _, ep := range eps {
						if ep.backend != backend {
							t.Errorf("route %s (backend %s) can reach endpoint of backend %s", r.GetName(), backend, ep.backend)
						}
					}
				case model != "":
					modelRoutes[model] = true
					for _, ep := range eps {
						if be, _ := cfg.Backend(ep.backend); be == nil || !slices.Contains(be.Models, model) {
							t.Errorf("route %s (model %s) can reach backend %s, which does not serve it", r.GetName(), model, ep.backend)
						}
					}
				default:
					t.Errorf("route %s selects neither on %s nor on %s", r.GetName(), cfg.BackendHeader, cfg.ModelHeader)
				}
				checkRetry(t, r, eps)
				checkStreamTimeouts(t, r)
				routedClusters[action.GetCluster()] = true
			}
		}
	}
	for _, c := range b.GetStaticResources().GetClusters() {
		if routedClusters[c.GetName()] {
			checkClusterResilience(t, c, len(clusters[c.GetName()]))
			checkUpstreamTLS(t, c, cfg)
		}
	}
	for _, be := range cfg.Backends {
		if !backendRoutes[be.Name] {
			t.Errorf("backend %s has no %s route", be.Name, cfg.BackendHeader)
		}
	}
	for _, m := range cfg.Models() {
		if !modelRoutes[m] {
			t.Errorf("model %s has no %s route", m, cfg.ModelHeader)
		}
	}
}

// endpoint is one LB endpoint of an aigw cluster: the backend its metadata names and its
// priority.
type endpoint struct {
	backend  string
	priority uint32
}

// headerMatch returns the exact value a route requires of header name ("" if none).
func headerMatch(r *routev3.Route, name string) string {
	for _, h := range r.GetMatch().GetHeaders() {
		if h.GetName() == name {
			return h.GetStringMatch().GetExact()
		}
	}
	return ""
}

// checkRetry: priority failover only works if the retry can leave the failed priority and
// the cluster has another one, with a different backend, to go to.
func checkRetry(t tb, r *routev3.Route, eps []endpoint) {
	rp := r.GetRoute().GetRetryPolicy()
	prios := map[uint32]map[string]bool{}
	for _, ep := range eps {
		if prios[ep.priority] == nil {
			prios[ep.priority] = map[string]bool{}
		}
		prios[ep.priority][ep.backend] = true
	}
	if len(prios) > 1 {
		if rp.GetRetryPriority().GetName() != previousPriority {
			t.Errorf("route %s: cluster has %d priorities but no %s retry priority", r.GetName(), len(prios), previousPriority)
			return
		}
		if !strings.Contains(rp.GetRetryOn(), "5xx") || rp.GetNumRetries().GetValue() < 1 {
			t.Errorf("route %s: failover needs retry_on 5xx and num_retries >= 1 (got %q, %d)", r.GetName(), rp.GetRetryOn(), rp.GetNumRetries().GetValue())
		}
		seen := map[string]uint32{}
		for p, backends := range prios {
			for b := range backends {
				if q, dup := seen[b]; dup {
					t.Errorf("route %s: backend %s is in priorities %d and %d: failover would reach the failed backend", r.GetName(), b, q, p)
				}
				seen[b] = p
			}
		}
	}
	if name := rp.GetRetryPriority().GetName(); name != "" {
		if name != previousPriority {
			t.Errorf("route %s: unexpected retry priority %s", r.GetName(), name)
		}
		pp, ok := unpack(t, name, rp.GetRetryPriority().GetTypedConfig()).(*prevprio.PreviousPrioritiesConfig)
		if !ok || pp.GetUpdateFrequency() < 1 {
			t.Errorf("route %s: previous_priorities needs update_frequency >= 1", r.GetName())
			return
		}
		// Every priority must be reachable when each attempt fails: with all priorities
		// healthy, the attempts go where previousPrioritiesAttempts says.
		retries := 1 // Envoy's default num_retries
		if rp.GetNumRetries() != nil {
			retries = int(rp.GetNumRetries().GetValue())
		}
		tried := previousPrioritiesAttempts(len(prios), retries, int(pp.GetUpdateFrequency()))
		for p := range prios {
			if !slices.Contains(tried, int(p)) {
				t.Errorf("route %s: with num_retries %d and update_frequency %d the attempts go to priorities %v: priority %d is never reached",
					r.GetName(), retries, pp.GetUpdateFrequency(), tried, p)
			}
		}
	}
}

// previousPrioritiesAttempts models Envoy's previous_priorities retry priority for a cluster
// of n priorities, all healthy with one host each, when every attempt fails: the priority
// of the first attempt and of each of the retries. The load balancer sends an attempt to
// the first priority with load. Before each retry the plugin sees the hosts attempted so far
// (source/extensions/retry/priority/previous_priorities/previous_priorities.cc:8-36): fewer
// than update_frequency, the original load (all on priority 0, lines 16-17); a multiple of
// update_frequency, the load recomputed without every attempted priority (lines 18-33),
// or, when that leaves none, the attempted hosts are forgotten and the load recomputed with
// the excluded priorities as they are (lines 49-60: the loop that means to clear them
// copies each flag, so they stay excluded, and with nothing left the original load is used,
// lines 65-67, 30-31); otherwise the load last computed (line 35).
func previousPrioritiesAttempts(n, retries, updateFrequency int) []int {
	excluded := make([]bool, n)
	load := 0 // the first priority with load in the plugin's per_priority_load_
	var attempted []int
	first := func() int {
		for p := range n {
			if !excluded[p] {
				return p
			}
		}
		return -1
	}
	out := []int{0}
	attempted = append(attempted, 0)
	for range retries {
		next := 0
		switch {
		case len(attempted) < updateFrequency:
			next = 0
		case len(attempted)%updateFrequency == 0:
			for _, p := range attempted {
				excluded[p] = true
			}
			if p := first(); p >= 0 {
				load, next = p, p
			} else {
				attempted = attempted[:0]
				next = 0 // nothing left: the original load
			}
		default:
			next = load
		}
		out = append(out, next)
		attempted = append(attempted, next)
	}
	return out
}

func TestPreviousPrioritiesAttempts(t *testing.T) {
	tests := []struct {
		n, retries, freq int
		want             []int
	}{
		{2, 1, 1, []int{0, 1}},
		{3, 2, 1, []int{0, 1, 2}},
		{3, 1, 1, []int{0, 1}},       // one retry: Vertex never tried
		{3, 2, 2, []int{0, 0, 1}},    // the first retry keeps the original load (lines 16-17)
		{3, 3, 2, []int{0, 0, 1, 1}}, // the third reuses the load computed for the second (line 35)
		{2, 3, 1, []int{0, 1, 0, 0}}, // priorities exhausted: the original load (lines 53-67)
		{4, 3, 1, []int{0, 1, 2, 3}},
	}
	for _, tc := range tests {
		if got := previousPrioritiesAttempts(tc.n, tc.retries, tc.freq); !slices.Equal(got, tc.want) {
			t.Errorf("previousPrioritiesAttempts(%d priorities, %d retries, update_frequency %d) = %v, want %v", tc.n, tc.retries, tc.freq, got, tc.want)
		}
	}
}

// checkCatchAll: the last route answers every unrouted request with OpenAI error JSON.
func checkCatchAll(t tb, r *routev3.Route) {
	if r.GetMatch().GetPrefix() != "/" || len(r.GetMatch().GetHeaders()) != 0 {
		t.Errorf("last route %s must be the catch-all (prefix /, no header match)", r.GetName())
	}
	if dr := r.GetDirectResponse(); dr.GetStatus() != 404 {
		t.Errorf("catch-all %s: status %d, want a 404 direct_response", r.GetName(), dr.GetStatus())
	}
	checkJSONDirectResponse(t, r)
}

// checkJSONDirectResponse: a route answered by Envoy itself answers an error in JSON, in
// OpenAI's or Anthropic's error shape; which one each client gets is checkRouteScope's
// (by the request's path, oaierr.FormatFor).
func checkJSONDirectResponse(t tb, r *routev3.Route) {
	dr := r.GetDirectResponse()
	if dr.GetStatus() < 400 {
		t.Errorf("direct_response route %s: status %d is not an error", r.GetName(), dr.GetStatus())
	}
	if directResponseFormat(r) == nil {
		t.Errorf("route %s: direct_response body %s is neither OpenAI's nor Anthropic's error shape", r.GetName(), dr.GetBody().GetInlineString())
	}
	ct := false
	for _, h := range r.GetResponseHeadersToAdd() {
		if strings.EqualFold(h.GetHeader().GetKey(), "content-type") && h.GetHeader().GetValue() == "application/json" {
			ct = true
		}
	}
	if !ct {
		t.Errorf("direct_response route %s does not set content-type: application/json", r.GetName())
	}
}

// directResponseFormat is the error format of a direct response's body (nil: neither).
func directResponseFormat(r *routev3.Route) *oaierr.Format {
	body := []byte(r.GetDirectResponse().GetBody().GetInlineString())
	for _, f := range []oaierr.Format{oaierr.FormatOpenAI, oaierr.FormatAnthropic} {
		if _, err := errorShape(body, f); err == nil {
			return &f
		}
	}
	return nil
}

// checkAccessLog: one stdout access log records the routing decision, the backend that
// answered (from the upstream phase and from the endpoint metadata) and the token counts.
func checkAccessLog(t tb, h *hcmv3.HttpConnectionManager, cfg *config.Config) {
	var formats []string
	for _, al := range h.GetAccessLog() {
		if s, ok := unpack(t, al.GetName(), al.GetTypedConfig()).(*streamv3.StdoutAccessLog); ok {
			js, err := protojson.Marshal(s.GetLogFormat())
			if err != nil {
				t.Fatalf("%v", err)
			}
			formats = append(formats, string(js))
		}
	}
	if len(formats) == 0 {
		t.Errorf("hcm %s: no stdout access log", h.GetStatPrefix())
		return
	}
	all := strings.Join(formats, "\n")
	want := []string{"%UPSTREAM_METADATA(" + cfg.EndpointMetadataNamespace + ":" + cfg.EndpointMetadataKey + ")%"}
	for _, k := range []string{"model", "backend", "backend_name", "llm_input_token", "llm_output_token"} {
		want = append(want, "%DYNAMIC_METADATA("+config.DynamicMetadataNamespace+":"+k+")%")
	}
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("hcm %s: access log lacks %s", h.GetStatPrefix(), w)
		}
	}
	// The client's path (see checkOriginalPath), and never a credential.
	if !strings.Contains(all, "%PATH(NQ:ORIG_OR_PATH)%") && !strings.Contains(strings.ToUpper(all), "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%") {
		t.Errorf("hcm %s: access log does not record the client's path (%%PATH(NQ:ORIG_OR_PATH)%%)", h.GetStatPrefix())
	}
	for _, m := range regexp.MustCompile(`(?i)%(?:REQ|RESP|TRAILER|REQ_WITHOUT_QUERY)\(([^)%]*)\)`).FindAllStringSubmatch(all, -1) {
		for _, name := range strings.Split(strings.SplitN(m[1], ":", 2)[0], "?") {
			switch strings.ToLower(name) {
			case "authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "set-cookie":
				t.Errorf("hcm %s: access log records the %s header", h.GetStatPrefix(), name)
			}
		}
	}
}
