package translate

import (
	"strings"

	"github.com/aigw/aigw/internal/oaierr"
)

// OpenAI chat.completion -> Anthropic message, finish reasons, usage, and
// OpenAI error bodies -> Anthropic error bodies.

// stopReason maps an OpenAI finish_reason to an Anthropic stop_reason.
func stopReason(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	default: // stop, unknown future values
		return "end_turn"
	}
}

// appendAnthropicUsage appends Anthropic's usage object for u: its
// input_tokens exclude cache reads, which OpenAI's prompt_tokens include.
func appendAnthropicUsage(dst []byte, u Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = appendInt(dst, u.InputTokens-u.CachedInputTokens)
	dst = append(dst, `,"output_tokens":`...)
	dst = appendInt(dst, u.OutputTokens)
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = appendInt(dst, u.CachedInputTokens)
	dst = append(dst, `,"cache_creation_input_tokens":0}`...)
	return dst
}

func (m *messagesToOpenAI) translateCompletion(body []byte) ([]byte, error) {
	var r chatInResponse
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &r); err != nil {
		return nil, badResponse("the backend returned a malformed chat completion" + decodeErrorAt(err))
	}
	if len(r.Choices) == 0 {
		return nil, badResponse("the backend returned a chat completion without choices")
	}
	model := r.Model
	if model == "" {
		model = m.model
	}
	m.tokens = usageFromOpenAI(r.Usage, strings.Clone(model)) // model may alias body
	c := &r.Choices[0]
	out := make([]byte, 0, len(body)+256)
	out = append(out, `{"id":`...)
	out = appendJSONString(out, r.ID)
	out = append(out, `,"type":"message","role":"assistant","model":`...)
	out = appendJSONString(out, model)
	out = append(out, `,"content":[`...)
	n := 0
	text := c.Message.Content
	if text == nil || *text == "" {
		text = c.Message.Refusal
	}
	if text != nil && *text != "" {
		out = append(out, `{"type":"text","text":`...)
		out = appendJSONString(out, *text)
		out = append(out, '}')
		n++
	}
	for i := range c.Message.ToolCalls {
		call := &c.Message.ToolCalls[i]
		args := call.Function.Arguments
		if args == "" {
			args = "{}"
		}
		if !isJSONObject(args) {
			return nil, badResponse("the backend returned tool call arguments that are not a JSON object")
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"type":"tool_use","id":`...)
		out = appendJSONString(out, call.ID)
		out = append(out, `,"name":`...)
		out = appendJSONString(out, call.Function.Name)
		out = append(out, `,"input":`...)
		out = append(out, args...)
		out = append(out, '}')
		n++
	}
	out = append(out, `],"stop_reason":`...)
	out = appendJSONString(out, stopReason(c.FinishReason))
	out = append(out, `,"stop_sequence":null,"usage":`...)
	out = appendAnthropicUsage(out, m.tokens)
	return append(out, '}'), nil
}

// anthropicErrorFromOpenAI converts a backend's error body (OpenAI's shape,
// or what openAIErrorJSON normalizes into it) into Anthropic's
// {"type":"error","error":{"type","message"}}; the caller keeps the status.
func anthropicErrorFromOpenAI(status int, body []byte) []byte {
	norm := openAIErrorJSON(status, body)
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	_ = jsonAPI.UnmarshalFromString(aliasString(norm), &e)
	return oaierr.AppendAnthropicErrorJSON(nil, oaierr.AnthropicType(status, e.Error.Type), e.Error.Message)
}

// isJSONObject reports whether s is one valid JSON object (a tool_use input).
func isJSONObject(s string) bool {
	t := strings.TrimSpace(s)
	return len(t) > 0 && t[0] == '{' && jsonAPI.Valid([]byte(t))
}
