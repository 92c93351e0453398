package mockprovider

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	openaiKey    = "sk-test-openai-NOT-REAL"
	azureKey     = "azure-test-key-NOT-REAL"
	anthropicKey = "sk-ant-test-NOT-REAL"
)

// lookup walks a decoded JSON value along a dotted path ("choices.0.message.content").
func lookup(v any, path string) (any, bool) {
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func do(s http.Handler, method, target string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func bearer(k string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + k, "Content-Type": "application/json"}
}

func anthropicHdr(k string) map[string]string {
	return map[string]string{"X-Api-Key": k, "Anthropic-Version": "2023-06-01", "Content-Type": "application/json"}
}

func TestResponses(t *testing.T) {
	openai := Options{Name: "a", APIKey: openaiKey, Models: []string{"gpt-4o-mini"}}
	azure := Options{Name: "az", Schema: SchemaAzure, APIKey: azureKey, Models: []string{"gpt-4o-mini"}, APIVersion: "2024-10-21"}
	anthropic := Options{Name: "claude", Schema: SchemaAnthropic, APIKey: anthropicKey, Models: []string{"claude-3-5-haiku-latest"}}
	const chat = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi there"}]}`
	const azPath = "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	const msg = `{"model":"claude-3-5-haiku-latest","max_tokens":100,"messages":[{"role":"user","content":"hi there"}]}`
	tests := []struct {
		name   string
		opts   Options
		method string
		target string
		hdr    map[string]string
		body   string
		status int
		want   map[string]any // dotted JSON path -> value (numbers as float64)
	}{
		// OpenAI-compatible.
		{"openai chat", openai, "POST", "/v1/chat/completions", bearer(openaiKey), chat, 200, map[string]any{
			"object": "chat.completion", "model": "gpt-4o-mini", "choices.0.message.role": "assistant",
			"choices.0.message.content": "Hello from a.", "choices.0.finish_reason": "stop",
			"usage.prompt_tokens": 2.0, "usage.completion_tokens": 3.0, "usage.total_tokens": 5.0}},
		{"openai chat parts content", openai, "POST", "/v1/chat/completions", bearer(openaiKey),
			`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be nice"},{"role":"user","content":[{"type":"text","text":"one two three"}]}]}`,
			200, map[string]any{"usage.prompt_tokens": 5.0}},
		{"openai missing key", openai, "POST", "/v1/chat/completions", nil, chat, 401, map[string]any{
			"error.type": "invalid_request_error", "error.code": nil, "error.param": nil}},
		{"openai wrong key", openai, "POST", "/v1/chat/completions", bearer("sk-wrong"), chat, 401, map[string]any{
			"error.code": "invalid_api_key", "error.message": "Incorrect API key provided."}},
		{"openai non-bearer auth", openai, "POST", "/v1/chat/completions", map[string]string{"Authorization": openaiKey}, chat, 401, map[string]any{
			"error.type": "invalid_request_error"}},
		{"openai unknown member", openai, "POST", "/v1/chat/completions", bearer(openaiKey),
			`{"model":"gpt-4o-mini","backend":"deploy-b","messages":[{"role":"user","content":"hi"}]}`, 400, map[string]any{
				"error.message": "Unrecognized request argument supplied: backend", "error.type": "invalid_request_error", "error.code": nil}},
		{"openai invalid json", openai, "POST", "/v1/chat/completions", bearer(openaiKey), `{"model":`, 400, map[string]any{
			"error.type": "invalid_request_error"}},
		{"openai json not object", openai, "POST", "/v1/chat/completions", bearer(openaiKey), `[1]`, 400, map[string]any{
			"error.type": "invalid_request_error"}},
		{"openai missing model", openai, "POST", "/v1/chat/completions", bearer(openaiKey), `{"messages":[{"role":"user","content":"x"}]}`, 400, map[string]any{
			"error.message": "you must provide a model parameter"}},
		{"openai unknown model", openai, "POST", "/v1/chat/completions", bearer(openaiKey), `{"model":"gpt-5","messages":[{"role":"user","content":"x"}]}`, 404, map[string]any{
			"error.code": "model_not_found"}},
		{"openai missing messages", openai, "POST", "/v1/chat/completions", bearer(openaiKey), `{"model":"gpt-4o-mini"}`, 400, map[string]any{
			"error.param": "messages", "error.code": "missing_required_parameter"}},
		{"openai empty messages", openai, "POST", "/v1/chat/completions", bearer(openaiKey), `{"model":"gpt-4o-mini","messages":[]}`, 400, map[string]any{
			"error.code": "empty_array"}},
		{"openai bad role", openai, "POST", "/v1/chat/completions", bearer(openaiKey), `{"model":"gpt-4o-mini","messages":[{"role":"robot","content":"x"}]}`, 400, map[string]any{
			"error.param": "messages[0].role", "error.code": "invalid_value"}},
		{"openai stream_options without stream", openai, "POST", "/v1/chat/completions", bearer(openaiKey),
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, 400, map[string]any{
				"error.param": "stream_options"}},
		{"openai max_tokens truncates", openai, "POST", "/v1/chat/completions", bearer(openaiKey),
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"max_completion_tokens":1}`, 200, map[string]any{
				"choices.0.message.content": "Hello", "choices.0.finish_reason": "length", "usage.completion_tokens": 1.0}},
		{"openai bad max_tokens", openai, "POST", "/v1/chat/completions", bearer(openaiKey),
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, 400, map[string]any{
				"error.param": "max_tokens"}},
		{"openai completions", openai, "POST", "/v1/completions", bearer(openaiKey), `{"model":"gpt-4o-mini","prompt":"say hi"}`, 200, map[string]any{
			"object": "text_completion", "choices.0.text": "Hello from a.", "usage.prompt_tokens": 2.0}},
		{"openai completions missing prompt", openai, "POST", "/v1/completions", bearer(openaiKey), `{"model":"gpt-4o-mini"}`, 400, map[string]any{
			"error.param": "prompt"}},
		{"openai embeddings", openai, "POST", "/v1/embeddings", bearer(openaiKey), `{"model":"gpt-4o-mini","input":["a b","c"],"dimensions":4}`, 200, map[string]any{
			"object": "list", "data.1.index": 1.0, "data.1.embedding.3": 0.08, "usage.prompt_tokens": 3.0, "usage.total_tokens": 3.0}},
		{"openai embeddings tokens", openai, "POST", "/v1/embeddings", bearer(openaiKey), `{"model":"gpt-4o-mini","input":[1,2,3]}`, 200, map[string]any{
			"usage.prompt_tokens": 3.0, "data.0.index": 0.0}},
		{"openai embeddings base64", openai, "POST", "/v1/embeddings", bearer(openaiKey), `{"model":"gpt-4o-mini","input":"x","dimensions":1,"encoding_format":"base64"}`, 200, map[string]any{
			"data.0.embedding": "CtcjPA=="}},
		{"openai embeddings bad format", openai, "POST", "/v1/embeddings", bearer(openaiKey), `{"model":"gpt-4o-mini","input":"x","encoding_format":"int8"}`, 400, map[string]any{
			"error.param": "encoding_format"}},
		{"openai embeddings bad input", openai, "POST", "/v1/embeddings", bearer(openaiKey), `{"model":"gpt-4o-mini","input":{}}`, 400, map[string]any{
			"error.type": "invalid_request_error"}},
		{"openai models", openai, "GET", "/v1/models", bearer(openaiKey), "", 200, map[string]any{
			"object": "list", "data.0.id": "gpt-4o-mini", "data.0.owned_by": "a"}},
		{"openai unknown path", openai, "POST", "/v1/responses", bearer(openaiKey), chat, 404, map[string]any{
			"error.message": "Invalid URL (POST /v1/responses)"}},
		{"openai wrong method", openai, "GET", "/v1/chat/completions", bearer(openaiKey), "", 404, map[string]any{
			"error.type": "invalid_request_error"}},
		{"openai forced 503", withFail(openai, 503), "POST", "/v1/chat/completions", bearer(openaiKey), chat, 503, map[string]any{
			"error.type": "server_error"}},
		{"openai forced 429", withFail(openai, 429), "POST", "/v1/chat/completions", nil, chat, 429, map[string]any{
			"error.code": "rate_limit_exceeded"}},
		{"openai no key configured", Options{Name: "open"}, "POST", "/v1/chat/completions", nil, chat, 200, map[string]any{
			"choices.0.message.content": "Hello from open."}},
		{"openai custom prefix and reply", Options{PathPrefix: "api/v2/", Reply: "pong"}, "POST", "/api/v2/chat/completions", nil, chat, 200, map[string]any{
			"choices.0.message.content": "pong"}},
		{"openai custom prefix old path", Options{PathPrefix: "/api/v2"}, "POST", "/v1/chat/completions", nil, chat, 404, nil},

		// Azure OpenAI.
		{"azure chat", azure, "POST", azPath, map[string]string{"Api-Key": azureKey}, `{"messages":[{"role":"user","content":"hi"}]}`, 200, map[string]any{
			"model": "gpt-4o-mini", "choices.0.message.content": "Hello from az."}},
		{"azure chat data_sources", azure, "POST", azPath, map[string]string{"Api-Key": azureKey}, `{"messages":[{"role":"user","content":"hi"}],"data_sources":[]}`, 200, nil},
		{"azure missing key", azure, "POST", azPath, nil, chat, 401, map[string]any{"error.code": "401"}},
		{"azure wrong key", azure, "POST", azPath, map[string]string{"Api-Key": "nope"}, chat, 401, map[string]any{"error.code": "401"}},
		{"azure bearer is not api-key", azure, "POST", azPath, bearer(azureKey), chat, 401, map[string]any{"error.code": "401"}},
		{"azure missing api-version", azure, "POST", "/openai/deployments/gpt-4o-mini/chat/completions", map[string]string{"Api-Key": azureKey}, chat, 404, map[string]any{
			"error.code": "404", "error.message": "Resource not found"}},
		{"azure wrong api-version", azure, "POST", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2023-05-15", map[string]string{"Api-Key": azureKey}, chat, 400, map[string]any{
			"error.code": "BadRequest"}},
		{"azure unknown deployment", azure, "POST", "/openai/deployments/gpt-9/chat/completions?api-version=2024-10-21", map[string]string{"Api-Key": azureKey}, chat, 404, map[string]any{
			"error.code": "DeploymentNotFound"}},
		{"azure openai-style path", azure, "POST", "/v1/chat/completions?api-version=2024-10-21", map[string]string{"Api-Key": azureKey}, chat, 404, map[string]any{
			"error.code": "404"}},
		{"azure unknown member", azure, "POST", azPath, map[string]string{"Api-Key": azureKey}, `{"backend":"x","messages":[{"role":"user","content":"hi"}]}`, 400, map[string]any{
			"error.message": "Unrecognized request argument supplied: backend"}},
		{"azure embeddings", azure, "POST", "/openai/deployments/gpt-4o-mini/embeddings?api-version=2024-10-21", map[string]string{"Api-Key": azureKey}, `{"input":"a b c"}`, 200, map[string]any{
			"model": "gpt-4o-mini", "usage.prompt_tokens": 3.0}},
		{"azure completions", azure, "POST", "/openai/deployments/gpt-4o-mini/completions?api-version=2024-10-21", map[string]string{"Api-Key": azureKey}, `{"prompt":"a"}`, 200, map[string]any{
			"choices.0.text": "Hello from az."}},
		{"azure forced 429", withFail(azure, 429), "POST", azPath, map[string]string{"Api-Key": azureKey}, chat, 429, map[string]any{
			"error.code": "429"}},

		// Anthropic.
		{"anthropic message", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey), msg, 200, map[string]any{
			"type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest", "content.0.type": "text",
			"content.0.text": "Hello from claude.", "stop_reason": "end_turn", "stop_sequence": nil,
			"usage.input_tokens": 2.0, "usage.output_tokens": 3.0}},
		{"anthropic system counted", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","max_tokens":10,"system":[{"type":"text","text":"be brief"}],"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
			200, map[string]any{"usage.input_tokens": 3.0}},
		{"anthropic missing key", anthropic, "POST", "/v1/messages", map[string]string{"Anthropic-Version": "2023-06-01"}, msg, 401, map[string]any{
			"type": "error", "error.type": "authentication_error", "error.message": "x-api-key header is required"}},
		{"anthropic wrong key", anthropic, "POST", "/v1/messages", anthropicHdr("sk-ant-wrong"), msg, 401, map[string]any{
			"error.type": "authentication_error", "error.message": "invalid x-api-key"}},
		{"anthropic bearer not accepted", anthropic, "POST", "/v1/messages", map[string]string{"Authorization": "Bearer " + anthropicKey, "Anthropic-Version": "2023-06-01"}, msg, 401, map[string]any{
			"error.type": "authentication_error"}},
		{"anthropic missing version", anthropic, "POST", "/v1/messages", map[string]string{"X-Api-Key": anthropicKey}, msg, 400, map[string]any{
			"error.type": "invalid_request_error", "error.message": "anthropic-version: header is required"}},
		{"anthropic pinned version", Options{Schema: SchemaAnthropic, APIVersion: "2023-06-01"}, "POST", "/v1/messages", map[string]string{"Anthropic-Version": "2023-01-01"}, msg, 400, map[string]any{
			"error.type": "invalid_request_error"}},
		{"anthropic missing max_tokens", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","messages":[{"role":"user","content":"hi"}]}`, 400, map[string]any{
				"error.type": "invalid_request_error", "error.message": "max_tokens: Field required"}},
		{"anthropic max_tokens zero", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, 400, map[string]any{
				"error.message": "max_tokens: Input should be greater than or equal to 1"}},
		{"anthropic unknown member", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","max_tokens":5,"backend":"x","messages":[{"role":"user","content":"hi"}]}`, 400, map[string]any{
				"error.message": "backend: Extra inputs are not permitted"}},
		{"anthropic openai-only member", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","max_tokens":5,"stream_options":{},"messages":[{"role":"user","content":"hi"}]}`, 400, map[string]any{
				"error.message": "stream_options: Extra inputs are not permitted"}},
		{"anthropic missing model", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, 400, map[string]any{"error.message": "model: Field required"}},
		{"anthropic unknown model", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, 404, map[string]any{"error.type": "not_found_error"}},
		{"anthropic system role", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","max_tokens":5,"messages":[{"role":"system","content":"x"},{"role":"user","content":"hi"}]}`, 400, map[string]any{
				"error.type": "invalid_request_error"}},
		{"anthropic tool role", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","max_tokens":5,"messages":[{"role":"tool","content":"x"}]}`, 400, map[string]any{
				"error.message": "messages.0.role: Input should be 'user' or 'assistant'"}},
		{"anthropic missing content", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","max_tokens":5,"messages":[{"role":"user"}]}`, 400, map[string]any{
				"error.message": "messages.0.content: Field required"}},
		{"anthropic empty messages", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","max_tokens":5,"messages":[]}`, 400, map[string]any{"error.type": "invalid_request_error"}},
		{"anthropic temperature above 1", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"hi"}]}`, 400, map[string]any{
				"error.type": "invalid_request_error"}},
		{"anthropic max_tokens truncates", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey),
			`{"model":"claude-3-5-haiku-latest","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`, 200, map[string]any{
				"content.0.text": "Hello from", "stop_reason": "max_tokens", "usage.output_tokens": 2.0}},
		{"anthropic invalid json", anthropic, "POST", "/v1/messages", anthropicHdr(anthropicKey), `nope`, 400, map[string]any{"error.type": "invalid_request_error"}},
		{"anthropic models", anthropic, "GET", "/v1/models", anthropicHdr(anthropicKey), "", 200, map[string]any{
			"data.0.type": "model", "data.0.id": "claude-3-5-haiku-latest", "has_more": false}},
		{"anthropic openai path", anthropic, "POST", "/v1/chat/completions", anthropicHdr(anthropicKey), chat, 404, map[string]any{
			"error.type": "not_found_error"}},
		{"anthropic forced 529", withFail(anthropic, 529), "POST", "/v1/messages", anthropicHdr(anthropicKey), msg, 529, map[string]any{
			"error.type": "overloaded_error"}},
		{"anthropic forced 503", withFail(anthropic, 503), "POST", "/v1/messages", nil, msg, 503, map[string]any{
			"type": "error", "error.type": "api_error"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.opts)
			w := do(s, tc.method, tc.target, tc.hdr, tc.body)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if got, want := w.Header().Get(BackendHeader), s.Name(); got != want {
				t.Errorf("%s = %q, want %q", BackendHeader, got, want)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content-type = %q", ct)
			}
			var doc any
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("response is not JSON: %v: %s", err, w.Body)
			}
			for path, want := range tc.want {
				got, ok := lookup(doc, path)
				if !ok {
					t.Errorf("%s missing in %s", path, w.Body)
					continue
				}
				if f, isF := got.(float64); isF {
					if wf, ok := want.(float64); ok && float32(f) == float32(wf) {
						continue
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			// A key must never be echoed back, even in part.
			for _, k := range []string{openaiKey, azureKey, anthropicKey, "sk-wrong", "sk-ant-wrong"} {
				if strings.Contains(w.Body.String(), k) {
					t.Errorf("response echoes a credential: %s", w.Body)
				}
			}
			// Every request, accepted or not, is recorded exactly.
			last, ok := s.LastRequest()
			path, query, _ := strings.Cut(tc.target, "?")
			if !ok || last.Method != tc.method || last.Path != path || last.RawQuery != query || string(last.Body) != tc.body {
				t.Errorf("recorded %+v", last)
			}
		})
	}
}

func withFail(o Options, status int) Options {
	o.FailStatus = status
	return o
}

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	name string
	data string
}

func parseSSE(t *testing.T, body []byte) []sseEvent {
	t.Helper()
	if !bytes.HasSuffix(body, []byte("\n\n")) {
		t.Fatalf("stream does not end with a blank line: %q", body)
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			out = append(out, cur)
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	return out
}

func TestOpenAIStreaming(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		target    string
		body      string
		object    string
		wantText  string
		wantUsage bool
		finish    string
	}{
		{"chat with usage", Options{Name: "b"}, "/v1/chat/completions",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b"}]}`,
			"chat.completion.chunk", "Hello from b.", true, "stop"},
		{"chat without usage truncated", Options{Name: "b"}, "/v1/chat/completions",
			`{"model":"m","stream":true,"max_tokens":2,"messages":[{"role":"user","content":"a b"}]}`,
			"chat.completion.chunk", "Hello from", false, "length"},
		{"completions", Options{Name: "c"}, "/v1/completions",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"prompt":"a b"}`,
			"text_completion", "Hello from c.", true, "stop"},
		{"azure chat", Options{Name: "az", Schema: SchemaAzure}, "/openai/deployments/d1/chat/completions?api-version=2024-10-21",
			`{"stream":true,"messages":[{"role":"user","content":"a b"}]}`,
			"chat.completion.chunk", "Hello from az.", false, "stop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(New(tc.opts), "POST", tc.target, nil, tc.body)
			if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d content-type %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			events := parseSSE(t, w.Body.Bytes())
			if last := events[len(events)-1]; last.data != "[DONE]" || last.name != "" {
				t.Fatalf("last event = %+v, want data: [DONE]", last)
			}
			var text strings.Builder
			var finish string
			var usage map[string]any
			for _, ev := range events[:len(events)-1] {
				var chunk map[string]any
				if err := json.Unmarshal([]byte(ev.data), &chunk); err != nil {
					t.Fatalf("chunk %q: %v", ev.data, err)
				}
				if chunk["object"] != tc.object {
					t.Errorf("object = %v", chunk["object"])
				}
				if u, ok := chunk["usage"].(map[string]any); ok {
					usage = u
					if n := len(chunk["choices"].([]any)); n != 0 {
						t.Errorf("usage chunk has %d choices, want 0", n)
					}
					continue
				}
				if s, ok := lookup(chunk, "choices.0.delta.content"); ok {
					text.WriteString(s.(string))
				}
				if s, ok := lookup(chunk, "choices.0.text"); ok {
					text.WriteString(s.(string))
				}
				if f, _ := lookup(chunk, "choices.0.finish_reason"); f != nil {
					finish = f.(string)
				}
			}
			if text.String() != tc.wantText || finish != tc.finish {
				t.Errorf("text %q finish %q, want %q %q", text.String(), finish, tc.wantText, tc.finish)
			}
			if (usage != nil) != tc.wantUsage {
				t.Fatalf("usage chunk present = %v, want %v", usage != nil, tc.wantUsage)
			}
			if usage != nil && (usage["prompt_tokens"] != 2.0 || usage["completion_tokens"] != float64(countWords(tc.wantText))) {
				t.Errorf("usage = %v", usage)
			}
		})
	}
}

func TestAnthropicStreaming(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantText string
		stop     string
	}{
		{"full", `{"model":"claude","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"a b c"}]}`, "Hello from claude.", "end_turn"},
		{"truncated", `{"model":"claude","max_tokens":1,"stream":true,"messages":[{"role":"user","content":"a b c"}]}`, "Hello", "max_tokens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(New(Options{Name: "claude", Schema: SchemaAnthropic}), "POST", "/v1/messages",
				map[string]string{"Anthropic-Version": "2023-06-01"}, tc.body)
			if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			events := parseSSE(t, w.Body.Bytes())
			var names []string
			var text strings.Builder
			for _, ev := range events {
				var data map[string]any
				if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
					t.Fatalf("event %q: %v", ev.data, err)
				}
				// Anthropic repeats the event name as the data's `type`.
				if data["type"] != ev.name {
					t.Errorf("event %q has type %v", ev.name, data["type"])
				}
				if ev.name != "content_block_delta" || len(names) == 0 || names[len(names)-1] != ev.name {
					names = append(names, ev.name)
				}
				switch ev.name {
				case "message_start":
					if v, _ := lookup(data, "message.usage.input_tokens"); v != 3.0 {
						t.Errorf("input_tokens = %v", v)
					}
					if v, _ := lookup(data, "message.model"); v != "claude" {
						t.Errorf("model = %v", v)
					}
				case "content_block_delta":
					if v, _ := lookup(data, "delta.type"); v != "text_delta" {
						t.Errorf("delta type = %v", v)
					}
					s, _ := lookup(data, "delta.text")
					text.WriteString(s.(string))
				case "message_delta":
					if v, _ := lookup(data, "delta.stop_reason"); v != tc.stop {
						t.Errorf("stop_reason = %v", v)
					}
					if v, _ := lookup(data, "usage.output_tokens"); v != float64(countWords(tc.wantText)) {
						t.Errorf("output_tokens = %v", v)
					}
				}
			}
			want := []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
			if !reflect.DeepEqual(names, want) {
				t.Errorf("events = %v, want %v", names, want)
			}
			if text.String() != tc.wantText {
				t.Errorf("text = %q, want %q", text.String(), tc.wantText)
			}
		})
	}
}

func TestRecording(t *testing.T) {
	s := New(Options{})
	if _, ok := s.LastRequest(); ok {
		t.Fatal("LastRequest on a fresh server reported a request")
	}
	r := httptest.NewRequest("POST", "http://upstream.example/v1/chat/completions?x=1", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	r.Header.Set("Authorization", "Bearer k")
	r.Header.Add("X-Multi", "1")
	r.Header.Add("X-Multi", "2")
	s.ServeHTTP(httptest.NewRecorder(), r)
	got, ok := s.LastRequest()
	want := Request{
		Method: "POST", Path: "/v1/chat/completions", RawQuery: "x=1", Host: "upstream.example",
		Header: http.Header{"Authorization": {"Bearer k"}, "X-Multi": {"1", "2"}},
		Body:   []byte(`{"model":"m","messages":[{"role":"user","content":"x"}]}`),
	}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("LastRequest = %+v, want %+v", got, want)
	}
	// Callers get copies: mutating them must not change the record.
	got.Header.Set("X-Multi", "changed")
	got.Body[0] = 'X'
	again, _ := s.LastRequest()
	if !reflect.DeepEqual(again, want) {
		t.Fatalf("record was mutated through a returned copy: %+v", again)
	}
	for i := range maxRecorded + 5 {
		do(s, "GET", "/v1/models?i="+strconv.Itoa(i), nil, "")
	}
	reqs := s.Requests()
	if len(reqs) != maxRecorded || reqs[0].RawQuery != "i=5" || reqs[len(reqs)-1].RawQuery != "i="+strconv.Itoa(maxRecorded+4) {
		t.Fatalf("history: %d requests, first %q last %q", len(reqs), reqs[0].RawQuery, reqs[len(reqs)-1].RawQuery)
	}
	s.Reset()
	if len(s.Requests()) != 0 {
		t.Fatal("Reset kept requests")
	}
}

func TestControlHandler(t *testing.T) {
	s := New(Options{Name: "primary", APIKey: openaiKey})
	ctl := s.ControlHandler()
	const chat = `{"model":"m","messages":[{"role":"user","content":"x"}]}`
	steps := []struct {
		name       string
		handler    http.Handler
		method     string
		target     string
		hdr        map[string]string
		wantStatus int
		wantBody   string // substring
	}{
		{"healthy", s, "POST", "/v1/chat/completions", bearer(openaiKey), 200, "Hello from primary."},
		{"bad status", ctl, "POST", "/fail?status=abc", nil, 400, "status"},
		{"out of range", ctl, "POST", "/fail?status=42", nil, 400, "status"},
		{"set fail", ctl, "POST", "/fail?status=503", nil, 200, `"fail_status":503`},
		{"failing", s, "POST", "/v1/chat/completions", bearer(openaiKey), 503, "server_error"},
		{"clear fail", ctl, "POST", "/fail?status=0", nil, 200, `"fail_status":0`},
		{"healthy again", s, "POST", "/v1/chat/completions", bearer(openaiKey), 200, "Hello from primary."},
		{"requests redacted", ctl, "GET", "/requests", nil, 200, `"Authorization":["[redacted]"]`},
		{"reset", ctl, "POST", "/reset", nil, 200, `"name":"primary"`},
		{"empty after reset", ctl, "GET", "/requests", nil, 200, `"requests":[]`},
		{"wrong method", ctl, "GET", "/fail?status=1", nil, 405, ""},
	}
	for _, st := range steps {
		w := do(st.handler, st.method, st.target, st.hdr, chat)
		if w.Code != st.wantStatus || !strings.Contains(w.Body.String(), st.wantBody) {
			t.Fatalf("%s: status %d body %s; want %d containing %q", st.name, w.Code, w.Body, st.wantStatus, st.wantBody)
		}
		if strings.Contains(w.Body.String(), openaiKey) {
			t.Fatalf("%s: control API leaked the key: %s", st.name, w.Body)
		}
	}
}

func TestRedacted(t *testing.T) {
	r := Request{Header: http.Header{"Authorization": {"Bearer a"}, "Api-Key": {"b"}, "X-Api-Key": {"c", "d"}, "X-Other": {"keep"}}}
	got := r.Redacted().Header
	want := http.Header{"Authorization": {"[redacted]"}, "Api-Key": {"[redacted]"}, "X-Api-Key": {"[redacted]", "[redacted]"}, "X-Other": {"keep"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Redacted = %v", got)
	}
	if r.Header.Get("Api-Key") != "b" {
		t.Fatal("Redacted modified the original")
	}
}

func TestParseSchema(t *testing.T) {
	tests := []struct {
		in   string
		want Schema
		ok   bool
	}{
		{"", SchemaOpenAI, true},
		{"openai", SchemaOpenAI, true},
		{"azure_openai", SchemaAzure, true},
		{" anthropic ", SchemaAnthropic, true},
		{"azure", "", false},
	}
	for _, tc := range tests {
		got, ok := ParseSchema(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseSchema(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	s := New(Options{})
	w := do(s, "POST", "/v1/chat/completions", nil, strings.Repeat("x", maxBody+1))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d", w.Code)
	}
}

// TestConcurrent drives a real loopback server from several goroutines while the failure
// status flips, so `go test -race` checks the recorder and the atomic switch.
func TestConcurrent(t *testing.T) {
	s := New(Options{Name: "race", Schema: SchemaAnthropic})
	srv := httptest.NewServer(s)
	defer srv.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if g == 0 && i%2 == 0 {
					s.SetFailStatus(529 * (i % 4 / 2))
				}
				req, _ := http.NewRequest("POST", srv.URL+"/v1/messages", strings.NewReader(`{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
				req.Header.Set("Anthropic-Version", "2023-06-01")
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var b bytes.Buffer
				_, _ = b.ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && resp.StatusCode != 529 {
					t.Errorf("status %d", resp.StatusCode)
				}
				if resp.StatusCode == 200 && !strings.HasSuffix(b.String(), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
					t.Errorf("stream not terminated: %q", b.String())
				}
			}
		}()
	}
	wg.Wait()
	if n := len(s.Requests()); n != 40 {
		t.Fatalf("recorded %d requests, want 40", n)
	}
}
