package host_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/mockprovider"
)

// One backend per schema, each with a model override, in front of a mock that accepts only
// the overridden model (Azure: deployment) and only its own credential header, and checks
// the path, api-version / anthropic-version and body shape of the real API.
var schemaBackends = []trBackend{
	{name: "oai", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o-mini"},
		override: "gpt-4o-mini-2024-07-18", mockModels: []string{"gpt-4o-mini-2024-07-18"},
		key: "sk-oai-e2e-3b9f1d", keyFile: true, toolArgs: weatherArgs},
	{name: "azure", schema: mockprovider.SchemaAzure, serves: []string{"gpt-4o-mini"},
		override: map[string]string{"gpt-4o-mini": "prod-4o-mini"}, apiVersion: "2024-10-21",
		mockModels: []string{"prod-4o-mini"}, key: "az-e2e-77c2a0", toolArgs: weatherArgs},
	{name: "claude", schema: mockprovider.SchemaAnthropic, serves: []string{"gpt-4o-mini"},
		override: "claude-3-5-haiku-latest", apiVersion: "2023-06-01",
		mockModels: []string{"claude-3-5-haiku-latest"}, key: "sk-ant-e2e-90aa4e", keyFile: true, toolArgs: weatherArgs},
}

// schemaExpect is what each backend's provider must receive and what the client must get.
type schemaExpect struct {
	path, query string
	// upstreamModel is the body's model at the provider (Azure: the deployment is in the
	// path; the body model is rewritten too); replyModel is the model the client sees.
	upstreamModel, replyModel string
}

var schemaExpects = map[string]schemaExpect{
	"oai":    {path: "/v1/chat/completions", upstreamModel: "gpt-4o-mini-2024-07-18", replyModel: "gpt-4o-mini-2024-07-18"},
	"azure":  {path: "/openai/deployments/prod-4o-mini/chat/completions", query: "api-version=2024-10-21", upstreamModel: "prod-4o-mini", replyModel: "prod-4o-mini"},
	"claude": {path: "/v1/messages", upstreamModel: "claude-3-5-haiku-latest", replyModel: "claude-3-5-haiku-latest"},
}

// chatWithSystem is a request with a system and a user message: 2 + 5 words, which the
// mocks count as prompt tokens.
func chatWithSystem() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("be brief"),
			openai.UserMessage("say hello to the gateway"),
		},
		MaxCompletionTokens: openai.Int(64),
	}
}

// checkUpstreamShape asserts the provider got the exact path, query, headers and body shape
// its real API requires.
func checkUpstreamShape(t *testing.T, e *trEnv, name string, stream, tools bool) {
	t.Helper()
	m := e.mocks[name]
	want := schemaExpects[name]
	r := e.lastRequest(name)
	if r.Method != http.MethodPost || r.Path != want.path || r.RawQuery != want.query {
		t.Errorf("%s: upstream %s %s?%s, want POST %s?%s", name, r.Method, r.Path, r.RawQuery, want.path, want.query)
	}
	requireOneCredential(t, m.b, r, m.b.key)
	for _, h := range []string{"X-Ai-Eg-Backend", "X-Ai-Eg-Model"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("%s: the gateway's routing header %s reached the provider", name, h)
		}
	}
	body := jsonBody(t, r)
	if _, ok := body["backend"]; ok {
		t.Errorf("%s: the client-only backend member reached the provider", name)
	}
	if body["model"] != want.upstreamModel {
		t.Errorf("%s: upstream model %v, want %s", name, body["model"], want.upstreamModel)
	}
	if m.b.schema != mockprovider.SchemaAnthropic {
		if got := r.Header.Get("Anthropic-Version"); got != "" {
			t.Errorf("%s: anthropic-version sent to an OpenAI-schema provider", name)
		}
		if _, ok := body["messages"].([]any); !ok {
			t.Errorf("%s: body has no messages array: %s", name, r.Body)
		}
		if tools {
			var tl []struct {
				Type     string `json:"type"`
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			raw, _ := json.Marshal(body["tools"])
			if json.Unmarshal(raw, &tl) != nil || len(tl) != 1 || tl[0].Type != "function" || tl[0].Function.Name != "get_weather" {
				t.Errorf("%s: tools not passed as OpenAI function tools: %s", name, raw)
			}
		}
		return
	}
	// Anthropic Messages: version header, JSON content type, max_tokens, the system prompt
	// at top level, content blocks, no OpenAI-only members.
	if got := r.Header.Get("Anthropic-Version"); got != "2023-06-01" {
		t.Errorf("anthropic-version %q", got)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content-type %q", ct)
	}
	if body["max_tokens"] != 64.0 {
		t.Errorf("max_tokens %v, want 64 (from max_completion_tokens)", body["max_tokens"])
	}
	if body["system"] != "be brief" {
		t.Errorf("system %v", body["system"])
	}
	for _, k := range []string{"max_completion_tokens", "stream_options", "n", "tool_choice"} {
		if _, ok := body[k]; ok {
			t.Errorf("OpenAI-only member %s sent to Anthropic: %s", k, r.Body)
		}
	}
	if got, _ := body["stream"].(bool); got != stream {
		t.Errorf("stream %v, want %v", body["stream"], stream)
	}
	msgs, _ := body["messages"].([]any)
	if len(msgs) == 0 {
		t.Fatalf("no messages: %s", r.Body)
	}
	first, _ := msgs[0].(map[string]any)
	if first["role"] != "user" {
		t.Errorf("first message %v", first)
	}
	if tools {
		want := []any{map[string]any{"name": "get_weather", "description": "Current weather in a city",
			"input_schema": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}},
				"required": []any{"city"}}}}
		if !reflect.DeepEqual(body["tools"], want) {
			raw, _ := json.Marshal(body["tools"])
			t.Errorf("anthropic tools %s", raw)
		}
	}
}

func sameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

// streamAll reads a stream through the SDK's accumulator, failing on any chunk it rejects
// (a chunk whose id changes, a bad index, ...).
func streamAll(t *testing.T, s interface {
	Next() bool
	Current() openai.ChatCompletionChunk
	Err() error
}) (acc openai.ChatCompletionAccumulator, chunks int, finishedTool *openai.FinishedChatCompletionToolCall) {
	t.Helper()
	for s.Next() {
		chunks++
		if !acc.AddChunk(s.Current()) {
			t.Fatalf("chunk %d rejected by the accumulator: %s", chunks, s.Current().RawJSON())
		}
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finishedTool = &tc
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	return acc, chunks, finishedTool
}

// TestTranslateE2E drives every schema through both ABIs with the official SDK: plain and
// streamed completions, tool definitions in and tool calls out (streamed deltas included),
// a tool-result round trip, and provider errors.
func TestTranslateE2E(t *testing.T) {
	e := newTrEnv(t, trOptions{backends: schemaBackends})
	c := e.client()
	for _, b := range schemaBackends {
		name := b.name
		want := schemaExpects[name]
		t.Run(name+"/completion", func(t *testing.T) {
			id := newRequestID(t)
			out, err := c.Chat.Completions.New(ctxT(t), chatWithSystem(), to(name), option.WithHeader("x-request-id", id))
			if err != nil {
				t.Fatal(err)
			}
			if out.Object != "chat.completion" || out.Model != want.replyModel || len(out.Choices) != 1 {
				t.Fatalf("completion object %q model %q choices %d", out.Object, out.Model, len(out.Choices))
			}
			ch := out.Choices[0]
			if ch.Message.Role != "assistant" || ch.Message.Content != "Hello from "+name+"." || ch.FinishReason != "stop" {
				t.Errorf("choice %+v", ch)
			}
			if out.Usage.PromptTokens != 7 || out.Usage.CompletionTokens != 3 || out.Usage.TotalTokens != 10 {
				t.Errorf("usage %+v, want 7+3", out.Usage)
			}
			checkUpstreamShape(t, e, name, false, false)
			a := e.access(id)
			if metaString(a, "backend_name") != name || a.Status != 200 {
				t.Errorf("access log backend_name %q status %d", metaString(a, "backend_name"), a.Status)
			}
			checkTokens(t, a, 7, 3)
		})
		t.Run(name+"/stream", func(t *testing.T) {
			id := newRequestID(t)
			p := chatWithSystem()
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			var resp *http.Response
			s := c.Chat.Completions.NewStreaming(ctxT(t), p, to(name), option.WithHeader("x-request-id", id), option.WithResponseInto(&resp))
			acc, chunks, _ := streamAll(t, s)
			if ct := resp.Header.Get("content-type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("content-type %q", ct)
			}
			if chunks < 4 {
				t.Errorf("%d chunks", chunks)
			}
			if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "Hello from "+name+"." || acc.Choices[0].FinishReason != "stop" {
				t.Fatalf("accumulated %+v", acc.Choices)
			}
			if acc.Model != want.replyModel || acc.Usage.PromptTokens != 7 || acc.Usage.CompletionTokens != 3 {
				t.Errorf("model %q usage %+v", acc.Model, acc.Usage)
			}
			checkUpstreamShape(t, e, name, true, false)
			checkTokens(t, e.access(id), 7, 3)
		})
		t.Run(name+"/client headers", func(t *testing.T) {
			// Every header a plan removes that the client sends (its
			// credential headers, a provider's own, SigV4's) is gone, a
			// repeated one with all its values, whatever the backend's schema;
			// a header outside the list reaches the provider.
			_, err := c.Chat.Completions.New(ctxT(t), chatWithSystem(), to(name),
				option.WithHeaderAdd("x-api-key", clientKey), option.WithHeaderAdd("x-api-key", clientKey+"-2"),
				option.WithHeader("api-key", clientKey), option.WithHeader("anthropic-version", "2099-01-01"),
				option.WithHeader("x-amz-date", "20990101T000000Z"), option.WithHeader("x-amz-security-token", clientKey),
				option.WithHeader("proxy-authorization", "Basic "+clientKey), option.WithHeader("cookie", "session="+clientKey),
				option.WithHeader("x-goog-api-key", clientKey), option.WithHeader("ocp-apim-subscription-key", clientKey),
				option.WithHeader("x-keep-me", "kept"))
			if err != nil {
				t.Fatal(err)
			}
			r := e.lastRequest(name)
			requireOneCredential(t, e.mocks[name].b, r, e.mocks[name].b.key)
			for _, h := range []string{"X-Amz-Date", "X-Amz-Security-Token", "Proxy-Authorization", "Cookie", "X-Goog-Api-Key",
				"Ocp-Apim-Subscription-Key"} {
				if v := r.Header.Values(h); len(v) != 0 {
					t.Errorf("%s: the client's %s reached the provider: %q", name, h, v)
				}
			}
			wantVersion := []string(nil)
			if e.mocks[name].b.schema == mockprovider.SchemaAnthropic {
				wantVersion = []string{"2023-06-01"}
			}
			if got := r.Header.Values("Anthropic-Version"); !slices.Equal(got, wantVersion) {
				t.Errorf("%s: anthropic-version %q, want %q", name, got, wantVersion)
			}
			if got := r.Header.Values("X-Keep-Me"); len(got) != 1 || got[0] != "kept" {
				t.Errorf("%s: x-keep-me %q, want the client's value", name, got)
			}
		})
		t.Run(name+"/tools", func(t *testing.T) {
			p := chatWithSystem()
			p.Tools = []openai.ChatCompletionToolUnionParam{weatherTool()}
			out, err := c.Chat.Completions.New(ctxT(t), p, to(name))
			if err != nil {
				t.Fatal(err)
			}
			ch := out.Choices[0]
			if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 {
				t.Fatalf("choice %+v", ch)
			}
			tc := ch.Message.ToolCalls[0]
			if tc.ID == "" || tc.Type != "function" || tc.Function.Name != "get_weather" || !sameJSON(tc.Function.Arguments, weatherArgs) {
				t.Errorf("tool call %+v", tc)
			}
			checkUpstreamShape(t, e, name, false, true)

			// Send the call and its result back: the provider must accept the history in
			// its own shape (Anthropic: tool_use and tool_result blocks).
			p.Messages = append(p.Messages, ch.Message.ToParam(), openai.ToolMessage("18C and sunny", tc.ID))
			p.Tools = nil
			out, err = c.Chat.Completions.New(ctxT(t), p, to(name))
			if err != nil {
				t.Fatal(err)
			}
			if out.Choices[0].Message.Content != "Hello from "+name+"." {
				t.Errorf("after the tool result: %+v", out.Choices[0])
			}
			if b.schema == mockprovider.SchemaAnthropic {
				body := jsonBody(t, e.lastRequest(name))
				raw, _ := json.Marshal(body["messages"])
				var msgs []struct {
					Role    string `json:"role"`
					Content []struct {
						Type      string          `json:"type"`
						ID        string          `json:"id"`
						Name      string          `json:"name"`
						Input     json.RawMessage `json:"input"`
						ToolUseID string          `json:"tool_use_id"`
					} `json:"content"`
				}
				if err := json.Unmarshal(raw, &msgs); err != nil || len(msgs) != 3 {
					t.Fatalf("anthropic history %s", raw)
				}
				use, result := msgs[1].Content[0], msgs[2].Content[0]
				if msgs[1].Role != "assistant" || use.Type != "tool_use" || use.ID != tc.ID || use.Name != "get_weather" || !sameJSON(string(use.Input), weatherArgs) {
					t.Errorf("tool_use block %s", raw)
				}
				if msgs[2].Role != "user" || result.Type != "tool_result" || result.ToolUseID != tc.ID {
					t.Errorf("tool_result block %s", raw)
				}
			}
		})
		t.Run(name+"/tools-stream", func(t *testing.T) {
			p := chatWithSystem()
			p.Tools = []openai.ChatCompletionToolUnionParam{weatherTool()}
			acc, chunks, finished := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, to(name)))
			if chunks < 4 {
				t.Errorf("tool arguments arrived in %d chunks, want several deltas", chunks)
			}
			if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "tool_calls" || len(acc.Choices[0].Message.ToolCalls) != 1 {
				t.Fatalf("accumulated %+v", acc.Choices)
			}
			tc := acc.Choices[0].Message.ToolCalls[0]
			if tc.ID == "" || tc.Function.Name != "get_weather" || !sameJSON(tc.Function.Arguments, weatherArgs) {
				t.Errorf("accumulated tool call %+v", tc)
			}
			if finished == nil || finished.Name != "get_weather" || finished.ID != tc.ID {
				t.Errorf("the accumulator never reported the finished tool call: %+v", finished)
			}
			checkUpstreamShape(t, e, name, true, true)
		})
		t.Run(name+"/errors", func(t *testing.T) {
			statuses := []int{400, 401, 429, 500, 503}
			if b.schema == mockprovider.SchemaAnthropic {
				statuses = append(statuses, 529)
			}
			m := e.mocks[name]
			defer m.srv.SetFailStatus(0)
			for _, st := range statuses {
				m.srv.SetFailStatus(st)
				for _, stream := range []bool{false, true} {
					var err error
					if stream {
						s := c.Chat.Completions.NewStreaming(ctxT(t), chatWithSystem(), to(name))
						for s.Next() {
							t.Errorf("status %d: a chunk arrived: %s", st, s.Current().RawJSON())
						}
						err = s.Err()
					} else {
						_, err = c.Chat.Completions.New(ctxT(t), chatWithSystem(), to(name))
					}
					var apiErr *openai.Error
					if !errors.As(err, &apiErr) {
						t.Fatalf("status %d stream %v: %v is not an *openai.Error", st, stream, err)
					}
					if apiErr.StatusCode != st || apiErr.Message == "" {
						t.Errorf("status %d stream %v: client got %d %q", st, stream, apiErr.StatusCode, apiErr.Message)
					}
					// Every provider's error reaches the client with OpenAI's four members
					// (Azure's front door {"code","message"} envelope is completed).
					errorJSON(t, []byte(`{"error":`+apiErr.RawJSON()+`}`))
					if apiErr.Type == "" {
						t.Errorf("status %d stream %v: no error type: %s", st, stream, apiErr.RawJSON())
					}
				}
			}
		})
	}
}

// TestUnexpressibleRequestE2E: a parameter Anthropic cannot express is refused with an
// OpenAI error naming it: 400 for the whole request, nothing sent. What happens when the
// Anthropic backend is another backend's fallback: TestFallbackCannotExpressE2E and
// TestRequestTimeFailuresEndTheRequestE2E (attempts_e2e_test.go).
func TestUnexpressibleRequestE2E(t *testing.T) {
	t.Run("anthropic only", func(t *testing.T) {
		e := newTrEnv(t, trOptions{backends: []trBackend{schemaBackends[2]}})
		cases := []struct {
			name, opt string
			value     any
			param     string
		}{
			{"n", "n", 2, "n"},
			{"logprobs", "logprobs", true, "logprobs"},
			{"response_format", "response_format", map[string]any{"type": "json_object"}, "response_format"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				id := newRequestID(t)
				c := e.client()
				_, err := c.Chat.Completions.New(ctxT(t), chatWithSystem(), to("claude"),
					option.WithJSONSet(tc.opt, tc.value), option.WithHeader("x-request-id", id))
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("%v is not an *openai.Error", err)
				}
				if apiErr.StatusCode != 400 && apiErr.StatusCode != 422 {
					t.Errorf("status %d, want 400 or 422", apiErr.StatusCode)
				}
				if apiErr.Param != tc.param || apiErr.Type != "invalid_request_error" || !strings.Contains(apiErr.Message, tc.param) {
					t.Errorf("error %s does not name %s", apiErr.RawJSON(), tc.param)
				}
				errorJSON(t, []byte(`{"error":`+apiErr.RawJSON()+`}`))
				if a := e.access(id); a.Attempts != 1 {
					t.Errorf("attempts %d", a.Attempts)
				}
			})
		}
		if n := len(e.mocks["claude"].srv.Requests()); n != 0 {
			t.Errorf("the provider got %d requests it cannot serve", n)
		}
	})
}
