package upstream

import (
	"encoding/json"
	"strings"
	"testing"
)

type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

const messagesBody = `{"model":"gpt-4o-mini","max_tokens":32,"system":"be brief","messages":[{"role":"user","content":"hi"}]}`

// A client on /v1/messages reaches OpenAI-style backends through
// translation: the chat completions path of the backend, its credential,
// an OpenAI chat body.
func TestMessagesFrontDoorRequest(t *testing.T) {
	for _, tt := range []struct {
		backend, wantPath, wantModel string
		wantAuth                     [2]string
	}{
		{"oai", "/v1/chat/completions", "gpt-4o-mini-2024-07-18", [2]string{"authorization", "Bearer sk-openai-secret"}},
		{"az", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", "gpt-4o-mini", [2]string{"api-key", "azure-secret"}},
		{"claude", "/v1/messages", "claude-3-5-haiku-latest", [2]string{"x-api-key", "anthropic-secret"}},
	} {
		t.Run(tt.backend, func(t *testing.T) {
			a := clientRequest(tt.backend, "/v1/messages", messagesBody)
			f := NewFilter(pipelineConfig(t), a)
			if h, b1, b2 := sendRequest(t, f); h != Hold || b1 != Hold || b2 != Continue {
				t.Fatalf("statuses %v %v %v, responses %v", h, b1, b2, a.responses)
			}
			if a.reqH[":path"] != tt.wantPath || a.reqH[tt.wantAuth[0]] != tt.wantAuth[1] {
				t.Errorf(":path %q, %s %q", a.reqH[":path"], tt.wantAuth[0], a.reqH[tt.wantAuth[0]])
			}
			var body map[string]any
			if err := json.Unmarshal(a.reqB.b, &body); err != nil || body["model"] != tt.wantModel {
				t.Fatalf("body %s (%v)", a.reqB.b, err)
			}
			if tt.backend != "claude" {
				if _, ok := body["max_tokens"]; ok || body["max_completion_tokens"] != 32.0 {
					t.Errorf("body not an OpenAI chat request: %s", a.reqB.b)
				}
				if _, ok := a.reqH["anthropic-version"]; ok {
					t.Errorf("anthropic-version sent to an OpenAI-style backend")
				}
			}
		})
	}
}

// Every failure the upstream phase answers for a /v1/messages client is in
// Anthropic's error shape, with the same status an OpenAI client gets.
func TestMessagesFailuresAreAnthropic(t *testing.T) {
	for _, tt := range []struct {
		name       string
		backend    string
		body       string
		retry      bool
		panicOn    string
		wantStatus int
		wantType   string
	}{
		{name: "unknown backend", backend: "nope", body: messagesBody, wantStatus: 503, wantType: "overloaded_error"},
		{name: "parameter the target cannot express", backend: "oai", body: `{"model":"m","max_tokens":8,"top_k":3,"messages":[{"role":"user","content":"x"}]}`, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "same on a retry", backend: "oai", retry: true, body: `{"model":"m","max_tokens":8,"top_k":3,"messages":[{"role":"user","content":"x"}]}`, wantStatus: 503, wantType: "overloaded_error"},
		{name: "malformed body", backend: "az", body: `{"model":`, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "panic", backend: "oai", body: messagesBody, panicOn: "RequestBody", wantStatus: 500, wantType: "api_error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := clientRequest(tt.backend, "/v1/messages", tt.body)
			if tt.retry {
				a.state[stateKeyPath] = "/v1/messages"
				a.reqH[":path"] = "/v1/chat/completions" // an earlier attempt's rewrite
			}
			a.panicOn = tt.panicOn
			f := NewFilter(pipelineConfig(t), a)
			func() {
				defer func() {
					if p := recover(); p != nil {
						f.Fail("body", p)
					}
				}()
				sendRequest(t, f)
			}()
			if len(a.responses) != 1 || a.responses[0].status != tt.wantStatus {
				t.Fatalf("responses %v, want one %d", a.responses, tt.wantStatus)
			}
			var e anthropicError
			body := a.responses[0].body
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Type != "error" || e.Error.Type != tt.wantType || e.Error.Message == "" {
				t.Fatalf("body %s, want an Anthropic %s", body, tt.wantType)
			}
			if strings.Contains(body, "secret") {
				t.Errorf("key in %s", body)
			}
		})
	}
}

// Provider answers on the front door: an OpenAI-style backend's completion,
// stream and error become Anthropic's; a response the gateway cannot
// translate is a 502 in Anthropic's shape.
func TestMessagesResponses(t *testing.T) {
	for _, tt := range []struct {
		name     string
		status   string
		ct       string
		chunks   []string
		buffered bool
		want     []string // fragments of the client's body, in order
	}{
		{name: "completion", status: "200", ct: "application/json", buffered: true,
			chunks: []string{`{"id":"c1","model":"gpt-4o-mini","choices":[{"message":{"role":"assistant","content":"hello"},`, `"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`},
			want:   []string{`"type":"message"`, `{"type":"text","text":"hello"}`, `"stop_reason":"end_turn"`, `"input_tokens":5,"output_tokens":2`}},
		{name: "stream", status: "200", ct: "text/event-stream",
			chunks: []string{"data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"he\"}}]}\n\n", "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\ndata: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\ndata: [DONE]\n\n"},
			want:   []string{"event: message_start", "event: content_block_start", `"text":"he"`, "event: content_block_stop", `"stop_reason":"max_tokens"`, `"output_tokens":1`, "event: message_stop"}},
		{name: "provider error", status: "429", ct: "application/json", buffered: true,
			chunks: []string{`{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}`},
			want:   []string{`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`}},
		{name: "untranslatable completion", status: "200", ct: "application/json", buffered: true,
			chunks: []string{`<html>`},
			want:   []string{`{"type":"error","error":{"type":"api_error","message":"backend \"oai\" sent a response the gateway cannot translate"}}`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := clientRequest("oai", "/v1/messages", messagesBody)
			f := NewFilter(pipelineConfig(t), a)
			sendRequest(t, f)
			_, _, out := respond(f, a, fakeHeaders{":status": tt.status, "content-type": tt.ct}, tt.chunks, tt.buffered)
			if len(a.responses) == 1 {
				out = a.responses[0].body
			}
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("%q not found in order in %s", w, out)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
