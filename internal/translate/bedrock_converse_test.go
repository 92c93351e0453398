package translate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

var converseTarget = Target{Schema: SchemaAWSBedrock, DefaultModel: "us.anthropic.claude-3-5-haiku-20241022-v1:0"}

// TestBedrockConverseRequestGolden translates the chat inputs into Converse
// requests (system, turns, tools, tool_choice, tool calls and results, base64
// images, stop sequences, sampling).
func TestBedrockConverseRequestGolden(t *testing.T) {
	for _, in := range inputs(t, "anthropic/request", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := New(converseTarget, "/v1/chat/completions")
			if err != nil {
				t.Fatal(err)
			}
			res, err := tr.RequestBody(body)
			if err != nil {
				if e, ok := err.(*Error); ok && e.Status == http.StatusBadRequest {
					// Recorded as the 400 the client gets (e.g. an image URL).
					checkGolden(t, filepath.Join("testdata", "bedrock_converse", "request", filepath.Base(goldenPath(in))), indentJSON(t, e.OpenAI().JSON()))
					return
				}
				t.Fatal(err)
			}
			view := struct {
				Path   string          `json:"path"`
				Model  string          `json:"model"`
				Stream bool            `json:"stream"`
				Body   json.RawMessage `json:"body"`
			}{res.Path, res.Model, res.Stream, res.Body}
			got, _ := json.Marshal(view)
			checkGolden(t, filepath.Join("testdata", "bedrock_converse", "request", filepath.Base(goldenPath(in))), indentJSON(t, got))
		})
	}
}

func TestBedrockConverseRequestRejects(t *testing.T) {
	for _, tt := range []struct{ name, body, param string }{
		{"top_k", `{"model":"m","top_k":3,"messages":[{"role":"user","content":"hi"}]}`, "top_k"},
		{"user", `{"model":"m","user":"u1","messages":[{"role":"user","content":"hi"}]}`, "user"},
		{"image url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`, "messages[0].content"},
		{"n", `{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]}`, "n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, _ := New(converseTarget, "/v1/chat/completions")
			_, err := tr.RequestBody([]byte(tt.body))
			e, ok := err.(*Error)
			if !ok || e.Status != http.StatusBadRequest || e.Param != tt.param {
				t.Fatalf("err = %#v", err)
			}
		})
	}
}

func TestBedrockConverseResponse(t *testing.T) {
	tr, _ := New(converseTarget, "/v1/chat/completions")
	res, err := tr.RequestBody([]byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse" {
		t.Fatal(res.Path)
	}
	if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
		t.Fatal(err)
	}
	out, u, err := tr.ResponseBody([]byte(`{"output":{"message":{"role":"assistant","content":[{"text":"Let me check."},{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather","input":{"city":"Paris"}}}]}},"stopReason":"tool_use","usage":{"inputTokens":10,"outputTokens":5,"totalTokens":15,"cacheReadInputTokens":4},"metrics":{"latencyMs":100}}`), true)
	if err != nil {
		t.Fatal(err)
	}
	var c openai.ChatCompletion
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	ch := c.Choices[0]
	if c.ID != "chatcmpl-test" || ch.FinishReason != "tool_calls" || ch.Message.Content != "Let me check." || len(ch.Message.ToolCalls) != 1 ||
		ch.Message.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || ch.Message.ToolCalls[0].ID != "tooluse_1" {
		t.Fatalf("%s", out)
	}
	if u.InputTokens != 14 || u.OutputTokens != 5 || u.CachedInputTokens != 4 || c.Usage.PromptTokensDetails.CachedTokens != 4 {
		t.Errorf("usage %+v / %s", u, out)
	}
	tr, _ = New(converseTarget, "/v1/chat/completions")
	tr.RequestBody([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	tr.ResponseHeaders(200, "application/json", "")
	if _, _, err := tr.ResponseBody([]byte(`<html>`), true); !isBadResponse(err) {
		t.Errorf("err = %v", err)
	}
	tr, _ = New(converseTarget, "/v1/chat/completions")
	tr.RequestBody([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	tr.ResponseHeaders(429, "application/json", "")
	if out, _, _ := tr.ResponseBody([]byte(`{"message":"Too many tokens, please wait before trying again."}`), true); !bytes.Contains(out, []byte(`"message":"Too many tokens, please wait before trying again."`)) {
		t.Errorf("%s", out)
	}
}

// converseFrame is one ConverseStream event built with the SDK's encoder.
func converseFrame(t testing.TB, event, payload string) []byte {
	return encodeFrame(t, map[string]string{":message-type": "event", ":event-type": event, ":content-type": "application/json"}, []byte(payload))
}

func converseStream(t testing.TB) []byte {
	return cat(
		converseFrame(t, "messageStart", `{"role":"assistant","p":"abc"}`),
		converseFrame(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hello"}}`),
		converseFrame(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" \"world\""}}`),
		converseFrame(t, "contentBlockStop", `{"contentBlockIndex":0}`),
		converseFrame(t, "contentBlockStart", `{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather"}}}`),
		converseFrame(t, "contentBlockDelta", `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"city\":"}}}`),
		converseFrame(t, "contentBlockDelta", `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"\"Paris\"}"}}}`),
		converseFrame(t, "contentBlockStop", `{"contentBlockIndex":1}`),
		converseFrame(t, "messageStop", `{"stopReason":"tool_use"}`),
		converseFrame(t, "metadata", `{"usage":{"inputTokens":12,"outputTokens":7,"totalTokens":19},"metrics":{"latencyMs":300}}`),
	)
}

func translateConverseStream(t testing.TB, pieces ...[]byte) ([]byte, Usage, error) {
	t.Helper()
	tr, _ := New(converseTarget, "/v1/chat/completions")
	res, err := tr.RequestBody([]byte(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil || !strings.HasSuffix(res.Path, "/converse-stream") {
		t.Fatal(res.Path, err)
	}
	mode, err := tr.ResponseHeaders(200, "application/vnd.amazon.eventstream", "")
	if err != nil || !mode.Stream {
		t.Fatal(mode, err)
	}
	return responsePieces(tr, pieces)
}

// TestBedrockConverseStream: ConverseStream frames become chunks with the
// text, the tool-call deltas, the finish reason and the usage chunk, then
// [DONE]; identical at every split point and byte by byte.
func TestBedrockConverseStream(t *testing.T) {
	frames := converseStream(t)
	out, u, err := translateConverseStream(t, frames)
	if err != nil {
		t.Fatal(err)
	}
	checkSSEOutput(t, out)
	var acc openai.ChatCompletionAccumulator
	for _, ev := range bytes.Split(bytes.TrimSpace(out), []byte("\n\n")) {
		data := bytes.TrimPrefix(ev, []byte("data: "))
		if string(data) == "[DONE]" {
			continue
		}
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal(data, &c); err != nil || !acc.AddChunk(c) {
			t.Fatalf("chunk %s: %v", data, err)
		}
	}
	ch := acc.Choices[0]
	if ch.Message.Content != `Hello "world"` || ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 ||
		ch.Message.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || acc.Usage.PromptTokens != 12 || acc.Usage.CompletionTokens != 7 {
		t.Fatalf("%+v usage %+v\n%s", ch, acc.Usage, out)
	}
	if u.InputTokens != 12 || u.OutputTokens != 7 || !bytes.HasSuffix(out, []byte("data: [DONE]\n\n")) {
		t.Errorf("usage %+v", u)
	}
	for i := 0; i <= len(frames); i++ {
		split, su, err := translateConverseStream(t, frames[:i], frames[i:])
		if err != nil || !bytes.Equal(split, out) || su != u {
			t.Fatalf("split at %d: %v", i, err)
		}
	}
	throttled := encodeFrame(t, map[string]string{":message-type": "exception", ":exception-type": "throttlingException"}, []byte(`{"message":"slow down"}`))
	cut, _, err := translateConverseStream(t, cat(converseFrame(t, "messageStart", `{"role":"assistant"}`), throttled))
	if err != nil || !bytes.Contains(cut, []byte(`"message":"slow down","type":"rate_limit_error"`)) || bytes.Contains(cut, []byte("[DONE]")) {
		t.Errorf("exception: %v %s", err, cut)
	}
	trunc, _, err := translateConverseStream(t, frames[:len(frames)-5])
	if !isBadResponse(err) || bytes.Contains(trunc, []byte("[DONE]")) {
		t.Errorf("truncated: %v %s", err, trunc)
	}
}

// FuzzBedrockConverseStream: any bytes, split anywhere, give the same
// well-formed output.
func FuzzBedrockConverseStream(f *testing.F) {
	frames := converseStream(f)
	f.Add(frames, uint16(len(frames)/2))
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		whole, wu, werr := translateConverseStream(t, in)
		checkSSEOutput(t, whole)
		i := int(cut) % (len(in) + 1)
		split, su, serr := translateConverseStream(t, in[:i], in[i:])
		if !bytes.Equal(whole, split) || wu != su || (werr == nil) != (serr == nil) {
			t.Fatalf("split at %d changed the output", i)
		}
	})
}

// FuzzBedrockConverseResponse: any body is a chat.completion, an OpenAI
// error, or a 2xx badResponse.
func FuzzBedrockConverseResponse(f *testing.F) {
	f.Add([]byte(`{"output":{"message":{"content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1}}`), uint16(200))
	f.Add([]byte(`{"message":"bad"}`), uint16(400))
	f.Fuzz(func(t *testing.T, body []byte, status uint16) {
		tr, _ := New(converseTarget, "/v1/chat/completions")
		if _, err := tr.RequestBody([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.ResponseHeaders(int(status), "application/json", ""); err != nil {
			t.Fatal(err)
		}
		out, _, err := tr.ResponseBody(body, true)
		if err != nil {
			if !isBadResponse(err) || !isSuccess(int(status)) {
				t.Fatal(err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%q", out)
		}
	})
}

// TestBedrockConverseStopReasons: every Converse stopReason (aws-sdk-go-v2
// bedrockruntime types.StopReason) becomes the same finish_reason in a
// plain response and in a stream.
func TestBedrockConverseStopReasons(t *testing.T) {
	for _, tt := range []struct{ stop, finish string }{
		{"end_turn", "stop"},
		{"tool_use", "tool_calls"},
		{"max_tokens", "length"},
		{"stop_sequence", "stop"},
		{"guardrail_intervened", "content_filter"},
		{"content_filtered", "content_filter"},
		{"malformed_model_output", "stop"},
		{"malformed_tool_use", "stop"},
		{"model_context_window_exceeded", "length"},
		{"a_future_reason", "stop"},
	} {
		t.Run(tt.stop, func(t *testing.T) {
			tr, _ := New(converseTarget, "/v1/chat/completions")
			if _, err := tr.RequestBody([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)); err != nil {
				t.Fatal(err)
			}
			tr.ResponseHeaders(200, "application/json", "")
			out, _, err := tr.ResponseBody([]byte(`{"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"`+tt.stop+`","usage":{"inputTokens":1,"outputTokens":1}}`), true)
			var c openai.ChatCompletion
			if err != nil || json.Unmarshal(out, &c) != nil || c.Choices[0].FinishReason != tt.finish {
				t.Fatalf("plain: %v %s", err, out)
			}
			stream, _, err := translateConverseStream(t, cat(
				converseFrame(t, "messageStart", `{"role":"assistant"}`),
				converseFrame(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"x"}}`),
				converseFrame(t, "messageStop", `{"stopReason":"`+tt.stop+`"}`),
				converseFrame(t, "metadata", `{"usage":{"inputTokens":1,"outputTokens":1}}`),
			))
			if err != nil || !bytes.Contains(stream, []byte(`"finish_reason":"`+tt.finish+`"`)) {
				t.Fatalf("stream: %v %s", err, stream)
			}
		})
	}
}
