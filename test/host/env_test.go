package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/host"
	"github.com/aigw/aigw/test/mockprovider"
)

// backendSpec is one mock provider plus its aigw backend entry.
type backendSpec struct {
	name     string
	schema   mockprovider.Schema
	models   []string // what the mock accepts
	serves   []string // models the aigw backend lists
	override map[string]string
	auth     string
}

// The topology mirrors envoy.yaml: two deployments of gpt-4o-mini, a gpt-4o failover pair
// (OpenAI at priority 0, Anthropic at priority 1) and a catch-all JSON 404.
var defaultBackends = []backendSpec{
	{name: "deploy-a", schema: mockprovider.SchemaOpenAI, models: []string{"gpt-4o-mini", "text-embedding-3-small"},
		serves: []string{"gpt-4o-mini", "text-embedding-3-small"}, auth: "bearer"},
	{name: "deploy-b", schema: mockprovider.SchemaOpenAI, models: []string{"gpt-4o-mini"},
		serves: []string{"gpt-4o-mini"}, auth: "bearer"},
	{name: "openai-primary", schema: mockprovider.SchemaOpenAI, models: []string{"gpt-4o"},
		serves: []string{"gpt-4o"}, auth: "bearer"},
	{name: "anthropic-fallback", schema: mockprovider.SchemaAnthropic, models: []string{"claude-3-5-haiku-latest"},
		serves: []string{"gpt-4o"}, override: map[string]string{"gpt-4o": "claude-3-5-haiku-latest"}, auth: "anthropic_api_key"},
}

type mock struct {
	spec  backendSpec
	srv   *mockprovider.Server
	http  *httptest.Server
	key   string
	count atomic.Int64 // every request, beyond the mock's bounded history
	// resetHeld counts responses held open (envOptions.holdEnd) that the
	// host reset before their end of stream.
	resetHeld atomic.Int64
}

type env struct {
	t     *testing.T
	h     *host.Host
	mocks map[string]*mock
}

type envOptions struct {
	workers     int
	backends    []backendSpec
	clusters    func(m map[string]*mock) []host.Cluster
	routes      func(m map[string]*mock) []host.Route
	noAccessLog bool
	golangFirst bool
	slowStream  bool // flush every write and pause, so each SSE event is its own upstream read
	// holdEnd: a mock that has written its whole response holds it open,
	// without its end of stream, until the attempt is reset (at most 10 s):
	// the client reads the last event before the end of stream can reach
	// the filter.
	holdEnd bool
	// editConfig, when set, changes the aigw config document both phases load.
	editConfig func(doc []byte) []byte
	// editUpstreamConfig, when set, changes only the upstream phase's copy
	// (after editConfig): two phases running different documents.
	editUpstreamConfig func(doc []byte) []byte
	// expectProblems: stderr lines the test provokes on purpose (host.Config.ExpectProblems).
	expectProblems []string
}

func keyEnv(name string) string {
	return "AIGW_HOST_TEST_KEY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// slowWriter makes a streaming mock deliver each write separately: flushed, then a pause long
// enough that the host reads it on its own even on a loaded two-core machine.
type slowWriter struct {
	http.ResponseWriter
}

func (w slowWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	time.Sleep(10 * time.Millisecond)
	return n, err
}

func (w slowWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// testMetrics serves the library's metrics on a loopback port of the
// kernel's choice (the default, :1064 on every interface, is for Envoy).
var testMetrics = map[string]string{"listen_address": "127.0.0.1:0"}

// testMetricsJSON is testMetrics as a config member, for literal configs.
const testMetricsJSON = `"metrics":{"listen_address":"127.0.0.1:0"}`

func aigwConfig(specs []backendSpec) []byte {
	type auth struct {
		Type   string `json:"type"`
		KeyEnv string `json:"key_env,omitempty"`
	}
	type backend struct {
		Name          string            `json:"name"`
		Models        []string          `json:"models"`
		Schema        string            `json:"schema"`
		ModelOverride map[string]string `json:"model_override,omitempty"`
		Auth          auth              `json:"auth"`
	}
	doc := struct {
		Backends  []backend         `json:"backends"`
		Selection string            `json:"client_backend_selection"`
		Metrics   map[string]string `json:"metrics"`
	}{Selection: "configured", Metrics: testMetrics}
	for _, s := range specs {
		doc.Backends = append(doc.Backends, backend{Name: s.name, Models: s.serves, Schema: string(s.schema),
			ModelOverride: s.override, Auth: auth{Type: s.auth, KeyEnv: keyEnv(s.name)}})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

func ep(m *mock, prio int) host.Endpoint {
	return epWithMeta(m, prio, m.spec.name)
}

func epWithMeta(m *mock, prio int, backend string) host.Endpoint {
	return host.Endpoint{Priority: prio, Addr: strings.TrimPrefix(m.http.URL, "http://"),
		Metadata: map[string]map[string]string{"aigw": {"backend": backend}}}
}

func defaultClusters(m map[string]*mock) []host.Cluster {
	var cs []host.Cluster
	for _, name := range []string{"deploy-a", "deploy-b", "openai-primary", "anthropic-fallback"} {
		cs = append(cs, host.Cluster{Name: name, Endpoints: []host.Endpoint{ep(m[name], 0)}})
	}
	return append(cs,
		host.Cluster{Name: "model-gpt-4o-mini", Endpoints: []host.Endpoint{ep(m["deploy-a"], 0), ep(m["deploy-b"], 0)}},
		host.Cluster{Name: "failover-gpt-4o", Endpoints: []host.Endpoint{ep(m["openai-primary"], 0), ep(m["anthropic-fallback"], 1)}},
	)
}

const catchAll404 = `{"error":{"message":"no backend serves this request: name a configured model or backend","type":"invalid_request_error","param":"model","code":"model_not_found"}}`

func backendRoutes(names ...string) []host.Route {
	var rs []host.Route
	for _, n := range names {
		rs = append(rs, host.Route{Name: "backend-" + n, Headers: []host.HeaderMatch{{Name: "x-ai-eg-backend", Value: n}},
			Prefix: "/", Cluster: n, Retries: 1, RetryOn: []string{"reset", "connect-failure"}, TimeoutMS: 20000})
	}
	return rs
}

func catchAll() host.Route {
	return host.Route{Name: "no-backend", Prefix: "/", Direct: &host.DirectResponse{Status: 404, Body: catchAll404,
		Headers: []host.HeaderMatch{{Name: "content-type", Value: "application/json"}}}}
}

func defaultRoutes(map[string]*mock) []host.Route {
	rs := backendRoutes("deploy-a", "deploy-b", "openai-primary", "anthropic-fallback")
	return append(rs,
		host.Route{Name: "model-gpt-4o-mini", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o-mini"}},
			Prefix: "/", Cluster: "model-gpt-4o-mini", Retries: 1,
			RetryOn: []string{"5xx", "reset", "connect-failure", "retriable-status-codes"}, RetriableStatusCodes: []int{429},
			PreviousHosts: 3, TimeoutMS: 20000},
		host.Route{Name: "model-text-embedding-3-small", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "text-embedding-3-small"}},
			Prefix: "/", Cluster: "deploy-a", Retries: 1, RetryOn: []string{"reset", "connect-failure"}, TimeoutMS: 20000},
		host.Route{Name: "model-gpt-4o", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o"}},
			Prefix: "/", Cluster: "failover-gpt-4o", Retries: 1,
			RetryOn: []string{"5xx", "reset", "connect-failure", "retriable-status-codes"}, RetriableStatusCodes: []int{429},
			PreviousPriorities: true, TimeoutMS: 20000},
		catchAll(),
	)
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.backends == nil {
		o.backends = defaultBackends
	}
	if o.clusters == nil {
		o.clusters = defaultClusters
	}
	if o.routes == nil {
		o.routes = defaultRoutes
	}
	if o.workers == 0 {
		o.workers = 2
	}
	e := &env{t: t, mocks: map[string]*mock{}}
	var hostEnv []string
	for _, s := range o.backends {
		m := &mock{spec: s, key: "sk-" + s.name + "-secret"}
		m.srv = mockprovider.New(mockprovider.Options{Name: s.name, Schema: s.schema, APIKey: m.key, Models: s.models})
		handler := http.Handler(m.srv)
		slow, hold := o.slowStream, o.holdEnd
		m.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.count.Add(1)
			if slow {
				w = slowWriter{w}
			}
			handler.ServeHTTP(w, r)
			if hold {
				http.NewResponseController(w).Flush()
				select {
				case <-r.Context().Done():
					m.resetHeld.Add(1)
				case <-time.After(10 * time.Second):
				}
			}
		}))
		t.Cleanup(m.http.Close)
		e.mocks[s.name] = m
		hostEnv = append(hostEnv, keyEnv(s.name)+"="+m.key)
	}
	cfg := aigwConfig(o.backends)
	if o.editConfig != nil {
		cfg = o.editConfig(cfg)
	}
	anyCfg, err := host.StringValueAny(cfg)
	if err != nil {
		t.Fatal(err)
	}
	upstreamCfg := cfg
	if o.editUpstreamConfig != nil {
		upstreamCfg = o.editUpstreamConfig(bytes.Clone(cfg))
	}
	e.h = host.StartT(t, host.Config{
		Workers:        o.workers,
		PluginConfig:   anyCfg,
		UpstreamConfig: upstreamCfg,
		Clusters:       o.clusters(e.mocks),
		Routes:         o.routes(e.mocks),
		NoAccessLog:    o.noAccessLog,
		GolangFirst:    o.golangFirst,
		Env:            hostEnv,
		ExpectProblems: o.expectProblems,
	})
	return e
}

func (e *env) client(opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(e.h.URL() + "/v1/"),
		option.WithAPIKey("sk-client-key-must-not-reach-upstream"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(30 * time.Second),
	}
	return openai.NewClient(append(base, opts...)...)
}

var reqSeq atomic.Int64

func newRequestID(t testing.TB) string {
	return fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano(), reqSeq.Add(1))
}

func (e *env) access(id string) host.AccessLog {
	e.t.Helper()
	a, err := e.h.WaitAccess(id, 10*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func metaString(a host.AccessLog, key string) string {
	v, _ := a.DynamicMetadata["io.envoy.ai_gateway"][key].(string)
	return v
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
