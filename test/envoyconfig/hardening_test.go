package envoyconfig

// Production checks of every aigw config (issue 11): which requests can reach a provider,
// stream timeouts, retries under load, outlier detection, Envoy's own local replies as OpenAI
// JSON, and upstream TLS per endpoint. Each rule cites the Envoy v1.36.2 source it models.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	celv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/envoysrc"
	"github.com/aigw/aigw/internal/oaierr"
)

// composeEnvoyConfig is the bootstrap docker/Dockerfile copies into the image compose runs:
// its admin listens on every interface inside the container and compose publishes it on the
// host's loopback only (checked in TestCompose). Every other config keeps admin on loopback.
const composeEnvoyConfig = "envoy.yaml"

// transportSocketMatchNS is the endpoint metadata namespace transport_socket_matches read.
const transportSocketMatchNS = "envoy.transport_socket_match"

func isLoopback(a string) bool { return a == "127.0.0.1" || a == "::1" }

func checkAdmin(t tb, rel string, b *bootstrapv3.Bootstrap) {
	a := b.GetAdmin().GetAddress().GetSocketAddress().GetAddress()
	if isLoopback(a) || (rel == composeEnvoyConfig && a == "0.0.0.0") {
		return
	}
	t.Errorf("admin listens on %q; keep it on loopback", a)
}

// listenerHasAigw reports whether a listener runs the aigw router phase.
func listenerHasAigw(t tb, l *listenerv3.Listener) bool {
	chains := l.GetFilterChains()
	if l.GetDefaultFilterChain() != nil {
		chains = append(chains, l.GetDefaultFilterChain())
	}
	for _, fc := range chains {
		for _, f := range fc.GetFilters() {
			h, ok := unpack(t, l.GetName()+"/"+f.GetName(), f.GetTypedConfig()).(*hcmv3.HttpConnectionManager)
			if !ok {
				continue
			}
			for _, hf := range h.GetHttpFilters() {
				if g, ok := unpack(t, hf.GetName(), hf.GetTypedConfig()).(*golangv3alpha.Config); ok && g.GetPluginName() == goPluginName {
					return true
				}
			}
		}
	}
	return false
}

// ---- Which requests reach a provider (issue 11 req. 2, route half) ----

// probe is one request as the routes see it after the router phase.
type probe struct {
	method, path string
	headers      map[string]string
}

func (p probe) String() string { return fmt.Sprintf("%s %s %v", p.method, p.path, p.headers) }

// routeMatches models Envoy's route matching for the matchers aigw configs use
// (source/common/router/config_impl.cc): prefix and path on the path without its query
// (removeQueryAndFragment, :914-981), safe_regex as a full match of the whole :path, query
// included (:1367-1376), then every header matcher. Anything else is reported, never guessed.
func routeMatches(r *routev3.Route, p probe) (bool, error) {
	m := r.GetMatch()
	if m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue() {
		return false, fmt.Errorf("case_sensitive false is not modelled")
	}
	if len(m.GetQueryParameters()) > 0 || m.GetRuntimeFraction() != nil || len(m.GetDynamicMetadata()) > 0 || m.GetGrpc() != nil || m.GetTlsContext() != nil {
		return false, fmt.Errorf("matcher %v is not modelled", m)
	}
	path, _, _ := strings.Cut(p.path, "?")
	ok := false
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		ok = strings.HasPrefix(path, ps.Prefix)
	case *routev3.RouteMatch_Path:
		ok = path == ps.Path
	case *routev3.RouteMatch_SafeRegex:
		var err error
		if ok, err = regexFullMatch(ps.SafeRegex.GetRegex(), p.path); err != nil {
			return false, err
		}
	case *routev3.RouteMatch_PathSeparatedPrefix:
		ok = path == ps.PathSeparatedPrefix || strings.HasPrefix(path, ps.PathSeparatedPrefix+"/")
	default:
		return false, fmt.Errorf("path specifier %T is not modelled", ps)
	}
	if !ok {
		return false, nil
	}
	for _, h := range m.GetHeaders() {
		var v string
		var present bool
		switch h.GetName() {
		case ":method":
			v, present = p.method, true
		case ":path":
			v, present = p.path, true
		default:
			v, present = p.headers[h.GetName()]
		}
		hit, err := headerMatches(h, v, present)
		if err != nil || !hit {
			return false, err
		}
	}
	return true, nil
}

// headerMatches models Http::HeaderUtility's header matchers, which route matches and
// access log header filters share (source/common/http/header_utility.cc:90-125 picks the
// matcher; header_utility.h:70-100 present_match, :102-134 the value matchers): a present
// match on a missing header is invert_match == present_match, on a present one (or a
// missing one with treat_missing_header_as_empty) present_match != invert_match; a value
// matcher never matches a missing header unless treat_missing_header_as_empty makes it "",
// and is otherwise the string matcher's result != invert_match. No matcher set is a present
// match. v is the header's value (its values joined by ","). Anything else is reported.
func headerMatches(h *routev3.HeaderMatcher, v string, present bool) (bool, error) {
	missing := !present && !h.GetTreatMissingHeaderAsEmpty()
	invert := h.GetInvertMatch()
	switch spec := h.GetHeaderMatchSpecifier().(type) {
	case nil:
		return missing == invert, nil
	case *routev3.HeaderMatcher_PresentMatch:
		if missing {
			return invert == spec.PresentMatch, nil
		}
		return spec.PresentMatch != invert, nil
	case *routev3.HeaderMatcher_StringMatch:
		if missing {
			return false, nil
		}
		sm := spec.StringMatch
		if sm.GetIgnoreCase() {
			return false, fmt.Errorf("header %s: ignore_case is not modelled", h.GetName())
		}
		var hit bool
		switch mp := sm.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Exact:
			hit = v == mp.Exact
		case *matcherv3.StringMatcher_Prefix:
			hit = strings.HasPrefix(v, mp.Prefix)
		case *matcherv3.StringMatcher_SafeRegex:
			m, err := regexFullMatch(mp.SafeRegex.GetRegex(), v)
			if err != nil {
				return false, err
			}
			hit = m
		default:
			return false, fmt.Errorf("header %s: string matcher %v is not modelled", h.GetName(), sm)
		}
		return hit != invert, nil
	}
	return false, fmt.Errorf("header %s: matcher %v is not modelled", h.GetName(), h)
}

// regexFullMatch reports whether re (RE2) matches all of s, as Envoy's safe_regex does. The
// probes ask the same questions thousands of times (slow under -race): results are memoized.
func regexFullMatch(re, s string) (bool, error) {
	key := re + "\x00" + s
	if v, ok := regexResults.Load(key); ok {
		return v.(bool), nil
	}
	c, ok := regexes.Load(re)
	if !ok {
		compiled, err := regexp.Compile(`^(?:` + re + `)$`)
		if err != nil {
			return false, err
		}
		c, _ = regexes.LoadOrStore(re, compiled)
	}
	m := c.(*regexp.Regexp).MatchString(s)
	regexResults.Store(key, m)
	return m, nil
}

var regexes, regexResults sync.Map // regex -> *regexp.Regexp; regex+NUL+subject -> bool

// firstRoute is the route Envoy picks: the first that matches.
func firstRoute(t tb, routes []*routev3.Route, p probe) *routev3.Route {
	for _, r := range routes {
		ok, err := routeMatches(r, p)
		if err != nil {
			t.Errorf("route %s: %v", r.GetName(), err)
			return nil
		}
		if ok {
			return r
		}
	}
	return nil
}

// checkRouteScope sends a table of requests through the routes: whatever routing headers a
// client puts on a request, only a POST to one of aigw's paths may reach a provider cluster,
// and every such POST with a configured backend or model does reach the right one.
func checkRouteScope(t tb, vh *routev3.VirtualHost, cfg *config.Config, clusters map[string][]endpoint) {
	routes := vh.GetRoutes()
	headerSets := []map[string]string{{}}
	for _, be := range cfg.Backends {
		headerSets = append(headerSets, map[string]string{cfg.BackendHeader: be.Name})
	}
	for _, m := range cfg.Models() {
		headerSets = append(headerSets, map[string]string{cfg.ModelHeader: m})
		for _, be := range cfg.Backends {
			headerSets = append(headerSets, map[string]string{cfg.ModelHeader: m, cfg.BackendHeader: be.Name})
		}
	}
	paths := []string{"/", "/v1", "/v1/", "/v1/models", "/v1/files", "/v1/files/file-abc", "/v1/batches",
		"/v1/unknown", "/v1/fine_tuning/jobs", "/v1/responses", "/v1/audio/speech", "/openai/deployments/x/chat/completions"}
	for _, p := range cfg.Paths {
		paths = append(paths, p, p+"?x=1", p+"/", p+"x", p+"/x", strings.ToUpper(p), "/x"+p, strings.TrimPrefix(p, "/v1"))
	}
	formats := map[*routev3.Route]*oaierr.Format{} // each direct response's error format
	inference := func(p probe) bool {
		path, _, _ := strings.Cut(p.path, "?")
		return p.method == "POST" && slices.Contains(cfg.Paths, path)
	}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} {
		for _, path := range paths {
			for _, hs := range headerSets {
				p := probe{method, path, hs}
				r := firstRoute(t, routes, p)
				if r == nil {
					t.Errorf("virtual host %s: %v matches no route (Envoy's empty 404)", vh.GetName(), p)
					return
				}
				if r.GetRoute() != nil && !inference(p) {
					t.Errorf("virtual host %s: %v reaches cluster %q via route %s: only POST to %v may reach a provider",
						vh.GetName(), p, r.GetRoute().GetCluster(), r.GetName(), cfg.Paths)
					return
				}
				if r.GetDirectResponse() != nil {
					f, ok := formats[r]
					if !ok {
						f = directResponseFormat(r)
						formats[r] = f
					}
					if f != nil && *f != oaierr.FormatFor(p.path) {
						t.Errorf("virtual host %s: %v gets route %s's error in %s shape; a %s client reads %s",
							vh.GetName(), p, r.GetName(), formatName(*f), p.path, formatName(oaierr.FormatFor(p.path)))
						return
					}
				}
			}
		}
	}
	// Positive: every inference path, with and without a query, reaches each backend and
	// each model's cluster.
	for _, path := range cfg.Paths {
		for _, q := range []string{"", "?x=1"} {
			for _, be := range cfg.Backends {
				p := probe{"POST", path + q, map[string]string{cfg.BackendHeader: be.Name}}
				r := firstRoute(t, routes, p)
				eps := clusters[r.GetRoute().GetCluster()]
				if len(eps) == 0 || slices.ContainsFunc(eps, func(e endpoint) bool { return e.backend != be.Name }) {
					t.Errorf("virtual host %s: %v does not reach backend %s (route %s)", vh.GetName(), p, be.Name, r.GetName())
				}
			}
			for _, m := range cfg.Models() {
				p := probe{"POST", path + q, map[string]string{cfg.ModelHeader: m}}
				r := firstRoute(t, routes, p)
				if len(clusters[r.GetRoute().GetCluster()]) == 0 {
					t.Errorf("virtual host %s: %v does not reach a cluster serving %s (route %s)", vh.GetName(), p, m, r.GetName())
				}
			}
		}
	}
}

// checkOriginalPath: the access log records the client's path, not the provider path the
// upstream phase writes into the same header map (upstream_request.cc:388): the virtual host
// stores :path in x-envoy-original-path when the router forwards (router.cc:606).
func checkOriginalPath(t tb, vh *routev3.VirtualHost) {
	for _, h := range vh.GetRequestHeadersToAdd() {
		if strings.EqualFold(h.GetHeader().GetKey(), "x-envoy-original-path") && h.GetHeader().GetValue() == "%REQ(:PATH)%" &&
			h.GetAppendAction() == corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			return
		}
	}
	t.Errorf("virtual host %s: no request_headers_to_add x-envoy-original-path: %%REQ(:PATH)%% (OVERWRITE_IF_EXISTS_OR_ADD); the access log would show the provider's path", vh.GetName())
}

// ---- Streams, retries, load (req. 3) ----

func dur(d interface{ AsDuration() time.Duration }) time.Duration { return d.AsDuration() }

// checkStreamTimeouts: no overall timeout cuts a stream; an attempt that makes no progress is
// retried; the route idle timeout leaves room for every attempt; Retry-After is honoured.
func checkStreamTimeouts(t tb, r *routev3.Route) {
	ra := r.GetRoute()
	if ra.GetTimeout() == nil {
		t.Errorf("route %s: no timeout; want 0s (unset is 15 s, which cuts long streams)", r.GetName())
	} else if d := dur(ra.GetTimeout()); d != 0 {
		t.Errorf("route %s: timeout %v; want 0s (any value cuts long streams)", r.GetName(), d)
	}
	rp := ra.GetRetryPolicy()
	perTry := rp.GetPerTryIdleTimeout()
	if perTry == nil || dur(perTry) <= 0 {
		t.Errorf("route %s: no retry per_try_idle_timeout: a hung provider is never failed over", r.GetName())
		return
	}
	attempts := time.Duration(rp.GetNumRetries().GetValue()) + 1
	if rp.GetNumRetries() == nil {
		attempts = 2 // Envoy's default num_retries is 1
	}
	if idle := ra.GetIdleTimeout(); idle == nil || dur(idle) < attempts*dur(perTry) {
		t.Errorf("route %s: idle_timeout %v < %d attempts x per_try_idle_timeout %v: the stream would time out before the last attempt",
			r.GetName(), idle.AsDuration(), attempts, dur(perTry))
	}
	if pt := rp.GetPerTryTimeout(); pt != nil && dur(pt) > 0 && dur(pt) < dur(perTry) {
		t.Errorf("route %s: per_try_timeout %v < per_try_idle_timeout %v caps every non-streaming answer", r.GetName(), dur(pt), dur(perTry))
	}
	on := strings.Split(rp.GetRetryOn(), ",")
	for _, want := range []string{"reset", "connect-failure", "retriable-status-codes"} {
		if !slices.Contains(on, want) {
			t.Errorf("route %s: retry_on %q lacks %s", r.GetName(), rp.GetRetryOn(), want)
		}
	}
	if !slices.Contains(rp.GetRetriableStatusCodes(), 429) {
		t.Errorf("route %s: retriable_status_codes %v lack 429", r.GetName(), rp.GetRetriableStatusCodes())
	}
	rl := rp.GetRateLimitedRetryBackOff()
	honours := false
	for _, h := range rl.GetResetHeaders() {
		if strings.EqualFold(h.GetName(), "retry-after") && h.GetFormat() == routev3.RetryPolicy_SECONDS {
			honours = true
		}
	}
	if !honours || rl.GetMaxInterval() == nil {
		t.Errorf("route %s: rate_limited_retry_back_off must read retry-after (SECONDS) with a max_interval", r.GetName())
	}
}

// checkClusterResilience: circuit breakers that let failover hold under load, and outlier
// detection that can eject a dead host.
func checkClusterResilience(t tb, c *clusterv3.Cluster, hosts int) {
	var th *clusterv3.CircuitBreakers_Thresholds
	for _, x := range c.GetCircuitBreakers().GetThresholds() {
		if x.GetPriority() == corev3.RoutingPriority_DEFAULT {
			th = x
		}
	}
	if th == nil {
		t.Errorf("cluster %s: no circuit_breakers for priority DEFAULT: Envoy allows 3 concurrent retries, so under load a failing primary's clients get its error instead of the fallback", c.GetName())
	} else {
		if th.GetMaxRequests() == nil {
			t.Errorf("cluster %s: circuit_breakers without max_requests (default 1024)", c.GetName())
		}
		// A retry holds its slot until the retried attempt's response headers
		// (retry_state_impl.cc:258-267,304-320): with a dead primary every in-flight request
		// is a retry, so the retry limit must reach the request limit.
		switch {
		case th.GetRetryBudget() != nil:
			if th.GetRetryBudget().GetBudgetPercent().GetValue() < 100 {
				t.Errorf("cluster %s: retry_budget %v%% < 100%%: with a dead primary every active request retries", c.GetName(), th.GetRetryBudget().GetBudgetPercent().GetValue())
			}
		case th.GetMaxRetries() == nil || th.GetMaxRetries().GetValue() < th.GetMaxRequests().GetValue():
			t.Errorf("cluster %s: max_retries %v < max_requests %d: failover would overflow under load", c.GetName(), th.GetMaxRetries(), th.GetMaxRequests().GetValue())
		}
	}
	od := c.GetOutlierDetection()
	if od == nil {
		t.Errorf("cluster %s: no outlier_detection: a dead primary is never ejected", c.GetName())
		return
	}
	enforced := func(v interface{ GetValue() uint32 }, set bool) bool { return !set || v.GetValue() > 0 }
	if !enforced(od.GetEnforcingConsecutive_5Xx(), od.GetEnforcingConsecutive_5Xx() != nil) &&
		!(od.GetEnforcingConsecutiveGatewayFailure().GetValue() > 0) {
		t.Errorf("cluster %s: outlier_detection enforces neither consecutive 5xx nor gateway failures", c.GetName())
	}
	// outlier_detection_impl.cc:476-483: a host is ejected only if the ejected share stays
	// within max_ejection_percent (default 10), unless always_eject_one_host.
	if hosts > 1 && !od.GetAlwaysEjectOneHost().GetValue() {
		maxPct := uint32(10)
		if od.GetMaxEjectionPercent() != nil {
			maxPct = od.GetMaxEjectionPercent().GetValue()
		}
		if float64(maxPct) < 100.0/float64(hosts) {
			t.Errorf("cluster %s: max_ejection_percent %d < %.0f%%: not even one of its %d hosts can be ejected", c.GetName(), maxPct, 100.0/float64(hosts), hosts)
		}
	}
}

// ---- The connection manager (req. 3, req. 5 second half) ----

func checkHCMHardening(t tb, h *hcmv3.HttpConnectionManager) {
	if h.GetStreamIdleTimeout() == nil {
		t.Errorf("hcm %s: stream_idle_timeout not stated (Envoy's default is 300 s)", h.GetStatPrefix())
	}
	if rt := h.GetRequestTimeout(); rt != nil && dur(rt) != 0 {
		t.Errorf("hcm %s: request_timeout %v cuts long streams", h.GetStatPrefix(), dur(rt))
	}
	if !h.GetUseRemoteAddress().GetValue() {
		t.Errorf("hcm %s: use_remote_address false: client-sent x-envoy-original-path is kept (conn_manager_utility.cc:320-332) and the access log path can be forged", h.GetStatPrefix())
	}
	// No client is "internal" (the default, conn_manager_config.h:191-194): an internal
	// request keeps its x-envoy-* headers (conn_manager_utility.cc:231-251), e.g.
	// x-envoy-upstream-rq-timeout-ms, which would put back a timeout that cuts streams.
	if iac := h.GetInternalAddressConfig(); iac.GetUnixSockets() || len(iac.GetCidrRanges()) > 0 {
		t.Errorf("hcm %s: internal_address_config makes some clients internal: their x-envoy-* headers (retry, timeout, original path) would be obeyed", h.GetStatPrefix())
	}
	checkLocalReplies(t, h)
}

// localReply is one reply Envoy builds itself (or that aigw sends through sendLocalReply).
type localReply struct {
	name    string
	status  int
	details string
	flags   string
	body    string
	aigw    bool // aigw's own OpenAI JSON: must pass unchanged
}

var localReplies = []localReply{
	{"golang filter buffer over the limit (chunked body)", 413, "request_payload_too_large", "", "Payload Too Large", false},
	{"no healthy upstream", 503, "no_healthy_upstream", "UH", "no healthy upstream", false},
	{"connect failure", 503, "upstream_reset_before_response_started{remote_connection_failure}", "UF", "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure", false},
	{"circuit breaker overflow", 503, "upstream_reset_before_response_started{overflow}", "UO", "upstream connect error or disconnect/reset before headers. reset reason: overflow", false},
	{"per-try idle timeout", 504, "upstream_per_try_idle_timeout", "UT", "upstream request timeout", false},
	{"stream idle timeout", 504, "stream_idle_timeout", "SI", "stream timeout", false},
	{"request idle timeout", 408, "stream_idle_timeout", "SI", "stream timeout", false},
	{"no route", 404, "route_not_found", "NR", "", false},
	{"HTTP/1 codec error", 400, "http1.codec_error", "DPE", "Bad Request", false},
	{"headers too large", 431, "http1.headers_too_large", "DPE", "Request Header Fields Too Large", false},
	{"aigw body too large", 413, "aigw_request_entity_too_large", "", `{"error":{"message":"x","type":"invalid_request_error","param":null,"code":"request_too_large"}}`, true},
	{"aigw admission", 503, "aigw_service_unavailable", "", `{"error":{"message":"x","type":"server_error","param":null,"code":"overloaded"}}`, true},
	{"aigw internal error", 500, "aigw_internal_error", "", `{"error":{"message":"x","type":"server_error","param":null,"code":"internal_error"}}`, true},
	{"aigw bad request", 400, "aigw_bad_request", "", `{"error":{"message":"x","type":"invalid_request_error","param":"model","code":null}}`, true},
	{"aigw models list", 200, "aigw_models", "", `{"object":"list","data":[]}`, true},
	{"upstream phase 404", 404, "dynamic_module", "", `{"error":{"message":"x","type":"invalid_request_error","param":null,"code":"unknown_url"}}`, true},
	{"catch-all route", 404, "direct_response", "", `{"error":{"message":"x","type":"invalid_request_error","param":null,"code":"unknown_url"}}`, true},
}

// envoyOwnReplyCEL is the one CEL expression the configs use to tell Envoy's own local
// replies from aigw's; celOwnReply is what it computes. The details it names are checked
// against their sources in TestLocalReplyDetails.
const envoyOwnReplyCEL = "!response.code_details.startsWith('aigw_') && !(response.code_details in ['dynamic_module', 'direct_response'])"

func celOwnReply(r localReply) bool {
	return !strings.HasPrefix(r.details, "aigw_") && r.details != "dynamic_module" && r.details != "direct_response"
}

// evalFilter models AccessLog::FilterFactory for the filters local_reply_config uses
// (source/common/access_log/access_log_impl.cc): and/or stop at the first false/true
// (:177-201), the status code filter compares the reply's code (:108-115, set before the
// mappers run, local_reply.cc:180-185), a header filter matches the request headers
// (:214-217; the empty map when the reply has none, local_reply.cc:187-189). req is the
// request's headers by lower-case name (nil: none).
func evalFilter(t tb, f *accesslogv3.AccessLogFilter, r localReply, req map[string]string) bool {
	switch x := f.GetFilterSpecifier().(type) {
	case *accesslogv3.AccessLogFilter_AndFilter:
		for _, sub := range x.AndFilter.GetFilters() {
			if !evalFilter(t, sub, r, req) {
				return false
			}
		}
		return true
	case *accesslogv3.AccessLogFilter_OrFilter:
		for _, sub := range x.OrFilter.GetFilters() {
			if evalFilter(t, sub, r, req) {
				return true
			}
		}
		return false
	case *accesslogv3.AccessLogFilter_HeaderFilter:
		h := x.HeaderFilter.GetHeader()
		v, present := req[h.GetName()]
		hit, err := headerMatches(h, v, present)
		if err != nil {
			t.Errorf("local_reply_config: %v", err)
		}
		return hit
	case *accesslogv3.AccessLogFilter_StatusCodeFilter:
		c := x.StatusCodeFilter.GetComparison()
		v := int(c.GetValue().GetDefaultValue())
		switch c.GetOp() {
		case accesslogv3.ComparisonFilter_EQ:
			return r.status == v
		case accesslogv3.ComparisonFilter_GE:
			return r.status >= v
		case accesslogv3.ComparisonFilter_LE:
			return r.status <= v
		}
	case *accesslogv3.AccessLogFilter_ResponseFlagFilter:
		if len(x.ResponseFlagFilter.GetFlags()) == 0 {
			return r.flags != ""
		}
		return slices.Contains(x.ResponseFlagFilter.GetFlags(), r.flags)
	case *accesslogv3.AccessLogFilter_ExtensionFilter:
		if e, ok := unpack(t, x.ExtensionFilter.GetName(), x.ExtensionFilter.GetTypedConfig()).(*celv3.ExpressionFilter); ok && e.GetExpression() == envoyOwnReplyCEL {
			return celOwnReply(r)
		}
	}
	t.Errorf("local_reply_config: filter %v is not modelled by this check", f)
	return false
}

// renderJSONFormat substitutes the format commands a local reply body may use.
func renderJSONFormat(t tb, v *structpb.Value, r localReply) any {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		out := map[string]any{}
		for key, f := range k.StructValue.GetFields() {
			out[key] = renderJSONFormat(t, f, r)
		}
		return out
	case *structpb.Value_StringValue:
		s := strings.NewReplacer("%LOCAL_REPLY_BODY%", r.body, "%RESPONSE_CODE_DETAILS%", r.details,
			"%RESPONSE_FLAGS%", r.flags, "%RESPONSE_CODE%", fmt.Sprint(r.status)).Replace(k.StringValue)
		if strings.Count(s, "%") >= 2 {
			t.Errorf("local_reply_config: %q uses a command this check does not model", k.StringValue)
		}
		return s
	case *structpb.Value_NullValue:
		return nil
	}
	return v.AsInterface()
}

// replyRequest is the request a local reply answers, as the mappers' header filters see it:
// client is the path the client sent (what oaierr.FormatFor decides the error format from),
// headers the request headers at the time of the reply.
type replyRequest struct {
	client  string
	headers map[string]string
}

// replyRequests: every path a client may send (FormatFor's Messages paths and lookalikes),
// each as a reply before routing sees it (:path the client's, no x-envoy-original-path) and
// after the router forwarded and the upstream phase rewrote :path in the shared header map
// (upstream_request.cc:388), the client's path kept in x-envoy-original-path (router.cc:606):
// to a provider path, and to /v1/messages (a chat completion sent to an Anthropic backend).
// And a reply without request headers (a codec error).
func replyRequests() []replyRequest {
	out := []replyRequest{{client: "", headers: nil}}
	for _, p := range []string{"/v1/messages", "/v1/messages?beta=true", "/v1/messages/", "/v1/messages/?x=1",
		"/v1/messagesx", "/v1/messages/x", "/V1/MESSAGES", "/x/v1/messages", "/v1/messages/count_tokens",
		"/v1/chat/completions", "/v1/chat/completions?x=/v1/messages", "/v1/embeddings", "/"} {
		out = append(out,
			replyRequest{p, map[string]string{":path": p}},
			replyRequest{p, map[string]string{":path": "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke", "x-envoy-original-path": p}},
			replyRequest{p, map[string]string{":path": "/v1/messages", "x-envoy-original-path": p}},
		)
	}
	return out
}

// checkLocalReplies runs each reply, for each request, through the mappers as
// LocalReplyImpl::rewrite does (local_reply.cc:180-205, first matching mapper wins): Envoy's
// own replies become error JSON in the client's format (oaierr.FormatFor of its path) with
// the type aigw uses for the status, aigw's own pass unchanged.
func checkLocalReplies(t tb, h *hcmv3.HttpConnectionManager) {
	lr := h.GetLocalReplyConfig()
	if lr.GetBodyFormat() != nil {
		t.Errorf("hcm %s: local_reply_config.body_format applies to every local reply and would wrap aigw's own JSON again; use mappers", h.GetStatPrefix())
	}
	// One request's faults are reported (a broken mapper fails hundreds of cases alike).
	for _, q := range replyRequests() {
		failed := false
		for _, r := range localReplies {
			var mapper *hcmv3.ResponseMapper
			for _, m := range lr.GetMappers() {
				if evalFilter(t, m.GetFilter(), r, q.headers) {
					mapper = m
					break
				}
			}
			where := fmt.Sprintf("hcm %s: %s (%d, details %s) on %q (request headers %v)", h.GetStatPrefix(), r.name, r.status, r.details, q.client, q.headers)
			if r.aigw {
				if mapper != nil && (mapper.GetBodyFormatOverride() != nil || mapper.GetBody() != nil || mapper.GetStatusCode() != nil) {
					t.Errorf("%s: aigw's own reply, already in the client's format, is rewritten by a local_reply mapper", where)
					failed = true
				}
				continue
			}
			if mapper == nil || mapper.GetBodyFormatOverride().GetJsonFormat() == nil {
				t.Errorf("%s: Envoy's own reply stays plain text: no local_reply mapper with json_format matches it", where)
				failed = true
				continue
			}
			if mapper.GetStatusCode() != nil {
				t.Errorf("%s: the mapper changes the status", where)
				failed = true
			}
			if ct := mapper.GetBodyFormatOverride().GetContentType(); ct != "" && ct != "application/json" {
				t.Errorf("%s: mapper content_type %q", where, ct)
				failed = true
			}
			body := renderJSONFormat(t, structpb.NewStructValue(mapper.GetBodyFormatOverride().GetJsonFormat()), r)
			js, _ := json.Marshal(body)
			if f := oaierr.FormatFor(q.client); !checkErrorBody(t, where+" (a client reading "+formatName(f)+" errors)", js, r.status, f) {
				failed = true
			}
		}
		if failed {
			return
		}
	}
}

// checkErrorBody: js is an error in format f (errorShape) for status, with the type aigw uses
// for that status (oaierr) and a message.
func checkErrorBody(t tb, where string, js []byte, status int, f oaierr.Format) bool {
	e, err := errorShape(js, f)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return false
	}
	ok := true
	typ := oaierr.TypeForStatus(status)
	if f == oaierr.FormatAnthropic {
		typ = oaierr.AnthropicType(status, typ)
	}
	if msg, _ := e["message"].(string); strings.TrimSpace(msg) == "" {
		t.Errorf("%s: renders an empty message", where)
		ok = false
	}
	if e["type"] != typ {
		t.Errorf("%s: renders %s with type %v; aigw uses %q for %d in that format", where, js, e["type"], typ, status)
		ok = false
	}
	return ok
}

// formatName names an error format in messages.
func formatName(f oaierr.Format) string {
	if f == oaierr.FormatAnthropic {
		return "Anthropic's"
	}
	return "OpenAI's"
}

// errorShape returns the error object of js if js is an error in format f and nothing else:
// OpenAI's {"error":{message,type,param,code}} or Anthropic's {"type":"error","error":{type,message}}.
func errorShape(js []byte, f oaierr.Format) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("renders %s, not JSON", js)
	}
	e, _ := doc["error"].(map[string]any)
	keys, top := []string{"message", "type", "param", "code"}, 1
	shape := `{"error":{"message","type","param","code"}} (OpenAI's)`
	if f == oaierr.FormatAnthropic {
		keys, top = []string{"type", "message"}, 2
		shape = `{"type":"error","error":{"type","message"}} (Anthropic's)`
		if doc["type"] != "error" {
			return nil, fmt.Errorf("renders %s, not %s", js, shape)
		}
	}
	if len(doc) != top || len(e) != len(keys) {
		return nil, fmt.Errorf("renders %s, not %s", js, shape)
	}
	for _, k := range keys {
		if _, ok := e[k]; !ok {
			return nil, fmt.Errorf("renders %s without error.%s, not %s", js, k, shape)
		}
	}
	return e, nil
}

// ---- Upstream TLS (req. 4) ----

// tlsOf returns the UpstreamTlsContext of a transport socket (nil if not TLS).
func tlsOf(t tb, ts *corev3.TransportSocket) *tlsv3.UpstreamTlsContext {
	if ts == nil {
		return nil
	}
	u, _ := unpack(t, ts.GetName(), ts.GetTypedConfig()).(*tlsv3.UpstreamTlsContext)
	return u
}

// protocolOptions returns the cluster's upstream HttpProtocolOptions (nil if none).
func protocolOptions(t tb, c *clusterv3.Cluster) *upstreamhttpv3.HttpProtocolOptions {
	a, ok := c.GetTypedExtensionProtocolOptions()[hcmProtocolOpts]
	if !ok {
		return nil
	}
	po, _ := unpack(t, c.GetName(), a).(*upstreamhttpv3.HttpProtocolOptions)
	return po
}

// tlsMatchFor picks the transport_socket_matches entry Envoy would use for an endpoint: the
// first whose match fields all equal the endpoint's envoy.transport_socket_match metadata
// (source/common/upstream/transport_socket_match_impl.cc); nil means the cluster default.
func tlsMatchFor(c *clusterv3.Cluster, md *corev3.Metadata) *clusterv3.Cluster_TransportSocketMatch {
	epMD := md.GetFilterMetadata()[transportSocketMatchNS].GetFields()
	for _, m := range c.GetTransportSocketMatches() {
		all := true
		for k, v := range m.GetMatch().GetFields() {
			if ev, ok := epMD[k]; !ok || ev.GetStringValue() != v.GetStringValue() {
				all = false
			}
		}
		if all {
			return m
		}
	}
	return nil
}

// checkUpstreamTLS applies to clusters that speak TLS: each endpoint gets its own SNI from a
// transport_socket_match (auto_sni would take the client's :authority, computed in
// router.cc:611-640 before the upstream phase rewrites the host), verified against a CA with a
// SAN that names the same host the upstream phase sends as :authority.
func checkUpstreamTLS(t tb, c *clusterv3.Cluster, cfg *config.Config) {
	po := protocolOptions(t, c)
	if po.GetUpstreamHttpProtocolOptions().GetAutoSni() {
		t.Errorf("cluster %s: auto_sni takes SNI from the client's :authority before the upstream phase rewrites it; use transport_socket_matches per endpoint", c.GetName())
	}
	def := tlsOf(t, c.GetTransportSocket())
	if len(c.GetTransportSocketMatches()) == 0 && def == nil {
		if po.GetAutoConfig() != nil {
			t.Errorf("cluster %s: auto_config (ALPN) without TLS: Envoy rejects the cluster (upstream_impl.cc:1577-1590)", c.GetName())
		}
		return // plaintext cluster (the compose demo's mocks)
	}
	if po.GetAutoConfig() != nil {
		if def == nil {
			t.Errorf("cluster %s: auto_config needs an ALPN (TLS) default transport_socket (upstream_impl.cc:1577-1590)", c.GetName())
		}
		for _, m := range c.GetTransportSocketMatches() {
			if tlsOf(t, m.GetTransportSocket()) == nil {
				t.Errorf("cluster %s: transport_socket_match %s is not TLS: auto_config needs ALPN on every match", c.GetName(), m.GetName())
			}
		}
	}
	for _, loc := range c.GetLoadAssignment().GetEndpoints() {
		for _, ep := range loc.GetLbEndpoints() {
			host := ep.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
			name := ep.GetMetadata().GetFilterMetadata()[cfg.EndpointMetadataNamespace].GetFields()[cfg.EndpointMetadataKey].GetStringValue()
			where := fmt.Sprintf("cluster %s endpoint %s (%s)", c.GetName(), host, name)
			m := tlsMatchFor(c, ep.GetMetadata())
			if m == nil {
				t.Errorf("%s: no transport_socket_match for its %s metadata: it would use the cluster default", where, transportSocketMatchNS)
				continue
			}
			u := tlsOf(t, m.GetTransportSocket())
			if u == nil {
				t.Errorf("%s: transport_socket_match %s is not TLS", where, m.GetName())
				continue
			}
			if u.GetSni() != host {
				t.Errorf("%s: transport_socket_match %s sends SNI %q", where, m.GetName(), u.GetSni())
			}
			if be, ok := cfg.Backend(name); ok && be.Host != host {
				t.Errorf("%s: backend %s sends :authority %q; the endpoint's TLS name is %q", where, name, be.Host, host)
			}
			if ep.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue() != 443 {
				t.Errorf("%s: TLS endpoint not on port 443", where)
			}
			vc := u.GetCommonTlsContext().GetValidationContext()
			if vc.GetTrustedCa() == nil {
				t.Errorf("%s: no trusted_ca: the provider's certificate is not verified", where)
			}
			san := false
			for _, s := range vc.GetMatchTypedSubjectAltNames() {
				if s.GetSanType() == tlsv3.SubjectAltNameMatcher_DNS && s.GetMatcher().GetExact() == host {
					san = true
				}
			}
			if !san {
				t.Errorf("%s: no DNS SAN matcher for %q: any certificate the CA signed would do", where, host)
			}
		}
	}
}

// TestLocalReplyDetails ties the details the local_reply model uses to their sources: Envoy's
// constants and call sites, and the details aigw's two phases pass with their replies.
func TestLocalReplyDetails(t *testing.T) {
	root := repoRoot(t)
	read := func(path string) string {
		t.Helper()
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	envoy := func(elem ...string) string {
		t.Helper()
		p, err := envoysrc.Path(elem...)
		if err != nil {
			t.Fatal(err)
		}
		return read(p)
	}
	tests := []struct {
		where, text, want string
	}{
		{"stream_info.h", envoy("envoy", "stream_info", "stream_info.h"), `DirectResponse = "direct_response"`},
		{"stream_info.h", envoy("envoy", "stream_info", "stream_info.h"), `RequestPayloadTooLarge = "request_payload_too_large"`},
		{"stream_info.h", envoy("envoy", "stream_info", "stream_info.h"), `RouteNotFound = "route_not_found"`},
		{"stream_info.h", envoy("envoy", "stream_info", "stream_info.h"), `NoHealthyUpstream = "no_healthy_upstream"`},
		// The golang filter's own 413 when the body outgrows the buffer limit.
		{"processor_state.cc", envoy("contrib", "golang", "filters", "http", "source", "processor_state.cc"), "Http::Code::PayloadTooLarge,\n                Http::CodeUtility::toString(Http::Code::PayloadTooLarge), nullptr, absl::nullopt,\n                StreamInfo::ResponseCodeDetails::get().RequestPayloadTooLarge"},
		// The upstream phase's send_response (abi_impl.cc).
		{"abi_impl.cc", envoy("source", "extensions", "filters", "http", "dynamic_modules", "abi_impl.cc"), "filter->sendLocalReply(static_cast<Http::Code>(status_code), body, modify_headers, 0,\n                         \"dynamic_module\")"},
		// aigw's router phase: every local reply's details start with aigw_.
		{"filter/router.go", read(filepath.Join(root, "filter", "router.go")), `SendLocalReply(e.Status, string(e.Render(r.format)), "aigw_"+`},
		{"filter/router.go", read(filepath.Join(root, "filter", "router.go")), `"aigw_models")`},
		{"internal/golangabi/requests.go", read(filepath.Join(root, "internal", "golangabi", "requests.go")), `"aigw_internal_error"`},
		{"filter/router.go", read(filepath.Join(root, "filter", "router.go")), `"aigw_overloaded")`},
	}
	for _, tc := range tests {
		if !strings.Contains(tc.text, tc.want) {
			t.Errorf("%s no longer contains %q: re-check the local_reply_config filter (%s) and localReplies", tc.where, tc.want, envoyOwnReplyCEL)
		}
	}
	for _, r := range localReplies {
		if !r.aigw && !celOwnReply(r) {
			t.Errorf("%s: Envoy's own reply classified as aigw's", r.name)
		}
		if r.aigw && celOwnReply(r) {
			t.Errorf("%s: aigw's reply classified as Envoy's own", r.name)
		}
	}
}

// TestHeaderMatches checks the header matcher model against Envoy's semantics, case by case
// from source/common/http/header_utility.h (present match :83-93, value matchers :111-126,
// no specifier = present match, header_utility.cc:118-123) and RE2 full matching for
// safe_regex (source/common/common/regex.h:35).
func TestHeaderMatches(t *testing.T) {
	present := func(p bool) *routev3.HeaderMatcher {
		return &routev3.HeaderMatcher{Name: "h", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: p}}
	}
	exact := func(v string) *routev3.HeaderMatcher {
		return &routev3.HeaderMatcher{Name: "h", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}}}
	}
	regex := func(re string) *routev3.HeaderMatcher {
		return &routev3.HeaderMatcher{Name: "h", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}}}
	}
	with := func(h *routev3.HeaderMatcher, invert, treatMissing bool) *routev3.HeaderMatcher {
		h.InvertMatch, h.TreatMissingHeaderAsEmpty = invert, treatMissing
		return h
	}
	const messages = `/v1/messages/?(\?.*)?`
	tests := []struct {
		name    string
		h       *routev3.HeaderMatcher
		v       string
		present bool
		want    bool
	}{
		{"present_match true, present", present(true), "x", true, true},
		{"present_match true, missing", present(true), "", false, false},
		{"present_match true inverted, present", with(present(true), true, false), "x", true, false},
		{"present_match true inverted, missing", with(present(true), true, false), "", false, true},
		{"present_match false, present", present(false), "x", true, false},
		{"present_match false, missing", present(false), "", false, true},
		{"present_match false inverted, missing", with(present(false), true, false), "", false, false},
		{"present_match false, missing treated as empty", with(present(false), false, true), "", false, false},
		{"no specifier, present", &routev3.HeaderMatcher{Name: "h"}, "x", true, true},
		{"no specifier, missing", &routev3.HeaderMatcher{Name: "h"}, "", false, false},
		{"exact, equal", exact("a"), "a", true, true},
		{"exact, other", exact("a"), "b", true, false},
		{"exact inverted, other", with(exact("a"), true, false), "b", true, true},
		{"exact, missing", exact(""), "", false, false},
		{"exact inverted, missing: still no match", with(exact("a"), true, false), "", false, false},
		{"exact empty, missing treated as empty", with(exact(""), false, true), "", false, true},
		{"regex, whole value", regex(messages), "/v1/messages", true, true},
		{"regex, query", regex(messages), "/v1/messages?beta=true", true, true},
		{"regex, trailing slash and query", regex(messages), "/v1/messages/?x", true, true},
		{"regex, not a prefix match", regex(messages), "/v1/messagesx", true, false},
		{"regex, not a substring match", regex(messages), "/x/v1/messages", true, false},
		{"regex, longer path", regex(messages), "/v1/messages/count_tokens", true, false},
	}
	for _, tc := range tests {
		got, err := headerMatches(tc.h, tc.v, tc.present)
		if err != nil || got != tc.want {
			t.Errorf("%s: headerMatches = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
