package host_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/host"
)

func chatParams(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    openai.ChatModel(model),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello to the gateway")},
	}
}

// checkUpstreamRequest asserts what every upstream request must look like: the backend's own
// key and never the client's, no client-only "backend" member, and exactly one credential.
func checkUpstreamRequest(t *testing.T, m *mock) {
	t.Helper()
	r, ok := m.srv.LastRequest()
	if !ok {
		t.Fatalf("%s got no request", m.spec.name)
	}
	body := map[string]json.RawMessage{}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("%s got a non-JSON body %q: %v", m.spec.name, r.Body, err)
	}
	if _, ok := body["backend"]; ok {
		t.Errorf("%s got the client-only backend member: %s", m.spec.name, r.Body)
	}
	for _, h := range []string{"Authorization", "Api-Key", "X-Api-Key"} {
		for _, v := range r.Header.Values(h) {
			if strings.Contains(v, "sk-client-key") {
				t.Errorf("%s got the client's credential in %s", m.spec.name, h)
			}
		}
	}
	switch m.spec.auth {
	case "bearer":
		if got := r.Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+m.key {
			t.Errorf("%s Authorization = %d value(s), want exactly its own bearer key", m.spec.name, len(got))
		}
		if r.Header.Get("X-Api-Key") != "" || r.Header.Get("Api-Key") != "" {
			t.Errorf("%s got another scheme's credential header", m.spec.name)
		}
	case "anthropic_api_key":
		if got := r.Header.Values("X-Api-Key"); len(got) != 1 || got[0] != m.key {
			t.Errorf("%s X-Api-Key = %d value(s), want exactly its own key", m.spec.name, len(got))
		}
		if r.Header.Get("Authorization") != "" {
			t.Errorf("%s got an Authorization header (left over from an earlier attempt on the shared header map?)", m.spec.name)
		}
	}
}

func TestChatCompletion(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	id := newRequestID(t)
	var resp *http.Response
	out, err := c.Chat.Completions.New(ctxT(t), chatParams("gpt-4o-mini"), option.WithHeader("x-request-id", id),
		option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	served := resp.Header.Get("X-Mock-Backend")
	if served != "deploy-a" && served != "deploy-b" {
		t.Fatalf("served by %q, want deploy-a or deploy-b", served)
	}
	if len(out.Choices) != 1 || out.Choices[0].Message.Content != "Hello from "+served+"." {
		t.Fatalf("unexpected completion: %+v", out.Choices)
	}
	if out.Usage.TotalTokens == 0 {
		t.Errorf("no usage in the response: %+v", out.Usage)
	}
	checkUpstreamRequest(t, e.mocks[served])
	a := e.access(id)
	if a.Status != 200 || a.Route != "model-gpt-4o-mini" || a.Attempts != 1 {
		t.Errorf("access log: status %d route %q attempts %d", a.Status, a.Route, a.Attempts)
	}
	if a.ModelHeader == nil || *a.ModelHeader != "gpt-4o-mini" || a.BackendHeader != nil {
		t.Errorf("routing headers: model %v backend %v, want only x-ai-eg-model", a.ModelHeader, a.BackendHeader)
	}
	if a.RouteCacheClears == 0 {
		t.Errorf("the router phase never cleared the route cache")
	}
	if got := metaString(a, "backend_name"); got != served {
		t.Errorf("dynamic metadata backend_name = %q, want the endpoint that served: %q", got, served)
	}
	if got := metaString(a, "model"); got != "gpt-4o-mini" {
		t.Errorf("dynamic metadata model = %q", got)
	}
	checkTokens(t, a, out.Usage.PromptTokens, out.Usage.CompletionTokens)
	// Router-phase stats come through the golang filter's metrics ABI (added
	// to Envoy's in batches, so they may lag by the adapter's flush interval),
	// token stats through the dynamic module's, counted once per token.
	waitStats(t, e.h, map[string]int64{
		"golang.aigw_requests_total":        1,
		"golang.aigw_completed_total":       1,
		"golang.aigw_rejected_total":        0,
		"golang.aigw_upstream_errors_total": 0,
		"dynmod.aigw_input_tokens_total":    out.Usage.PromptTokens,
		"dynmod.aigw_output_tokens_total":   out.Usage.CompletionTokens,
	})
}

// waitStats polls the host's stats until each named one has its value, and
// fails the test with the last values if they do not within 5 s. Values
// that overshoot fail at once: a batch is never counted twice.
func waitStats(t *testing.T, h *host.Host, want map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		stats, err := h.Stats()
		if err != nil {
			t.Fatal(err)
		}
		var wrong []string
		for name, w := range want {
			got, err := strconv.ParseInt(stats[name], 10, 64)
			if err != nil || got != w {
				wrong = append(wrong, fmt.Sprintf("%s = %q, want %d", name, stats[name], w))
			}
			if err == nil && got > w {
				t.Fatalf("stat %s = %d, over the %d expected", name, got, w)
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats after 5 s: %v", wrong)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkTokens asserts the token accounting in dynamic metadata matches the usage the client got.
func checkTokens(t *testing.T, a host.AccessLog, in, out int64) {
	t.Helper()
	md := a.DynamicMetadata["io.envoy.ai_gateway"]
	want := map[string]int64{"llm_input_token": in, "llm_output_token": out, "llm_total_token": in + out}
	for k, v := range want {
		got, ok := md[k].(float64)
		if !ok {
			t.Errorf("dynamic metadata %s missing (have %v)", k, md)
			continue
		}
		if int64(got) != v {
			t.Errorf("dynamic metadata %s = %v, want %d", k, got, v)
		}
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestChatCompletionStreaming(t *testing.T) {
	e := newEnv(t, envOptions{slowStream: true})
	c := e.client()
	id := newRequestID(t)
	p := chatParams("gpt-4o-mini")
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	var resp *http.Response
	stream := c.Chat.Completions.NewStreaming(ctxT(t), p, option.WithHeader("x-request-id", id), option.WithResponseInto(&resp))
	var text strings.Builder
	chunks := 0
	var usage openai.CompletionUsage
	for stream.Next() {
		ch := stream.Current()
		chunks++
		for _, choice := range ch.Choices {
			text.WriteString(choice.Delta.Content)
		}
		if ch.Usage.TotalTokens > 0 {
			usage = ch.Usage
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	served := resp.Header.Get("X-Mock-Backend")
	if text.String() != "Hello from "+served+"." {
		t.Fatalf("streamed text %q from %q", text.String(), served)
	}
	if chunks < 3 {
		t.Errorf("only %d chunks", chunks)
	}
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("client response transfer-encoding %v, want chunked", resp.TransferEncoding)
	}
	// openai-go closes the response as soon as it reads "data: [DONE]", before the upstream's
	// terminating chunk arrives: the gateway sees a downstream reset, and the upstream filter
	// never gets end_stream. Token accounting must not depend on that last empty frame.
	a := e.access(id)
	if a.UpstreamFrames < 2 {
		t.Errorf("the upstream filter saw %d response body frame(s), want the stream in several", a.UpstreamFrames)
	}
	if got := metaString(a, "backend_name"); got != served {
		t.Errorf("backend_name %q, served by %q", got, served)
	}
	checkUpstreamRequest(t, e.mocks[served])
	checkTokens(t, a, usage.PromptTokens, usage.CompletionTokens)
}

func TestEmbeddings(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := newRequestID(t)
	var resp *http.Response
	c := e.client()
	out, err := c.Embeddings.New(ctxT(t), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one two three", "four"}},
	}, option.WithHeader("x-request-id", id), option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Data) != 2 || len(out.Data[0].Embedding) == 0 {
		t.Fatalf("embeddings: %+v", out.Data)
	}
	if got := resp.Header.Get("X-Mock-Backend"); got != "deploy-a" {
		t.Fatalf("served by %q", got)
	}
	checkUpstreamRequest(t, e.mocks["deploy-a"])
	a := e.access(id)
	if a.Route != "model-text-embedding-3-small" || metaString(a, "backend_name") != "deploy-a" {
		t.Errorf("access log route %q backend_name %q", a.Route, metaString(a, "backend_name"))
	}
}

func TestModelsAnsweredByFilter(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := newRequestID(t)
	c := e.client()
	page, err := c.Models.List(ctxT(t), option.WithHeader("x-request-id", id))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range page.Data {
		got[m.ID] = true
	}
	for _, want := range []string{"gpt-4o-mini", "gpt-4o", "text-embedding-3-small"} {
		if !got[want] {
			t.Errorf("model %s missing from /v1/models: %v", want, got)
		}
	}
	a := e.access(id)
	if a.Attempts != 0 || a.Status != 200 {
		t.Errorf("GET /v1/models went upstream: attempts %d status %d", a.Attempts, a.Status)
	}
	for name, m := range e.mocks {
		if n := m.count.Load(); n != 0 {
			t.Errorf("%s got %d requests", name, n)
		}
	}
}

// Two deployments serve gpt-4o-mini; a client that names deploy-b must reach deploy-b only.
func TestTwoDeploymentsSameModel(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	for i := 0; i < 20; i++ {
		id := newRequestID(t)
		var resp *http.Response
		_, err := c.Chat.Completions.New(ctxT(t), chatParams("gpt-4o-mini"), option.WithJSONSet("backend", "deploy-b"),
			option.WithHeader("x-request-id", id), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("X-Mock-Backend"); got != "deploy-b" {
			t.Fatalf("request %d served by %q", i, got)
		}
		a := e.access(id)
		if a.BackendHeader == nil || *a.BackendHeader != "deploy-b" || a.ModelHeader != nil {
			t.Fatalf("routing headers: backend %v model %v, want only x-ai-eg-backend", a.BackendHeader, a.ModelHeader)
		}
		if a.Route != "backend-deploy-b" || metaString(a, "backend_name") != "deploy-b" {
			t.Fatalf("route %q backend_name %q", a.Route, metaString(a, "backend_name"))
		}
	}
	if n := e.mocks["deploy-a"].count.Load(); n != 0 {
		t.Fatalf("deploy-a got %d requests", n)
	}
	if n := e.mocks["deploy-b"].count.Load(); n != 20 {
		t.Fatalf("deploy-b got %d requests, want 20", n)
	}
	checkUpstreamRequest(t, e.mocks["deploy-b"])
}

// p0 answers 503: the retry leaves the priority and lands on p1, whose metadata the upstream
// filter reads (Anthropic credentials and translation), on a fresh body copy.
func TestFailoverToNextPriority(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.mocks["openai-primary"].srv.SetFailStatus(503)
	id := newRequestID(t)
	var resp *http.Response
	c := e.client()
	out, err := c.Chat.Completions.New(ctxT(t), chatParams("gpt-4o"), option.WithHeader("x-request-id", id),
		option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Mock-Backend"); got != "anthropic-fallback" {
		t.Fatalf("served by %q", got)
	}
	if len(out.Choices) != 1 || out.Choices[0].Message.Content != "Hello from anthropic-fallback." {
		t.Fatalf("completion %+v", out.Choices)
	}
	a := e.access(id)
	if a.Attempts != 2 || len(a.UpstreamHosts) != 2 {
		t.Fatalf("attempts %d hosts %v, want 2", a.Attempts, a.UpstreamHosts)
	}
	if metaString(a, "backend_name") != "anthropic-fallback" {
		t.Errorf("backend_name %q after failover", metaString(a, "backend_name"))
	}
	if n := e.mocks["openai-primary"].count.Load(); n != 1 {
		t.Errorf("primary got %d requests", n)
	}
	pr, _ := e.mocks["openai-primary"].srv.LastRequest()
	if !bytes.Contains(pr.Body, []byte(`"gpt-4o"`)) {
		t.Errorf("primary body %s", pr.Body)
	}
	checkUpstreamRequest(t, e.mocks["anthropic-fallback"])
	fr, _ := e.mocks["anthropic-fallback"].srv.LastRequest()
	if !bytes.Contains(fr.Body, []byte("claude-3-5-haiku-latest")) || fr.Header.Get("Anthropic-Version") == "" {
		t.Errorf("fallback request not translated: %s %v", fr.Body, fr.Header)
	}
}

func TestFailoverStreamingTranslation(t *testing.T) {
	e := newEnv(t, envOptions{slowStream: true})
	e.mocks["openai-primary"].srv.SetFailStatus(503)
	id := newRequestID(t)
	p := chatParams("gpt-4o")
	c := e.client()
	stream := c.Chat.Completions.NewStreaming(ctxT(t), p, option.WithHeader("x-request-id", id))
	var text strings.Builder
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "Hello from anthropic-fallback." {
		t.Fatalf("streamed %q", text.String())
	}
	// The mock pauses between SSE events so they normally arrive in separate reads; a starved
	// host may still coalesce some, so only "more than one frame" is required.
	a := e.access(id)
	if a.Attempts != 2 || metaString(a, "backend_name") != "anthropic-fallback" || a.UpstreamFrames < 2 {
		t.Errorf("attempts %d backend_name %q frames %d", a.Attempts, metaString(a, "backend_name"), a.UpstreamFrames)
	}
	t.Logf("the upstream filter translated the Anthropic stream in %d frames", a.UpstreamFrames)
}

// An endpoint naming an unknown backend ends the request with a 503 and is not failed over:
// TestRequestTimeFailuresEndTheRequestE2E (attempts_e2e_test.go, docs/attempts.md).

// A p0 endpoint that refuses connections: connect-failure moves the request to p1.
func TestConnectFailureRetried(t *testing.T) {
	e := newEnv(t, envOptions{clusters: func(m map[string]*mock) []host.Cluster {
		cs := defaultClusters(m)
		for i := range cs {
			if cs[i].Name == "failover-gpt-4o" {
				dead := host.Endpoint{Priority: 0, Addr: closedPort(t), Metadata: map[string]map[string]string{"aigw": {"backend": "openai-primary"}}}
				cs[i].Endpoints = []host.Endpoint{dead, ep(m["anthropic-fallback"], 1)}
			}
		}
		return cs
	}})
	id := newRequestID(t)
	var resp *http.Response
	c := e.client()
	_, err := c.Chat.Completions.New(ctxT(t), chatParams("gpt-4o"), option.WithHeader("x-request-id", id),
		option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Mock-Backend"); got != "anthropic-fallback" {
		t.Fatalf("served by %q", got)
	}
	a := e.access(id)
	if a.Attempts != 2 {
		t.Errorf("attempts %d", a.Attempts)
	}
	checkUpstreamRequest(t, e.mocks["anthropic-fallback"])
}

func TestRouterBadInput(t *testing.T) {
	e := newEnv(t, envOptions{})
	cases := []struct {
		name, body string
		status     int
		typ, code  string
		param      string
	}{
		{name: "not json", body: `{"model": "gpt-4o-mini",`, status: 400, typ: "invalid_request_error"},
		{name: "missing model", body: `{"messages":[{"role":"user","content":"hi"}]}`, status: 400,
			typ: "invalid_request_error", param: "model"},
		{name: "unknown backend", body: `{"model":"gpt-4o-mini","backend":"nope","messages":[{"role":"user","content":"hi"}]}`,
			status: 404, typ: "invalid_request_error", code: "backend_not_found"},
		{name: "unknown model reaches the catch-all route", body: `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`,
			status: 404, typ: "invalid_request_error", code: "model_not_found", param: "model"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := newRequestID(t)
			req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, e.h.URL()+"/v1/chat/completions", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("content-type", "application/json")
			req.Header.Set("x-request-id", id)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("content-type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("content-type %q", ct)
			}
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
			if doc.Error["type"] != tc.typ {
				t.Errorf("type %v, want %s", doc.Error["type"], tc.typ)
			}
			if tc.code != "" && doc.Error["code"] != tc.code {
				t.Errorf("code %v, want %s", doc.Error["code"], tc.code)
			}
			if tc.param != "" && doc.Error["param"] != tc.param {
				t.Errorf("param %v, want %s", doc.Error["param"], tc.param)
			}
			if a := e.access(id); a.Attempts != 0 {
				t.Errorf("%d upstream attempts for a bad request", a.Attempts)
			}
		})
	}
	for name, m := range e.mocks {
		if n := m.count.Load(); n != 0 {
			t.Errorf("%s got %d requests", name, n)
		}
	}
}

// 4 workers, many concurrent keep-alive clients, a mix of plain, streaming and embeddings
// requests: everything succeeds, every worker id is below the configured concurrency, and
// each request's dynamic metadata names the backend that actually answered it.
func TestConcurrentWorkers(t *testing.T) {
	const workers, clients, perClient = 4, 12, 40
	e := newEnv(t, envOptions{workers: workers})
	c := e.client()
	type result struct {
		id, served string
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < perClient; j++ {
				id := newRequestID(t)
				var resp *http.Response
				opts := []option.RequestOption{option.WithHeader("x-request-id", id), option.WithResponseInto(&resp)}
				var err error
				switch (i + j) % 3 {
				case 0:
					_, err = c.Chat.Completions.New(ctxT(t), chatParams("gpt-4o-mini"), opts...)
				case 1:
					s := c.Chat.Completions.NewStreaming(ctxT(t), chatParams("gpt-4o-mini"), opts...)
					for s.Next() {
					}
					err = s.Err()
				case 2:
					_, err = c.Embeddings.New(ctxT(t), openai.EmbeddingNewParams{Model: "text-embedding-3-small",
						Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("concurrency check")}}, opts...)
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				results = append(results, result{id: id, served: resp.Header.Get("X-Mock-Backend")})
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	used := map[int]int{}
	for _, r := range results {
		a := e.access(r.id)
		if a.Status != 200 {
			t.Fatalf("request %s status %d", r.id, a.Status)
		}
		if a.Worker < 0 || a.Worker >= workers {
			t.Fatalf("worker id %d outside concurrency %d", a.Worker, workers)
		}
		used[a.Worker]++
		if got := metaString(a, "backend_name"); got != r.served {
			t.Fatalf("request %s: metadata backend_name %q but %q answered", r.id, got, r.served)
		}
	}
	if len(results) != clients*perClient {
		t.Fatalf("%d results", len(results))
	}
	if len(used) < 2 {
		t.Errorf("all requests ran on one worker: %v", used)
	}
	t.Logf("requests per worker: %v", used)
	// Counted on every worker at once and added to Envoy's stats in batches:
	// each request exactly once.
	n := int64(clients * perClient)
	waitStats(t, e.h, map[string]int64{
		"golang.aigw_requests_total":  n,
		"golang.aigw_completed_total": n,
		"golang.aigw_rejected_total":  0,
	})
}

// readSSE reads a raw SSE response line by line (used to check the wire format to clients).
func readSSE(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "data: ") {
			out = append(out, strings.TrimPrefix(l, "data: "))
		}
	}
	return out
}

func TestStreamingWireFormat(t *testing.T) {
	e := newEnv(t, envOptions{slowStream: true})
	body := `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello there"}]}`
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodPost, e.h.URL()+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	id := newRequestID(t)
	req.Header.Set("x-request-id", id)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("content-type"), "text/event-stream") {
		t.Fatalf("status %d content-type %q", resp.StatusCode, resp.Header.Get("content-type"))
	}
	events := readSSE(resp.Body) // to EOF: the stream ends normally on both sides
	if len(events) < 3 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events %v", events)
	}
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("transfer-encoding %v, want chunked", resp.TransferEncoding)
	}
	t.Logf("%d SSE events in %v", len(events), time.Since(start))
	var last struct {
		Usage openai.CompletionUsage `json:"usage"`
	}
	if err := json.Unmarshal([]byte(events[len(events)-2]), &last); err != nil || last.Usage.TotalTokens == 0 {
		t.Fatalf("no usage in the last chunk %q: %v", events[len(events)-2], err)
	}
	a := e.access(id)
	if a.Reset || a.UpstreamFrames < 2 {
		t.Errorf("reset %v, upstream frames %d", a.Reset, a.UpstreamFrames)
	}
	checkTokens(t, a, last.Usage.PromptTokens, last.Usage.CompletionTokens)
}

// A request no configured backend can express: the upstream filter ends the whole request
// with send_response (no retry, although the route retries 5xx on another priority).
func TestUpstreamFinalReplyIsNotRetried(t *testing.T) {
	anthropicOnly := []backendSpec{
		{name: "claude-a", schema: "anthropic", models: []string{"claude-3-5-haiku-latest"},
			serves: []string{"gpt-4o"}, override: map[string]string{"gpt-4o": "claude-3-5-haiku-latest"}, auth: "anthropic_api_key"},
		{name: "claude-b", schema: "anthropic", models: []string{"claude-3-5-haiku-latest"},
			serves: []string{"gpt-4o"}, override: map[string]string{"gpt-4o": "claude-3-5-haiku-latest"}, auth: "anthropic_api_key"},
	}
	e := newEnv(t, envOptions{
		backends: anthropicOnly,
		clusters: func(m map[string]*mock) []host.Cluster {
			return []host.Cluster{{Name: "claude", Endpoints: []host.Endpoint{ep(m["claude-a"], 0), ep(m["claude-b"], 1)}}}
		},
		routes: func(map[string]*mock) []host.Route {
			return []host.Route{{Name: "model-gpt-4o", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o"}},
				Prefix: "/", Cluster: "claude", Retries: 1, RetryOn: []string{"5xx", "reset", "connect-failure"},
				PreviousPriorities: true, TimeoutMS: 20000}, catchAll()}
		},
	})
	id := newRequestID(t)
	body := `{"model":"gpt-4o","logprobs":true,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodPost, e.h.URL()+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("x-request-id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"param":"logprobs"`) {
		t.Fatalf("status %d body %s", resp.StatusCode, b)
	}
	a := e.access(id)
	if a.Attempts != 1 {
		t.Errorf("attempts %d: send_response must end the request without a retry", a.Attempts)
	}
	for name, m := range e.mocks {
		if n := m.count.Load(); n != 0 {
			t.Errorf("%s got %d requests", name, n)
		}
	}
}
