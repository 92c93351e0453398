package host_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/internal/credentials/credtest"
	"github.com/aigw/aigw/test/host"
	"github.com/aigw/aigw/test/mockprovider"
)

// This file is the environment of the translation, credential and failover e2e tests: a
// host whose backends are described field by field (schema, model_override, api_version,
// key_file or key_env), each in front of its own strict mock provider, and one cluster plus
// one x-ai-eg-backend route per backend. Tests add clusters with priorities through extra.

// trBackend is one aigw backend and the mock behind it.
type trBackend struct {
	name   string
	schema mockprovider.Schema
	// serves are the aigw backend's models; override its model_override (a string or a
	// map, nil for none); apiVersion its api_version (also required by the mock).
	serves     []string
	override   any
	apiVersion string
	// mockModels are the only models (Azure: deployments) the mock accepts.
	mockModels []string
	// key is the backend's secret; keyFile selects key_file (written under the test's
	// temporary directory) instead of key_env. noCheck leaves the mock's key check off
	// (the rotation test asserts the recorded header instead).
	key      string
	keyFile  bool
	noCheck  bool
	mockKey  string // when set, the key the mock wants instead of key (a provider rejecting ours)
	toolArgs string
	gzip     bool
	// metricAttrs is the backend's metric_attributes.
	metricAttrs map[string]string
	// gcp, for the Vertex AI schemas: the fake token endpoint whose service
	// account key becomes the backend's key_file (auth gcp_service_account)
	// and whose issued tokens the mock accepts; project and region too.
	gcp *credtest.Google
	// entra, for the Azure schema: auth azure_entra with this fake Entra ID endpoint (tenant
	// entraTenant, client entraClient); key is then the client secret, and the mock accepts
	// only tokens the endpoint issued.
	entra *credtest.Entra
	// aws, for the Bedrock Claude schema (aws_bedrock_anthropic): the mock
	// STS whose web-identity credentials the mock Bedrock accepts; auth
	// aws_sigv4 in region us-east-1 (the host's env must point the SDK's
	// default chain at this STS: awsWebIdentityEnv).
	aws   *mockprovider.STS
	reply string // the mock's reply text (default "Hello from <name>.")
	fail  int    // the mock's FailStatus
}

// Vertex AI project and region of every Vertex backend in these tests.
const trProject, trRegion = "aigw-test", "us-east5"

// The Entra ID tenant and app of every azure_entra backend in these tests.
const entraTenant, entraClient = "contoso", "aigw-app"

func (b trBackend) authType() string {
	if b.entra != nil {
		return "azure_entra"
	}
	if b.aws != nil {
		return "aws_sigv4"
	}
	switch b.schema {
	case mockprovider.SchemaVertexGemini, mockprovider.SchemaVertexAnthropic:
		return "gcp_service_account"
	case mockprovider.SchemaAzure:
		return "azure_api_key"
	case mockprovider.SchemaAnthropic:
		return "anthropic_api_key"
	}
	return "bearer"
}

// authHeader is the one credential header the backend's provider gets, and its value.
func (b trBackend) authHeader(key string) (string, string) {
	switch b.schema {
	case mockprovider.SchemaAzure:
		return "Api-Key", key
	case mockprovider.SchemaAnthropic:
		return "X-Api-Key", key
	}
	return "Authorization", "Bearer " + key
}

type trMock struct {
	b       trBackend
	srv     *mockprovider.Server
	bedrock *mockprovider.Bedrock // instead of srv, for a trBackend with aws
	http    *httptest.Server
	keyPath string // key_file, when keyFile
	keyEnv  string // key_env, otherwise
}

func (m *trMock) addr() string { return strings.TrimPrefix(m.http.URL, "http://") }

func (m *trMock) endpoint(prio int) host.Endpoint {
	return host.Endpoint{Priority: prio, Addr: m.addr(), Metadata: map[string]map[string]string{"aigw": {"backend": m.b.name}}}
}

type trEnv struct {
	t     *testing.T
	h     *host.Host
	hs    []*host.Host // every host process (trOptions.hosts); h is the first
	mocks map[string]*trMock
	dir   string
}

// trOptions shapes the host beyond one route per backend.
type trOptions struct {
	backends []trBackend
	// clusters and routes are added before the per-backend routes (routes match in order,
	// and the per-backend routes match on x-ai-eg-backend only).
	clusters func(m map[string]*trMock) []host.Cluster
	routes   func(m map[string]*trMock) []host.Route
	logLevel string
	env      []string
	// metrics replaces the config's metrics member (default: testMetrics).
	metrics any
	// quota is the config's quota member (raw JSON), none when empty.
	quota string
	// hosts is the number of host processes sharing the mocks (default 1).
	hosts int
}

func trAigwConfig(t *testing.T, mocks []*trMock, metrics any, quota string) []byte {
	type auth struct {
		Type    string `json:"type"`
		KeyFile string `json:"key_file,omitempty"`
		KeyEnv  string `json:"key_env,omitempty"`
		// azure_entra
		TenantID string `json:"tenant_id,omitempty"`
		ClientID string `json:"client_id,omitempty"`
		TokenURL string `json:"token_url,omitempty"`
	}
	type backend struct {
		Name          string            `json:"name"`
		Models        []string          `json:"models"`
		Schema        string            `json:"schema"`
		ModelOverride any               `json:"model_override,omitempty"`
		APIVersion    string            `json:"api_version,omitempty"`
		Project       string            `json:"project,omitempty"`
		Region        string            `json:"region,omitempty"`
		Auth          auth              `json:"auth"`
		MetricAttrs   map[string]string `json:"metric_attributes,omitempty"`
	}
	if metrics == nil {
		metrics = testMetrics
	}
	doc := struct {
		Backends  []backend       `json:"backends"`
		Selection string          `json:"client_backend_selection"`
		Metrics   any             `json:"metrics"`
		Quota     json.RawMessage `json:"quota,omitempty"`
	}{Selection: "configured", Metrics: metrics}
	if quota != "" {
		doc.Quota = json.RawMessage(quota)
	}
	for _, m := range mocks {
		b := m.b
		nb := backend{Name: b.name, Models: b.serves, Schema: string(b.schema),
			ModelOverride: b.override, APIVersion: b.apiVersion,
			Auth: auth{Type: b.authType(), KeyFile: m.keyPath, KeyEnv: m.keyEnv}, MetricAttrs: b.metricAttrs}
		if b.gcp != nil {
			nb.Project, nb.Region = trProject, trRegion
		}
		if b.entra != nil {
			nb.Auth.TenantID, nb.Auth.ClientID, nb.Auth.TokenURL = entraTenant, entraClient, b.entra.TokenURL(entraTenant)
		}
		if b.aws != nil {
			nb.Region = "us-east-1"
		}
		doc.Backends = append(doc.Backends, nb)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeKeyFile replaces a key file the way a secret rotation does: write a new file, then
// rename it over the old one, so a reader sees either key whole.
func writeKeyFile(t *testing.T, path, key string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func newTrEnv(t *testing.T, o trOptions) *trEnv {
	t.Helper()
	e := &trEnv{t: t, mocks: map[string]*trMock{}, dir: t.TempDir()}
	var ordered []*trMock
	hostEnv := append([]string(nil), o.env...)
	for _, b := range o.backends {
		m := &trMock{b: b}
		apiKey := b.key
		if b.noCheck {
			apiKey = ""
		}
		if b.mockKey != "" {
			apiKey = b.mockKey
		}
		opts := mockprovider.Options{Name: b.name, Schema: b.schema, APIKey: apiKey,
			Models: b.mockModels, APIVersion: b.apiVersion, ToolArguments: b.toolArgs, Gzip: b.gzip,
			Reply: b.reply, FailStatus: b.fail}
		if b.gcp != nil {
			opts.Project, opts.Region = trProject, trRegion
			opts.TokenCheck = func(tok string) bool { _, ok := b.gcp.Issued(tok); return ok }
		}
		if b.entra != nil {
			opts.APIKey = ""
			opts.TokenCheck = func(tok string) bool { _, ok := b.entra.Issued(tok); return ok }
		}
		if b.aws != nil {
			m.bedrock = mockprovider.NewBedrock(mockprovider.BedrockOptions{Name: b.name, KeysFrom: b.aws.Issued, Models: b.mockModels})
			m.http = httptest.NewServer(m.bedrock)
		} else {
			m.srv = mockprovider.New(opts)
			m.http = httptest.NewServer(m.srv)
		}
		t.Cleanup(m.http.Close)
		switch {
		case b.aws != nil:
			// No key of its own: the SDK's default chain, from the host's env.
		case b.gcp != nil:
			m.keyPath = filepath.Join(e.dir, b.name+".json")
			b.gcp.ServiceAccount(t, m.keyPath, b.name+"@"+trProject+".iam.gserviceaccount.com")
		case b.keyFile:
			m.keyPath = filepath.Join(e.dir, b.name+".key")
			writeKeyFile(t, m.keyPath, b.key)
		default:
			m.keyEnv = "AIGW_TR_KEY_" + strings.ToUpper(strings.ReplaceAll(b.name, "-", "_"))
			hostEnv = append(hostEnv, m.keyEnv+"="+b.key)
		}
		e.mocks[b.name] = m
		ordered = append(ordered, m)
	}
	cfg := trAigwConfig(t, ordered, o.metrics, o.quota)
	anyCfg, err := host.StringValueAny(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var clusters []host.Cluster
	var routes []host.Route
	if o.clusters != nil {
		clusters = o.clusters(e.mocks)
	}
	if o.routes != nil {
		routes = o.routes(e.mocks)
	}
	for _, m := range ordered {
		clusters = append(clusters, host.Cluster{Name: "backend-" + m.b.name, Endpoints: []host.Endpoint{m.endpoint(0)}})
		routes = append(routes, host.Route{Name: "backend-" + m.b.name,
			Headers: []host.HeaderMatch{{Name: "x-ai-eg-backend", Value: m.b.name}},
			Prefix:  "/", Cluster: "backend-" + m.b.name, Retries: 1,
			RetryOn: []string{"reset", "connect-failure"}, TimeoutMS: 20000})
	}
	routes = append(routes, catchAll())
	for range max(o.hosts, 1) {
		e.hs = append(e.hs, host.StartT(t, host.Config{
			Workers:        2,
			LogLevel:       o.logLevel,
			PluginConfig:   anyCfg,
			UpstreamConfig: cfg,
			Clusters:       clusters,
			Routes:         routes,
			Env:            hostEnv,
		}))
	}
	e.h = e.hs[0]
	return e
}

// clientKey is what every test client sends as its own credential: it must never reach a
// provider (the gateway authenticates with the backend's key).
const clientKey = "sk-client-CANARY-5d1e0c7b-must-not-reach-upstream"

func (e *trEnv) client(opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(e.h.URL() + "/v1/"),
		option.WithAPIKey(clientKey),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(30 * time.Second),
	}
	return openai.NewClient(append(base, opts...)...)
}

// to routes a request to one backend with the body's backend member, the way a client picks
// a deployment.
func to(backend string) option.RequestOption { return option.WithJSONSet("backend", backend) }

// lastRequest is the last request the backend's mock recorded.
func (e *trEnv) lastRequest(name string) mockprovider.Request {
	e.t.Helper()
	r, ok := e.mocks[name].srv.LastRequest()
	if !ok {
		e.t.Fatalf("%s got no request", name)
	}
	return r
}

// requireOneCredential asserts the request carries exactly the backend's own credential
// header with its current key, no other credential header, and nothing of the client's.
func requireOneCredential(t *testing.T, b trBackend, r mockprovider.Request, key string) {
	t.Helper()
	want, value := b.authHeader(key)
	for _, h := range []string{"Authorization", "Api-Key", "X-Api-Key"} {
		got := r.Header.Values(h)
		if h == want {
			if len(got) != 1 || got[0] != value {
				t.Errorf("%s: %s has %d value(s), want exactly the backend's key", b.name, h, len(got))
			}
			continue
		}
		if len(got) != 0 {
			t.Errorf("%s: unexpected credential header %s", b.name, h)
		}
	}
	raw, _ := json.Marshal(r)
	if strings.Contains(string(raw), "CANARY-5d1e0c7b") {
		t.Errorf("%s: the client's credential reached the provider", b.name)
	}
}

// jsonBody decodes a recorded request body.
func jsonBody(t *testing.T, r mockprovider.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("upstream body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// weatherTool is the tool definition the tool tests offer.
func weatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Current weather in a city"),
		Parameters: openai.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required":   []string{"city"},
		},
	})
}

const weatherArgs = `{"city":"Paris","unit":"celsius"}`

// errorJSON decodes a client-visible OpenAI error body and checks its four members.
func errorJSON(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var doc struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Error == nil {
		t.Fatalf("not an OpenAI error: %s", body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := doc.Error[k]; !ok {
			t.Errorf("error member %q missing: %s", k, body)
		}
	}
	return doc.Error
}

// rawPost sends a body as is (for requests the SDK would not build) and returns the status,
// headers and body.
func rawPost(t *testing.T, url, body string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	resp, b := send(t, http.MethodPost, url, body, hdr)
	return resp.StatusCode, resp.Header, b
}

// access waits for the access log of the request with this x-request-id.
func (e *trEnv) access(id string) host.AccessLog {
	e.t.Helper()
	a, err := e.h.WaitAccess(id, 10*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}
