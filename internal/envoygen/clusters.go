package envoygen

import (
	"time"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	dnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	dynmodcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/dynamic_modules/v3"
	dynmodv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// Clusters: a backend's endpoints at their priorities, discovery, upstream
// protocol options and per-endpoint TLS.

// cluster is one provider cluster: its members' endpoints at their
// priorities, each with the aigw.backend metadata the upstream phase reads.
//
// circuit_breakers (docs/production.md): a retry holds its slot from the
// retry decision until the retried attempt's response headers
// (router/retry_state_impl.cc:258-267,304-320), so when a primary is dead
// every in-flight request of a failover cluster is a retry: max_retries
// equals max_requests. outlier_detection ejects a host after
// consecutive_gateway_failure gateway errors (connect failures and per-try
// timeouts count, upstream/outlier_detection_impl.cc:97-124) or
// consecutive_5xx 5xx; max_ejection_percent 100 so the only host of a
// priority can be ejected (outlier_detection_impl.cc:476-483).
func (g *gen) cluster(name string, members []member) *clusterv3.Cluster {
	p := g.d.Policy
	var eps []*endpointv3.LocalityLbEndpoints
	hosts := 0
	for _, m := range members {
		bd := g.d.Backends[m.backend]
		if len(eps) == 0 || eps[len(eps)-1].Priority != m.priority {
			eps = append(eps, &endpointv3.LocalityLbEndpoints{Priority: m.priority})
		}
		loc := eps[len(eps)-1]
		for _, a := range bd.Endpoints {
			loc.LbEndpoints = append(loc.LbEndpoints, g.lbEndpoint(m.backend, a))
			hosts++
		}
	}
	c := &clusterv3.Cluster{
		Name:           name,
		ConnectTimeout: dur(g.d.Upstream.ConnectTimeout),
		LbPolicy:       clusterv3.Cluster_ROUND_ROBIN,
		CircuitBreakers: &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			Priority:           corev3.RoutingPriority_DEFAULT,
			MaxConnections:     wrapperspb.UInt32(p.MaxRequests),
			MaxPendingRequests: wrapperspb.UInt32(p.MaxRequests),
			MaxRequests:        wrapperspb.UInt32(p.MaxRequests),
			MaxRetries:         wrapperspb.UInt32(p.MaxRequests),
			TrackRemaining:     true,
		}}},
		OutlierDetection: &clusterv3.OutlierDetection{
			Consecutive_5Xx:                    wrapperspb.UInt32(p.Consecutive5xx),
			ConsecutiveGatewayFailure:          wrapperspb.UInt32(p.ConsecutiveGatewayFailure),
			EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(100),
			Interval:                           dur(p.OutlierInterval),
			BaseEjectionTime:                   dur(p.BaseEjectionTime),
			MaxEjectionPercent:                 wrapperspb.UInt32(100),
		},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(g.upstreamOptions()),
		},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: eps},
	}
	g.discovery(c, hosts)
	if g.usesTLS() {
		c.TransportSocket = g.noMatchTLS()
		c.TransportSocketMatches = g.tlsMatches()
	}
	if len(eps) == 1 {
		// One priority: the hand-written configs leave priority 0 unset.
		eps[0].Priority = 0
	}
	return c
}

// discovery sets how the cluster resolves its endpoints' names.
func (g *gen) discovery(c *clusterv3.Cluster, hosts int) {
	family, _ := lookupFamily(g.d.Upstream.DNSLookupFamily)
	if g.d.Upstream.DNS == "strict" {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = family
		return
	}
	// The envoy.cluster.dns extension (the Cluster's own dns_refresh_rate
	// and respect_dns_ttl are deprecated in 1.36). One endpoint: logical DNS
	// (all_addresses_in_single_endpoint, one connection target, the first
	// address DNS returns; source/extensions/clusters/dns/dns_cluster.cc:
	// 25-47); several (priorities): strict DNS.
	dc := &dnsv3.DnsCluster{
		AllAddressesInSingleEndpoint: hosts == 1,
		RespectDnsTtl:                true,
		DnsRefreshRate:               durationpb.New(60 * time.Second),
		DnsLookupFamily:              dnsFamily(family),
	}
	c.ClusterDiscoveryType = &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
		Name: "envoy.cluster.dns", TypedConfig: mustAny(dc),
	}}
}

func (g *gen) lbEndpoint(backend string, a Address) *endpointv3.LbEndpoint {
	md := map[string]*structpb.Struct{
		g.c.EndpointMetadataNamespace: mustStruct(map[string]any{g.c.EndpointMetadataKey: backend}),
	}
	if g.usesTLS() {
		md[tlsMatchNamespace] = mustStruct(map[string]any{tlsMatchKey: backend})
	}
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(a)}},
		Metadata:       &corev3.Metadata{FilterMetadata: md},
	}
}

// upstreamOptions: the protocol, then the upstream filter chain: aigw's
// dynamic module (the upstream phase, once per attempt) and the codec, which
// must be last.
func (g *gen) upstreamOptions() *upstreamhttpv3.HttpProtocolOptions {
	o := &upstreamhttpv3.HttpProtocolOptions{
		HttpFilters: []*hcmv3.HttpFilter{
			httpFilter("envoy.filters.http.dynamic_modules", &dynmodv3.DynamicModuleFilter{
				DynamicModuleConfig: &dynmodcommonv3.DynamicModuleConfig{Name: ModuleName, DoNotClose: true},
				FilterName:          UpstreamFilterName,
				FilterConfig:        g.aigwDocument(),
			}),
			httpFilter("envoy.filters.http.upstream_codec", &upstreamcodecv3.UpstreamCodec{}),
		},
	}
	if g.d.Upstream.Protocol == "http1" {
		o.UpstreamProtocolOptions = &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
		}}
		return o
	}
	// HTTP/2 when the provider's ALPN offers it; a keepalive detects a dead
	// HTTP/2 connection (a stream may be silent for minutes).
	o.UpstreamProtocolOptions = &upstreamhttpv3.HttpProtocolOptions_AutoConfig{AutoConfig: &upstreamhttpv3.HttpProtocolOptions_AutoHttpConfig{
		HttpProtocolOptions: &corev3.Http1ProtocolOptions{},
		Http2ProtocolOptions: &corev3.Http2ProtocolOptions{ConnectionKeepalive: &corev3.KeepaliveSettings{
			Interval: durationpb.New(30 * time.Second), Timeout: durationpb.New(10 * time.Second),
		}},
	}}
	return o
}

func (g *gen) usesTLS() bool {
	for _, bd := range g.d.Backends {
		if bd.TLS != nil {
			return true
		}
	}
	return false
}

// noMatchTLS is the socket of an endpoint without a transport socket match:
// a name no certificate carries, so the handshake fails closed. auto_sni
// cannot be used: it takes SNI from :authority when the router starts the
// request (router.cc:611-640), before the upstream phase rewrites it.
func (g *gen) noMatchTLS() *corev3.TransportSocket {
	const name = "no-transport-socket-match.invalid"
	return tlsSocket(&tlsv3.UpstreamTlsContext{
		Sni:              name,
		CommonTlsContext: &tlsv3.CommonTlsContext{ValidationContextType: g.validation(name)},
	})
}

// tlsMatches: one socket per TLS backend, chosen by the endpoint's
// envoy.transport_socket_match metadata, with that provider's SNI and SAN
// (the DNS SAN matcher accepts a wildcard certificate name,
// source/common/tls/cert_validator/san_matcher.cc:48-53).
func (g *gen) tlsMatches() []*clusterv3.Cluster_TransportSocketMatch {
	var out []*clusterv3.Cluster_TransportSocketMatch
	for _, b := range g.c.Backends {
		t := g.d.Backends[b.Name].TLS
		out = append(out, &clusterv3.Cluster_TransportSocketMatch{
			Name:  b.Name,
			Match: mustStruct(map[string]any{tlsMatchKey: b.Name}),
			TransportSocket: tlsSocket(&tlsv3.UpstreamTlsContext{
				Sni: t.SNI,
				CommonTlsContext: &tlsv3.CommonTlsContext{
					TlsParams:             &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
					ValidationContextType: g.validation(t.SNI),
				},
			}),
		})
	}
	return out
}

func (g *gen) validation(san string) *tlsv3.CommonTlsContext_ValidationContext {
	return &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: g.d.Upstream.CAFile}},
		MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
			SanType: tlsv3.SubjectAltNameMatcher_DNS,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}},
		}},
	}}
}
