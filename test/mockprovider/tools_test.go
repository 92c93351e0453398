package mockprovider

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
)

const weatherArgs = `{"city":"Paris","unit":"celsius"}`

func TestToolCalls(t *testing.T) {
	openai := Options{Name: "a", ToolArguments: weatherArgs}
	anthropic := Options{Name: "c", Schema: SchemaAnthropic, ToolArguments: weatherArgs}
	const oaTools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}},{"type":"function","function":{"name":"get_time"}}]`
	const anTools = `"tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"name":"get_time","description":"now","input_schema":{"type":"object","properties":{}}}]`
	oa := func(extra string) string {
		return `{"model":"m","messages":[{"role":"user","content":"weather?"}],` + extra + `}`
	}
	an := func(extra string) string {
		return `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"weather?"}],` + extra + `}`
	}
	tests := []struct {
		name   string
		opts   Options
		target string
		body   string
		status int
		want   map[string]any
	}{
		{"openai call", openai, "/v1/chat/completions", oa(oaTools), 200, map[string]any{
			"choices.0.finish_reason": "tool_calls", "choices.0.message.content": nil,
			"choices.0.message.tool_calls.0.type": "function", "choices.0.message.tool_calls.0.function.name": "get_weather",
			"choices.0.message.tool_calls.0.function.arguments": weatherArgs}},
		{"openai named tool_choice", openai, "/v1/chat/completions",
			oa(oaTools + `,"tool_choice":{"type":"function","function":{"name":"get_time"}}`), 200, map[string]any{
				"choices.0.message.tool_calls.0.function.name": "get_time"}},
		{"openai tool_choice none", openai, "/v1/chat/completions", oa(oaTools + `,"tool_choice":"none"`), 200, map[string]any{
			"choices.0.finish_reason": "stop", "choices.0.message.content": "Hello from a."}},
		{"openai tools without ToolArguments", Options{Name: "a"}, "/v1/chat/completions", oa(oaTools), 200, map[string]any{
			"choices.0.message.content": "Hello from a."}},
		{"openai anthropic-shaped tool", openai, "/v1/chat/completions", oa(`"tools":[{"name":"x","input_schema":{}}]`), 400, map[string]any{
			"error.param": "tools[0].type"}},
		{"openai bad tool name", openai, "/v1/chat/completions", oa(`"tools":[{"type":"function","function":{"name":"a b"}}]`), 400, map[string]any{
			"error.param": "tools[0].function.name"}},
		{"openai tool_choice without tools", openai, "/v1/chat/completions", oa(`"tool_choice":"auto"`), 400, map[string]any{
			"error.param": "tool_choice"}},
		{"openai tool message without id", openai, "/v1/chat/completions",
			`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","content":"18C"}]}`, 400, map[string]any{
				"error.param": "messages[1].tool_call_id"}},
		{"openai tool round trip", openai, "/v1/chat/completions",
			`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"18C"}]}`,
			200, map[string]any{"choices.0.message.content": "Hello from a."}},

		{"anthropic call", anthropic, "/v1/messages", an(anTools), 200, map[string]any{
			"stop_reason": "tool_use", "content.0.type": "tool_use", "content.0.name": "get_weather",
			"content.0.input.city": "Paris"}},
		{"anthropic tool_choice tool", anthropic, "/v1/messages", an(anTools + `,"tool_choice":{"type":"tool","name":"get_time"}`), 200, map[string]any{
			"content.0.name": "get_time"}},
		{"anthropic tool_choice none", anthropic, "/v1/messages", an(anTools + `,"tool_choice":{"type":"none"}`), 200, map[string]any{
			"content.0.text": "Hello from c.", "stop_reason": "end_turn"}},
		{"anthropic openai-shaped tool", anthropic, "/v1/messages", an(`"tools":[{"type":"function","function":{"name":"x"}}]`), 400, map[string]any{
			"error.message": "tools.0.function: Extra inputs are not permitted"}},
		{"anthropic tool without schema", anthropic, "/v1/messages", an(`"tools":[{"name":"x"}]`), 400, map[string]any{
			"error.message": "tools.0.input_schema: Field required"}},
		{"anthropic openai tool_choice", anthropic, "/v1/messages", an(anTools + `,"tool_choice":"auto"`), 400, map[string]any{
			"error.message": "tool_choice: Input should be a valid dictionary"}},
		{"anthropic tool_result without id", anthropic, "/v1/messages",
			`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","content":"18C"}]}]}`, 400, map[string]any{
				"error.message": "messages.0.content.0.tool_result.tool_use_id: Field required"}},
		{"anthropic unknown block", anthropic, "/v1/messages",
			`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, 400, map[string]any{
				"error.type": "invalid_request_error"}},
		{"anthropic tool round trip", anthropic, "/v1/messages",
			`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"18C"}]}]}`,
			200, map[string]any{"content.0.text": "Hello from c."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := bearer("")
			if tc.opts.Schema == SchemaAnthropic {
				hdr = anthropicHdr("")
			}
			w := do(New(tc.opts), "POST", tc.target, hdr, tc.body)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			var doc any
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			for path, want := range tc.want {
				got, ok := lookup(doc, path)
				if !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v (present %v), want %#v in %s", path, got, ok, want, w.Body)
				}
			}
		})
	}
}

func TestToolCallStreams(t *testing.T) {
	t.Run("openai", func(t *testing.T) {
		body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"get_weather"}}]}`
		w := do(New(Options{ToolArguments: weatherArgs}), "POST", "/v1/chat/completions", bearer(""), body)
		events := parseSSE(t, w.Body.Bytes())
		if events[len(events)-1].data != "[DONE]" {
			t.Fatalf("no [DONE]: %+v", events)
		}
		var args strings.Builder
		var name, finish string
		for _, ev := range events[:len(events)-1] {
			var ch struct {
				Choices []struct {
					Delta struct {
						ToolCalls []struct {
							Index    int    `json:"index"`
							ID       string `json:"id"`
							Function struct {
								Name      string `json:"name"`
								Arguments string `json:"arguments"`
							} `json:"function"`
						} `json:"tool_calls"`
					} `json:"delta"`
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(ev.data), &ch); err != nil {
				t.Fatal(err)
			}
			for _, c := range ch.Choices {
				for _, tc := range c.Delta.ToolCalls {
					name += tc.Function.Name
					args.WriteString(tc.Function.Arguments)
				}
				if c.FinishReason != "" {
					finish = c.FinishReason
				}
			}
		}
		if name != "get_weather" || args.String() != weatherArgs || finish != "tool_calls" {
			t.Fatalf("name %q args %q finish %q", name, args.String(), finish)
		}
		if len(events) < 5 {
			t.Errorf("arguments not split into deltas: %d events", len(events))
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		body := `{"model":"m","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"get_weather","input_schema":{"type":"object"}}]}`
		w := do(New(Options{Schema: SchemaAnthropic, ToolArguments: weatherArgs}), "POST", "/v1/messages", anthropicHdr(""), body)
		var names []string
		var args strings.Builder
		stop := ""
		for _, ev := range parseSSE(t, w.Body.Bytes()) {
			names = append(names, ev.name)
			var e struct {
				ContentBlock struct{ Type, Name string } `json:"content_block"`
				Delta        struct {
					Type        string `json:"type"`
					PartialJSON string `json:"partial_json"`
					StopReason  string `json:"stop_reason"`
				} `json:"delta"`
			}
			if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
				t.Fatal(err)
			}
			if e.Delta.Type == "input_json_delta" {
				args.WriteString(e.Delta.PartialJSON)
			}
			if e.Delta.StopReason != "" {
				stop = e.Delta.StopReason
			}
		}
		if names[0] != "message_start" || names[1] != "content_block_start" || names[len(names)-1] != "message_stop" {
			t.Errorf("event order %v", names)
		}
		if args.String() != weatherArgs || stop != "tool_use" {
			t.Fatalf("args %q stop %q", args.String(), stop)
		}
	})
}

func TestGzip(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		opts         Options
		hdr          map[string]string
		body         string
		status       int
	}{
		{"openai json", "/v1/chat/completions", Options{Name: "g", Gzip: true}, bearer(""),
			`{"model":"m","messages":[{"role":"user","content":"x"}]}`, 200},
		{"openai stream", "/v1/chat/completions", Options{Name: "g", Gzip: true}, bearer(""),
			`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`, 200},
		{"anthropic json", "/v1/messages", Options{Name: "g", Schema: SchemaAnthropic, Gzip: true}, anthropicHdr(""),
			`{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}]}`, 200},
		{"anthropic error", "/v1/messages", Options{Name: "g", Schema: SchemaAnthropic, Gzip: true, FailStatus: 529}, anthropicHdr(""),
			`{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}]}`, 529},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(New(tc.opts), "POST", tc.target, tc.hdr, tc.body)
			if w.Code != tc.status || w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("Content-Length") != "" {
				t.Fatalf("status %d headers %v", w.Code, w.Header())
			}
			zr, err := gzip.NewReader(bytes.NewReader(w.Body.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(plain, []byte(`"model":"m"`)) && !bytes.Contains(plain, []byte("Overloaded")) {
				t.Fatalf("decoded body %s", plain)
			}
		})
	}
}
