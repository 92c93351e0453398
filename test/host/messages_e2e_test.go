package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"

	"github.com/aigw/aigw/test/mockprovider"
)

// The Anthropic Messages front door, end to end: anthropic-sdk-go as the client, through
// the built .so in the C host, to an OpenAI mock, an Azure mock (both through translation)
// and an Anthropic mock (passthrough with only the host's rewrites).

// frontDoorBackends serve the client model "claude-sonnet-4" under other names.
var frontDoorBackends = []trBackend{
	{name: "fd-oai", schema: mockprovider.SchemaOpenAI, serves: []string{"claude-sonnet-4"},
		override: "gpt-4o-mini-2024-07-18", mockModels: []string{"gpt-4o-mini-2024-07-18"},
		key: "sk-fd-oai-1c9e", keyFile: true, toolArgs: weatherArgs},
	{name: "fd-azure", schema: mockprovider.SchemaAzure, serves: []string{"claude-sonnet-4"},
		override: "prod-4o-mini", apiVersion: "2024-10-21", mockModels: []string{"prod-4o-mini"},
		key: "az-fd-5521", toolArgs: weatherArgs},
	{name: "fd-claude", schema: mockprovider.SchemaAnthropic, serves: []string{"claude-sonnet-4"},
		override: "claude-3-5-haiku-latest", apiVersion: "2023-06-01", mockModels: []string{"claude-3-5-haiku-latest"},
		key: "sk-ant-fd-77d0", toolArgs: weatherArgs},
}

var frontDoorPaths = map[string]string{
	"fd-oai":    "/v1/chat/completions",
	"fd-azure":  "/openai/deployments/prod-4o-mini/chat/completions",
	"fd-claude": "/v1/messages",
}

func (e *trEnv) anthropicClient(opts ...aoption.RequestOption) anthropic.Client {
	base := []aoption.RequestOption{
		aoption.WithBaseURL(e.h.URL() + "/"),
		aoption.WithAPIKey(clientKey),
		aoption.WithMaxRetries(0),
		aoption.WithRequestTimeout(30 * time.Second),
	}
	return anthropic.NewClient(append(base, opts...)...)
}

func messagesParams() anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     "claude-sonnet-4",
		MaxTokens: 64,
		System:    []anthropic.TextBlockParam{{Text: "be brief"}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("say hello to the gateway"))},
	}
}

// checkFrontDoorUpstream asserts the provider got its own API: path, one credential, and
// for OpenAI-style providers an OpenAI chat body with no Anthropic header.
func checkFrontDoorUpstream(t *testing.T, e *trEnv, name string, stream bool) map[string]any {
	t.Helper()
	r := e.lastRequest(name)
	if r.Method != http.MethodPost || r.Path != frontDoorPaths[name] {
		t.Errorf("%s: upstream %s %s, want POST %s", name, r.Method, r.Path, frontDoorPaths[name])
	}
	requireOneCredential(t, e.mocks[name].b, r, e.mocks[name].b.key)
	body := jsonBody(t, r)
	if name == "fd-claude" {
		if got := r.Header.Get("Anthropic-Version"); got != "2023-06-01" {
			t.Errorf("anthropic-version %q", got)
		}
		return body
	}
	if got := r.Header.Get("Anthropic-Version"); got != "" {
		t.Errorf("%s: the client's anthropic-version reached an OpenAI-style provider", name)
	}
	if body["max_completion_tokens"] != 64.0 || body["max_tokens"] != nil {
		t.Errorf("%s: not an OpenAI chat body: %s", name, r.Body)
	}
	msgs, _ := body["messages"].([]any)
	if len(msgs) < 2 || msgs[0].(map[string]any)["role"] != "system" {
		t.Errorf("%s: system prompt not the first message: %s", name, r.Body)
	}
	if stream {
		so, _ := body["stream_options"].(map[string]any)
		if body["stream"] != true || so["include_usage"] != true {
			t.Errorf("%s: stream without include_usage: %s", name, r.Body)
		}
	}
	return body
}

func TestMessagesFrontDoorE2E(t *testing.T) {
	e := newTrEnv(t, trOptions{backends: frontDoorBackends})
	c := e.anthropicClient()
	ctx := context.Background()
	for _, b := range frontDoorBackends {
		t.Run(b.name+"/plain", func(t *testing.T) {
			msg, err := c.Messages.New(ctx, messagesParams(), aoption.WithJSONSet("backend", b.name))
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 1 || msg.Content[0].Type != "text" || !strings.Contains(msg.Content[0].Text, b.name) {
				t.Fatalf("content %+v", msg.Content)
			}
			if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.InputTokens != 7 || msg.Usage.OutputTokens != 3 {
				t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
			}
			checkFrontDoorUpstream(t, e, b.name, false)
		})
		t.Run(b.name+"/stream", func(t *testing.T) {
			s := c.Messages.NewStreaming(ctx, messagesParams(), aoption.WithJSONSet("backend", b.name))
			var msg anthropic.Message
			var types []string
			for s.Next() {
				ev := s.Current()
				types = append(types, ev.Type)
				if err := msg.Accumulate(ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if len(types) < 5 || types[0] != "message_start" || types[len(types)-1] != "message_stop" || types[len(types)-2] != "message_delta" {
				t.Errorf("event sequence %v", types)
			}
			if len(msg.Content) != 1 || !strings.Contains(msg.Content[0].Text, b.name) {
				t.Fatalf("content %+v", msg.Content)
			}
			if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.OutputTokens != 3 {
				t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
			}
			checkFrontDoorUpstream(t, e, b.name, true)
		})
		t.Run(b.name+"/tools", func(t *testing.T) {
			p := messagesParams()
			p.Tools = []anthropic.ToolUnionParam{anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
				Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"},
			}, "get_weather")}
			for _, stream := range []bool{false, true} {
				var msg anthropic.Message
				if stream {
					s := c.Messages.NewStreaming(ctx, p, aoption.WithJSONSet("backend", b.name))
					for s.Next() {
						if err := msg.Accumulate(s.Current()); err != nil {
							t.Fatal(err)
						}
					}
					if err := s.Err(); err != nil {
						t.Fatal(err)
					}
				} else {
					m, err := c.Messages.New(ctx, p, aoption.WithJSONSet("backend", b.name))
					if err != nil {
						t.Fatal(err)
					}
					msg = *m
				}
				var call *anthropic.ContentBlockUnion
				for i := range msg.Content {
					if msg.Content[i].Type == "tool_use" {
						call = &msg.Content[i]
					}
				}
				if call == nil || call.Name != "get_weather" || call.ID == "" || msg.StopReason != anthropic.StopReasonToolUse {
					t.Fatalf("stream=%v: no tool call: %+v stop %q", stream, msg.Content, msg.StopReason)
				}
				var args, want map[string]any
				_ = json.Unmarshal([]byte(weatherArgs), &want)
				if err := json.Unmarshal(call.Input, &args); err != nil || args["city"] != want["city"] || args["unit"] != want["unit"] {
					t.Errorf("stream=%v: input %s", stream, call.Input)
				}
				// The result goes back as the next turn.
				next := messagesParams()
				next.Tools = p.Tools
				next.Messages = append(next.Messages, msg.ToParam(),
					anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.ID, "18C and sunny", false)))
				if _, err := c.Messages.New(ctx, next, aoption.WithJSONSet("backend", b.name)); err != nil {
					t.Fatalf("stream=%v: tool result turn: %v", stream, err)
				}
				body := checkFrontDoorUpstream(t, e, b.name, false)
				if b.name != "fd-claude" {
					msgs := body["messages"].([]any)
					last := msgs[len(msgs)-1].(map[string]any)
					if last["role"] != "tool" || last["tool_call_id"] != call.ID || last["content"] != "18C and sunny" {
						t.Errorf("tool result sent as %v", last)
					}
				}
			}
		})
	}
}

// anthropicAPIError asserts err is the Anthropic SDK's API error with this status, whose
// body is Anthropic's error shape with this type.
func anthropicAPIError(t *testing.T, err error, status int, typ string) string {
	t.Helper()
	var ae *anthropic.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if ae.StatusCode != status || json.Unmarshal([]byte(ae.RawJSON()), &body) != nil || body.Type != "error" ||
		body.Error.Type != typ || body.Error.Message == "" {
		t.Fatalf("status %d body %s, want %d with an Anthropic %s", ae.StatusCode, ae.RawJSON(), status, typ)
	}
	return body.Error.Message
}

// Errors on the front door are Anthropic's in both phases: the router phase's, the upstream
// phase's, and every provider's error translated.
func TestMessagesFrontDoorErrorsE2E(t *testing.T) {
	backends := append([]trBackend(nil), frontDoorBackends...)
	e := newTrEnv(t, trOptions{backends: backends})
	c := e.anthropicClient()
	ctx := context.Background()

	t.Run("router phase: unknown backend", func(t *testing.T) {
		_, err := c.Messages.New(ctx, messagesParams(), aoption.WithHeader("x-ai-eg-backend", "nope"))
		anthropicAPIError(t, err, http.StatusNotFound, "not_found_error")
	})
	t.Run("upstream phase: a parameter the backend cannot express", func(t *testing.T) {
		p := messagesParams()
		p.TopK = anthropic.Int(5)
		_, err := c.Messages.New(ctx, p, aoption.WithJSONSet("backend", "fd-oai"))
		if msg := anthropicAPIError(t, err, http.StatusBadRequest, "invalid_request_error"); !strings.Contains(msg, "top_k") {
			t.Errorf("message %q does not name top_k", msg)
		}
	})
	for _, b := range backends {
		t.Run("provider error/"+b.name, func(t *testing.T) {
			e.mocks[b.name].srv.SetFailStatus(http.StatusTooManyRequests)
			defer e.mocks[b.name].srv.SetFailStatus(0)
			_, err := c.Messages.New(ctx, messagesParams(), aoption.WithJSONSet("backend", b.name))
			anthropicAPIError(t, err, http.StatusTooManyRequests, "rate_limit_error")
			s := c.Messages.NewStreaming(ctx, messagesParams(), aoption.WithJSONSet("backend", b.name))
			for s.Next() {
			}
			anthropicAPIError(t, s.Err(), http.StatusTooManyRequests, "rate_limit_error")
		})
	}
	t.Run("provider error/auth", func(t *testing.T) {
		e.mocks["fd-oai"].srv.SetFailStatus(http.StatusUnauthorized)
		defer e.mocks["fd-oai"].srv.SetFailStatus(0)
		_, err := c.Messages.New(ctx, messagesParams(), aoption.WithJSONSet("backend", "fd-oai"))
		anthropicAPIError(t, err, http.StatusUnauthorized, "authentication_error")
	})
}

// TestMessagesFrontDoorFailoverE2E: an Anthropic client's request to a model whose OpenAI
// primary answers 503 fails over to the Anthropic backend at the next priority. The first
// attempt goes out translated (OpenAI chat, the primary's bearer), the second from the
// client's original body (Anthropic Messages, its own x-api-key and anthropic-version, none
// of the first attempt's rewrites); the client gets an Anthropic message, plain and streamed.
func TestMessagesFrontDoorFailoverE2E(t *testing.T) {
	o := trOptions{backends: failoverBackends()}
	failoverTopology(&o)
	e := newTrEnv(t, o)
	e.mocks["primary"].srv.SetFailStatus(503)
	c := e.anthropicClient()
	params := func() anthropic.MessageNewParams {
		p := messagesParams()
		p.Model = "gpt-4o"
		return p
	}
	check := func(t *testing.T, id string, stream bool) {
		t.Helper()
		p, f := e.mocks["primary"], e.mocks["fallback"]
		pr := e.lastRequest("primary")
		requireOneCredential(t, p.b, pr, p.b.key)
		pb := jsonBody(t, pr)
		if pr.Path != "/v1/chat/completions" || pb["model"] != "gpt-4o" || pb["max_completion_tokens"] != 64.0 || pr.Header.Get("Anthropic-Version") != "" {
			t.Errorf("primary got %s %s", pr.Path, pr.Body)
		}
		fr := e.lastRequest("fallback")
		requireOneCredential(t, f.b, fr, f.b.key)
		fb := jsonBody(t, fr)
		if fr.Path != "/v1/messages" || fb["model"] != "claude-3-5-haiku-latest" || fb["max_tokens"] != 64.0 ||
			fb["max_completion_tokens"] != nil || fb["system"] == nil || fr.Header.Get("Anthropic-Version") != "2023-06-01" {
			t.Errorf("fallback got %s %s (anthropic-version %q)", fr.Path, fr.Body, fr.Header.Get("Anthropic-Version"))
		}
		if got, _ := fb["stream"].(bool); got != stream {
			t.Errorf("fallback stream %v", fb["stream"])
		}
		a := e.access(id)
		if a.Attempts != 2 || a.Status != 200 || metaString(a, "backend_name") != "fallback" {
			t.Errorf("attempts %d status %d backend %q", a.Attempts, a.Status, metaString(a, "backend_name"))
		}
	}
	t.Run("plain", func(t *testing.T) {
		id := newRequestID(t)
		msg, err := c.Messages.New(ctxT(t), params(), aoption.WithHeader("x-request-id", id))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello from fallback." || msg.Model != "claude-3-5-haiku-latest" {
			t.Fatalf("message %+v", msg)
		}
		check(t, id, false)
	})
	t.Run("stream", func(t *testing.T) {
		id := newRequestID(t)
		s := c.Messages.NewStreaming(ctxT(t), params(), aoption.WithHeader("x-request-id", id))
		var msg anthropic.Message
		for s.Next() {
			if err := msg.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello from fallback." || msg.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("message %+v", msg)
		}
		check(t, id, true)
	})
	t.Run("every priority down", func(t *testing.T) {
		e.mocks["fallback"].srv.SetFailStatus(529)
		defer e.mocks["fallback"].srv.SetFailStatus(0)
		_, err := c.Messages.New(ctxT(t), params())
		anthropicAPIError(t, err, 529, "overloaded_error")
	})
}
