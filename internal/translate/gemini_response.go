package translate

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// Gemini GenerateContentResponse -> OpenAI chat.completion: usage, finish
// reasons, whole-body translation and Google's errors. Streams are
// translated event by event in gemini_stream.go.

// merge records Gemini usage in the shared token accumulator: prompt
// tokens include cached content (cached are counted as cache reads), and
// output includes thinking tokens, as OpenAI's completion_tokens include
// reasoning tokens; the thinking tokens are also the reasoning tokens
// (completion_tokens_details.reasoning_tokens, the reasoning metric).
func (t *anthTokens) mergeGemini(u *gemUsage) {
	if u == nil {
		return
	}
	cached := min(u.CachedContentTokenCount, u.PromptTokenCount)
	t.input, t.cacheRead = u.PromptTokenCount-cached, cached
	t.output = addTokens(u.CandidatesTokenCount, u.ThoughtsTokenCount)
	t.reasoning = u.ThoughtsTokenCount
}

// geminiFinishReason maps a Gemini finishReason to OpenAI's; toolCalls
// reports that the candidate called a function.
func geminiFinishReason(reason string, toolCalls bool) string {
	switch reason {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE":
		return "content_filter"
	}
	if toolCalls {
		return "tool_calls"
	}
	return "stop" // STOP, OTHER, MALFORMED_FUNCTION_CALL, unknown future values
}

// geminiCallID names the n-th tool call of a response: Gemini has no ids,
// and the client answers a call by id.
func geminiCallID(candidate, n int) string {
	return "call_" + strconv.Itoa(candidate) + "_" + strconv.Itoa(n)
}

func (g *geminiTranslator) ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error) {
	g.coding = parseContentEncoding(contentEncoding)
	if g.coding == codingOther {
		return ResponseMode{}, &Error{
			Kind:    KindProvider,
			Status:  http.StatusBadGateway,
			Code:    "unsupported_content_encoding",
			Message: "the gcp_vertex_gemini backend answered with a content-encoding the gateway cannot decode",
		}
	}
	g.mode = ResponseMode{ModifiesBody: true, RemoveContentEncoding: g.coding == codingGzip}
	if g.coding == codingGzip {
		g.gz = newGzipDecoder(g.target.Limits.decodedBytes())
	}
	switch {
	case !isSuccess(status):
		g.mode.Error, g.mode.BufferBody, g.mode.ContentType = true, true, "application/json"
	case isEventStream(contentType):
		g.mode.Stream, g.mode.ContentType = true, "text/event-stream"
		g.stream.init(g.model, g.includeUsage, g.target.Limits.eventBytes())
	default:
		g.mode.BufferBody, g.mode.ContentType = true, "application/json"
	}
	g.errStatus = status
	return g.mode, nil
}

func (g *geminiTranslator) ResponseBody(chunk []byte, eos bool) ([]byte, Usage, error) {
	if g.coding == codingGzip {
		plain, err := g.gz.decode(chunk, eos)
		if err != nil {
			if !g.mode.Stream {
				return nil, g.tokens.usage(), err
			}
			out, _ := g.stream.feed(plain, false)
			if !g.stream.w.done {
				g.stream.w.fail("api_error", "the gcp_vertex_gemini backend's gzip stream could not be decoded")
				out = g.stream.w.out
			}
			return out, g.stream.w.tokens.usage(), err
		}
		chunk = plain
	}
	switch {
	case g.mode.Stream:
		out, err := g.stream.feed(chunk, eos)
		return out, g.stream.w.tokens.usage(), err
	case g.mode.Error:
		whole, ok := g.acc.add(chunk, eos)
		if !ok {
			return nil, Usage{}, nil
		}
		return googleErrorJSON(g.errStatus, whole), Usage{}, nil
	default:
		whole, ok := g.acc.add(chunk, eos)
		if !ok {
			return nil, Usage{}, nil
		}
		out, err := g.translateResponse(whole)
		return out, g.tokens.usage(), err
	}
}

func (g *geminiTranslator) translateResponse(body []byte) ([]byte, error) {
	var r gemResponse
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &r); err != nil {
		return nil, badResponse("the gcp_vertex_gemini backend returned a malformed response" + decodeErrorAt(err))
	}
	g.tokens.mergeGemini(r.UsageMetadata)
	model := r.ModelVersion
	if model == "" {
		model = g.model
	}
	g.tokens.setModel(model) // gen_ai.response.model
	id := r.ResponseID
	if id == "" {
		id = "chatcmpl-vertex"
	}
	out := chatCompletion{ID: id, Object: "chat.completion", Created: now().Unix(), Model: model, Choices: make([]chatChoice, 0, max(1, len(r.Candidates)))}
	for i := range r.Candidates {
		c := &r.Candidates[i]
		ch := chatChoice{Index: c.Index}
		ch.Message.Role = "assistant"
		var text, thoughts strings.Builder
		hasText, hasThoughts := false, false
		for _, p := range c.Content.Parts {
			switch {
			case p.Thought:
				// Thought summaries (asked for with includeThoughts)
				// become reasoning_content.
				thoughts.WriteString(p.Text)
				hasThoughts = true
			case p.FunctionCall != nil:
				call := chatResponseCall{ID: geminiCallID(c.Index, len(ch.Message.ToolCalls)), Type: "function"}
				call.Function.Name = p.FunctionCall.Name
				call.Function.Arguments = string(bytes.TrimSpace(p.FunctionCall.Args))
				if call.Function.Arguments == "" {
					call.Function.Arguments = "{}"
				}
				ch.Message.ToolCalls = append(ch.Message.ToolCalls, call)
			case p.Text != "":
				text.WriteString(p.Text)
				hasText = true
			}
		}
		if hasText {
			s := text.String()
			ch.Message.Content = &s
		}
		if hasThoughts {
			ch.Message.ReasoningContent = thoughts.String()
		}
		ch.FinishReason = geminiFinishReason(c.FinishReason, len(ch.Message.ToolCalls) > 0)
		out.Choices = append(out.Choices, ch)
	}
	if len(out.Choices) == 0 {
		// A prompt blocked before any candidate: no content, filtered.
		ch := chatChoice{FinishReason: "content_filter"}
		ch.Message.Role = "assistant"
		out.Choices = append(out.Choices, ch)
	}
	u := g.tokens.usage()
	out.Usage.PromptTokens, out.Usage.CompletionTokens, out.Usage.TotalTokens = u.InputTokens, u.OutputTokens, u.TotalTokens
	out.Usage.PromptTokensDetails.CachedTokens = u.CachedInputTokens
	if u.ReasoningTokens > 0 {
		out.Usage.CompletionTokensDetails = &chatCompletionDetails{ReasoningTokens: u.ReasoningTokens}
	}
	return encodeJSON(&out, len(body)+512)
}

// googleErrorJSON converts a Google API error body into an OpenAI error
// body; the HTTP status is kept by the caller. Google's status (e.g.
// INVALID_ARGUMENT, RESOURCE_EXHAUSTED) becomes the code.
func googleErrorJSON(status int, body []byte) []byte {
	if e, ok := parseGoogleError(body); ok {
		return appendGoogleError(status, e)
	}
	return AppendErrorJSON(nil, "the gcp_vertex_gemini backend returned HTTP "+strconv.Itoa(status), googleErrorType(status), "", "")
}

// parseGoogleError reads Google's error body, or the one-element array
// streaming methods answer with; ok when it carries a message.
func parseGoogleError(body []byte) (*googleError, bool) {
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '[' {
		var arr []googleError
		if jsonAPI.UnmarshalFromString(aliasString(b), &arr) == nil && len(arr) > 0 && arr[0].Error.Message != "" {
			return &arr[0], true
		}
		return nil, false
	}
	var e googleError
	if jsonAPI.UnmarshalFromString(aliasString(b), &e) == nil && e.Error.Message != "" {
		return &e, true
	}
	return nil, false
}

func appendGoogleError(status int, e *googleError) []byte {
	return AppendErrorJSON(nil, e.Error.Message, googleErrorType(status), "", strings.ToLower(e.Error.Status))
}

// googleErrorType is OpenAI's error type for a provider status.
func googleErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "authentication_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 400 && status < 500:
		return "invalid_request_error"
	}
	return "api_error"
}
