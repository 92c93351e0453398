package translate

import "strings"

// geminiStream converts Vertex streamGenerateContent?alt=sse events (one
// GenerateContentResponse per data line) into OpenAI chat.completion.chunk
// SSE lines, with the same chunk writer as the Anthropic stream:
//
//	first event               -> first chunk, delta {"role":"assistant","content":""}
//	text part                 -> delta {"content": text}
//	thought part              -> delta {"reasoning_content": text}
//	functionCall part         -> tool_calls delta: index, id, name, whole arguments
//	finishReason              -> empty delta with finish_reason
//	usageMetadata             -> recorded (cumulative; the last one wins)
//	end of the stream         -> usage chunk (choices: []) if requested, then [DONE]
//	an error object           -> OpenAI error object chunk, stream ends
//
// Only candidate 0 is streamed (n > 1 is refused for streams).
type geminiStream struct {
	parser sseParser
	// w writes the chunks; its tokens are the attempt's usage.
	w        anthropicStream
	started  bool
	tools    int // tool calls sent so far
	toolSeen bool
	ev       gemResponse
	errEv    googleError
}

// StreamEnded reports whether the translated stream's [DONE] went out
// (StreamEnder): only at the provider's end of stream, as Gemini's stream
// has no terminal event.
func (g *geminiTranslator) StreamEnded() bool { return g.mode.Stream && g.stream.w.ended }

func (s *geminiStream) init(model string, includeUsage bool, maxEvent int) {
	s.w.init(model, includeUsage, maxEvent)
	s.parser.max = maxEvent
}

// feed translates one chunk of the upstream stream. The returned slice is
// reused by the next call.
func (s *geminiStream) feed(chunk []byte, eos bool) ([]byte, error) {
	s.w.out = s.w.out[:0]
	if s.w.done {
		return s.w.out, nil
	}
	err := s.parser.feed(chunk, eos, s.handle)
	if err == errEventTooLarge {
		s.w.fail("api_error", s.parser.tooLargeMessage("the gcp_vertex_gemini backend"))
		return s.w.out, err
	}
	if eos && !s.w.done {
		if s.w.finished {
			s.w.stop()
		} else {
			s.w.fail("api_error", "the gcp_vertex_gemini stream ended before the response was complete")
		}
	}
	return s.w.out, err
}

func (s *geminiStream) handle(_, data []byte) error {
	if s.w.done {
		return nil
	}
	ev := &s.ev
	*ev = gemResponse{}
	if err := jsonAPI.UnmarshalFromString(aliasString(data), ev); err != nil {
		s.w.fail("api_error", "the gcp_vertex_gemini backend sent a malformed stream event")
		return nil
	}
	if len(ev.Candidates) == 0 && ev.UsageMetadata == nil && ev.PromptFeedback == nil {
		s.errEv = googleError{}
		if jsonAPI.UnmarshalFromString(aliasString(data), &s.errEv) == nil && s.errEv.Error.Message != "" {
			s.w.fail(googleErrorType(s.errEv.Error.Code), s.errEv.Error.Message)
			return nil
		}
	}
	if !s.started {
		s.started = true
		if ev.ResponseID != "" {
			s.w.id = strings.Clone(ev.ResponseID)
		} else {
			s.w.id = "chatcmpl-vertex"
		}
		if ev.ModelVersion != "" {
			s.w.model = strings.Clone(ev.ModelVersion)
		}
		s.w.tokens.setModel(s.w.model) // gen_ai.response.model
		s.w.created = now().Unix()
		s.w.chunk(`{"role":"assistant","content":""}`, "")
	}
	s.w.tokens.mergeGemini(ev.UsageMetadata)
	if len(ev.Candidates) == 0 {
		if ev.PromptFeedback != nil && ev.PromptFeedback.BlockReason != "" && !s.w.finished {
			s.w.finished = true
			s.w.chunk(`{}`, "content_filter")
		}
		return nil
	}
	c := &ev.Candidates[0]
	for i := range c.Content.Parts {
		p := &c.Content.Parts[i]
		switch {
		case p.Thought:
			if p.Text != "" {
				s.w.stringChunk(`{"reasoning_content":`, p.Text) // chatResponseMessage.ReasoningContent
			}
		case p.FunctionCall != nil:
			s.toolSeen = true
			args := strings.TrimSpace(aliasString(p.FunctionCall.Args))
			if args == "" {
				args = "{}"
			}
			s.w.beginChunk()
			s.w.out = append(s.w.out, `{"tool_calls":[{"index":`...)
			s.w.out = appendInt(s.w.out, int64(s.tools))
			s.w.out = append(s.w.out, `,"id":`...)
			s.w.out = appendJSONString(s.w.out, geminiCallID(0, s.tools))
			s.w.out = append(s.w.out, `,"type":"function","function":{"name":`...)
			s.w.out = appendJSONString(s.w.out, p.FunctionCall.Name)
			s.w.out = append(s.w.out, `,"arguments":`...)
			s.w.out = appendJSONString(s.w.out, args)
			s.w.out = append(s.w.out, `}}]}`...)
			s.w.endChunk("")
			s.tools++
		case p.Text != "":
			s.w.textChunk(p.Text)
		}
	}
	if c.FinishReason != "" && !s.w.finished {
		s.w.finished = true
		s.w.chunk(`{}`, geminiFinishReason(c.FinishReason, s.toolSeen))
	}
	return nil
}
