package host_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/host"
	"github.com/aigw/aigw/test/mockprovider"
)

// failoverBackends: an OpenAI-compatible primary (key from the environment) and an
// Anthropic fallback (key from a file) serving the same client model, in one cluster at
// priorities 0 and 1, routed by model with previous_priorities.
func failoverBackends() []trBackend {
	return []trBackend{
		{name: "primary", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o"}, mockModels: []string{"gpt-4o"},
			key: "sk-primary-CANARY-a61f03e2"},
		{name: "fallback", schema: mockprovider.SchemaAnthropic, serves: []string{"gpt-4o"},
			override: map[string]string{"gpt-4o": "claude-3-5-haiku-latest"}, apiVersion: "2023-06-01",
			mockModels: []string{"claude-3-5-haiku-latest"}, key: "sk-ant-fallback-CANARY-0c9d2b7e", keyFile: true},
	}
}

func failoverTopology(o *trOptions) {
	o.clusters = func(m map[string]*trMock) []host.Cluster {
		return []host.Cluster{{Name: "failover-gpt-4o", Endpoints: []host.Endpoint{m["primary"].endpoint(0), m["fallback"].endpoint(1)}}}
	}
	o.routes = func(map[string]*trMock) []host.Route {
		return []host.Route{{Name: "model-gpt-4o", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o"}},
			Prefix: "/", Cluster: "failover-gpt-4o", Retries: 1,
			RetryOn: []string{"5xx", "reset", "connect-failure"}, PreviousPriorities: true, TimeoutMS: 20000}}
	}
}

func gpt4oParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello to the gateway")},
	}
}

// checkFailover asserts what each side of a failover saw: the primary its own bearer key and
// the client's model; the fallback the Anthropic translation with its own x-api-key (never
// the primary's), anthropic-version and the override; the access log names the fallback.
func checkFailover(t *testing.T, e *trEnv, id string, stream bool) {
	t.Helper()
	p, f := e.mocks["primary"], e.mocks["fallback"]
	pr := e.lastRequest("primary")
	requireOneCredential(t, p.b, pr, p.b.key)
	if pr.Path != "/v1/chat/completions" || jsonBody(t, pr)["model"] != "gpt-4o" {
		t.Errorf("primary got %s %s", pr.Path, pr.Body)
	}
	fr := e.lastRequest("fallback")
	requireOneCredential(t, f.b, fr, f.b.key)
	if got := fr.Header.Get("X-Api-Key"); got == p.b.key || strings.Contains(got, "primary") {
		t.Errorf("the fallback got the primary's key")
	}
	if strings.Contains(fmt.Sprint(fr.Header), p.b.key) {
		t.Errorf("the primary's key reached the fallback")
	}
	body := jsonBody(t, fr)
	if fr.Path != "/v1/messages" || body["model"] != "claude-3-5-haiku-latest" || fr.Header.Get("Anthropic-Version") != "2023-06-01" {
		t.Errorf("fallback got %s model %v version %q", fr.Path, body["model"], fr.Header.Get("Anthropic-Version"))
	}
	if got, _ := body["stream"].(bool); got != stream {
		t.Errorf("fallback stream %v", body["stream"])
	}
	a := e.access(id)
	if a.Attempts != 2 || len(a.UpstreamHosts) != 2 || a.Status != 200 {
		t.Errorf("attempts %d hosts %v status %d", a.Attempts, a.UpstreamHosts, a.Status)
	}
	if got := metaString(a, "backend_name"); got != "fallback" {
		t.Errorf("dynamic metadata backend_name %q, want fallback", got)
	}
}

// TestFailoverAcrossSchemasE2E: the OpenAI primary answers 503, the Anthropic fallback at the
// next priority serves the request; the SDK gets a correct OpenAI completion, then a correct
// stream.
func TestFailoverAcrossSchemasE2E(t *testing.T) {
	o := trOptions{backends: failoverBackends()}
	failoverTopology(&o)
	e := newTrEnv(t, o)
	e.mocks["primary"].srv.SetFailStatus(503)
	c := e.client()

	t.Run("completion", func(t *testing.T) {
		id := newRequestID(t)
		var resp *http.Response
		out, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), option.WithHeader("x-request-id", id), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get(mockprovider.BackendHeader) != "fallback" {
			t.Errorf("served by %q", resp.Header.Get(mockprovider.BackendHeader))
		}
		if out.Object != "chat.completion" || len(out.Choices) != 1 || out.Choices[0].Message.Content != "Hello from fallback." ||
			out.Choices[0].FinishReason != "stop" || out.Model != "claude-3-5-haiku-latest" {
			t.Fatalf("completion %+v", out)
		}
		if out.Usage.PromptTokens != 5 || out.Usage.CompletionTokens != 3 || out.Usage.TotalTokens != 8 {
			t.Errorf("usage %+v", out.Usage)
		}
		checkFailover(t, e, id, false)
		checkTokens(t, e.access(id), 5, 3)
	})
	t.Run("stream", func(t *testing.T) {
		id := newRequestID(t)
		p := gpt4oParams()
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		acc, chunks, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, option.WithHeader("x-request-id", id)))
		if chunks < 4 || len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "Hello from fallback." || acc.Choices[0].FinishReason != "stop" {
			t.Fatalf("%d chunks, accumulated %+v", chunks, acc.Choices)
		}
		if acc.Usage.PromptTokens != 5 || acc.Usage.CompletionTokens != 3 {
			t.Errorf("usage %+v", acc.Usage)
		}
		checkFailover(t, e, id, true)
	})
}

// TestKeyRotationE2E rewrites key files (write a new file, rename it over the old one) while
// the host runs; after the credentials re-check interval (1s) the next request carries the
// new key, for a bearer and an x-api-key backend.
func TestKeyRotationE2E(t *testing.T) {
	e := newTrEnv(t, trOptions{backends: []trBackend{
		{name: "rot-oai", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o-mini"}, key: "sk-rot-old-11", keyFile: true, noCheck: true},
		{name: "rot-claude", schema: mockprovider.SchemaAnthropic, serves: []string{"gpt-4o-mini"}, apiVersion: "2023-06-01",
			key: "sk-ant-rot-old-22", keyFile: true, noCheck: true},
	}})
	c := e.client()
	send := func(name string) mockprovider.Request {
		t.Helper()
		if _, err := c.Chat.Completions.New(ctxT(t), chatWithSystem(), to(name)); err != nil {
			t.Fatal(err)
		}
		return e.lastRequest(name)
	}
	for _, name := range []string{"rot-oai", "rot-claude"} {
		m := e.mocks[name]
		requireOneCredential(t, m.b, send(name), m.b.key)
	}
	newKeys := map[string]string{"rot-oai": "sk-rot-new-33", "rot-claude": "sk-ant-rot-new-44"}
	for name, k := range newKeys {
		writeKeyFile(t, e.mocks[name].keyPath, k)
	}
	// The filter re-checks a key file at most once per second (credentials.RecheckInterval).
	time.Sleep(1100 * time.Millisecond)
	for name, k := range newKeys {
		m := e.mocks[name]
		r := send(name)
		requireOneCredential(t, m.b, r, k)
	}
	// A rotation that leaves an empty file keeps the last good key.
	writeKeyFile(t, e.mocks["rot-oai"].keyPath, "")
	time.Sleep(1100 * time.Millisecond)
	requireOneCredential(t, e.mocks["rot-oai"].b, send("rot-oai"), newKeys["rot-oai"])
}

// TestGzipResponsesE2E: providers answering with content-encoding: gzip although the gateway
// asked for none. The OpenAI passthrough decodes it (to read usage) and the client gets
// identity JSON; the Anthropic translator decodes it before translating. Streams too.
func TestGzipResponsesE2E(t *testing.T) {
	e := newTrEnv(t, trOptions{backends: []trBackend{
		{name: "gz-oai", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o-mini"}, key: "sk-gz-1", gzip: true},
		{name: "gz-claude", schema: mockprovider.SchemaAnthropic, serves: []string{"gpt-4o-mini"}, override: "claude-3-5-haiku-latest",
			apiVersion: "2023-06-01", key: "sk-ant-gz-2", keyFile: true, gzip: true, toolArgs: weatherArgs},
	}})
	// DisableCompression: the client must not hide a content-encoding the gateway forgot.
	c := e.client(option.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableCompression: true}}))
	for _, name := range []string{"gz-oai", "gz-claude"} {
		t.Run(name+"/completion", func(t *testing.T) {
			id := newRequestID(t)
			var resp *http.Response
			out, err := c.Chat.Completions.New(ctxT(t), chatWithSystem(), to(name), option.WithHeader("x-request-id", id), option.WithResponseInto(&resp))
			if err != nil {
				t.Fatal(err)
			}
			if ce := resp.Header.Get("content-encoding"); ce != "" {
				t.Errorf("client got content-encoding %q", ce)
			}
			if out.Choices[0].Message.Content != "Hello from "+name+"." || out.Usage.TotalTokens != 10 {
				t.Errorf("completion %+v usage %+v", out.Choices, out.Usage)
			}
			checkTokens(t, e.access(id), 7, 3)
		})
		t.Run(name+"/stream", func(t *testing.T) {
			p := chatWithSystem()
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			acc, _, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, to(name)))
			if acc.Choices[0].Message.Content != "Hello from "+name+"." || acc.Usage.TotalTokens != 10 {
				t.Errorf("stream %+v usage %+v", acc.Choices, acc.Usage)
			}
		})
		t.Run(name+"/error", func(t *testing.T) {
			m := e.mocks[name]
			m.srv.SetFailStatus(429)
			defer m.srv.SetFailStatus(0)
			_, err := c.Chat.Completions.New(ctxT(t), chatWithSystem(), to(name))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Message == "" {
				t.Fatalf("error %v", err)
			}
		})
	}
	t.Run("gz-claude/tools", func(t *testing.T) {
		p := chatWithSystem()
		p.Tools = []openai.ChatCompletionToolUnionParam{weatherTool()}
		out, err := c.Chat.Completions.New(ctxT(t), p, to("gz-claude"))
		if err != nil {
			t.Fatal(err)
		}
		if tc := out.Choices[0].Message.ToolCalls; len(tc) != 1 || !sameJSON(tc[0].Function.Arguments, weatherArgs) {
			t.Errorf("tool calls %+v", tc)
		}
	})
}

// TestFailoverAnthropicToOpenAIE2E is the reverse direction: the Anthropic attempt is
// translated (body, path, x-api-key, anthropic-version) on the header map all attempts
// share, then fails with 529; the OpenAI attempt at the next priority must start from the
// client's request: OpenAI body and path, its own bearer key, nothing Anthropic-specific.
func TestFailoverAnthropicToOpenAIE2E(t *testing.T) {
	claude, oai := schemaBackends[2], schemaBackends[0]
	e := newTrEnv(t, trOptions{backends: []trBackend{claude, oai},
		clusters: func(m map[string]*trMock) []host.Cluster {
			return []host.Cluster{{Name: "claude-then-oai", Endpoints: []host.Endpoint{m["claude"].endpoint(0), m["oai"].endpoint(1)}}}
		},
		routes: func(map[string]*trMock) []host.Route {
			return []host.Route{{Name: "model", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o-mini"}},
				Prefix: "/", Cluster: "claude-then-oai", Retries: 1, RetryOn: []string{"5xx", "reset", "connect-failure"},
				PreviousPriorities: true, TimeoutMS: 20000}}
		}})
	e.mocks["claude"].srv.SetFailStatus(529)
	c := e.client()
	for _, stream := range []bool{false, true} {
		id := newRequestID(t)
		var text string
		if stream {
			acc, _, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), chatWithSystem(), option.WithHeader("x-request-id", id)))
			text = acc.Choices[0].Message.Content
		} else {
			out, err := c.Chat.Completions.New(ctxT(t), chatWithSystem(), option.WithHeader("x-request-id", id))
			if err != nil {
				t.Fatal(err)
			}
			text = out.Choices[0].Message.Content
		}
		if text != "Hello from oai." {
			t.Fatalf("stream %v: %q", stream, text)
		}
		cr := e.lastRequest("claude")
		if cr.Path != "/v1/messages" || cr.Header.Get("Anthropic-Version") == "" {
			t.Fatalf("the first attempt was not translated for Anthropic: %s", cr.Path)
		}
		checkUpstreamShape(t, e, "oai", stream, false)
		or := e.lastRequest("oai")
		for _, h := range []string{"Anthropic-Version", "X-Api-Key"} {
			if v := or.Header.Get(h); v != "" {
				t.Errorf("stream %v: the Anthropic attempt's %s reached OpenAI", stream, h)
			}
		}
		body := jsonBody(t, or)
		if _, ok := body["max_completion_tokens"]; !ok || body["max_tokens"] != nil || body["system"] != nil {
			t.Errorf("stream %v: OpenAI got a body that is not the client's: %s", stream, or.Body)
		}
		if a := e.access(id); a.Attempts != 2 || metaString(a, "backend_name") != "oai" {
			t.Errorf("attempts %d backend_name %q", a.Attempts, metaString(a, "backend_name"))
		}
	}
}
