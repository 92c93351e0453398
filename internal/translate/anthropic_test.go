package translate

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

var anthTarget = Target{
	Schema:        SchemaAnthropic,
	ModelOverride: map[string]string{"gpt-4o-mini": "claude-3-5-haiku-latest", "gpt-4.1": "claude-sonnet-4-5"},
}

func newAnthropicT(t testing.TB, target Target) Translator {
	t.Helper()
	tr, err := New(target, "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestAnthropicRequestGolden(t *testing.T) {
	for _, in := range inputs(t, "anthropic/request", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := newAnthropicT(t, anthTarget).RequestBody(body)
			if err != nil {
				t.Fatalf("RequestBody: %v", err)
			}
			if !json.Valid(res.Body) {
				t.Fatalf("translated body is not JSON: %s", res.Body)
			}
			view := struct {
				Path          string          `json:"path"`
				Headers       []Header        `json:"headers"`
				RemoveHeaders []string        `json:"remove_headers"`
				Model         string          `json:"model"`
				Stream        bool            `json:"stream"`
				Body          json.RawMessage `json:"body"`
			}{res.Path, res.Headers, res.RemoveHeaders, res.Model, res.Stream, res.Body}
			got, err := json.Marshal(view)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, goldenPath(in), indentJSON(t, got))
		})
	}
}

func TestAnthropicRequestRejects(t *testing.T) {
	base := func(extra string) string {
		return `{"model":"m","messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	tests := []struct {
		name        string
		body        string
		unsupported bool // else invalid request
		param       string
	}{
		{"n greater than one", base(`,"n":2`), true, "n"},
		{"logprobs", base(`,"logprobs":true`), true, "logprobs"},
		{"top_logprobs", base(`,"top_logprobs":3`), true, "top_logprobs"},
		{"json schema", base(`,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}}`), true, "response_format"},
		{"json object", base(`,"response_format":{"type":"json_object"}`), true, "response_format"},
		{"seed", base(`,"seed":42`), true, "seed"},
		{"frequency penalty", base(`,"frequency_penalty":0.5`), true, "frequency_penalty"},
		{"logit bias", base(`,"logit_bias":{"50256":-100}`), true, "logit_bias"},
		{"audio modality", base(`,"modalities":["text","audio"]`), true, "modalities"},
		{"reasoning effort", base(`,"reasoning_effort":"high"`), true, "reasoning_effort"},
		{"unknown parameter", base(`,"frobnicate":true`), true, "frobnicate"},
		{"deprecated functions", base(`,"functions":[{"name":"f"}]`), true, "functions"},
		{"temperature above one", base(`,"temperature":1.5`), false, "temperature"},
		{"temperature negative", base(`,"temperature":-0.1`), false, "temperature"},
		{"top_p above one", base(`,"top_p":1.1`), false, "top_p"},
		{"zero max tokens", base(`,"max_tokens":0`), false, "max_tokens"},
		{"zero max completion tokens", base(`,"max_completion_tokens":0,"max_tokens":10`), false, "max_completion_tokens"},
		{"stop not strings", base(`,"stop":[1,2]`), false, "stop"},
		{"tool choice unknown", base(`,"tool_choice":"sometimes"`), false, "tool_choice"},
		{"tool choice allowed_tools", base(`,"tool_choice":{"type":"allowed_tools","allowed_tools":{}}`), true, "tool_choice"},
		{"custom tool", base(`,"tools":[{"type":"custom","custom":{"name":"x"}}]`), true, "tools[0].type"},
		{"tool without name", base(`,"tools":[{"type":"function","function":{}}]`), false, "tools[0].function.name"},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`, true, "messages[0].content[0]"},
		{"file part", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"file","file":{"file_id":"f"}}]}]}`, true, "messages[0].content[1]"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"hi"}]}`, true, "messages[0].content[0]"},
		{"svg data uri", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/svg+xml;base64,PHN2Zz4="}}]}]}`, true, "messages[0].content[0].image_url.url"},
		{"non-base64 data uri", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,raw"}}]}]}`, true, "messages[0].content[0].image_url.url"},
		{"ftp image", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, false, "messages[0].content[0].image_url.url"},
		{"bad tool arguments", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{not json"}}]}]}`, false, "messages[1].tool_calls[0].function.arguments"},
		{"array tool arguments", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, false, "messages[1].tool_calls[0].function.arguments"},
		{"tool message without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, false, "messages[0].tool_call_id"},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, true, "messages[0].role"},
		{"unknown role", `{"model":"m","messages":[{"role":"narrator","content":"x"}]}`, false, "messages[0].role"},
		{"empty user message", `{"model":"m","messages":[{"role":"user","content":""}]}`, true, "messages[0].content"},
		{"only system", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, false, "messages"},
		{"missing model", `{"messages":[{"role":"user","content":"hi"}]}`, false, "model"},
		{"content wrong type", `{"model":"m","messages":[{"role":"user","content":42}]}`, false, "messages[0].content"},
		{"not json", `{"model":`, false, ""},
		{"messages wrong type", `{"model":"m","messages":"hi"}`, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newAnthropicT(t, Target{Schema: SchemaAnthropic}).RequestBody([]byte(tc.body))
			ue, isUnsupported := AsError(err, KindUnsupported)
			ie, isInvalid := AsError(err, KindInvalid)
			switch {
			case isUnsupported:
				if !tc.unsupported || ue.Param != tc.param || ue.Status != http.StatusBadRequest {
					t.Fatalf("got unsupported Error{Status:%d Param:%q %s}, want unsupported=%v param %q", ue.Status, ue.Param, ue.Message, tc.unsupported, tc.param)
				}
				checkErrorJSON(t, ue.JSON(), tc.param)
			case isInvalid:
				if tc.unsupported || ie.Param != tc.param || ie.Status != http.StatusBadRequest {
					t.Fatalf("got invalid Error{Status:%d Param:%q %s}, want unsupported=%v param %q", ie.Status, ie.Param, ie.Message, tc.unsupported, tc.param)
				}
				checkErrorJSON(t, ie.JSON(), tc.param)
			default:
				t.Fatalf("got error %v, want a typed error for %q", err, tc.param)
			}
		})
	}
}

// checkErrorJSON asserts the OpenAI error body shape and its param.
func checkErrorJSON(t *testing.T, b []byte, param string) {
	t.Helper()
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error JSON %s: %v", b, err)
	}
	if e.Error.Message == "" || e.Error.Type != "invalid_request_error" {
		t.Fatalf("error JSON lacks message/type: %s", b)
	}
	if (param == "") != (e.Error.Param == nil) || (e.Error.Param != nil && *e.Error.Param != param) {
		t.Fatalf("error JSON param = %v, want %q: %s", e.Error.Param, param, b)
	}
}

func TestAnthropicRequestDefaultsAndOverrides(t *testing.T) {
	tests := []struct {
		name   string
		target Target
		body   string
		want   map[string]any // top-level members expected in the Anthropic body
		absent []string
	}{
		{
			name:   "default max tokens and no optional members",
			target: Target{Schema: SchemaAnthropic},
			body:   `{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}`,
			want:   map[string]any{"model": "claude-x", "max_tokens": float64(4096)},
			absent: []string{"system", "temperature", "top_p", "stop_sequences", "stream", "tools", "tool_choice", "metadata"},
		},
		{
			name:   "default model override applies to any model",
			target: Target{Schema: SchemaAnthropic, DefaultModel: "claude-default"},
			body:   `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":7}`,
			want:   map[string]any{"model": "claude-default", "max_tokens": float64(7)},
		},
		{
			name:   "map override wins over default",
			target: Target{Schema: SchemaAnthropic, DefaultModel: "claude-default", ModelOverride: map[string]string{"gpt-4o": "claude-mapped"}},
			body:   `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			want:   map[string]any{"model": "claude-mapped"},
		},
		{
			name:   "parallel tool calls off without tool choice",
			target: Target{Schema: SchemaAnthropic},
			body:   `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":false}`,
			want:   map[string]any{"tool_choice": map[string]any{"type": "auto", "disable_parallel_tool_use": true}},
		},
		{
			name:   "temperature bounds accepted",
			target: Target{Schema: SchemaAnthropic},
			body:   `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1,"top_p":0,"top_k":5}`,
			want:   map[string]any{"temperature": float64(1), "top_p": float64(0), "top_k": float64(5)},
		},
		{
			name:   "null parameters are absent parameters",
			target: Target{Schema: SchemaAnthropic},
			body:   `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":null,"stop":null,"tools":null,"tool_choice":null,"n":null,"seed":null,"logit_bias":{},"metadata":null,"store":false,"service_tier":"auto"}`,
			absent: []string{"temperature", "stop_sequences", "tools", "tool_choice"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := newAnthropicT(t, tc.target).RequestBody([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(res.Body, &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				gv, _ := json.Marshal(got[k])
				wv, _ := json.Marshal(v)
				if !bytes.Equal(gv, wv) {
					t.Errorf("%s = %s, want %s", k, gv, wv)
				}
			}
			for _, k := range tc.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s present, want absent: %s", k, res.Body)
				}
			}
			if res.Model != got["model"] {
				t.Errorf("RequestResult.Model = %q, body model %v", res.Model, got["model"])
			}
		})
	}
}

// anthropicResponseTranslator returns a translator that has seen a request.
func anthropicResponseTranslator(t testing.TB, stream, includeUsage bool) Translator {
	t.Helper()
	tr := newAnthropicT(t, anthTarget)
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]`
	if stream {
		body += `,"stream":true`
		if includeUsage {
			body += `,"stream_options":{"include_usage":true}`
		}
	}
	if _, err := tr.RequestBody([]byte(body + "}")); err != nil {
		t.Fatal(err)
	}
	return tr
}

// statusOf reads the HTTP status from an "error_NNN_" testdata name.
func statusOf(t *testing.T, name string) int {
	rest, ok := strings.CutPrefix(filepath.Base(name), "error_")
	if !ok {
		return http.StatusOK
	}
	status, err := strconv.Atoi(rest[:3])
	if err != nil {
		t.Fatalf("bad status in %s", name)
	}
	return status
}

func TestAnthropicResponseGolden(t *testing.T) {
	for _, in := range inputs(t, "anthropic/response", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			status := statusOf(t, in)
			tr := anthropicResponseTranslator(t, false, false)
			mode, err := tr.ResponseHeaders(status, "application/json", "")
			if err != nil {
				t.Fatal(err)
			}
			if mode.Stream || !mode.BufferBody || !mode.ModifiesBody || mode.ContentType != "application/json" || mode.Error != (status != 200) {
				t.Fatalf("unexpected mode %+v", mode)
			}
			out, _, err := tr.ResponseBody(body, true)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, goldenPath(in), indentJSON(t, out))
		})
	}
}

func TestAnthropicResponseWithOpenAITypes(t *testing.T) {
	body, err := os.ReadFile("testdata/anthropic/response/tool_use.json")
	if err != nil {
		t.Fatal(err)
	}
	tr := anthropicResponseTranslator(t, false, false)
	if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
		t.Fatal(err)
	}
	// Handing the body over in pieces must give the same result.
	half := len(body) / 2
	if out, _, err := tr.ResponseBody(body[:half], false); err != nil || len(out) != 0 {
		t.Fatalf("partial body produced %q, %v", out, err)
	}
	out, usage, err := tr.ResponseBody(body[half:], true)
	if err != nil {
		t.Fatal(err)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(out, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.Object != "chat.completion" || cc.ID != "msg_01Aq9w938a90dw8q" || cc.Model != "claude-sonnet-4-5-20250929" || cc.Created != fixedNow {
		t.Errorf("header fields: %+v", cc)
	}
	if len(cc.Choices) != 1 {
		t.Fatalf("choices: %d", len(cc.Choices))
	}
	ch := cc.Choices[0]
	if ch.FinishReason != "tool_calls" || ch.Message.Role != "assistant" || ch.Message.Content != "I'll check the weather in both cities." {
		t.Errorf("choice: %+v", ch)
	}
	if len(ch.Message.ToolCalls) != 2 {
		t.Fatalf("tool calls: %+v", ch.Message.ToolCalls)
	}
	call := ch.Message.ToolCalls[0]
	if call.ID != "toolu_01A09q90qw90lq917835lq9" || call.Type != "function" || call.Function.Name != "get_weather" {
		t.Errorf("tool call: %+v", call)
	}
	var args map[string]string
	if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil || args["city"] != "Paris" || args["unit"] != "c" {
		t.Errorf("arguments %q: %v", call.Function.Arguments, err)
	}
	if ch.Message.ToolCalls[1].Function.Arguments != "{}" {
		t.Errorf("empty input arguments = %q", ch.Message.ToolCalls[1].Function.Arguments)
	}
	// input 350 + cache write 100 + cache read 2000 = 2450 prompt tokens.
	if cc.Usage.PromptTokens != 2450 || cc.Usage.CompletionTokens != 80 || cc.Usage.TotalTokens != 2530 || cc.Usage.PromptTokensDetails.CachedTokens != 2000 {
		t.Errorf("usage: %+v", cc.Usage)
	}
	want := Usage{InputTokens: 2450, OutputTokens: 80, TotalTokens: 2530, CachedInputTokens: 2000}
	if usage != want {
		t.Errorf("Usage = %+v, want %+v", usage, want)
	}
}

func TestAnthropicErrorResponse(t *testing.T) {
	tests := []struct {
		name, body, wantType, wantMessage string
		status                            int
	}{
		{"rate limit", `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, "rate_limit_error", "slow down", 429},
		{"no type", `{"error":{"message":"odd"}}`, "api_error", "odd", 500},
		{"empty body", ``, "api_error", "the anthropic backend returned HTTP 503", 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := anthropicResponseTranslator(t, true, true)
			mode, err := tr.ResponseHeaders(tc.status, "application/json", "")
			if err != nil || !mode.Error || mode.Stream {
				t.Fatalf("mode %+v, %v", mode, err)
			}
			out, usage, err := tr.ResponseBody([]byte(tc.body), true)
			if err != nil {
				t.Fatal(err)
			}
			var e openai.Error
			if err := json.Unmarshal(out, &struct {
				Error *openai.Error `json:"error"`
			}{&e}); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if e.Type != tc.wantType || e.Message != tc.wantMessage || usage != (Usage{}) {
				t.Errorf("got %s usage %+v", out, usage)
			}
		})
	}
}

// translateStream feeds a whole stream through a fresh translator in the
// given pieces and returns the concatenated output and final usage.
func translateStream(t testing.TB, includeUsage bool, pieces ...[]byte) ([]byte, Usage) {
	t.Helper()
	tr := anthropicResponseTranslator(t, true, includeUsage)
	mode, err := tr.ResponseHeaders(200, "text/event-stream; charset=utf-8", "")
	if err != nil || !mode.Stream || mode.BufferBody || !mode.ModifiesBody {
		t.Fatalf("mode %+v, %v", mode, err)
	}
	var all []byte
	var usage Usage
	for i, p := range pieces {
		out, u, err := tr.ResponseBody(p, i == len(pieces)-1)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out...)
		usage = u
	}
	return all, usage
}

func TestAnthropicStreamGolden(t *testing.T) {
	for _, in := range inputs(t, "anthropic/stream", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			stream, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := translateStream(t, true, stream)
			checkSSEOutput(t, out)
			checkGolden(t, goldenPath(in), out)
		})
	}
}

// TestAnthropicStreamEverySplit cuts each recorded stream at every byte
// offset (two pieces), and feeds it one byte at a time: the output must be
// identical to the single-piece translation.
func TestAnthropicStreamEverySplit(t *testing.T) {
	for _, in := range inputs(t, "anthropic/stream", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			stream, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			want, wantUsage := translateStream(t, true, stream)
			for i := 0; i <= len(stream); i++ {
				got, usage := translateStream(t, true, stream[:i], stream[i:])
				if !bytes.Equal(got, want) || usage != wantUsage {
					t.Fatalf("split at %d differs:\n%s\nwant:\n%s", i, got, want)
				}
			}
			pieces := make([][]byte, 0, len(stream)+1)
			for i := range stream {
				pieces = append(pieces, stream[i:i+1])
			}
			pieces = append(pieces, nil)
			if got, usage := translateStream(t, true, pieces...); !bytes.Equal(got, want) || usage != wantUsage {
				t.Fatalf("byte-by-byte feed differs:\n%s", got)
			}
		})
	}
}

func TestAnthropicStreamUsage(t *testing.T) {
	tests := []struct {
		file string
		want Usage
	}{
		{"text.sse", Usage{InputTokens: 25, OutputTokens: 15, TotalTokens: 40}},
		{"tool_use_crlf.sse", Usage{InputTokens: 1496, OutputTokens: 89, TotalTokens: 1585, CachedInputTokens: 1024}},
		{"thinking_max_tokens.sse", Usage{InputTokens: 42, OutputTokens: 20, TotalTokens: 62}},
		{"error_cr.sse", Usage{InputTokens: 8, OutputTokens: 1, TotalTokens: 9}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			stream, err := os.ReadFile(filepath.Join("testdata/anthropic/stream", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			// Usage is counted even when the client did not ask for the chunk.
			out, usage := translateStream(t, false, stream)
			if usage != tc.want {
				t.Errorf("usage %+v, want %+v", usage, tc.want)
			}
			if bytes.Contains(out, []byte(`"usage"`)) {
				t.Errorf("usage chunk emitted without include_usage:\n%s", out)
			}
		})
	}
}

// openAIStream decodes a translated stream with the official SDK's SSE
// decoder and accumulator.
func openAIStream(t *testing.T, out []byte) (openai.ChatCompletionAccumulator, []openai.ChatCompletionChunk, error) {
	t.Helper()
	res := &http.Response{
		StatusCode: 200,
		Header:     http.Header{"Content-Type": []string{"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(out)),
	}
	stream := ssestream.NewStream[openai.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	var acc openai.ChatCompletionAccumulator
	var chunks []openai.ChatCompletionChunk
	for stream.Next() {
		c := stream.Current()
		chunks = append(chunks, c)
		acc.AddChunk(c)
	}
	return acc, chunks, stream.Err()
}

func TestAnthropicStreamWithOpenAISDK(t *testing.T) {
	t.Run("tool calls", func(t *testing.T) {
		stream, err := os.ReadFile("testdata/anthropic/stream/tool_use_crlf.sse")
		if err != nil {
			t.Fatal(err)
		}
		out, _ := translateStream(t, true, stream)
		acc, chunks, err := openAIStream(t, out)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			if c.Object != "chat.completion.chunk" || c.ID != "msg_014p7gG3wDgGV9EUtLvnow3U" || c.Model != "claude-sonnet-4-5-20250929" || c.Created != fixedNow {
				t.Fatalf("chunk header: %+v", c)
			}
		}
		if len(acc.Choices) != 1 {
			t.Fatalf("choices: %+v", acc.Choices)
		}
		msg := acc.Choices[0].Message
		if msg.Content != "Let me check." || acc.Choices[0].FinishReason != "tool_calls" {
			t.Errorf("message %+v finish %q", msg, acc.Choices[0].FinishReason)
		}
		if len(msg.ToolCalls) != 2 {
			t.Fatalf("tool calls: %+v", msg.ToolCalls)
		}
		if c := msg.ToolCalls[0]; c.ID != "toolu_01T1x1fJ34qAmk2tNTrN7Up6" || c.Function.Name != "get_weather" || c.Function.Arguments != `{"location": "San Francisco, CA"}` {
			t.Errorf("tool call 0: %+v", c)
		}
		if c := msg.ToolCalls[1]; c.ID != "toolu_02" || c.Function.Name != "get_time" || c.Function.Arguments != `{}` {
			t.Errorf("tool call 1: %+v", c)
		}
		last := chunks[len(chunks)-1]
		if len(last.Choices) != 0 || last.Usage.PromptTokens != 1496 || last.Usage.CompletionTokens != 89 || last.Usage.PromptTokensDetails.CachedTokens != 1024 {
			t.Errorf("usage chunk: %+v", last)
		}
	})
	t.Run("text", func(t *testing.T) {
		stream, err := os.ReadFile("testdata/anthropic/stream/text.sse")
		if err != nil {
			t.Fatal(err)
		}
		out, _ := translateStream(t, false, stream)
		acc, chunks, err := openAIStream(t, out)
		if err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != "Hello! \"café\"\n" {
			t.Errorf("content %q", got)
		}
		if chunks[0].Choices[0].Delta.Role != "assistant" || acc.Choices[0].FinishReason != "stop" {
			t.Errorf("first chunk %+v, finish %q", chunks[0], acc.Choices[0].FinishReason)
		}
	})
	t.Run("error event", func(t *testing.T) {
		stream, err := os.ReadFile("testdata/anthropic/stream/error_cr.sse")
		if err != nil {
			t.Fatal(err)
		}
		out, _ := translateStream(t, true, stream)
		acc, _, err := openAIStream(t, out)
		if err == nil || !strings.Contains(err.Error(), "Overloaded") {
			t.Fatalf("SDK error = %v, want the provider's error", err)
		}
		if acc.Choices[0].Message.Content != "Partial" {
			t.Errorf("content before the error: %q", acc.Choices[0].Message.Content)
		}
		if bytes.Contains(out, []byte("ignored after error")) || bytes.Contains(out, []byte("[DONE]")) {
			t.Errorf("output continued after the error:\n%s", out)
		}
	})
}

func TestAnthropicStreamTruncated(t *testing.T) {
	stream, err := os.ReadFile("testdata/anthropic/stream/text.sse")
	if err != nil {
		t.Fatal(err)
	}
	cut := bytes.Index(stream, []byte("event: message_delta"))
	out, _ := translateStream(t, true, stream[:cut])
	payloads := checkSSEOutput(t, out)
	last := payloads[len(payloads)-1]
	if !bytes.HasPrefix(last, []byte(`{"error":`)) {
		t.Fatalf("truncated stream should end in an error chunk, got %s", last)
	}
	// Missing only message_stop: the message is complete, finish normally.
	cut = bytes.Index(stream, []byte("event: message_stop"))
	out, _ = translateStream(t, false, stream[:cut])
	if !bytes.HasSuffix(out, []byte("data: [DONE]\n\n")) {
		t.Fatalf("stream without message_stop should still end in [DONE]:\n%s", out)
	}
}

func TestAnthropicGzipResponses(t *testing.T) {
	body, err := os.ReadFile("testdata/anthropic/response/text.json")
	if err != nil {
		t.Fatal(err)
	}
	plain := anthropicResponseTranslator(t, false, false)
	if _, err := plain.ResponseHeaders(200, "application/json", ""); err != nil {
		t.Fatal(err)
	}
	want, _, err := plain.ResponseBody(body, true)
	if err != nil {
		t.Fatal(err)
	}
	want = bytes.Clone(want)

	tr := anthropicResponseTranslator(t, false, false)
	mode, err := tr.ResponseHeaders(200, "application/json", "gzip")
	if err != nil || !mode.RemoveContentEncoding || !mode.ModifiesBody {
		t.Fatalf("mode %+v, %v", mode, err)
	}
	gz := gzipBytes(t, body)
	if out, _, err := tr.ResponseBody(gz[:10], false); err != nil || len(out) != 0 {
		t.Fatalf("partial gzip: %q %v", out, err)
	}
	got, usage, err := tr.ResponseBody(gz[10:], true)
	if err != nil || !bytes.Equal(got, want) || usage.TotalTokens != 21 {
		t.Fatalf("gzip response: %s %+v %v", got, usage, err)
	}

	stream, err := os.ReadFile("testdata/anthropic/stream/text.sse")
	if err != nil {
		t.Fatal(err)
	}
	wantStream, _ := translateStream(t, true, stream)
	st := anthropicResponseTranslator(t, true, true)
	if _, err := st.ResponseHeaders(200, "text/event-stream", "gzip"); err != nil {
		t.Fatal(err)
	}
	gz = gzipBytes(t, stream)
	var gotStream []byte
	for i := 0; i < len(gz); i += 7 {
		end := min(i+7, len(gz))
		out, _, err := st.ResponseBody(gz[i:end], end == len(gz))
		if err != nil {
			t.Fatal(err)
		}
		gotStream = append(gotStream, out...)
	}
	if !bytes.Equal(gotStream, wantStream) {
		t.Fatalf("gzip stream:\n%s", gotStream)
	}

	bad := anthropicResponseTranslator(t, false, false)
	if _, err := bad.ResponseHeaders(200, "application/json", "gzip"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bad.ResponseBody([]byte("not gzip"), true); err == nil {
		t.Fatal("corrupt gzip accepted")
	}
	if _, err := anthropicResponseTranslator(t, false, false).ResponseHeaders(200, "application/json", "br"); err == nil {
		t.Fatal("brotli accepted")
	} else if ue, ok := AsError(err, KindProvider); !ok || ue.Status != http.StatusBadGateway {
		t.Fatalf("brotli: %v", err)
	}
}

func TestAnthropicMessagesPassthrough(t *testing.T) {
	tr, err := New(Target{Schema: SchemaAnthropic, DefaultModel: "claude-x", APIVersion: "2024-01-01", PathPrefix: "/anthropic/v1/"}, "/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.RequestBody([]byte(`{"model":"claude-y","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "/anthropic/v1/messages" || string(res.Body) != `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}` || res.Model != "claude-x" {
		t.Fatalf("result %+v body %s", res, res.Body)
	}
	if len(res.Headers) != 1 || res.Headers[0] != (Header{"anthropic-version", "2024-01-01"}) {
		t.Fatalf("headers %+v", res.Headers)
	}
	mode, err := tr.ResponseHeaders(200, "text/event-stream", "")
	if err != nil || mode.ModifiesBody {
		t.Fatalf("mode %+v %v", mode, err)
	}
	stream, err := os.ReadFile("testdata/anthropic/stream/tool_use_crlf.sse")
	if err != nil {
		t.Fatal(err)
	}
	out, usage, err := tr.ResponseBody(stream, true)
	if err != nil || !bytes.Equal(out, stream) {
		t.Fatalf("passthrough changed the stream: %v", err)
	}
	if want := (Usage{InputTokens: 1496, OutputTokens: 89, TotalTokens: 1585, CachedInputTokens: 1024}); usage != want {
		t.Fatalf("usage %+v, want %+v", usage, want)
	}

	tr, _ = New(Target{Schema: SchemaAnthropic}, "/v1/messages")
	if _, err := tr.RequestBody([]byte(`{"model":"claude-y"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("testdata/anthropic/response/tool_use.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, usage, _ := tr.ResponseBody(body, true); usage.InputTokens != 2450 || usage.CachedInputTokens != 2000 {
		t.Fatalf("usage %+v", usage)
	}
}
