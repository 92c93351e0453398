package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aigw/aigw/bench/extproc"
	"github.com/aigw/aigw/test/host"
)

// The whole request path in-process: the C test host's whole-path bench mode
// (aigw-host --bench-path, test/host/csrc/bench.c) drives build/libaigw.so
// through both ABIs as Envoy does for one request — the golang filter's router
// phase, the router (route re-matched after the route cache was cleared, the
// retained body), and for the attempt the dynamic module's upstream phase
// (request headers, body, response headers, response body one read at a time),
// then the golang filter's encode side — with an in-memory upstream and no
// sockets. Every request is checked in the host: the routing header, the
// upstream request's headers (path, credential, provider headers, no routing
// headers) and its bytes equal to the first request's, which this file checks
// semantically; every client response's parts and event count.

// Whole-path backends: an OpenAI-compatible one with a model override and a
// bearer key, an Anthropic one (translation) with an x-api-key; both serve
// the bodies' model, so the client picks one with the body's backend member,
// or the route for the model picks the OpenAI one (openai-model).
const (
	wpOpenAIKey    = "sk-bench-openai-5c1e"
	wpAnthropicKey = "sk-ant-bench-9d27"
	wpOpenAIModel  = "gpt-4o-mini-2024-07-18"
	wpClaudeModel  = "claude-3-5-haiku-latest"
)

var wholePathConfigJSON = `{
  "backends": [
    {"name": "openai-primary", "models": ["gpt-4o-mini"], "schema": "openai",
     "model_override": {"gpt-4o-mini": "` + wpOpenAIModel + `"},
     "auth": {"type": "bearer", "key_env": "AIGW_BENCH_OPENAI_KEY"}},
    {"name": "anthropic", "models": ["gpt-4o-mini"], "schema": "anthropic", "api_version": "2023-06-01",
     "model_override": "` + wpClaudeModel + `",
     "auth": {"type": "anthropic_api_key", "key_env": "AIGW_BENCH_ANTHROPIC_KEY"}}
  ],
  "client_backend_selection": "configured"
}`

// PathScenario is one kind of request through the whole path.
type PathScenario struct {
	Name    string
	Backend string // the backend the request reaches: the body's backend member and the routing header's value
	Stream  bool   // a streamed response of StreamEvents SSE events
	// ByModel: the body has no backend member and routes on its model (the
	// model routing header; the model's route goes to Backend). The router
	// phase then leaves the body as the client sent it, and the attempt gets
	// it in the slices it was read in.
	ByModel bool
}

// PathScenarios: OpenAI-compatible passthrough with a model override,
// OpenAI -> Anthropic translation, a streamed Anthropic response translated
// event by event, and the passthrough again routed on the model alone (no
// backend member to remove).
var PathScenarios = []PathScenario{
	{Name: "openai", Backend: "openai-primary"},
	{Name: "anthropic", Backend: "anthropic"},
	{Name: "stream", Backend: "anthropic", Stream: true},
	{Name: "openai-model", Backend: "openai-primary", ByModel: true},
}

// routingHeader is the routing header the router phase sets for sc, and its
// value.
func (sc PathScenario) routingHeader() [2]string {
	if sc.ByModel {
		return [2]string{Config().ModelHeader, DefaultModel}
	}
	return [2]string{Config().BackendHeader, sc.Backend}
}

// member is the body's backend member value ("" for none).
func (sc PathScenario) member() string {
	if sc.ByModel {
		return ""
	}
	return sc.Backend
}

// StreamEvents is the number of SSE events of the streamed response: the
// message envelope (5 events) and text deltas.
const StreamEvents = 100

const openAIResponse = `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"` + wpOpenAIModel + `",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"ok, here is the summary"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":812,"completion_tokens":6,"total_tokens":818}}`

const anthropicResponse = `{"id":"msg_01bench","type":"message","role":"assistant","model":"` + wpClaudeModel + `",` +
	`"content":[{"type":"text","text":"ok, here is the summary"}],"stop_reason":"end_turn","stop_sequence":null,` +
	`"usage":{"input_tokens":812,"output_tokens":6}}`

// anthropicStream is an Anthropic Messages event stream of n events (n >= 6):
// message_start, content_block_start, n-5 text deltas with JSON escapes,
// content_block_stop, message_delta, message_stop.
func anthropicStream(n int) []byte {
	var b bytes.Buffer
	ev := func(name, data string) { fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", name, data) }
	ev("message_start", `{"type":"message_start","message":{"id":"msg_01bench","type":"message","role":"assistant","content":[],"model":"`+
		wpClaudeModel+`","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":812,"output_tokens":1}}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	for i := 0; i < n-5; i++ {
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"token `+
			strconv.Itoa(i)+` \"caf\u00e9\"\n"}}`)
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`+
		strconv.Itoa(n-5)+`}}`)
	ev("message_stop", `{"type":"message_stop"}`)
	return b.Bytes()
}

// pathBody is the request body of a scenario: ChatBody's generator with the
// scenario's backend member (none when routed by model), "stream":true for a
// streamed one (same length).
func pathBody(sc PathScenario, size int) []byte {
	body := BodySpec{Size: size, Model: DefaultModel, Backend: sc.member(), MinMessages: 4}.Build()
	if sc.Stream {
		body = bytes.Replace(body, []byte(`"stream":false`), []byte(`"stream":true `), 1)
	}
	return body
}

// pathSpec is the whole-path bench-mode host for one scenario and body.
func pathSpec(sc PathScenario, workers int, body []byte) (host.RouterBenchConfig, error) {
	plugin, err := host.StringValueAny([]byte(wholePathConfigJSON))
	if err != nil {
		return host.RouterBenchConfig{}, err
	}
	var hs [][2]string
	for _, h := range extproc.RequestHeaders(len(body)) {
		hs = append(hs, [2]string{h.Key, h.Value})
	}
	cfg := Config()
	var clusters []host.Cluster
	var routes []host.Route
	for i, name := range []string{"openai-primary", "anthropic"} {
		// Loopback addresses that are never dialled: the upstream is in memory.
		clusters = append(clusters, host.Cluster{Name: "backend-" + name, Endpoints: []host.Endpoint{{
			Addr: "127.0.0.1:" + strconv.Itoa(1+i), Metadata: map[string]map[string]string{"aigw": {"backend": name}}}}})
		routes = append(routes, host.Route{Name: "backend-" + name, Prefix: "/", Cluster: "backend-" + name,
			Headers: []host.HeaderMatch{{Name: cfg.BackendHeader, Value: name}}, Retries: 1,
			RetryOn: []string{"reset", "connect-failure"}, TimeoutMS: 60000})
	}
	// The route for the model (the router phase sets the model header when the
	// body names no backend).
	routes = append(routes, host.Route{Name: "model-" + DefaultModel, Prefix: "/", Cluster: "backend-openai-primary",
		Headers: []host.HeaderMatch{{Name: cfg.ModelHeader, Value: DefaultModel}}, Retries: 1,
		RetryOn: []string{"reset", "connect-failure"}, TimeoutMS: 60000})
	// Before the filter clears the route cache the request matches only this one.
	routes = append(routes, host.Route{Name: "catch-all", Prefix: "/", Direct: &host.DirectResponse{Status: 404, Body: `{"error":"no route"}`}})
	spec := host.RouterBenchConfig{
		WholePath:      true,
		Workers:        workers,
		PluginConfig:   plugin,
		UpstreamConfig: []byte(wholePathConfigJSON),
		Clusters:       clusters,
		Routes:         routes,
		Env:            []string{"AIGW_BENCH_OPENAI_KEY=" + wpOpenAIKey, "AIGW_BENCH_ANTHROPIC_KEY=" + wpAnthropicKey},
		BufferLimit:    4 << 20,
		RequestHeaders: hs,
		Body:           body,
		ExpectHeader:   sc.routingHeader(),
		UpstreamExpect: [][2]string{{cfg.BackendHeader, ""}, {cfg.ModelHeader, ""}},
	}
	switch sc.Backend {
	case "openai-primary":
		spec.UpstreamExpect = append(spec.UpstreamExpect, [2]string{":path", "/v1/chat/completions"},
			[2]string{"authorization", "Bearer " + wpOpenAIKey}, [2]string{"x-api-key", ""})
		spec.ResponseBody = []byte(openAIResponse)
		spec.ResponseExpect = []string{`"object":"chat.completion"`, `"content":"ok, here is the summary"`, `"total_tokens":818`}
	default:
		spec.UpstreamExpect = append(spec.UpstreamExpect, [2]string{":path", "/v1/messages"},
			[2]string{"x-api-key", wpAnthropicKey}, [2]string{"anthropic-version", "2023-06-01"}, [2]string{"authorization", ""})
		spec.ResponseBody = []byte(anthropicResponse)
		spec.ResponseExpect = []string{`"object":"chat.completion"`, `"content":"ok, here is the summary"`,
			`"model":"` + wpClaudeModel + `"`, `"total_tokens":818`}
	}
	ct := "application/json"
	if sc.Stream {
		ct = "text/event-stream"
		spec.SSE = true
		spec.ResponseBody = anthropicStream(StreamEvents)
		// One chunk per delta, the role chunk, the finish chunk, [DONE].
		spec.ExpectEvents = StreamEvents - 5 + 3
		spec.ResponseExpect = []string{`"object":"chat.completion.chunk"`, `"content":"token 0 \"café\"\n"`,
			`"content":"token ` + strconv.Itoa(StreamEvents-6) + ` \"café\"\n"`, `"finish_reason":"stop"`, "data: [DONE]"}
		spec.ResponseHeaders = [][2]string{{":status", "200"}, {"content-type", ct}}
	} else {
		spec.ResponseHeaders = [][2]string{{":status", "200"}, {"content-type", ct},
			{"content-length", strconv.Itoa(len(spec.ResponseBody))}}
	}
	return spec, nil
}

// pathEnvoySpec is the Envoy-alone counterpart of pathSpec (host
// --bench-bare): the same host code, routes, clusters, request body and
// provider response, without aigw: no golang filter, no dynamic module, the
// .so not loaded. No filter sets the routing header, so the request carries
// the one aigw would have set (appended, where the filter's SetHeader puts
// it), as a client-steered route would; the provider's response (Anthropic's
// for anthropic and stream) passes through untranslated. The host checks
// every request: the route is the backend's cluster, the upstream request
// carries the client's body byte for byte and equals the first request, the
// client response equals the provider's byte for byte (and has its events).
func pathEnvoySpec(sc PathScenario, workers int, body []byte) (host.RouterBenchConfig, error) {
	spec, err := pathSpec(sc, workers, body)
	if err != nil {
		return host.RouterBenchConfig{}, err
	}
	cfg := Config()
	spec.EnvoyAlone = true
	// No keys in the environment: nothing reads them. (PluginConfig stays in the host config,
	// which needs one, but the golang filter is not loaded.)
	spec.UpstreamConfig, spec.Env = nil, nil
	rh := sc.routingHeader()
	spec.RequestHeaders = append(spec.RequestHeaders, rh)
	spec.ExpectBody = body
	spec.ExpectCluster = "backend-" + sc.Backend
	// Untouched: the routing header goes on, the path stays, the client's own
	// authorization goes to the provider and no credential is added.
	spec.UpstreamExpect = [][2]string{{cfg.BackendHeader, ""}, {cfg.ModelHeader, ""},
		{":path", "/v1/chat/completions"}, {"x-api-key", ""}, {"anthropic-version", ""}}
	for i, h := range spec.UpstreamExpect[:2] {
		if h[0] == rh[0] {
			spec.UpstreamExpect[i] = rh
		}
	}
	for _, h := range spec.RequestHeaders {
		if h[0] == "authorization" {
			spec.UpstreamExpect = append(spec.UpstreamExpect, h)
		}
	}
	spec.ResponseExpect = nil
	spec.ExpectEvents = 0
	if sc.Stream {
		spec.ExpectEvents = StreamEvents // one "data: " line per Anthropic event
	}
	return spec, nil
}

// upstreamCapture parses the first upstream request of a run as HTTP/1.1.
func upstreamCapture(rb *host.RouterBench) (*http.Request, []byte, error) {
	up, err := rb.UpstreamCapture()
	if err != nil {
		return nil, nil, err
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(up)))
	if err != nil {
		return nil, nil, fmt.Errorf("upstream request is not HTTP/1.1: %w", err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("upstream request body: %w", err)
	}
	return req, body, nil
}

// checkEnvoyCaptures checks the first upstream request and client response
// of an Envoy-alone run independently of the host: the request is HTTP/1.1
// to the same path with the routing header and the client's body byte for
// byte; the response is the provider's byte for byte.
func checkEnvoyCaptures(sc PathScenario, body []byte, rb *host.RouterBench) error {
	spec, err := pathEnvoySpec(sc, 1, body)
	if err != nil {
		return err
	}
	req, upBody, err := upstreamCapture(rb)
	if err != nil {
		return err
	}
	rh := sc.routingHeader()
	if req.URL.Path != "/v1/chat/completions" || req.Header.Get(rh[0]) != rh[1] ||
		req.ContentLength != int64(len(body)) || !bytes.Equal(upBody, body) {
		return fmt.Errorf("upstream request %s %s, routing header %s %q, content-length %d, body equal to the client's: %v",
			req.Method, req.URL.Path, rh[0], req.Header.Get(rh[0]), req.ContentLength, bytes.Equal(upBody, body))
	}
	resp, err := rb.ResponseCapture()
	if err != nil {
		return err
	}
	if !bytes.Equal(resp, spec.ResponseBody) {
		return fmt.Errorf("client response is not the provider's: %.200s", resp)
	}
	return nil
}

// checkPathCaptures checks, independently of the code under test, the first
// upstream request (the reference every later one equalled byte for byte) and
// the first client response of a scenario.
func checkPathCaptures(sc PathScenario, body []byte, rb *host.RouterBench) error {
	req, upBody, err := upstreamCapture(rb)
	if err != nil {
		return err
	}
	if req.ContentLength != int64(len(upBody)) {
		return fmt.Errorf("upstream content-length %d for %d bytes", req.ContentLength, len(upBody))
	}
	var in struct {
		Messages []struct{ Role, Content string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return err
	}
	var out map[string]any
	if err := json.Unmarshal(upBody, &out); err != nil {
		return fmt.Errorf("upstream body is not JSON: %w", err)
	}
	if _, ok := out["backend"]; ok {
		return fmt.Errorf("the backend member reached the provider")
	}
	msgs, _ := out["messages"].([]any)
	switch sc.Backend {
	case "openai-primary":
		if out["model"] != wpOpenAIModel || len(msgs) != len(in.Messages) || (out["stream"] == true) != sc.Stream {
			return fmt.Errorf("openai upstream body: model %v, %d of %d messages", out["model"], len(msgs), len(in.Messages))
		}
		// Passthrough: only the backend member (when there is one) and the model change.
		want := len(body) + len(wpOpenAIModel) - len(DefaultModel)
		if !sc.ByModel {
			want -= len(`"backend":"openai-primary",`)
		}
		if len(upBody) != want {
			return fmt.Errorf("openai upstream body is %d bytes for a %d-byte request", len(upBody), len(body))
		}
	default:
		// Anthropic Messages: the system prompt at top level, the turns as
		// messages, max_tokens carried over.
		if out["model"] != wpClaudeModel || out["system"] != in.Messages[0].Content ||
			len(msgs) != len(in.Messages)-1 || out["max_tokens"] != 1024.0 || (out["stream"] == true) != sc.Stream {
			return fmt.Errorf("anthropic upstream body: model %v, %d messages for %d, max_tokens %v, stream %v",
				out["model"], len(msgs), len(in.Messages)-1, out["max_tokens"], out["stream"])
		}
		// Every turn's text, whole: the long ones' ends come from the
		// router phase's findings (bodyscan.Findings.MessageStrings).
		for i, m := range msgs {
			got, _ := m.(map[string]any)
			want := in.Messages[i+1]
			if !strings.Contains(fmt.Sprint(got["content"]), want.Content) || got["role"] != want.Role {
				return fmt.Errorf("anthropic upstream body: message %d %.200v is not the client's", i, got)
			}
		}
	}
	resp, err := rb.ResponseCapture()
	if err != nil {
		return err
	}
	if !sc.Stream {
		var r struct {
			Object  string
			Model   string
			Choices []struct {
				Message struct{ Role, Content string }
			}
			Usage struct {
				TotalTokens int `json:"total_tokens"`
			}
		}
		if err := json.Unmarshal(resp, &r); err != nil {
			return fmt.Errorf("client response is not JSON: %w: %s", err, resp)
		}
		if r.Object != "chat.completion" || len(r.Choices) != 1 || r.Choices[0].Message.Content != "ok, here is the summary" ||
			r.Usage.TotalTokens != 818 {
			return fmt.Errorf("client response: %s", resp)
		}
		return nil
	}
	var text strings.Builder
	events := 0
	for _, ev := range strings.Split(strings.TrimSuffix(string(resp), "\n\n"), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok {
			return fmt.Errorf("client stream event %q", ev)
		}
		events++
		if data == "[DONE]" {
			continue
		}
		var c struct {
			Object  string
			Choices []struct {
				Delta struct{ Content string }
			}
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil || c.Object != "chat.completion.chunk" {
			return fmt.Errorf("client stream chunk %q: %v", data, err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	var want strings.Builder
	for i := 0; i < StreamEvents-5; i++ {
		fmt.Fprintf(&want, "token %d \"café\"\n", i)
	}
	if events != StreamEvents-5+3 || text.String() != want.String() {
		return fmt.Errorf("client stream: %d events, text %q", events, text.String())
	}
	return nil
}

// pathCase is one tiny bench-mode run of TestWholePathBenchMode or
// TestWholePathEnvoyBenchMode.
type pathCase struct {
	name     string
	sc       PathScenario
	workers  int
	size     int // body bytes; 4 KiB when 0
	mutate   func(*host.RouterBenchConfig)
	failures string // "": no request may fail; else every one fails, the first with this
}

// pathCaseRequests is the size of each case's run.
const pathCaseRequests = 41

// runPathCases runs each case's host (mkSpec, then the case's mutation) for
// pathCaseRequests requests and checks the failures; check checks the rest of
// every case's result.
func runPathCases(t *testing.T, cases []pathCase, mkSpec func(PathScenario, int, []byte) (host.RouterBenchConfig, error),
	check func(t *testing.T, c pathCase, body []byte, spec host.RouterBenchConfig, rb *host.RouterBench, res host.RouterBenchResult)) {
	so := soPath(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			size := c.size
			if size == 0 {
				size = 4 << 10
			}
			body := pathBody(c.sc, size)
			spec, err := mkSpec(c.sc, c.workers, body)
			if err != nil {
				t.Fatal(err)
			}
			spec.SO = so
			if c.mutate != nil {
				c.mutate(&spec)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rb, err := host.StartRouterBench(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			const n = pathCaseRequests
			res, err := rb.Run(n)
			if err != nil {
				t.Fatal(err)
			}
			if p := rb.Problems(); len(p) > 0 {
				t.Errorf("host problems: %v", p)
			}
			switch {
			case c.failures == "" && res.Failures != 0:
				t.Errorf("%d of %d requests failed: %s; host log:\n%s", res.Failures, res.Requests, res.FirstFailure,
					strings.Join(rb.Stderr(), "\n"))
			case c.failures != "" && res.Failures != n:
				t.Errorf("%d of %d requests failed (%q); want every one to fail with %q", res.Failures, n, res.FirstFailure, c.failures)
			case !strings.Contains(res.FirstFailure, c.failures):
				t.Errorf("first failure %q, want %q", res.FirstFailure, c.failures)
			default:
				check(t, c, body, spec, rb, res)
			}
			if err := rb.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// wantChunks is the number of response reads of a passing run: one per SSE
// event, else one per 16 KiB.
func wantChunks(c pathCase, spec host.RouterBenchConfig) uint64 {
	if c.sc.Stream {
		return pathCaseRequests * StreamEvents
	}
	return pathCaseRequests * uint64((len(spec.ResponseBody)+16<<10-1)/(16<<10))
}

// TestWholePathBenchMode keeps the whole-path harness from rotting (make
// test): a tiny run of every scenario with 1 and 2 workers has no failures
// and its captured upstream request and client response are right; runs
// whose checks cannot hold fail every request, so the checks are not vacuous.
func TestWholePathBenchMode(t *testing.T) {
	var cases []pathCase
	for _, sc := range PathScenarios {
		cases = append(cases, pathCase{name: sc.Name + "/1", sc: sc, workers: 1}, pathCase{name: sc.Name + "/2", sc: sc, workers: 2})
	}
	// Large bodies: with a backend member the router phase sets the body
	// (one slice, read in place by the attempt); routed by model it stays in
	// the 16 KiB slices it was read in. Either way the passthrough's model
	// override is spliced from Envoy's own slices (internal/dynmod).
	cases = append(cases, pathCase{name: "openai/1MiB/2", sc: PathScenarios[0], workers: 2, size: 1 << 20},
		pathCase{name: "openai-model/1MiB/1", sc: PathScenarios[3], workers: 1, size: 1 << 20},
		pathCase{name: "anthropic/100KiB/1", sc: PathScenarios[1], workers: 1, size: 100 << 10})
	cases = append(cases,
		pathCase{name: "wrong-credential", sc: PathScenarios[0], workers: 1, failures: "upstream request header",
			mutate: func(c *host.RouterBenchConfig) { c.Env[0] = "AIGW_BENCH_OPENAI_KEY=sk-other" }},
		pathCase{name: "wrong-response-part", sc: PathScenarios[1], workers: 1, failures: "expected part",
			mutate: func(c *host.RouterBenchConfig) { c.ResponseExpect = append(c.ResponseExpect, `"total_tokens":819`) }},
		pathCase{name: "wrong-event-count", sc: PathScenarios[2], workers: 2, failures: "number of events",
			mutate: func(c *host.RouterBenchConfig) { c.ExpectEvents++ }},
		pathCase{name: "wrong-route", sc: PathScenarios[0], workers: 1, failures: "routing header",
			mutate: func(c *host.RouterBenchConfig) { c.ExpectHeader[1] = "anthropic" }},
		pathCase{name: "wrong-model-route", sc: PathScenarios[3], workers: 1, failures: "routing header",
			mutate: func(c *host.RouterBenchConfig) { c.ExpectHeader = [2]string{Config().BackendHeader, "openai-primary"} }})
	runPathCases(t, cases, pathSpec, func(t *testing.T, c pathCase, body []byte, spec host.RouterBenchConfig, rb *host.RouterBench, res host.RouterBenchResult) {
		if c.failures != "" {
			return
		}
		if err := checkPathCaptures(c.sc, body, rb); err != nil {
			t.Error(err)
		}
		if want := wantChunks(c, spec); res.Chunks != want {
			t.Errorf("%d response chunks, want %d", res.Chunks, want)
		}
		// Both filters ran for every request: the golang filter's hooks (headers
		// and data both ways, complete, log, destroy) and the module's (new,
		// request headers and body, response headers and body, destroy).
		if n := uint64(pathCaseRequests); res.SOCalls < n*13 || res.Created != n {
			t.Errorf("%d calls into the .so and %d golang filters for %d requests", res.SOCalls, res.Created, n)
		}
	})
}

// TestWholePathEnvoyBenchMode keeps the Envoy-alone variant honest (make
// test): a tiny run of every scenario with 1 and 2 workers has no failures,
// its captured upstream request carries the client's body and its client
// response is the provider's, and neither filter was called (no call into
// the .so, no golang filter created; TestWholePathBenchMode checks the same
// counts are there with aigw); runs whose checks cannot hold fail every
// request.
func TestWholePathEnvoyBenchMode(t *testing.T) {
	var cases []pathCase
	for _, sc := range PathScenarios {
		cases = append(cases, pathCase{name: sc.Name + "/1", sc: sc, workers: 1}, pathCase{name: sc.Name + "/2", sc: sc, workers: 2})
	}
	cases = append(cases, pathCase{name: "openai/1MiB/2", sc: PathScenarios[0], workers: 2, size: 1 << 20},
		pathCase{name: "wrong-expected-body", sc: PathScenarios[0], workers: 1, failures: "upstream request body differs",
			mutate: func(c *host.RouterBenchConfig) { c.ExpectBody = pathBody(PathScenarios[1], 4<<10) }},
		pathCase{name: "wrong-expected-body-length", sc: PathScenarios[1], workers: 2, failures: "upstream request body differs",
			mutate: func(c *host.RouterBenchConfig) { c.ExpectBody = append(bytes.Clone(c.ExpectBody), ' ') }},
		pathCase{name: "wrong-route", sc: PathScenarios[0], workers: 2, failures: "expected cluster",
			mutate: func(c *host.RouterBenchConfig) { c.ExpectCluster = "backend-anthropic" }},
		pathCase{name: "wrong-expected-response", sc: PathScenarios[1], workers: 1, failures: "client response differs",
			mutate: func(c *host.RouterBenchConfig) {
				c.ExpectResponse = bytes.Replace(c.ResponseBody, []byte("summary"), []byte("summarY"), 1)
			}},
		pathCase{name: "wrong-event-count", sc: PathScenarios[2], workers: 2, failures: "number of events",
			mutate: func(c *host.RouterBenchConfig) { c.ExpectEvents++ }})
	runPathCases(t, cases, pathEnvoySpec, func(t *testing.T, c pathCase, body []byte, spec host.RouterBenchConfig, rb *host.RouterBench, res host.RouterBenchResult) {
		if res.SOCalls != 0 || res.Created != 0 {
			t.Errorf("Envoy alone called into the .so %d times, created %d golang filters", res.SOCalls, res.Created)
		}
		if c.failures != "" {
			return
		}
		if err := checkEnvoyCaptures(c.sc, body, rb); err != nil {
			t.Error(err)
		}
		if want := wantChunks(c, spec); res.Chunks != want {
			t.Errorf("%d response chunks, want %d", res.Chunks, want)
		}
	})
}

// soPath builds build/libaigw.so once per test binary.
func soPath(t testing.TB) string {
	t.Helper()
	so, err := host.BuildSO(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(so)
}

// BenchmarkWholePathABI: the whole path in-process, one worker thread. One op
// is one request; ns/op is the host process's CPU per request (every thread,
// Go's GC included), as for BenchmarkInProcessABI. p50/p99-ns: from
// decodeHeaders until the upstream holds the attempt's request (the latency
// added before the provider); seq-p50/p99-ns: the whole sequence, response
// included; chunk-ns: worker time per response body read through both phases
// to the downstream codec (the per-event cost of a stream).
func BenchmarkWholePathABI(b *testing.B) { benchWholePath(b, 1, pathSpec, checkPathCaptures) }

// BenchmarkWholePathEnvoy: the same requests through the same host code
// without aigw (pathEnvoySpec), one worker thread: what Envoy does anyway
// (header maps, body buffer, route match, the router's retained body and
// per-attempt copy, the upstream codec, the response to the downstream
// codec, teardown). BenchmarkWholePathABI minus this is the CPU aigw adds.
// Declared between the ABI benchmarks so a round of run.sh measures each
// right after its ABI counterpart.
func BenchmarkWholePathEnvoy(b *testing.B) { benchWholePath(b, 1, pathEnvoySpec, checkEnvoyCaptures) }

// BenchmarkWholePathABIParallel: two worker threads.
func BenchmarkWholePathABIParallel(b *testing.B) { benchWholePath(b, 2, pathSpec, checkPathCaptures) }

// BenchmarkWholePathEnvoyParallel: Envoy alone, two worker threads.
func BenchmarkWholePathEnvoyParallel(b *testing.B) {
	benchWholePath(b, 2, pathEnvoySpec, checkEnvoyCaptures)
}

func benchWholePath(b *testing.B, workers int, mkSpec func(PathScenario, int, []byte) (host.RouterBenchConfig, error),
	check func(PathScenario, []byte, *host.RouterBench) error) {
	for _, sc := range PathScenarios {
		b.Run(sc.Name, func(b *testing.B) {
			for _, size := range Sizes {
				body := pathBody(sc, size.Bytes)
				var rb *host.RouterBench
				var alone bool
				b.Run(size.Name, func(b *testing.B) {
					if rb == nil {
						spec, err := mkSpec(sc, workers, body)
						if err != nil {
							b.Fatal(err)
						}
						alone = spec.EnvoyAlone
						if rb, err = host.StartRouterBench(context.Background(), spec); err != nil {
							b.Fatal(err)
						}
						if _, err := rb.Run(100 * workers); err != nil {
							b.Fatal(err)
						}
						if err := check(sc, body, rb); err != nil {
							b.Fatal(err)
						}
						b.ResetTimer()
					}
					res, err := rb.Run(b.N)
					if err != nil {
						b.Fatal(err)
					}
					if res.Failures > 0 {
						b.Fatalf("%d of %d requests failed the checks: %s", res.Failures, res.Requests, res.FirstFailure)
					}
					if (res.SOCalls == 0) != alone {
						b.Fatalf("%d calls into the .so (Envoy alone: %v)", res.SOCalls, alone)
					}
					reportABI(b, res)
					if res.Chunks > 0 {
						b.ReportMetric(float64(res.ChunkTime.Nanoseconds())/float64(res.Chunks), "chunk-ns")
					}
				})
				if rb != nil {
					if p := rb.Problems(); len(p) > 0 {
						b.Errorf("host problems: %v", p)
					}
					if err := rb.Close(); err != nil {
						b.Errorf("host: %v", err)
					}
				}
			}
		})
	}
}
