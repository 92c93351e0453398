package translate

import (
	"bytes"
	"net/http"
	"strconv"
)

// Anthropic Messages response -> OpenAI chat.completion: usage, finish
// reasons, whole-body translation and error normalisation. Streams are
// translated event by event in anthropic_stream.go.

// anthTokens accumulates Anthropic usage. Anthropic's input_tokens exclude
// cache reads and writes, while OpenAI's prompt_tokens include all of them,
// so prompt tokens are the sum; cached tokens are the cache reads.
type anthTokens struct {
	input, output, cacheRead, cacheCreation int64
}

// merge applies a usage object; fields present replace earlier values since
// Anthropic reports cumulative counts (message_start, then message_delta).
func (t *anthTokens) merge(u *anthUsage) {
	if u.InputTokens != nil {
		t.input = *u.InputTokens
	}
	if u.OutputTokens != nil {
		t.output = *u.OutputTokens
	}
	if u.CacheReadInputTokens != nil {
		t.cacheRead = *u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens != nil {
		t.cacheCreation = *u.CacheCreationInputTokens
	}
}

// usage applies the plausibility rules (usage.go) to each reported count
// before summing; the sums saturate.
func (t *anthTokens) usage() Usage {
	cacheRead := plausible(t.cacheRead)
	in := addTokens(addTokens(plausible(t.input), cacheRead), plausible(t.cacheCreation))
	return Usage{InputTokens: in, OutputTokens: plausible(t.output), CachedInputTokens: cacheRead}.sane()
}

// appendOpenAIUsage appends the OpenAI usage object for t.
func (t *anthTokens) appendOpenAIUsage(dst []byte) []byte {
	u := t.usage()
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, u.InputTokens)
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, u.OutputTokens)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, u.TotalTokens)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = appendInt(dst, u.CachedInputTokens)
	return append(dst, "}}"...)
}

type anthropicUsageScanner struct {
	tokens anthTokens
}

func (s *anthropicUsageScanner) body(b []byte, u *Usage) {
	var r struct {
		Usage anthUsage `json:"usage"`
	}
	if jsonAPI.UnmarshalFromString(aliasString(b), &r) == nil {
		s.tokens.merge(&r.Usage)
		*u = s.tokens.usage()
	}
}

func (s *anthropicUsageScanner) event(data []byte, u *Usage) {
	if !bytes.Contains(data, []byte(`"usage"`)) {
		return
	}
	var ev struct {
		Message struct {
			Usage anthUsage `json:"usage"`
		} `json:"message"`
		Usage anthUsage `json:"usage"`
	}
	if jsonAPI.UnmarshalFromString(aliasString(data), &ev) == nil {
		s.tokens.merge(&ev.Message.Usage)
		s.tokens.merge(&ev.Usage)
		*u = s.tokens.usage()
	}
}

func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn, unknown future values
		return "stop"
	}
}

func (a *anthropicTranslator) ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error) {
	a.coding = parseContentEncoding(contentEncoding)
	if a.coding == codingOther {
		return ResponseMode{}, &Error{
			Kind:    KindProvider,
			Status:  http.StatusBadGateway,
			Code:    "unsupported_content_encoding",
			Message: "the anthropic backend answered with a content-encoding the gateway cannot decode",
		}
	}
	a.mode = ResponseMode{ModifiesBody: true, RemoveContentEncoding: a.coding == codingGzip}
	if a.coding == codingGzip {
		a.gz = newGzipDecoder(a.target.Limits.decodedBytes())
	}
	switch {
	case !isSuccess(status):
		a.mode.Error, a.mode.BufferBody, a.mode.ContentType = true, true, "application/json"
	case isEventStream(contentType):
		a.mode.Stream, a.mode.ContentType = true, "text/event-stream"
		a.stream.init(a.model, a.includeUsage, a.target.Limits.eventBytes())
	default:
		a.mode.BufferBody, a.mode.ContentType = true, "application/json"
	}
	a.errStatus = status
	return a.mode, nil
}

func (a *anthropicTranslator) ResponseBody(chunk []byte, eos bool) ([]byte, Usage, error) {
	if a.coding == codingGzip {
		// Decoded chunk by chunk (bounded); a stream is translated as it
		// decodes.
		plain, err := a.gz.decode(chunk, eos)
		if err != nil {
			if !a.mode.Stream {
				return nil, a.tokens.usage(), err
			}
			// Whatever decoded is translated, then the stream ends with an
			// error event.
			out, _ := a.stream.feed(plain, false)
			if !a.stream.done {
				a.stream.fail("api_error", "the anthropic backend's gzip stream could not be decoded")
				out = a.stream.out
			}
			return out, a.stream.tokens.usage(), err
		}
		chunk = plain
	}
	switch {
	case a.mode.Stream:
		out, err := a.stream.feed(chunk, eos)
		return out, a.stream.tokens.usage(), err
	case a.mode.Error:
		whole, ok := a.acc.add(chunk, eos)
		if !ok {
			return nil, Usage{}, nil
		}
		return anthropicErrorJSON(a.errStatus, whole), Usage{}, nil
	default:
		whole, ok := a.acc.add(chunk, eos)
		if !ok {
			return nil, Usage{}, nil
		}
		out, err := a.translateMessage(whole)
		return out, a.tokens.usage(), err
	}
}

func (a *anthropicTranslator) translateMessage(body []byte) ([]byte, error) {
	var r anthResponse
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &r); err != nil {
		// Truncated, HTML from a proxy, numbers out of range: the caller
		// answers 502 with an OpenAI error, as for an undecodable body.
		// The decoder's message quotes the body: only where it stopped
		// goes to the log.
		return nil, badResponse("the anthropic backend returned a malformed response" + decodeErrorAt(err))
	}
	return a.completion(&r, len(body))
}

// completion encodes an Anthropic message as a chat.completion (also
// Bedrock Converse's, converted to one).
func (a *anthropicTranslator) completion(r *anthResponse, sizeHint int) ([]byte, error) {
	a.tokens.merge(&r.Usage)
	model := r.Model
	if model == "" {
		model = a.model
	}
	out := chatCompletion{
		ID:      r.ID,
		Object:  "chat.completion",
		Created: now().Unix(),
		Model:   model,
		Choices: []chatChoice{{FinishReason: finishReason(r.StopReason)}},
	}
	msg := &out.Choices[0].Message
	msg.Role = "assistant"
	// One text block (the usual case) is used as decoded; only several are
	// concatenated.
	var text string
	var joined []byte
	texts := 0
	for i := range r.Content {
		b := &r.Content[i]
		switch b.Type {
		case "text":
			if texts++; texts == 2 {
				joined = append(joined, text...)
			}
			if texts >= 2 {
				joined = append(joined, b.Text...)
			} else {
				text = b.Text
			}
		case "tool_use":
			call := chatResponseCall{ID: b.ID, Type: "function"}
			call.Function.Name = b.Name
			call.Function.Arguments = string(bytes.TrimSpace(b.Input))
			if call.Function.Arguments == "" {
				call.Function.Arguments = "{}"
			}
			msg.ToolCalls = append(msg.ToolCalls, call)
		}
		// thinking / redacted_thinking / server tool blocks have no
		// chat.completion field; they are only produced when the request
		// enabled them, which this translator never does.
	}
	if texts >= 2 {
		text = aliasString(joined)
	}
	if texts > 0 {
		msg.Content = &text
	}
	u := a.tokens.usage()
	out.Usage.PromptTokens, out.Usage.CompletionTokens, out.Usage.TotalTokens = u.InputTokens, u.OutputTokens, u.TotalTokens
	out.Usage.PromptTokensDetails.CachedTokens = u.CachedInputTokens
	return encodeJSON(&out, sizeHint+512)
}

// anthropicErrorJSON converts an Anthropic error body
// {"type":"error","error":{"type","message"}} into an OpenAI error body; the
// HTTP status is kept by the caller.
func anthropicErrorJSON(status int, body []byte) []byte {
	var e struct {
		Error anthErrorBody `json:"error"`
	}
	if jsonAPI.UnmarshalFromString(aliasString(body), &e) == nil && e.Error.Message != "" {
		typ := e.Error.Type
		if typ == "" {
			typ = "api_error"
		}
		return AppendErrorJSON(nil, e.Error.Message, typ, "", "")
	}
	return AppendErrorJSON(nil, "the anthropic backend returned HTTP "+strconv.Itoa(status), "api_error", "", "")
}
