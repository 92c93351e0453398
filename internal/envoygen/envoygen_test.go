package envoygen

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/aigw/aigw/test/envoyconfig"
)

// Strings a plain YAML scalar would turn into another type (for yaml-cpp, which Envoy uses,
// or for YAML) come back as the same strings.
func TestRenderRoundTripsAmbiguousStrings(t *testing.T) {
	values := []string{"yes", "No", "ON", "off", "y", "true", "null", "~", "123", "0x1F", "1e3", "-5", "+1", ".5",
		"", " padded", "0.0.0.0", "%REQ(:PATH)%", "*", "a: b", "# not a comment", "multi\nline\n", "- dash", "@at", "plain"}
	fields := map[string]any{}
	for i, v := range values {
		fields[string(rune('a'+i))] = v
	}
	s, err := structpb.NewStruct(fields)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(s, "header")
	if err != nil {
		t.Fatal(err)
	}
	js, err := envoyconfig.YAMLToJSON(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var back structpb.Struct
	if err := back.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if got := back.GetFields()[k]; got.GetStringValue() != v || got.GetKind() == nil {
			t.Errorf("%q came back as %v\n%s", v, got, out)
		}
	}
	if !strings.HasPrefix(string(out), "# header\n") {
		t.Errorf("no header comment: %s", out)
	}
}

func testInput(t *testing.T, aigw string, d Deployment) *Input {
	t.Helper()
	in, err := NewInput([]byte(aigw), d)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func ep(host string) []Address { return []Address{{Address: host, Port: 8080}} }

// Routes for one model across deployments: one route per model, whose cluster holds every
// backend serving it at its priority (renumbered without gaps). The newer deployment (lower
// priority) gets the traffic; the older one only on failover; no route of the older one can
// capture the newer one's traffic, whatever the order of the backends list.
func TestModelRoutesAcrossDeployments(t *testing.T) {
	const aigw = `{"backends": [
	  {"name": "old", "models": ["m", "legacy"], "auth": {"type": "none"}},
	  {"name": "new", "models": ["m"], "auth": {"type": "none"}},
	  {"name": "oldest", "models": ["m"], "auth": {"type": "none"}},
	  {"name": "canary-a", "models": ["c"], "auth": {"type": "none"}},
	  {"name": "canary-b", "models": ["c"], "auth": {"type": "none"}}
	]}`
	d := Deployment{Upstream: Upstream{Protocol: "http1", DNS: "strict", DNSLookupFamily: "V4_ONLY"}, Backends: map[string]BackendDeployment{
		"old":      {Endpoints: ep("old"), Priority: 7},
		"new":      {Endpoints: ep("new"), Priority: 3},
		"oldest":   {Endpoints: ep("oldest"), Priority: 9},
		"canary-a": {Endpoints: ep("ca")},
		"canary-b": {Endpoints: ep("cb")},
	}}
	b, err := Generate(testInput(t, aigw, d))
	if err != nil {
		t.Fatal(err)
	}
	routes := routesOf(t, b.GetStaticResources().GetListeners()[0])
	clusters := map[string]*clusterv3.Cluster{}
	for _, c := range b.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = c
	}
	tests := []struct {
		model, route, cluster string
		priorities            map[string]uint32 // backend -> priority in the cluster
		retryPriority, hosts  bool
		// One retry per priority after the first; the route's idle timeout leaves every
		// attempt its per_try_idle_timeout (300 s for two attempts, 120 s more per attempt).
		retries uint32
		idle    time.Duration
	}{
		{"m", "model-m", "failover-m", map[string]uint32{"new": 0, "old": 1, "oldest": 2}, true, false, 2, 420 * time.Second},
		{"legacy", "model-legacy", "old", map[string]uint32{"old": 0}, false, false, 1, 300 * time.Second},
		{"c", "model-c", "model-c", map[string]uint32{"canary-a": 0, "canary-b": 0}, false, true, 1, 300 * time.Second},
	}
	for _, tt := range tests {
		r := firstMatch(routes, "x-ai-eg-model", tt.model)
		if r == nil || r.GetName() != tt.route || r.GetRoute().GetCluster() != tt.cluster {
			t.Errorf("model %s: first matching route %v, want %s to %s", tt.model, r.GetName(), tt.route, tt.cluster)
			continue
		}
		got := map[string]uint32{}
		for _, loc := range clusters[tt.cluster].GetLoadAssignment().GetEndpoints() {
			for _, e := range loc.GetLbEndpoints() {
				got[e.GetMetadata().GetFilterMetadata()["aigw"].GetFields()["backend"].GetStringValue()] = loc.GetPriority()
			}
		}
		if len(got) != len(tt.priorities) {
			t.Errorf("model %s: cluster %s has %v, want %v", tt.model, tt.cluster, got, tt.priorities)
		}
		for k, v := range tt.priorities {
			if p, ok := got[k]; !ok || p != v {
				t.Errorf("model %s: cluster %s has %v, want %v", tt.model, tt.cluster, got, tt.priorities)
			}
		}
		rp := r.GetRoute().GetRetryPolicy()
		if (rp.GetRetryPriority() != nil) != tt.retryPriority || (len(rp.GetRetryHostPredicate()) != 0) != tt.hosts {
			t.Errorf("model %s: retry policy %v", tt.model, rp)
		}
		if rp.GetNumRetries().GetValue() != tt.retries || r.GetRoute().GetIdleTimeout().AsDuration() != tt.idle {
			t.Errorf("model %s: num_retries %d idle_timeout %v, want %d and %v", tt.model, rp.GetNumRetries().GetValue(), r.GetRoute().GetIdleTimeout().AsDuration(), tt.retries, tt.idle)
		}
	}
	// A named backend reaches only its own cluster, before any model route.
	for _, name := range []string{"old", "new", "canary-a"} {
		if r := firstMatch(routes, "x-ai-eg-backend", name); r == nil || r.GetRoute().GetCluster() != name {
			t.Errorf("backend %s: route %v", name, r)
		}
	}
	if last := routes[len(routes)-1]; last.GetName() != "not-served" || last.GetMatch().GetPrefix() != "/" {
		t.Errorf("last route %s, want the catch-all", last.GetName())
	}
}

func routesOf(t *testing.T, l *listenerv3.Listener) []*routev3.Route {
	t.Helper()
	var h hcmv3.HttpConnectionManager
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&h); err != nil {
		t.Fatal(err)
	}
	return h.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()
}

// firstMatch is the route Envoy takes for POST /v1/chat/completions carrying only header:
// value (every generated route matches the same paths).
func firstMatch(routes []*routev3.Route, header, value string) *routev3.Route {
	req := map[string]string{":method": "POST", header: value}
next:
	for _, r := range routes {
		for _, hm := range r.GetMatch().GetHeaders() {
			if v, ok := req[hm.GetName()]; !ok || v != hm.GetStringMatch().GetExact() {
				continue next
			}
		}
		return r
	}
	return nil
}

func TestDeploymentErrors(t *testing.T) {
	const aigw = `{"backends": [{"name": "a", "models": ["m"], "auth": {"type": "none"}}, {"name": "b", "models": ["m"], "auth": {"type": "none"}}]}`
	full := func() Deployment {
		return Deployment{Backends: map[string]BackendDeployment{"a": {Endpoints: ep("a")}, "b": {Endpoints: ep("b")}}}
	}
	tests := []struct {
		name string
		aigw string
		edit func(*Deployment)
		want string
	}{
		{"backend without deployment", aigw, func(d *Deployment) { delete(d.Backends, "b") }, `"b" has no deployment`},
		{"deployment of an unknown backend", aigw, func(d *Deployment) { d.Backends["c"] = BackendDeployment{Endpoints: ep("c")} }, "backends.c: not a backend"},
		{"no endpoints", aigw, func(d *Deployment) { d.Backends["a"] = BackendDeployment{} }, "backends.a.endpoints"},
		{"endpoint without port", aigw, func(d *Deployment) { d.Backends["a"] = BackendDeployment{Endpoints: []Address{{Address: "a"}}} }, "address and port"},
		{"mixed TLS", aigw, func(d *Deployment) { d.Backends["a"] = BackendDeployment{Endpoints: ep("a"), TLS: &TLS{SNI: "a"}} }, "every backend has tls or none"},
		{"TLS without SNI", aigw, func(d *Deployment) { d.Backends["a"] = BackendDeployment{Endpoints: ep("a"), TLS: &TLS{}} }, "tls.sni"},
		{"unknown protocol", aigw, func(d *Deployment) { d.Upstream.Protocol = "h3" }, "upstream.protocol"},
		{"unknown DNS", aigw, func(d *Deployment) { d.Upstream.DNS = "eds" }, "upstream.dns"},
		{"unknown lookup family", aigw, func(d *Deployment) { d.Upstream.DNSLookupFamily = "V5" }, "dns_lookup_family"},
		{"idle timeout below two attempts", aigw, func(d *Deployment) { d.Policy.IdleTimeout = Duration(100e9) }, "idle_timeout"},
		{"unknown aigw field", `{"backendz": []}`, func(*Deployment) {}, "unknown field"},
		{"duplicate backend", `{"backends": [{"name": "a"}, {"name": "a"}]}`, func(*Deployment) {}, "used twice"},
		{"no paths", `{"paths": [], "backends": []}`, func(*Deployment) {}, "paths"},
	}
	for _, tt := range tests {
		d := full()
		tt.edit(&d)
		_, err := NewInput([]byte(tt.aigw), d)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
