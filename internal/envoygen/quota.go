package envoygen

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	ratelimitconfv3 "github.com/envoyproxy/go-control-plane/envoy/config/ratelimit/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	apikeyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/api_key_auth/v3"
	rlfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aigw/aigw/config"
)

// Quotas (docs/quotas.md): api_key_auth authenticates the client first and
// forwards its client id as the aigw document's quota.identity_header; the
// rate limit filter (Envoy's rate limit service, the fleet-wide quota) runs
// after the router phase and before the router, checking at request time and
// charging aigw's cost at stream done. Both are driven by the deployment
// (APIKeyAuth, RateLimit) and need the aigw document's quota member.

// rateLimitClusterName is the rate limit service's cluster.
const rateLimitClusterName = "ratelimit"

// httpFilters is the client listener's chain: api_key_auth before the body
// is buffered, the router phase, the rate limit filter (its model descriptor
// reads the metadata the router phase wrote), the router.
func (g *gen) httpFilters() []*hcmv3.HttpFilter {
	var fs []*hcmv3.HttpFilter
	if g.d.APIKeyAuth != nil {
		fs = append(fs, g.apiKeyAuthFilter())
	}
	fs = append(fs, g.golangFilter())
	if g.d.RateLimit != nil {
		fs = append(fs, g.rateLimitFilter())
	}
	return append(fs, routerFilter())
}

// apiKeyAuthFilter: the client's key (authorization: Bearer or x-api-key)
// must be one of the credentials; the key is removed from the request and
// the matched client id forwarded as the quota identity header. No key
// material goes further. Ship real keys through xDS, never in a file.
func (g *gen) apiKeyAuthFilter() *hcmv3.HttpFilter {
	a := &apikeyv3.ApiKeyAuth{
		KeySources: []*apikeyv3.KeySource{{Header: "authorization"}, {Header: "x-api-key"}},
		Forwarding: &apikeyv3.Forwarding{Header: g.c.Quota.IdentityHeader, HideCredentials: true},
	}
	for _, c := range g.d.APIKeyAuth.Credentials {
		a.Credentials = append(a.Credentials, &apikeyv3.Credential{Key: c.Key, Client: c.Client})
	}
	return httpFilter("envoy.filters.http.api_key_auth", a)
}

// rateLimitFilter is test/ratelimit/filter.yaml (tested against the real
// service): at request time a check (hits_addend 0) per client id and per
// model, so a client already over its quota gets 429 before any provider is
// called; at stream done the same descriptors with hits_addend = the cost
// aigw wrote into dynamic metadata.
func (g *gen) rateLimitFilter() *hcmv3.HttpFilter {
	rl := g.d.RateLimit
	client := func() *routev3.RateLimit_Action {
		return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RequestHeaders_{
			RequestHeaders: &routev3.RateLimit_Action_RequestHeaders{HeaderName: g.c.Quota.IdentityHeader, DescriptorKey: "client_id"},
		}}
	}
	model := func() *routev3.RateLimit_Action {
		return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_Metadata{Metadata: &routev3.RateLimit_Action_MetaData{
			DescriptorKey: "model",
			Source:        routev3.RateLimit_Action_MetaData_DYNAMIC,
			MetadataKey: &metadatav3.MetadataKey{Key: config.DynamicMetadataNamespace, Path: []*metadatav3.MetadataKey_PathSegment{
				{Segment: &metadatav3.MetadataKey_PathSegment_Key{Key: "model"}},
			}},
		}}}
	}
	check := &routev3.RateLimit_HitsAddend{Number: wrapperspb.UInt64(0)}
	charge := &routev3.RateLimit_HitsAddend{Format: "%DYNAMIC_METADATA(" + config.DynamicMetadataNamespace + ":" + rl.Cost + ")%"}
	return httpFilter("envoy.filters.http.ratelimit", &rlfilterv3.RateLimit{
		Domain:                  rl.Domain,
		FailureModeDeny:         false,
		Timeout:                 dur(rl.Timeout),
		EnableXRatelimitHeaders: rlfilterv3.RateLimit_DRAFT_VERSION_03,
		RateLimitService: &ratelimitconfv3.RateLimitServiceConfig{
			TransportApiVersion: corev3.ApiVersion_V3,
			GrpcService: &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: rateLimitClusterName},
			}},
		},
		RateLimits: []*routev3.RateLimit{
			{Actions: []*routev3.RateLimit_Action{client()}, HitsAddend: check},
			{Actions: []*routev3.RateLimit_Action{model()}, HitsAddend: check},
			{Actions: []*routev3.RateLimit_Action{client()}, ApplyOnStreamDone: true, HitsAddend: charge},
			{Actions: []*routev3.RateLimit_Action{model()}, ApplyOnStreamDone: true, HitsAddend: charge},
		},
	})
}

// rateLimitCluster is Envoy's rate limit service (github.com/envoyproxy/
// ratelimit, backed by Redis), gRPC over HTTP/2 cleartext. Not a provider:
// no aigw upstream filter.
func (g *gen) rateLimitCluster() (*clusterv3.Cluster, error) {
	family, err := lookupFamily(g.d.Upstream.DNSLookupFamily)
	if err != nil {
		return nil, err
	}
	opts := &upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}},
	}
	return &clusterv3.Cluster{
		Name:                 rateLimitClusterName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		DnsLookupFamily:      family,
		ConnectTimeout:       durationpb.New(time.Second),
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(opts),
		},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: rateLimitClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(g.d.RateLimit.Service)}},
			}}}},
		},
	}, nil
}

// quotaAccessLogFields: the client id api_key_auth matched, each cost (what
// the rate limit filter charges at stream done) and the in-process rules the
// request ran over.
func (g *gen) quotaAccessLogFields(fields map[string]string) {
	q := g.c.Quota
	if q == nil {
		return
	}
	ns := config.DynamicMetadataNamespace
	fields["client_id"] = "%REQ(" + q.IdentityHeader + ")%"
	for _, c := range q.Costs {
		fields[c.Name] = "%DYNAMIC_METADATA(" + ns + ":" + c.Name + ")%"
	}
	fields["quota_overrun"] = "%DYNAMIC_METADATA(" + ns + ":quota_overrun)%"
}
