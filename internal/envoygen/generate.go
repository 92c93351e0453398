package envoygen

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	overloadv3 "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	celv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	dnscommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/common/dns/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	downstreamconnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/oaierr"
)

// Names both phases and the L3 checks agree on.
const (
	// PluginName is the golang filter's plugin_name and library_id.
	PluginName = "aigw"
	// ModuleName is the dynamic module: $ENVOY_DYNAMIC_MODULES_SEARCH_PATH/libaigw.so.
	ModuleName = "aigw"
	// UpstreamFilterName is the dynamic module's filter_name.
	UpstreamFilterName = "aigw-upstream"
	// ListenerName names the client listener, its route config and virtual host.
	ListenerName = "aigw"
	// tlsMatchNamespace is the endpoint metadata namespace Envoy's
	// transport_socket_matches read (source/common/upstream/transport_socket_match_impl.cc).
	tlsMatchNamespace = "envoy.transport_socket_match"
	tlsMatchKey       = "provider"
	adminClusterName  = "admin"
	opsName           = "ops"
)

// Generate builds the Envoy bootstrap for in. The result is deterministic.
func Generate(in *Input) (*bootstrapv3.Bootstrap, error) {
	g := &gen{in: in, c: in.Config, d: &in.Deployment}
	return g.bootstrap()
}

type gen struct {
	in *Input
	c  *config.Config
	d  *Deployment
}

func (g *gen) bootstrap() (*bootstrapv3.Bootstrap, error) {
	routes, clusters, err := g.routing()
	if err != nil {
		return nil, err
	}
	listeners := []*listenerv3.Listener{g.aigwListener(routes)}
	if g.d.Ops.Listener.Port != 0 {
		listeners = append(listeners, g.opsListener())
		clusters = append(clusters, g.adminCluster())
	}
	if g.d.RateLimit != nil {
		c, err := g.rateLimitCluster()
		if err != nil {
			return nil, err
		}
		clusters = append(clusters, c)
	}
	b := &bootstrapv3.Bootstrap{
		Admin: &bootstrapv3.Admin{Address: socketAddress(g.d.Ops.Admin)},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Listeners: listeners,
			Clusters:  clusters,
		},
		OverloadManager: g.overloadManager(),
	}
	return b, nil
}

// overloadManager caps downstream connections (Envoy warns at start-up
// without a cap, source/server/server.cc:1005-1013).
func (g *gen) overloadManager() *overloadv3.OverloadManager {
	if g.d.MaxDownstreamConnections == 0 {
		return nil
	}
	return &overloadv3.OverloadManager{
		ResourceMonitors: []*overloadv3.ResourceMonitor{{
			Name: "envoy.resource_monitors.global_downstream_max_connections",
			ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: mustAny(&downstreamconnv3.DownstreamConnectionsConfig{
				MaxActiveDownstreamConnections: int64(g.d.MaxDownstreamConnections),
			})},
		}},
	}
}

// aigwListener is the client listener. Its connection buffer limit is the
// golang filter's body buffer limit (contrib/golang/filters/http/source/
// processor_state.cc:285-293): aigw's max_request_body_bytes, so Envoy does
// not answer 413 before aigw does.
func (g *gen) aigwListener(routes []*routev3.Route) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:                          ListenerName,
		Address:                       socketAddress(g.d.Listener),
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(uint32(g.c.MaxRequestBodyBytes)),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{hcmFilter(g.aigwHCM(routes))},
		}},
	}
}

// aigwHCM: the edge (use_remote_address, no internal addresses, so
// client-sent x-envoy-* headers are removed:
// source/common/http/conn_manager_utility.cc:231-251,320-351); the same
// normalized :path for both phases and the routes; streams not capped in
// length, 300 s idle (Envoy's default, stated).
func (g *gen) aigwHCM(routes []*routev3.Route) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix:        ListenerName,
		CodecType:         hcmv3.HttpConnectionManager_AUTO,
		UseRemoteAddress:  wrapperspb.Bool(true),
		NormalizePath:     wrapperspb.Bool(true),
		MergeSlashes:      true,
		StreamIdleTimeout: dur(g.d.Policy.IdleTimeout),
		RequestTimeout:    durationpb.New(0),
		AccessLog:         []*accesslogv3.AccessLog{g.accessLog()},
		LocalReplyConfig:  g.localReplyConfig(),
		HttpFilters:       g.httpFilters(),
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: ListenerName,
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    ListenerName,
				Domains: []string{"*"},
				// The client's path, stored before the upstream phase rewrites
				// :path (router.cc:606), for the access log's ORIG_OR_PATH.
				RequestHeadersToAdd: []*corev3.HeaderValueOption{overwrite("x-envoy-original-path", "%REQ(:PATH)%")},
				Routes:              routes,
			}},
		}},
	}
}

// accessLog: the client's path without query (%PATH(NQ:ORIG_OR_PATH)%,
// formatter/http_specific_formatter.cc:300-333: the upstream phase rewrites
// :path in the header map the access log reads, upstream_request.cc:388), the
// routing decision and token counts from dynamic metadata, and no header
// that can carry a credential.
func (g *gen) accessLog() *accesslogv3.AccessLog {
	ns := config.DynamicMetadataNamespace
	fields := map[string]string{
		"start_time":                        "%START_TIME%",
		"method":                            "%REQ(:METHOD)%",
		"path":                              "%PATH(NQ:ORIG_OR_PATH)%",
		"response_code":                     "%RESPONSE_CODE%",
		"response_flags":                    "%RESPONSE_FLAGS%",
		"response_code_details":             "%RESPONSE_CODE_DETAILS%",
		"duration_ms":                       "%DURATION%",
		"request_id":                        "%REQ(X-REQUEST-ID)%",
		"client":                            "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
		"route_name":                        "%ROUTE_NAME%",
		"upstream_cluster":                  "%UPSTREAM_CLUSTER%",
		"upstream_host":                     "%UPSTREAM_HOST%",
		"upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
		"attempts":                          "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
		"model":                             "%DYNAMIC_METADATA(" + ns + ":model)%",
		"backend":                           "%DYNAMIC_METADATA(" + ns + ":backend)%",
		"backend_name":                      "%DYNAMIC_METADATA(" + ns + ":backend_name)%",
		"llm_input_token":                   "%DYNAMIC_METADATA(" + ns + ":llm_input_token)%",
		"llm_output_token":                  "%DYNAMIC_METADATA(" + ns + ":llm_output_token)%",
		"llm_total_token":                   "%DYNAMIC_METADATA(" + ns + ":llm_total_token)%",
		"llm_cached_input_token":            "%DYNAMIC_METADATA(" + ns + ":llm_cached_input_token)%",
		"llm_cache_creation_input_token":    "%DYNAMIC_METADATA(" + ns + ":llm_cache_creation_input_token)%",
		"llm_reasoning_token":               "%DYNAMIC_METADATA(" + ns + ":llm_reasoning_token)%",
		"endpoint_backend":                  "%UPSTREAM_METADATA(" + g.c.EndpointMetadataNamespace + ":" + g.c.EndpointMetadataKey + ")%",
	}
	g.quotaAccessLogFields(fields)
	js := map[string]any{}
	for k, v := range fields {
		js[k] = v
	}
	return &accesslogv3.AccessLog{
		Name: "envoy.access_loggers.stdout",
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&streamv3.StdoutAccessLog{
			AccessLogFormat: &streamv3.StdoutAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
				Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: mustStruct(js)},
			}},
		})},
	}
}

// localReplyConfig turns Envoy's own plain-text local replies (413 of an
// oversized body, 503 no healthy upstream or overflow, 504 timeouts, 404 no
// route, 400...) into error JSON in the client's format: Anthropic's
// {"type":"error","error":{"type","message"}} for a client of the Messages
// API (messagesRequest), OpenAI's {"error":{"message","type","param","code"}}
// for every other, with the types aigw uses for the status (oaierr). The
// first mapper whose filter matches rewrites the reply
// (source/common/local_reply/local_reply.cc:180-205), so the Messages
// mappers come first. aigw's own replies are already in the client's format:
// the router phase's details start with "aigw_", the upstream phase's are
// "dynamic_module" (dynamic_modules/abi_impl.cc:557), the catch-all routes'
// "direct_response" (envoy/stream_info/stream_info.h:195); details are set
// before the rewrite (source/common/http/filter_manager.cc:1013,1146).
//
// With quotas, the rate limit filter's own 429 (a client over its
// distributed quota, details "request_rate_limited") and api_key_auth's 401
// (no or unknown key) too; aigw's in-process 429s are its own
// ("aigw_quota_exceeded").
func (g *gen) localReplyConfig() *hcmv3.LocalReplyConfig {
	const details = "%RESPONSE_CODE_DETAILS%"
	type reply struct {
		op                      accesslogv3.ComparisonFilter_Op
		status                  uint32
		key, message, typ, code string
	}
	replies := []reply{
		{accesslogv3.ComparisonFilter_EQ, 413, "413", "request body too large for the gateway: %LOCAL_REPLY_BODY%", "invalid_request_error", "request_too_large"},
		{accesslogv3.ComparisonFilter_EQ, 404, "404", "Invalid URL: no route serves this request", "not_found_error", details},
	}
	if g.d.RateLimit != nil {
		replies = append(replies, reply{accesslogv3.ComparisonFilter_EQ, 429, "429", "token quota exceeded for this client; retry later", "rate_limit_error", "rate_limit_exceeded"})
	}
	if g.d.APIKeyAuth != nil {
		replies = append(replies, reply{accesslogv3.ComparisonFilter_EQ, 401, "401", "missing or unknown API key", "authentication_error", "invalid_api_key"})
	}
	replies = append(replies,
		reply{accesslogv3.ComparisonFilter_GE, 500, "5xx", "the gateway could not complete the request: %LOCAL_REPLY_BODY%", "server_error", details},
		reply{accesslogv3.ComparisonFilter_GE, 400, "4xx", "invalid request: %LOCAL_REPLY_BODY%", "invalid_request_error", details},
	)
	var messages, openai []*hcmv3.ResponseMapper
	for _, r := range replies {
		if r.op == accesslogv3.ComparisonFilter_GE && r.status == 500 {
			// Anthropic types a 503 overloaded_error, the other 5xx api_error.
			messages = append(messages, localReplyMapper(accesslogv3.ComparisonFilter_EQ, 503, "aigw.local_reply.messages.503", messagesRequest(),
				anthropicReply(503, r.typ, r.message, r.code)))
		}
		messages = append(messages, localReplyMapper(r.op, r.status, "aigw.local_reply.messages."+r.key, messagesRequest(),
			anthropicReply(r.status, r.typ, r.message, r.code)))
		openai = append(openai, localReplyMapper(r.op, r.status, "aigw.local_reply."+r.key, nil,
			map[string]any{"error": map[string]any{"message": r.message, "type": r.typ, "param": nil, "code": r.code}}))
	}
	return &hcmv3.LocalReplyConfig{Mappers: append(messages, openai...)}
}

// localReplyMapper rewrites Envoy's own local replies whose status compares
// to status (and, when set, whose request matches also) into body.
func localReplyMapper(op accesslogv3.ComparisonFilter_Op, status uint32, runtimeKey string, also *accesslogv3.AccessLogFilter, body map[string]any) *hcmv3.ResponseMapper {
	filters := []*accesslogv3.AccessLogFilter{
		envoyOwnReply(),
		{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{StatusCodeFilter: &accesslogv3.StatusCodeFilter{
			Comparison: &accesslogv3.ComparisonFilter{Op: op, Value: &corev3.RuntimeUInt32{DefaultValue: status, RuntimeKey: runtimeKey}},
		}}},
	}
	if also != nil {
		filters = append(filters, also)
	}
	return &hcmv3.ResponseMapper{
		Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{Filters: filters}}},
		BodyFormatOverride: &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{
			JsonFormat: mustStruct(body),
		}},
	}
}

// anthropicReply is the Anthropic-shaped local reply body for an error of
// this status and OpenAI type; Anthropic's error has no code, so a code
// that names the reply's details goes into the message.
func anthropicReply(status uint32, openAIType, message, code string) map[string]any {
	if strings.HasPrefix(code, "%") {
		message += " (" + code + ")"
	}
	return map[string]any{"type": "error", "error": map[string]any{
		"type": oaierr.AnthropicType(int(status), openAIType), "message": message,
	}}
}

// messagesRequest matches a request of a Messages API client: its path
// (messagesRegex) as the client sent it. Once the router forwarded, the
// upstream phase may have rewritten :path (in the request header map the
// local reply reads, upstream_request.cc:388), for a provider's path, or to
// /v1/messages for a chat completion sent to an Anthropic backend; the
// client's path is then x-envoy-original-path, which the virtual host sets
// when the router forwards (router.cc:606) and the edge strips from clients
// (conn_manager_utility.cc:320-332). Before that (a 413 of the golang
// filter, a 401 of api_key_auth) it is absent and :path is the client's.
// A header filter matches the request headers only
// (source/common/access_log/access_log_impl.cc:214-217), the empty map for
// a reply without any (local_reply.cc:187-189).
func messagesRequest() *accesslogv3.AccessLogFilter {
	header := func(h *routev3.HeaderMatcher) *accesslogv3.AccessLogFilter {
		return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_HeaderFilter{HeaderFilter: &accesslogv3.HeaderFilter{Header: h}}}
	}
	path := func(name string) *accesslogv3.AccessLogFilter {
		return header(&routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: messagesRegex}},
		}}})
	}
	noOriginalPath := header(&routev3.HeaderMatcher{Name: "x-envoy-original-path", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: false}})
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_OrFilter{OrFilter: &accesslogv3.OrFilter{Filters: []*accesslogv3.AccessLogFilter{
		path("x-envoy-original-path"),
		{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{Filters: []*accesslogv3.AccessLogFilter{
			noOriginalPath, path(":path"),
		}}}},
	}}}}
}

func envoyOwnReply() *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ExtensionFilter{ExtensionFilter: &accesslogv3.ExtensionFilter{
		Name: "envoy.access_loggers.extension_filters.cel",
		ConfigType: &accesslogv3.ExtensionFilter_TypedConfig{TypedConfig: mustAny(&celv3.ExpressionFilter{
			Expression: "!response.code_details.startsWith('aigw_') && !(response.code_details in ['dynamic_module', 'direct_response'])",
		})},
	}}}
}

// golangFilter is the router phase (downstream only in 1.36.2: it must run
// before the router so the header it sets picks the route).
func (g *gen) golangFilter() *hcmv3.HttpFilter {
	return httpFilter("envoy.filters.http.golang", &golangv3alpha.Config{
		LibraryId:    PluginName,
		LibraryPath:  g.d.LibraryPath,
		PluginName:   PluginName,
		PluginConfig: g.aigwDocument(),
	})
}

// aigwDocument is THE aigw document: one value, written into the golang
// filter's plugin_config and into every cluster's upstream filter_config, so
// both phases load the same bytes. ECDS (config_discovery) would not share it:
// Envoy 1.36.2 has it for both chains (the upstream one too,
// source/common/upstream/upstream_impl.cc:1157-1158), but an ECDS resource has
// one type and the two filters have two (golang v3alpha.Config and
// DynamicModuleFilter), so the document would live in two resources updated
// independently, with a window in which the phases differ. The library checks
// at run time that they agree (config.Digest).
func (g *gen) aigwDocument() *anypb.Any {
	return mustAny(wrapperspb.String(string(g.in.Aigw) + "\n"))
}

func routerFilter() *hcmv3.HttpFilter {
	return httpFilter("envoy.filters.http.router", &routerv3.Router{})
}

// opsListener serves GET /ready (200 while live, 503 while starting or
// draining) and GET /stats/prometheus from the loopback admin API, and 404
// for anything else, so probes and scrapers never reach the admin API.
func (g *gen) opsListener() *listenerv3.Listener {
	get := func(name, path string, timeout time.Duration) *routev3.Route {
		return &routev3.Route{
			Name: name,
			Match: &routev3.RouteMatch{
				PathSpecifier: &routev3.RouteMatch_Path{Path: path},
				Headers:       []*routev3.HeaderMatcher{exactHeader(":method", "GET")},
			},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: adminClusterName},
				Timeout:          durationpb.New(timeout),
			}},
		}
	}
	h := &hcmv3.HttpConnectionManager{
		StatPrefix:  opsName,
		CodecType:   hcmv3.HttpConnectionManager_AUTO,
		HttpFilters: []*hcmv3.HttpFilter{routerFilter()},
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: opsName,
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    opsName,
				Domains: []string{"*"},
				Routes: []*routev3.Route{
					get("ready", "/ready", 2*time.Second),
					get("metrics", "/stats/prometheus", 10*time.Second),
					{
						Name:   "not-found",
						Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
						Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 404}},
					},
				},
			}},
		}},
	}
	return &listenerv3.Listener{
		Name:         opsName,
		Address:      socketAddress(g.d.Ops.Listener),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{hcmFilter(h)}}},
	}
}

// adminCluster is the loopback admin API behind the ops listener.
func (g *gen) adminCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 adminClusterName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: adminClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(g.d.Ops.Admin)}},
			}}}},
		},
	}
}

// ---------------------------------------------------------------- small builders

func hcmFilter(h *hcmv3.HttpConnectionManager) *listenerv3.Filter {
	return &listenerv3.Filter{
		Name:       "envoy.filters.network.http_connection_manager",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(h)},
	}
}

func httpFilter(name string, m proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(m)}}
}

func tlsSocket(c *tlsv3.UpstreamTlsContext) *corev3.TransportSocket {
	return &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(c)},
	}
}

func socketAddress(a Address) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       a.Address,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: a.Port},
	}}}
}

func exactHeader(name, value string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{
		Name: name,
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value},
		}},
	}
}

func overwrite(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: key, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

func dur(d Duration) *durationpb.Duration { return durationpb.New(time.Duration(d)) }

func lookupFamily(s string) (clusterv3.Cluster_DnsLookupFamily, error) {
	v, ok := clusterv3.Cluster_DnsLookupFamily_value[s]
	if !ok {
		return 0, fmt.Errorf("upstream.dns_lookup_family: %q is not one of V4_ONLY, V4_PREFERRED, V6_ONLY, AUTO, ALL", s)
	}
	return clusterv3.Cluster_DnsLookupFamily(v), nil
}

// dnsFamily converts the Cluster enum to the DnsCluster one (same names).
func dnsFamily(f clusterv3.Cluster_DnsLookupFamily) dnscommonv3.DnsLookupFamily {
	return dnscommonv3.DnsLookupFamily(dnscommonv3.DnsLookupFamily_value[f.String()])
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err) // only for messages built here, which always marshal
	}
	return a
}

func mustStruct(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err) // only for maps of strings, nil and maps built here
	}
	return s
}
