package translate

import (
	"bytes"
	"strconv"
)

// Claude's extended thinking, for every translator that builds an Anthropic
// request from a chat completions request (anthropic, aws_bedrock_anthropic,
// gcp_vertex_anthropic, and aws_bedrock's Converse for Claude models, which
// starts from the same Anthropic request):
//
//   - request: OpenAI's reasoning_effort, or the Anthropic-style thinking
//     object some OpenAI-compatible clients send ({"type":"enabled",
//     "budget_tokens":N} or {"type":"disabled"}), becomes Anthropic's
//     thinking {"type":"enabled","budget_tokens":N}. Anthropic's rules are
//     checked here, each a 400 naming the parameter: budget_tokens at least
//     1024 and below max_tokens (which includes the thinking, as OpenAI's
//     max_completion_tokens includes reasoning); with thinking on, no
//     temperature other than 1, no top_k, top_p only in [0.95, 1], no forced
//     tool_choice (required or a named function).
//   - response: the text of thinking blocks becomes the message's
//     "reasoning_content" (the member DeepSeek, vLLM and LiteLLM use for
//     reasoning text in chat completions; OpenAI's SDKs keep unknown
//     members), and a stream's thinking_delta a delta's "reasoning_content".
//     Signatures and redacted_thinking (encrypted) have no chat completions
//     field and are not forwarded.

// anthThinking is Anthropic's thinking request member.
type anthThinking struct {
	Type         string `json:"type"`
	BudgetTokens int64  `json:"budget_tokens,omitempty"`
}

// claudeMinThinkingBudget is the smallest budget_tokens Anthropic accepts.
const claudeMinThinkingBudget = 1024

// claudeThinkingBudgets maps reasoning_effort to a thinking budget ("none"
// turns thinking off; minimal is Claude's smallest budget).
var claudeThinkingBudgets = map[string]int64{"minimal": claudeMinThinkingBudget, "low": claudeMinThinkingBudget, "medium": 8192, "high": 24576}

// claudeThinking reads the request's reasoning_effort or thinking into out
// (already built by buildRequest) and checks what thinking forbids.
func claudeThinking(req *anthChatRequest, out *anthRequest) error {
	thinking := bytes.TrimSpace(req.Thinking)
	hasThinking := len(thinking) > 0 && !isNull(thinking)
	if req.ReasoningEffort != "" && hasThinking {
		return invalid("thinking", "send either reasoning_effort or thinking, not both")
	}
	explicitMax := req.MaxCompletionTokens != nil || req.MaxTokens != nil
	maxParam := "max_tokens"
	if req.MaxCompletionTokens != nil {
		maxParam = "max_completion_tokens"
	}
	var budget int64
	switch {
	case req.ReasoningEffort != "":
		if req.ReasoningEffort == "none" {
			return nil
		}
		b, ok := claudeThinkingBudgets[req.ReasoningEffort]
		if !ok {
			return invalid("reasoning_effort", "reasoning_effort %q is not one of none, minimal, low, medium, high", req.ReasoningEffort)
		}
		if explicitMax && b >= out.MaxTokens {
			// A hint: the budget shrinks to fit the client's limit.
			b = out.MaxTokens - 1
			if b < claudeMinThinkingBudget {
				return invalid(maxParam, "reasoning_effort needs %s above %d for a Claude model (its smallest thinking budget is %d tokens, within the maximum)", maxParam, claudeMinThinkingBudget, claudeMinThinkingBudget)
			}
		}
		budget = b
	case hasThinking:
		var t struct {
			Type         string `json:"type"`
			BudgetTokens *int64 `json:"budget_tokens"`
		}
		if err := jsonAPI.Unmarshal(thinking, &t); err != nil {
			return invalid("thinking", "thinking must be an object {\"type\":\"enabled\",\"budget_tokens\":N} or {\"type\":\"disabled\"}")
		}
		switch t.Type {
		case "disabled":
			return nil
		case "enabled":
		default:
			return invalid("thinking.type", "thinking.type must be enabled or disabled")
		}
		if t.BudgetTokens == nil || *t.BudgetTokens < claudeMinThinkingBudget {
			return invalid("thinking.budget_tokens", "thinking.budget_tokens must be at least %d", claudeMinThinkingBudget)
		}
		budget = *t.BudgetTokens
		if explicitMax && budget >= out.MaxTokens {
			return invalid("thinking.budget_tokens", "thinking.budget_tokens must be less than %s (%s)", maxParam, strconv.FormatInt(out.MaxTokens, 10))
		}
	default:
		return nil
	}
	if !explicitMax {
		// The default answer length on top of the thinking budget.
		out.MaxTokens = addTokens(budget, defaultAnthropicMaxTokens)
	}
	if t := out.Temperature; t != nil && *t != 1 {
		return unsupported("temperature", "temperature cannot be changed while a Claude model is thinking (reasoning_effort or thinking is set)")
	}
	if out.TopK != nil {
		return unsupported("top_k", "top_k cannot be set while a Claude model is thinking (reasoning_effort or thinking is set)")
	}
	if p := out.TopP; p != nil && *p < 0.95 {
		return unsupported("top_p", "top_p must be between 0.95 and 1 while a Claude model is thinking (reasoning_effort or thinking is set)")
	}
	if tc := out.ToolChoice; tc != nil && (tc.Type == "any" || tc.Type == "tool") {
		return unsupported("tool_choice", "a forced tool_choice (required or a named function) cannot be used while a Claude model is thinking (reasoning_effort or thinking is set)")
	}
	out.thinking = anthThinking{Type: "enabled", BudgetTokens: budget}
	out.Thinking = &out.thinking
	return nil
}

// appendThinking writes the request's thinking member (appendAnthropicRequest).
func appendThinking(dst []byte, t *anthThinking) []byte {
	if t == nil {
		return dst
	}
	dst = appendJSONString(append(dst, `,"thinking":{"type":`...), t.Type)
	if t.BudgetTokens > 0 {
		dst = appendInt(append(dst, `,"budget_tokens":`...), t.BudgetTokens)
	}
	return append(dst, '}')
}

// appendReasoningContent writes ,"reasoning_content":"…" with the thinking
// blocks' texts joined, when the content array has any (translateMessage:
// thinking is their count, from the pass over the text blocks, so a
// response without thinking costs nothing more).
func (c *msgConverter) appendReasoningContent(out []byte, content []byte, thinking int) ([]byte, error) {
	if thinking == 0 {
		return out, nil
	}
	mark := len(out)
	out = append(out, `,"reasoning_content":"`...)
	start := len(out)
	out, _, _, _, err := c.joinBlockStrings(out, content, "thinking")
	if err != nil {
		return nil, err
	}
	if len(out) == start {
		return out[:mark], nil // no thinking text
	}
	return append(out, '"'), nil
}

// joinBlockStrings appends the contents of the text (type "text") or
// thinking (type "thinking") member of every block of that type in the
// content array, joined as one JSON string's contents; n counts those
// blocks, thinking the blocks of type "thinking", toolUse those of type
// "tool_use" (so a response without them is not walked again for them).
func (c *msgConverter) joinBlockStrings(out, content []byte, typ string) (_ []byte, n, thinking, toolUse int, err error) {
	out, err = c.eachBlock(out, content, func(out []byte, b *anthRawBlock) ([]byte, error) {
		switch b.Type {
		case "thinking":
			thinking++
		case "tool_use":
			toolUse++
		}
		if b.Type != typ {
			return out, nil
		}
		n++
		lit := b.Text
		if typ == "thinking" {
			lit = b.Thinking
		}
		out, ok := c.literal(out, lit)
		if !ok {
			return out, errBadParts
		}
		return out, nil
	})
	return out, n, thinking, toolUse, err
}

// reasoningChunk emits a chunk whose delta carries reasoning text, the
// raw JSON string literal lit.
func (s *anthropicStream) reasoningChunk(lit []byte) {
	s.rawStringChunk(`{"reasoning_content":`, lit)
}
