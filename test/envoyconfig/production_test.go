package envoyconfig

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	dnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	dynmodv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"

	"github.com/aigw/aigw/config"
)

// productionExample is the worked example docs/production.md explains.
const productionExample = "examples/production/envoy.yaml"

// isProductionExample: every config under examples/ is a production example and must have
// the production shape on top of every aigw config's checks.
func isProductionExample(rel string) bool {
	return strings.HasPrefix(filepath.ToSlash(rel), "examples/")
}

// aigwClusters returns the clusters that run aigw's upstream phase.
func aigwClusters(t tb, b *bootstrapv3.Bootstrap) []*clusterv3.Cluster {
	var out []*clusterv3.Cluster
	for _, c := range b.GetStaticResources().GetClusters() {
		for _, f := range upstreamFilters(t, c) {
			if d, ok := unpack(t, f.GetName(), f.GetTypedConfig()).(*dynmodv3.DynamicModuleFilter); ok && d.GetDynamicModuleConfig().GetName() == dynamicModule {
				out = append(out, c)
			}
		}
	}
	return out
}

// checkProductionShape: real providers over TLS with HTTP/2 by ALPN, DNS that follows the
// providers' records, every backend sending its provider's :authority, admin on loopback and
// readiness reachable without it.
func checkProductionShape(t tb, b *bootstrapv3.Bootstrap, cfg *config.Config) {
	if a := b.GetAdmin().GetAddress().GetSocketAddress(); !isLoopback(a.GetAddress()) {
		t.Errorf("production: admin on %q; keep it on loopback", a.GetAddress())
	}
	capped := false
	for _, m := range b.GetOverloadManager().GetResourceMonitors() {
		capped = capped || m.GetName() == "envoy.resource_monitors.global_downstream_max_connections"
	}
	if !capped {
		t.Errorf("production: no overload_manager global_downstream_max_connections: connections are unbounded (server.cc:1005-1013)")
	}
	for _, be := range cfg.Backends {
		if be.Host == "" {
			t.Errorf("production: backend %s has no host: the provider would get the gateway's :authority", be.Name)
		}
	}
	for _, c := range aigwClusters(t, b) {
		po := protocolOptions(t, c)
		if po.GetAutoConfig().GetHttp2ProtocolOptions() == nil {
			t.Errorf("production: cluster %s: no auto_config with http2_protocol_options (HTTP/2 by ALPN)", c.GetName())
		}
		if len(c.GetTransportSocketMatches()) == 0 {
			t.Errorf("production: cluster %s: no transport_socket_matches (SNI per endpoint)", c.GetName())
		}
		dns, ok := unpack(t, c.GetName(), c.GetClusterType().GetTypedConfig()).(*dnsv3.DnsCluster)
		if c.GetClusterType() == nil || !ok {
			t.Errorf("production: cluster %s: not an envoy.cluster.dns cluster", c.GetName())
			continue
		}
		if !dns.GetRespectDnsTtl() || dns.GetDnsLookupFamily() == 0 {
			t.Errorf("production: cluster %s: DNS cluster without respect_dns_ttl and an explicit dns_lookup_family", c.GetName())
		}
		hosts := 0
		for _, loc := range c.GetLoadAssignment().GetEndpoints() {
			hosts += len(loc.GetLbEndpoints())
		}
		if dns.GetAllAddressesInSingleEndpoint() && hosts != 1 {
			t.Errorf("production: cluster %s: logical DNS (all_addresses_in_single_endpoint) needs exactly one endpoint, has %d", c.GetName(), hosts)
		}
	}
	// Readiness: some listener routes GET /ready to a cluster whose only endpoint is the admin
	// address.
	admin := b.GetAdmin().GetAddress().GetSocketAddress()
	adminClusters := map[string]bool{}
	for _, c := range b.GetStaticResources().GetClusters() {
		for _, loc := range c.GetLoadAssignment().GetEndpoints() {
			for _, ep := range loc.GetLbEndpoints() {
				sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
				if sa.GetAddress() == admin.GetAddress() && sa.GetPortValue() == admin.GetPortValue() {
					adminClusters[c.GetName()] = true
				}
			}
		}
	}
	ready := false
	for _, h := range hcms(t, b) {
		for _, vh := range h.GetRouteConfig().GetVirtualHosts() {
			if r := firstRoute(t, vh.GetRoutes(), probe{"GET", "/ready", nil}); r != nil && adminClusters[r.GetRoute().GetCluster()] {
				ready = true
			}
			// Only read-only admin paths are exposed.
			for _, p := range []string{"/quitquitquit", "/healthcheck/fail", "/drain_listeners", "/logging", "/config_dump", "/clusters"} {
				for _, m := range []string{"GET", "POST"} {
					if r := firstRoute(t, vh.GetRoutes(), probe{m, p, nil}); r != nil && adminClusters[r.GetRoute().GetCluster()] {
						t.Errorf("production: %s %s reaches the admin API through route %s", m, p, r.GetName())
					}
				}
			}
		}
	}
	if !ready {
		t.Errorf("production: no listener routes GET /ready to the admin listener %s:%d", admin.GetAddress(), admin.GetPortValue())
	}
}

func TestProductionExample(t *testing.T) {
	root := repoRoot(t)
	if !slices.Contains(discover(t, root), productionExample) {
		t.Fatalf("%s is not discovered as an Envoy bootstrap", productionExample)
	}
	raw, err := os.ReadFile(filepath.Join(root, mutationBase, "production-envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	orig := string(raw)
	if errs := runChecks(t, root, productionExample, orig); len(errs) != 0 {
		t.Fatalf("%s itself fails: %v", productionExample, errs)
	}
	// All three provider schemas, each on its own TLS name.
	b, err := LoadFile(filepath.Join(root, productionExample))
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]bool{}
	cfg := parseAigw(t, root, b)
	for _, be := range cfg.Backends {
		schemas[be.Schema] = true
	}
	for _, s := range []string{"openai", "anthropic", "azure_openai", "aws_bedrock_anthropic", "gcp_vertex_anthropic"} {
		if !schemas[s] {
			t.Errorf("%s has no %s backend", productionExample, s)
		}
	}
	checkMutations(t, root, productionExample, orig, []mutation{
		{"auto_sni", `        auto_config:
          http_protocol_options: {}`, `        upstream_http_protocol_options: { auto_sni: true }
        auto_config:
          http_protocol_options: {}`, "auto_sni takes SNI from the client's :authority"},
		{"wrong SNI", `sni: api.anthropic.com`, `sni: api.openai.com`, `sends SNI "api.openai.com"`},
		{"SAN of another host", `- { san_type: DNS, matcher: { exact: api.openai.com } }`, `- { san_type: DNS, matcher: { exact: openai.com } }`, `no DNS SAN matcher for "api.openai.com"`},
		{"no CA", `              trusted_ca: { filename: /etc/ssl/certs/ca-certificates.crt }
              match_typed_subject_alt_names:
              - { san_type: DNS, matcher: { exact: api.openai.com } }`, `              match_typed_subject_alt_names:
              - { san_type: DNS, matcher: { exact: api.openai.com } }`, "no trusted_ca"},
		{"endpoint without a transport socket match", `              envoy.transport_socket_match: { provider: azure }
`, ``, "no transport_socket_match"},
		{"backend sends another :authority", `"host": "api.anthropic.com",`, `"host": "anthropic.example",`, `sends :authority "anthropic.example"`},
		{"plaintext default socket with ALPN", `    transport_socket: *no_match_tls
`, ``, "auto_config needs an ALPN (TLS) default transport_socket"},
		{"not 443", `socket_address: { address: api.openai.com, port_value: 443 }`, `socket_address: { address: api.openai.com, port_value: 80 }`, "not on port 443"},
		{"HTTP/1.1 only", `        auto_config:
          http_protocol_options: {}
          http2_protocol_options:
            # Detect a dead HTTP/2 connection (a stream may be silent for minutes).
            connection_keepalive: { interval: 30s, timeout: 10s }`, `        explicit_http_config:
          http_protocol_options: {}`, "no auto_config with http2_protocol_options"},
		{"admin exposed", `socket_address: { address: 127.0.0.1, port_value: 9901 }
`, `socket_address: { address: 0.0.0.0, port_value: 9901 }
`, "keep it on loopback"},
		{"no readiness route", `path: /ready`, `path: /readyz`, "no listener routes GET /ready"},
		{"admin API exposed by the ops listener", `                  path: /stats/prometheus`, `                  prefix: /`, "reaches the admin API"},
		{"DNS TTL ignored", `        all_addresses_in_single_endpoint: true
        respect_dns_ttl: true`, `        all_addresses_in_single_endpoint: true`, "without respect_dns_ttl"},
		{"logical DNS with two endpoints", `      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dns.v3.DnsCluster
        respect_dns_ttl: true`, `      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dns.v3.DnsCluster
        all_addresses_in_single_endpoint: true
        respect_dns_ttl: true`, "needs exactly one endpoint, has 2"},
		{"connections unbounded", `  - name: envoy.resource_monitors.global_downstream_max_connections`, `  - name: envoy.resource_monitors.downstream_connections`, "no overload_manager global_downstream_max_connections"},
		{"key in the access log", `client: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"`, `client: "%REQ(authorization)%"`, "records the authorization header"},
	})
}

// TestThreeCloudFailover: the production example's gpt-4o fails over across three clouds,
// OpenAI-compatible (priority 0) -> Amazon Bedrock (1) -> Vertex AI (2), each priority its own
// backend on its own TLS name, and the route's retries reach all three. The per-endpoint TLS
// and the retry model run in every config's checks; the mutations show they name the fault
// on this cluster.
func TestThreeCloudFailover(t *testing.T) {
	root := repoRoot(t)
	b, err := LoadFile(filepath.Join(root, productionExample))
	if err != nil {
		t.Fatal(err)
	}
	cfg := parseAigw(t, root, b)
	var fo *clusterv3.Cluster
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == "failover-gpt-4o" {
			fo = c
		}
	}
	if fo == nil {
		t.Fatalf("%s has no failover-gpt-4o cluster", productionExample)
	}
	wantSchema := []func(string) bool{
		func(s string) bool { return s == "openai" || s == "azure_openai" },
		func(s string) bool { return strings.HasPrefix(s, "aws_bedrock") },
		func(s string) bool { return strings.HasPrefix(s, "gcp_vertex") },
	}
	locs := fo.GetLoadAssignment().GetEndpoints()
	if len(locs) != len(wantSchema) {
		t.Fatalf("failover-gpt-4o has %d priorities, want 3", len(locs))
	}
	for i, loc := range locs {
		if loc.GetPriority() != uint32(i) || len(loc.GetLbEndpoints()) != 1 {
			t.Fatalf("failover-gpt-4o locality %d: priority %d with %d endpoints, want priority %d with one", i, loc.GetPriority(), len(loc.GetLbEndpoints()), i)
		}
		ep := loc.GetLbEndpoints()[0]
		name := ep.GetMetadata().GetFilterMetadata()[cfg.EndpointMetadataNamespace].GetFields()[cfg.EndpointMetadataKey].GetStringValue()
		be, ok := cfg.Backend(name)
		if !ok || !wantSchema[i](be.Schema) {
			t.Errorf("failover-gpt-4o priority %d: backend %q (schema %v) is not the chain's OpenAI-compatible -> Bedrock -> Vertex step", i, name, be)
		}
	}

	raw, err := os.ReadFile(filepath.Join(root, productionExample))
	if err != nil {
		t.Fatal(err)
	}
	checkMutations(t, root, productionExample, string(raw), []mutation{
		{"one retry for three priorities", `num_retries: 2`, `num_retries: 1`, "priority 2 is never reached"},
		{"priorities recomputed every second retry", `update_frequency: 1`, `update_frequency: 2`, "priority 2 is never reached"},
		{"idle timeout for two attempts", `idle_timeout: "420s"`, `idle_timeout: "300s"`, "< 3 attempts x per_try_idle_timeout"},
		{"Vertex endpoint of another name than its SNI", `address: us-east5-aiplatform.googleapis.com
                      port_value: 443`, `address: aiplatform.googleapis.com
                      port_value: 443`, `sends SNI "us-east5-aiplatform.googleapis.com"`},
		{"Bedrock endpoint of another region", `address: bedrock-runtime.us-east-1.amazonaws.com
                      port_value: 443`, `address: bedrock-runtime.us-west-2.amazonaws.com
                      port_value: 443`, "the endpoint's TLS name"},
	})
}
