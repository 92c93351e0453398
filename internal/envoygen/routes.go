package envoygen

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	prevhostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	prevpriov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/aigw/aigw/internal/oaierr"
)

// Routes: one per backend and per model, the catch-alls, and their retry policy.

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
		routes = append(routes, g.route("backend-"+b.Name, g.c.BackendHeader, b.Name, b.Name, g.retryPolicy(len(bd.Endpoints) > 1, 1)))
		clusters = append(clusters, g.cluster(b.Name, []member{{backend: b.Name, priority: 0}}))
	}
	for _, m := range g.models() {
		members := g.modelMembers(m)
		if len(members) == 1 {
			bd := g.d.Backends[members[0].backend]
			routes = append(routes, g.route("model-"+m, g.c.ModelHeader, m, members[0].backend, g.retryPolicy(len(bd.Endpoints) > 1, 1)))
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
		routes = append(routes, g.route("model-"+m, g.c.ModelHeader, m, name, g.retryPolicy(spread, len(prios))))
		clusters = append(clusters, g.cluster(name, members))
	}
	for _, c := range clusters {
		if len(c.GetName()) > 60 {
			return nil, nil, fmt.Errorf("cluster name %q: longer than Envoy's stat name limit of 60", c.GetName())
		}
	}
	routes = append(routes, g.unroutedRoutes()...)
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
// idle_timeout is policy.idle_timeout for two attempts (at least two
// per_try_idle_timeout, checked at load) and one per_try_idle_timeout more
// per further attempt, so the last attempt can still time out on its own;
// the request body buffer limit lets a retry replay an LLM-sized body.
func (g *gen) route(name, header, value, cluster string, retry *routev3.RetryPolicy) *routev3.Route {
	idle := g.d.Policy.IdleTimeout
	if extra := int64(retry.GetNumRetries().GetValue()) - 1; extra > 0 {
		idle += Duration(extra) * g.d.Policy.PerTryIdleTimeout
	}
	return &routev3.Route{
		Name:  name,
		Match: g.inferenceMatch(exactHeader(header, value)),
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
			Timeout:          durationpb.New(0),
			IdleTimeout:      dur(idle),
			RetryPolicy:      retry,
		}},
		RequestBodyBufferLimit: wrapperspb.UInt64(uint64(g.c.MaxRequestBodyBytes)),
	}
}

// retryPolicy: one retry, or one per further priority of a failover
// cluster. per_try_idle_timeout resets an attempt silent for
// that long, before or during its response (router.cc:1314-1349; no
// per_try_timeout: it stops applying once the response started and, firing
// then, deletes the idle timer, upstream_request.cc:542-558).
// rate_limited_retry_back_off honours a Retry-After up to retry_after_max on
// 429/503 (router/retry_state_impl.cc:246-256,338-355).
//
// A cluster with one host retries resets, connect failures, 429 and 503 on
// it. With several hosts (spread) or priorities (failover), any 5xx is
// retried elsewhere: previous_hosts picks another host, previous_priorities
// leaves the priorities that failed.
//
// previous_priorities with update_frequency 1 recomputes the priority load
// before every retry, excluding the priority of every host attempted so far
// (source/extensions/retry/priority/previous_priorities/
// previous_priorities.cc:16-35): retry k goes to priority k. A larger
// update_frequency f reuses the original load for the first f-1 retries
// (line 16-17) and the last computed one between multiples of f (line 35),
// so with f=2 the first retry hits priority 0 again and two retries never
// reach priority 2. Hence num_retries = priorities-1 and update_frequency 1.
func (g *gen) retryPolicy(spread bool, priorities int) *routev3.RetryPolicy {
	failover := priorities > 1
	rp := &routev3.RetryPolicy{
		RetryOn:              "reset,connect-failure,retriable-status-codes",
		RetriableStatusCodes: []uint32{429, 503},
		NumRetries:           wrapperspb.UInt32(uint32(max(1, priorities-1))),
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

// messagesRegex matches the client paths whose errors are in Anthropic's
// shape: exactly the paths oaierr.FormatFor answers with FormatAnthropic
// (/v1/messages, one trailing slash, any query; test/envoyconfig checks the
// two agree on a table of paths). RE2, matched against the whole value.
const messagesRegex = `/v1/messages/?(\?.*)?`

// messagesPath is the path of the Anthropic Messages API.
const messagesPath = "/v1/messages"

// unroutedRoutes answer what no backend or model route took, with a 404 in
// the client's error format: an inference request (no-backend, like OpenAI
// and Anthropic answer an unknown model) and anything else (not-served,
// another method or path), each preceded by its Anthropic-shaped twin for
// Messages clients (direct responses are never rewritten by the local reply
// mappers: their details are "direct_response").
func (g *gen) unroutedRoutes() []*routev3.Route {
	const noBackend = "no backend serves this request: name a configured model or backend"
	notServed := "Invalid URL: this gateway serves POST " + strings.Join(g.c.Paths, ", ") + " and GET /v1/models"
	var out []*routev3.Route
	if slices.Contains(g.c.Paths, messagesPath) {
		out = append(out, jsonDirectResponse("no-backend-messages", &routev3.RouteMatch{
			PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: regexp.QuoteMeta(messagesPath) + `(\?.*)?`}},
			Headers:       []*routev3.HeaderMatcher{exactHeader(":method", "POST")},
		}, anthropicError(http.StatusNotFound, "invalid_request_error", noBackend)))
	}
	out = append(out,
		jsonDirectResponse("no-backend", g.inferenceMatch(),
			`{"error":{"message":"`+noBackend+`","type":"invalid_request_error","param":"model","code":"model_not_found"}}`),
		jsonDirectResponse("not-served-messages", &routev3.RouteMatch{
			PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: messagesRegex}},
		}, anthropicError(http.StatusNotFound, "invalid_request_error", notServed)),
		jsonDirectResponse("not-served", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			`{"error":{"message":"`+notServed+`","type":"invalid_request_error","param":null,"code":"unknown_url"}}`),
	)
	return out
}

// anthropicError is the Anthropic-shaped body aigw sends for an error of
// this status and OpenAI type (oaierr: the router and upstream phases send
// the same).
func anthropicError(status int, openAIType, message string) string {
	return string(oaierr.AppendAnthropicErrorJSON(nil, oaierr.AnthropicType(status, openAIType), message))
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
