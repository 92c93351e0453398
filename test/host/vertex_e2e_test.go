package host_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/internal/credentials/credtest"
	"github.com/aigw/aigw/internal/metrics/metricstest"
	"github.com/aigw/aigw/test/host"
	"github.com/aigw/aigw/test/mockprovider"
)

// Vertex AI through the .so in the host: the upstream phase's token cache
// (inside the host process) fetches a bearer from a fake Google token
// endpoint with the backend's service-account key; the mock Vertex checks
// the exact path and that the bearer is a token that endpoint issued.

const vertexGeminiPath = "/v1/projects/" + trProject + "/locations/" + trRegion + "/publishers/google/models/"

// waitVertexToken waits until the backend's first token is in the cache
// (until then an attempt is held for it; before the hold it was answered
// 503 credential_unavailable, which this loop still tolerates).
func waitVertexToken(t *testing.T, e *trEnv, backend string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, _, body := rawPost(t, e.h.URL()+"/v1/chat/completions", `{"model":"probe","backend":"`+backend+`","messages":[{"role":"user","content":"probe"}]}`, nil)
		if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "credential_unavailable") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no token after 15s: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireIssuedBearer asserts the request's one credential is a token the
// fake endpoint issued for the service account, and nothing of the client's.
func requireIssuedBearer(t *testing.T, fake *credtest.Google, r mockprovider.Request, email string) {
	t.Helper()
	got := r.Header.Values("Authorization")
	if len(got) != 1 {
		t.Fatalf("%d authorization headers", len(got))
	}
	who, ok := fake.Issued(strings.TrimPrefix(got[0], "Bearer "))
	if !ok || who != email || !strings.HasPrefix(got[0], "Bearer ") {
		t.Fatalf("bearer not issued for %s (issued to %q)", email, who)
	}
	if len(r.Header.Values("Api-Key"))+len(r.Header.Values("X-Api-Key")) != 0 {
		t.Fatal("another credential header reached Vertex")
	}
	raw, _ := json.Marshal(r)
	if strings.Contains(string(raw), "CANARY-5d1e0c7b") {
		t.Fatal("the client's credential reached the provider")
	}
}

// vertexHost is the :authority every Vertex attempt carries: no backend in
// these tests configures a host, so it is the region's endpoint.
const vertexHost = trRegion + "-aiplatform.googleapis.com"

// extraString decodes an extra (non-OpenAI) string field openai-go kept.
func extraString(t *testing.T, f interface{ Raw() string }) string {
	t.Helper()
	var s string
	if raw := f.Raw(); raw != "" {
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			t.Fatalf("extra field %s: %v", raw, err)
		}
	}
	return s
}

func TestVertexGeminiE2E(t *testing.T) {
	fake := credtest.NewGoogle(t, time.Hour)
	e := newTrEnv(t, trOptions{backends: []trBackend{
		{name: "gemini", schema: mockprovider.SchemaVertexGemini, serves: []string{"gemini-2.5-flash", "text-embedding-005"},
			mockModels: []string{"gemini-2.5-flash", "text-embedding-005"}, gcp: fake},
	}})
	waitVertexToken(t, e, "gemini")
	email := "gemini@" + trProject + ".iam.gserviceaccount.com"
	c := e.client()

	t.Run("completion", func(t *testing.T) {
		out, err := c.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{
			Model:    "gemini-2.5-flash",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("say hello to the gateway")},
		}, to("gemini"))
		if err != nil {
			t.Fatal(err)
		}
		if out.Choices[0].Message.Content != "Hello from gemini." || out.Choices[0].FinishReason != "stop" || out.Model != "gemini-2.5-flash" {
			t.Fatalf("%+v", out)
		}
		// The mock counts the words of the contents (not the system instruction).
		if out.Usage.PromptTokens != 5 || out.Usage.CompletionTokens != 3 || out.Usage.TotalTokens != 8 {
			t.Errorf("usage %+v", out.Usage)
		}
		r := e.lastRequest("gemini")
		if r.Path != vertexGeminiPath+"gemini-2.5-flash:generateContent" || r.RawQuery != "" {
			t.Errorf("path %s?%s", r.Path, r.RawQuery)
		}
		// No host configured: the region's Vertex endpoint.
		if r.Host != vertexHost {
			t.Errorf("host %q, want %q", r.Host, vertexHost)
		}
		requireIssuedBearer(t, fake, r, email)
	})
	t.Run("reasoning", func(t *testing.T) {
		out, err := c.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{
			Model: "gemini-2.5-flash", ReasoningEffort: openai.ReasoningEffortMedium,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello to the gateway")},
		}, to("gemini"))
		if err != nil {
			t.Fatal(err)
		}
		m := out.Choices[0].Message
		if m.Content != "Hello from gemini." || extraString(t, m.JSON.ExtraFields["reasoning_content"]) != "Thinking about: Hello from gemini." {
			t.Fatalf("content %q, reasoning %s", m.Content, m.JSON.ExtraFields["reasoning_content"].Raw())
		}
		// 3 reply words + 5 thought words, the thoughts also apart.
		if out.Usage.CompletionTokens != 8 || out.Usage.CompletionTokensDetails.ReasoningTokens != 5 || out.Usage.TotalTokens != 13 {
			t.Errorf("usage %+v", out.Usage)
		}
		gc, _ := jsonBody(t, e.lastRequest("gemini"))["generationConfig"].(map[string]any)
		if tc, _ := gc["thinkingConfig"].(map[string]any); tc["thinkingBudget"] != float64(8192) || tc["includeThoughts"] != true {
			t.Errorf("generationConfig %v", gc)
		}
	})
	t.Run("json schema", func(t *testing.T) {
		schema := map[string]any{"type": "object", "properties": map[string]any{"greeting": map[string]any{"type": "string"}}, "required": []string{"greeting"}}
		_, err := c.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{
			Model: "gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello")},
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &openai.ResponseFormatJSONSchemaParam{
				JSONSchema: openai.ResponseFormatJSONSchemaJSONSchemaParam{Name: "greeting", Schema: schema, Strict: openai.Bool(true)}}},
		}, to("gemini"))
		if err != nil {
			t.Fatal(err)
		}
		gc, _ := jsonBody(t, e.lastRequest("gemini"))["generationConfig"].(map[string]any)
		if gc["responseMimeType"] != "application/json" || fmt.Sprint(gc["responseJsonSchema"]) != fmt.Sprint(map[string]any{"type": "object", "properties": map[string]any{"greeting": map[string]any{"type": "string"}}, "required": []any{"greeting"}}) {
			t.Errorf("generationConfig %v", gc)
		}
		// A keyword Vertex does not honour: a 400 naming it, nothing sent.
		schema["properties"].(map[string]any)["greeting"].(map[string]any)["pattern"] = "^Hello"
		before := len(e.mocks["gemini"].srv.Requests())
		_, err = c.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{
			Model: "gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello")},
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &openai.ResponseFormatJSONSchemaParam{
				JSONSchema: openai.ResponseFormatJSONSchemaJSONSchemaParam{Name: "greeting", Schema: schema}}},
		}, to("gemini"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "response_format.json_schema.schema.properties.greeting.pattern" {
			t.Fatalf("%v", err)
		}
		if len(e.mocks["gemini"].srv.Requests()) != before {
			t.Error("the request reached Vertex")
		}
	})
	t.Run("reasoning stream", func(t *testing.T) {
		p := openai.ChatCompletionNewParams{Model: "gemini-2.5-flash", ReasoningEffort: openai.ReasoningEffortHigh,
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello to the gateway")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}}
		s := c.Chat.Completions.NewStreaming(ctxT(t), p, to("gemini"))
		var acc openai.ChatCompletionAccumulator
		var reasoning strings.Builder
		for s.Next() {
			ch := s.Current()
			acc.AddChunk(ch)
			if len(ch.Choices) > 0 {
				if f, ok := ch.Choices[0].Delta.JSON.ExtraFields["reasoning_content"]; ok {
					reasoning.WriteString(extraString(t, f))
				}
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if reasoning.String() != "Thinking about: Hello from gemini." || acc.Choices[0].Message.Content != "Hello from gemini." {
			t.Fatalf("reasoning %q content %q", reasoning.String(), acc.Choices[0].Message.Content)
		}
		if acc.Usage.CompletionTokens != 8 || acc.Usage.CompletionTokensDetails.ReasoningTokens != 5 {
			t.Errorf("usage %+v", acc.Usage)
		}
	})
	t.Run("stream", func(t *testing.T) {
		p := openai.ChatCompletionNewParams{Model: "gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello to the gateway")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}}
		acc, chunks, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, to("gemini")))
		if chunks < 4 || acc.Choices[0].Message.Content != "Hello from gemini." || acc.Choices[0].FinishReason != "stop" {
			t.Fatalf("%d chunks, %+v", chunks, acc.Choices)
		}
		if acc.Usage.PromptTokens != 5 || acc.Usage.CompletionTokens != 3 {
			t.Errorf("usage %+v", acc.Usage)
		}
		r := e.lastRequest("gemini")
		if r.Path != vertexGeminiPath+"gemini-2.5-flash:streamGenerateContent" || r.RawQuery != "alt=sse" {
			t.Errorf("path %s?%s", r.Path, r.RawQuery)
		}
	})
	t.Run("embeddings", func(t *testing.T) {
		out, err := c.Embeddings.New(ctxT(t), openai.EmbeddingNewParams{
			Model: "text-embedding-005",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one two", "three four five"}},
		}, to("gemini"))
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Data) != 2 || len(out.Data[1].Embedding) != 3 || out.Data[1].Index != 1 || out.Usage.PromptTokens != 5 || out.Usage.TotalTokens != 5 {
			t.Fatalf("%+v", out)
		}
		if r := e.lastRequest("gemini"); r.Path != vertexGeminiPath+"text-embedding-005:predict" {
			t.Errorf("path %s", r.Path)
		}
	})
	t.Run("provider error keeps its status", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{Model: "gemini-unknown",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}, to("gemini"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "not_found" {
			t.Fatalf("%v", err)
		}
	})
}

func TestVertexClaudeE2E(t *testing.T) {
	fake := credtest.NewGoogle(t, time.Hour)
	e := newTrEnv(t, trOptions{backends: []trBackend{
		{name: "claude", schema: mockprovider.SchemaVertexAnthropic, serves: []string{"claude-sonnet-4@20250514"},
			mockModels: []string{"claude-sonnet-4@20250514"}, gcp: fake},
	}})
	waitVertexToken(t, e, "claude")
	base := "/v1/projects/" + trProject + "/locations/" + trRegion + "/publishers/anthropic/models/claude-sonnet-4@20250514"

	t.Run("openai client", func(t *testing.T) {
		c := e.client()
		out, err := c.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{Model: "claude-sonnet-4@20250514",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello to the gateway")}}, to("claude"))
		if err != nil {
			t.Fatal(err)
		}
		if out.Choices[0].Message.Content != "Hello from claude." {
			t.Fatalf("%+v", out)
		}
		r := e.lastRequest("claude")
		if r.Path != base+":rawPredict" || r.Header.Get("Anthropic-Version") != "" {
			t.Errorf("path %s, anthropic-version header %q", r.Path, r.Header.Get("Anthropic-Version"))
		}
		requireIssuedBearer(t, fake, r, "claude@"+trProject+".iam.gserviceaccount.com")
	})
	// anthropic-sdk-go through the Messages front door: the body passes with
	// the host's rewrites only (model into the path, anthropic_version into
	// the body), plain and streamed.
	ac := e.anthropicClient(aoption.WithHeader("x-ai-eg-backend", "claude"))
	mp := messagesParams()
	mp.Model = "claude-sonnet-4@20250514"
	t.Run("anthropic-sdk-go messages", func(t *testing.T) {
		msg, err := ac.Messages.New(ctxT(t), mp)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello from claude." || msg.StopReason != "end_turn" || msg.Model != "claude-sonnet-4@20250514" {
			t.Fatalf("%+v", msg)
		}
		if msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens != 3 {
			t.Errorf("usage %+v", msg.Usage)
		}
		r := e.lastRequest("claude")
		b := jsonBody(t, r)
		if r.Path != base+":rawPredict" || b["anthropic_version"] != "vertex-2023-10-16" || b["model"] != nil || r.Host != vertexHost {
			t.Errorf("path %s host %s body %s", r.Path, r.Host, r.Body)
		}
		requireIssuedBearer(t, fake, r, "claude@"+trProject+".iam.gserviceaccount.com")
	})
	t.Run("anthropic-sdk-go messages streamed", func(t *testing.T) {
		s := ac.Messages.NewStreaming(ctxT(t), mp)
		var msg anthropic.Message
		events := 0
		for s.Next() {
			events++
			if err := msg.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if events < 5 || len(msg.Content) != 1 || msg.Content[0].Text != "Hello from claude." || msg.StopReason != "end_turn" {
			t.Fatalf("%d events, %+v", events, msg)
		}
		r := e.lastRequest("claude")
		if r.Path != base+":streamRawPredict" || jsonBody(t, r)["stream"] != true || r.Host != vertexHost {
			t.Errorf("path %s host %s body %s", r.Path, r.Host, r.Body)
		}
		requireIssuedBearer(t, fake, r, "claude@"+trProject+".iam.gserviceaccount.com")
	})
	t.Run("anthropic-sdk-go error in Anthropic's shape", func(t *testing.T) {
		bad := mp
		bad.Model = "claude-unknown@1"
		_, err := ac.Messages.New(ctxT(t), bad)
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.RawJSON(), `"type":"error"`) {
			t.Fatalf("%v", err)
		}
	})
}

// TestFailoverOpenAIToVertexE2E: an OpenAI-compatible primary that fails
// (503) and a Vertex Gemini fallback at priority 1 serve one model; each
// attempt carries its own backend's credential: the primary its bearer
// key, Vertex a Google token; the client gets the fallback's answer.
func TestFailoverOpenAIToVertexE2E(t *testing.T) {
	fake := credtest.NewGoogle(t, time.Hour)
	o := trOptions{backends: []trBackend{
		{name: "primary", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o"}, mockModels: []string{"gpt-4o"}, key: "sk-primary-CANARY-a61f03e2"},
		{name: "vertex", schema: mockprovider.SchemaVertexGemini, serves: []string{"gpt-4o"}, override: map[string]string{"gpt-4o": "gemini-2.5-flash"},
			mockModels: []string{"gemini-2.5-flash"}, gcp: fake},
	}}
	o.clusters = func(m map[string]*trMock) []host.Cluster {
		return []host.Cluster{{Name: "failover-gpt-4o", Endpoints: []host.Endpoint{m["primary"].endpoint(0), m["vertex"].endpoint(1)}}}
	}
	o.routes = func(map[string]*trMock) []host.Route {
		return []host.Route{{Name: "model-gpt-4o", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o"}},
			Prefix: "/", Cluster: "failover-gpt-4o", Retries: 1,
			RetryOn: []string{"5xx", "reset", "connect-failure"}, PreviousPriorities: true, TimeoutMS: 20000}}
	}
	e := newTrEnv(t, o)
	waitVertexToken(t, e, "vertex")
	e.mocks["primary"].srv.SetFailStatus(503)
	c := e.client()
	for _, stream := range []bool{false, true} {
		id := newRequestID(t)
		if stream {
			p := gpt4oParams()
			acc, _, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, option.WithHeader("x-request-id", id)))
			if acc.Choices[0].Message.Content != "Hello from vertex." {
				t.Fatalf("%+v", acc.Choices)
			}
		} else {
			out, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), option.WithHeader("x-request-id", id))
			if err != nil || out.Choices[0].Message.Content != "Hello from vertex." {
				t.Fatalf("%v %+v", err, out)
			}
		}
		pr := e.lastRequest("primary")
		requireOneCredential(t, e.mocks["primary"].b, pr, "sk-primary-CANARY-a61f03e2")
		vr := e.lastRequest("vertex")
		requireIssuedBearer(t, fake, vr, "vertex@"+trProject+".iam.gserviceaccount.com")
		if strings.Contains(vr.Header.Get("Authorization"), "sk-primary") {
			t.Fatal("the primary's key reached Vertex")
		}
		method := "generateContent"
		if stream {
			method = "streamGenerateContent"
		}
		if vr.Path != vertexGeminiPath+"gemini-2.5-flash:"+method {
			t.Errorf("vertex path %s", vr.Path)
		}
		a := e.access(id)
		if a.Attempts != 2 || a.Status != 200 || metaString(a, "backend_name") != "vertex" {
			t.Errorf("attempts %d status %d backend %q", a.Attempts, a.Status, metaString(a, "backend_name"))
		}
	}
}

// TestVertexKeyRotationE2E replaces the service-account key (a new account
// and key, renamed over the old file) while requests run: the cache
// notices the new file within its poll interval and fetches with the new
// key; no request fails on the way, and the next ones carry a token issued
// for the new account.
func TestVertexKeyRotationE2E(t *testing.T) {
	fake := credtest.NewGoogle(t, time.Hour)
	e := newTrEnv(t, trOptions{backends: []trBackend{
		{name: "gemini", schema: mockprovider.SchemaVertexGemini, serves: []string{"gemini-2.5-flash"}, gcp: fake},
	}})
	waitVertexToken(t, e, "gemini")
	var failures, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(e.h.URL()+"/v1/chat/completions", "application/json",
					strings.NewReader(`{"model":"gemini-2.5-flash","backend":"gemini","messages":[{"role":"user","content":"hi"}]}`))
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
				}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				done.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	newEmail := "rotated@" + trProject + ".iam.gserviceaccount.com"
	fake.ServiceAccount(t, e.mocks["gemini"].keyPath, newEmail)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.lastRequest("gemini")
		if who, _ := fake.Issued(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); who == newEmail {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was never used")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || done.Load() < 10 {
		t.Fatalf("%d of %d requests failed during the rotation", failures.Load(), done.Load())
	}
}

// TestVertexMetricsE2E scrapes the .so's Prometheus endpoint after Vertex
// traffic: Gemini's thinking tokens are counted as reasoning tokens (inside
// the output tokens), and the Claude Messages passthrough names the
// client's model (gen_ai.request.model, before model_override) next to the
// one Vertex served.
func TestVertexMetricsE2E(t *testing.T) {
	addr := closedPort(t) // the library's listener takes it
	fake := credtest.NewGoogle(t, time.Hour)
	e := newTrEnv(t, trOptions{metrics: map[string]any{"listen_address": addr}, backends: []trBackend{
		{name: "gemini", schema: mockprovider.SchemaVertexGemini, serves: []string{"gemini-2.5-flash"}, gcp: fake},
		{name: "claude", schema: mockprovider.SchemaVertexAnthropic, serves: []string{"claude-sonnet"},
			override: map[string]string{"claude-sonnet": "claude-sonnet-4@20250514"}, mockModels: []string{"claude-sonnet-4@20250514"}, gcp: fake},
	}})
	waitVertexToken(t, e, "gemini")
	waitVertexToken(t, e, "claude")

	c := e.client()
	p := openai.ChatCompletionNewParams{Model: "gemini-2.5-flash", ReasoningEffort: openai.ReasoningEffortLow,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello to the gateway")}}
	id := newRequestID(t)
	if _, err := c.Chat.Completions.New(ctxT(t), p, to("gemini"), option.WithHeader("x-request-id", id)); err != nil {
		t.Fatal(err)
	}
	if md := e.access(id).DynamicMetadata["io.envoy.ai_gateway"]; md["llm_reasoning_token"] != float64(5) || md["llm_output_token"] != float64(8) {
		t.Errorf("dynamic metadata %v", md)
	}
	streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, to("gemini")))

	ac := e.anthropicClient(aoption.WithHeader("x-ai-eg-backend", "claude"))
	mp := messagesParams()
	mp.Model = "claude-sonnet"
	if _, err := ac.Messages.New(ctxT(t), mp); err != nil {
		t.Fatal(err)
	}
	s := ac.Messages.NewStreaming(ctxT(t), mp)
	for s.Next() {
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	fams := metricstest.Scrape(t, "http://"+addr+"/metrics")
	gemini := "gen_ai_operation_name=chat,gen_ai_provider_name=gcp.vertex_ai,gen_ai_request_model=gemini-2.5-flash,gen_ai_response_model=gemini-2.5-flash"
	claude := "gen_ai_operation_name=chat,gen_ai_provider_name=gcp.vertex_ai,gen_ai_request_model=claude-sonnet,gen_ai_response_model=claude-sonnet-4@20250514"
	const mod = ",gen_ai_token_modality=unknown"
	for _, tc := range []struct {
		family string
		want   map[string]float64
	}{
		// 5 thought words per request, two requests.
		{"gen_ai_client_inference_usage_reasoning_output_tokens_total", map[string]float64{gemini + mod: 10}},
		// 3 reply words + 5 thought words each.
		{"gen_ai_client_inference_usage_output_tokens_total", map[string]float64{gemini + mod: 16, claude + mod: 6}},
		{"aigw_upstream_attempts_total", map[string]float64{"aigw_backend_name=gemini," + gemini: 2, "aigw_backend_name=claude," + claude: 2}},
	} {
		// Only these requests' series: waitVertexToken's probes add others.
		got := fams.Series(tc.family, false)
		for k := range got {
			if !strings.Contains(k, "gen_ai_request_model=gemini-2.5-flash") && !strings.Contains(k, "gen_ai_request_model=claude-sonnet") {
				delete(got, k)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s:\n got  %v\n want %v", tc.family, got, tc.want)
		}
	}
}
