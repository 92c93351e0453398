package envoygen

import (
	"fmt"
	"regexp"
	"sort"
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
	dnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	dynmodcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/dynamic_modules/v3"
	dynmodv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	downstreamconnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	prevhostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	prevpriov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/aigw/aigw/config"
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
// route, 400...) into OpenAI error JSON. The first mapper whose filter
// matches rewrites the reply (source/common/local_reply/local_reply.cc:
// 180-205). aigw's own replies are already OpenAI JSON: the router phase's
// details start with "aigw_", the upstream phase's are "dynamic_module"
// (dynamic_modules/abi_impl.cc:557), the catch-all routes'
// "direct_response" (envoy/stream_info/stream_info.h:195); details are set
// before the rewrite (source/common/http/filter_manager.cc:1013,1146).
//
// With quotas, the rate limit filter's own 429 (a client over its
// distributed quota, details "request_rate_limited") and api_key_auth's 401
// (no or unknown key) too; aigw's in-process 429s are its own
// ("aigw_quota_exceeded").
func (g *gen) localReplyConfig() *hcmv3.LocalReplyConfig {
	mapper := func(op accesslogv3.ComparisonFilter_Op, status uint32, runtimeKey, message, typ, code string) *hcmv3.ResponseMapper {
		return &hcmv3.ResponseMapper{
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{
				Filters: []*accesslogv3.AccessLogFilter{
					envoyOwnReply(),
					{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{StatusCodeFilter: &accesslogv3.StatusCodeFilter{
						Comparison: &accesslogv3.ComparisonFilter{Op: op, Value: &corev3.RuntimeUInt32{DefaultValue: status, RuntimeKey: runtimeKey}},
					}}},
				},
			}}},
			BodyFormatOverride: &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{
				JsonFormat: mustStruct(map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nil, "code": code}}),
			}},
		}
	}
	const details = "%RESPONSE_CODE_DETAILS%"
	mappers := []*hcmv3.ResponseMapper{
		mapper(accesslogv3.ComparisonFilter_EQ, 413, "aigw.local_reply.413",
			"request body too large for the gateway: %LOCAL_REPLY_BODY%", "invalid_request_error", "request_too_large"),
		mapper(accesslogv3.ComparisonFilter_EQ, 404, "aigw.local_reply.404",
			"Invalid URL: no route serves this request", "not_found_error", details),
	}
	if g.d.RateLimit != nil {
		mappers = append(mappers, mapper(accesslogv3.ComparisonFilter_EQ, 429, "aigw.local_reply.429",
			"token quota exceeded for this client; retry later", "rate_limit_error", "rate_limit_exceeded"))
	}
	if g.d.APIKeyAuth != nil {
		mappers = append(mappers, mapper(accesslogv3.ComparisonFilter_EQ, 401, "aigw.local_reply.401",
			"missing or unknown API key", "authentication_error", "invalid_api_key"))
	}
	return &hcmv3.LocalReplyConfig{Mappers: append(mappers,
		mapper(accesslogv3.ComparisonFilter_GE, 500, "aigw.local_reply.5xx",
			"the gateway could not complete the request: %LOCAL_REPLY_BODY%", "server_error", details),
		mapper(accesslogv3.ComparisonFilter_GE, 400, "aigw.local_reply.4xx",
			"invalid request: %LOCAL_REPLY_BODY%", "invalid_request_error", details),
	)}
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

// routing returns the client listener's routes and the provider clusters.
//
// Route order (Envoy takes the first match):
//  1. one route per backend, on the backend header: a backend the client
//     named wins over the model, and reaches only that backend's cluster;
//  2. one route per model, on the model header (the router phase sets only
//     one of the two headers), to a cluster holding every backend that
//     serves the model at its deployment priority;
//  3. "no-backend": any other inference request, 404 model_not_found;
//  4. "not-served": anything else, 404 unknown_url.
//
// Every match also requires POST and an inference path, so a routing header
// on any other request can never reach a provider with the gateway's key.
// Because there is exactly one route per model and one per backend, no
// route of an older deployment can capture the traffic of a newer one: the
// choice between deployments of a model is the endpoint priority inside its
// one cluster (Deployment.Priority).
func (g *gen) routing() ([]*routev3.Route, []*clusterv3.Cluster, error) {
	var routes []*routev3.Route
	var clusters []*clusterv3.Cluster
	for _, b := range g.c.Backends {
		bd := g.d.Backends[b.Name]
		routes = append(routes, g.route("backend-"+b.Name, g.c.BackendHeader, b.Name, b.Name, g.retryPolicy(len(bd.Endpoints) > 1, false)))
		clusters = append(clusters, g.cluster(b.Name, []member{{backend: b.Name, priority: 0}}))
	}
	for _, m := range g.models() {
		members := g.modelMembers(m)
		if len(members) == 1 {
			bd := g.d.Backends[members[0].backend]
			routes = append(routes, g.route("model-"+m, g.c.ModelHeader, m, members[0].backend, g.retryPolicy(len(bd.Endpoints) > 1, false)))
			continue
		}
		prios := map[uint32]int{}
		for _, mb := range members {
			prios[mb.priority] += len(g.d.Backends[mb.backend].Endpoints)
		}
		spread := false
		for _, n := range prios {
			spread = spread || n > 1
		}
		name := "model-" + m
		if len(prios) > 1 {
			name = "failover-" + m
		}
		routes = append(routes, g.route("model-"+m, g.c.ModelHeader, m, name, g.retryPolicy(spread, len(prios) > 1)))
		clusters = append(clusters, g.cluster(name, members))
	}
	for _, c := range clusters {
		if len(c.GetName()) > 60 {
			return nil, nil, fmt.Errorf("cluster name %q: longer than Envoy's stat name limit of 60", c.GetName())
		}
	}
	routes = append(routes, g.noBackendRoute(), g.notServedRoute())
	return routes, clusters, nil
}

// models are the configured models in the order they first appear in the
// backends list.
func (g *gen) models() []string {
	var out []string
	seen := map[string]bool{}
	for _, b := range g.c.Backends {
		for _, m := range b.Models {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out
}

// member is one backend in a cluster, at an Envoy priority.
type member struct {
	backend  string
	priority uint32
}

// modelMembers are the backends serving model m, ordered by priority, with
// the deployment priorities renumbered 0, 1, 2... (Envoy requires
// priorities without gaps, source/common/upstream/upstream_impl.cc).
func (g *gen) modelMembers(m string) []member {
	var out []member
	for _, b := range g.c.Backends {
		for _, bm := range b.Models {
			if bm == m {
				out = append(out, member{backend: b.Name, priority: g.d.Backends[b.Name].Priority})
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].priority < out[j].priority })
	rank, last := uint32(0), out[0].priority
	for i := range out {
		if out[i].priority != last {
			rank++
			last = out[i].priority
		}
		out[i].priority = rank
	}
	return out
}

// inferenceRegex matches exactly aigw's inference paths, with or without a
// query string: a safe_regex is matched against the whole :path, query
// included (source/common/router/config_impl.cc:1367-1376).
func (g *gen) inferenceRegex() string {
	paths := g.c.Paths
	prefix := paths[0]
	for _, p := range paths[1:] {
		for !strings.HasPrefix(p, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	prefix = prefix[:strings.LastIndex(prefix, "/")+1]
	rest := make([]string, len(paths))
	for i, p := range paths {
		rest[i] = regexp.QuoteMeta(strings.TrimPrefix(p, prefix))
	}
	return regexp.QuoteMeta(prefix) + "(" + strings.Join(rest, "|") + `)(\?.*)?`
}

func (g *gen) inferenceMatch(extra ...*routev3.HeaderMatcher) *routev3.RouteMatch {
	return &routev3.RouteMatch{
		PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: g.inferenceRegex()}},
		Headers:       append([]*routev3.HeaderMatcher{exactHeader(":method", "POST")}, extra...),
	}
}

// route sends POST inference requests whose header equals value to cluster.
// Timeouts (docs/production.md): timeout 0s, no cap on a stream's length;
// idle_timeout covers two attempts' per_try_idle_timeout; the request body
// buffer limit lets a retry replay an LLM-sized body.
func (g *gen) route(name, header, value, cluster string, retry *routev3.RetryPolicy) *routev3.Route {
	return &routev3.Route{
		Name:  name,
		Match: g.inferenceMatch(exactHeader(header, value)),
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
			Timeout:          durationpb.New(0),
			IdleTimeout:      dur(g.d.Policy.IdleTimeout),
			RetryPolicy:      retry,
		}},
		RequestBodyBufferLimit: wrapperspb.UInt64(uint64(g.c.MaxRequestBodyBytes)),
	}
}

// retryPolicy: one retry. per_try_idle_timeout resets an attempt silent for
// that long, before or during its response (router.cc:1314-1349; no
// per_try_timeout: it stops applying once the response started and, firing
// then, deletes the idle timer, upstream_request.cc:542-558).
// rate_limited_retry_back_off honours a Retry-After up to retry_after_max on
// 429/503 (router/retry_state_impl.cc:246-256,338-355).
//
// A cluster with one host retries resets, connect failures, 429 and 503 on
// it. With several hosts (spread) or priorities (failover), any 5xx is
// retried elsewhere: previous_hosts picks another host, previous_priorities
// leaves the priority that failed.
func (g *gen) retryPolicy(spread, failover bool) *routev3.RetryPolicy {
	rp := &routev3.RetryPolicy{
		RetryOn:              "reset,connect-failure,retriable-status-codes",
		RetriableStatusCodes: []uint32{429, 503},
		NumRetries:           wrapperspb.UInt32(1),
		PerTryIdleTimeout:    dur(g.d.Policy.PerTryIdleTimeout),
		RateLimitedRetryBackOff: &routev3.RetryPolicy_RateLimitedRetryBackOff{
			ResetHeaders: []*routev3.RetryPolicy_ResetHeader{{Name: "retry-after", Format: routev3.RetryPolicy_SECONDS}},
			MaxInterval:  dur(g.d.Policy.RetryAfterMax),
		},
	}
	if !spread && !failover {
		return rp
	}
	rp.RetryOn = "5xx," + rp.RetryOn
	rp.RetriableStatusCodes = []uint32{429}
	if spread {
		rp.RetryHostPredicate = []*routev3.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: mustAny(&prevhostsv3.PreviousHostsPredicate{})},
		}}
		rp.HostSelectionRetryMaxAttempts = 3
	}
	if failover {
		rp.RetryPriority = &routev3.RetryPolicy_RetryPriority{
			Name:       "envoy.retry_priorities.previous_priorities",
			ConfigType: &routev3.RetryPolicy_RetryPriority_TypedConfig{TypedConfig: mustAny(&prevpriov3.PreviousPrioritiesConfig{UpdateFrequency: 1})},
		}
	}
	return rp
}

// noBackendRoute answers an inference request no route above took like
// OpenAI answers an unknown model.
func (g *gen) noBackendRoute() *routev3.Route {
	return jsonDirectResponse("no-backend", g.inferenceMatch(),
		`{"error":{"message":"no backend serves this request: name a configured model or backend","type":"invalid_request_error","param":"model","code":"model_not_found"}}`)
}

// notServedRoute answers anything else: another method or path.
func (g *gen) notServedRoute() *routev3.Route {
	msg := "Invalid URL: this gateway serves POST " + strings.Join(g.c.Paths, ", ") + " and GET /v1/models"
	return jsonDirectResponse("not-served", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		`{"error":{"message":"`+msg+`","type":"invalid_request_error","param":null,"code":"unknown_url"}}`)
}

func jsonDirectResponse(name string, match *routev3.RouteMatch, body string) *routev3.Route {
	return &routev3.Route{
		Name:  name,
		Match: match,
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status: 404,
			Body:   &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}},
		}},
		ResponseHeadersToAdd: []*corev3.HeaderValueOption{overwrite("content-type", "application/json")},
	}
}

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
