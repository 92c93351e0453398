package translate

import (
	"strings"
)

// anthropicStream converts Anthropic Messages SSE events into OpenAI
// chat.completion.chunk SSE lines:
//
//	message_start              -> first chunk, delta {"role":"assistant","content":""}
//	content_block_start (tool) -> tool_calls delta with index, id, type, name
//	content_block_delta text   -> delta {"content": text}
//	content_block_delta json   -> tool_calls delta with index and arguments
//	message_delta              -> empty delta with finish_reason; usage recorded
//	message_stop               -> usage chunk (choices: []) if requested, then [DONE]
//	error                      -> OpenAI error object chunk, stream ends
//	ping, thinking, unknown    -> nothing
//
// Usage is always accumulated for accounting, whether or not the client asked
// for the usage chunk.
type anthropicStream struct {
	parser       sseParser
	out          []byte
	prefix       []byte // `data: {"id":…,"choices":[{"index":0,"delta":` shared by every chunk
	id, model    string
	created      int64
	includeUsage bool
	tokens       anthTokens
	toolIndex    map[int]int // Anthropic content block index -> OpenAI tool_calls index
	finished     bool        // finish_reason chunk sent
	done         bool        // [DONE] or an error chunk sent: later input is ignored
	ev           anthStreamEvent
}

func (s *anthropicStream) init(model string, includeUsage bool, maxEvent int) {
	s.model, s.includeUsage = model, includeUsage
	s.parser.max = maxEvent
}

// feed translates one chunk of the upstream stream. The returned slice is
// reused by the next call.
func (s *anthropicStream) feed(chunk []byte, eos bool) ([]byte, error) {
	s.out = s.out[:0]
	if s.done {
		return s.out, nil
	}
	err := s.parser.feed(chunk, eos, s.handle)
	if err == errEventTooLarge {
		// The handler never fails, so this is the cap: the stream ends for
		// the client with an error event now (the error is for the log),
		// and the parser has let go of its buffers.
		s.fail("api_error", s.parser.tooLargeMessage("the anthropic backend"))
		return s.out, err
	}
	if eos {
		s.end()
	}
	return s.out, err
}

// end is the upstream stream's end: [DONE] after a complete message whose
// message_stop is missing, an error event if the message was cut short.
func (s *anthropicStream) end() {
	if s.done {
		return
	}
	if s.finished {
		// message_stop missing but the message was complete.
		s.stop()
	} else {
		s.fail("api_error", "the anthropic stream ended before the message was complete")
	}
}

func (s *anthropicStream) handle(_, data []byte) error {
	if s.done {
		return nil
	}
	ev := &s.ev
	*ev = anthStreamEvent{}
	// data is only valid during this call: the strings decoded from it are
	// copied into the output, and the two that are kept are cloned.
	if err := jsonAPI.UnmarshalFromString(aliasString(data), ev); err != nil {
		s.fail("api_error", "the anthropic backend sent a malformed stream event")
		return nil
	}
	switch ev.Type {
	case "message_start":
		s.id = strings.Clone(ev.Message.ID)
		if ev.Message.Model != "" {
			s.model = strings.Clone(ev.Message.Model)
		}
		s.created = now().Unix()
		s.prefix = nil
		s.tokens.setModel(s.model)
		s.tokens.merge(&ev.Message.Usage)
		s.chunk(`{"role":"assistant","content":""}`, "")
	case "content_block_start":
		switch ev.ContentBlock.Type {
		case "text":
			if ev.ContentBlock.Text != "" {
				s.textChunk(ev.ContentBlock.Text)
			}
		case "tool_use":
			if s.toolIndex == nil {
				s.toolIndex = make(map[int]int, 2)
			}
			idx := len(s.toolIndex)
			s.toolIndex[ev.Index] = idx
			s.beginChunk()
			s.out = append(s.out, `{"tool_calls":[{"index":`...)
			s.out = appendInt(s.out, int64(idx))
			s.out = append(s.out, `,"id":`...)
			s.out = appendJSONString(s.out, ev.ContentBlock.ID)
			s.out = append(s.out, `,"type":"function","function":{"name":`...)
			s.out = appendJSONString(s.out, ev.ContentBlock.Name)
			s.out = append(s.out, `,"arguments":""}}]}`...)
			s.endChunk("")
		}
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
			if ev.Delta.Text != "" {
				s.textChunk(ev.Delta.Text)
			}
		case "input_json_delta":
			idx, ok := s.toolIndex[ev.Index]
			if !ok || ev.Delta.PartialJSON == "" {
				return nil
			}
			s.beginChunk()
			s.out = append(s.out, `{"tool_calls":[{"index":`...)
			s.out = appendInt(s.out, int64(idx))
			s.out = append(s.out, `,"function":{"arguments":`...)
			s.out = appendJSONString(s.out, ev.Delta.PartialJSON)
			s.out = append(s.out, `}}]}`...)
			s.endChunk("")
		}
	case "message_delta":
		s.tokens.merge(&ev.Usage)
		if ev.Delta.StopReason != "" && !s.finished {
			s.finished = true
			s.chunk(`{}`, finishReason(ev.Delta.StopReason))
		}
	case "message_stop":
		s.stop()
	case "error":
		typ, msg := ev.Error.Type, ev.Error.Message
		if typ == "" {
			typ = "api_error"
		}
		if msg == "" {
			msg = "the anthropic backend reported an error"
		}
		s.fail(typ, msg)
	}
	return nil
}

// stop ends the stream: a finish chunk if none was sent, the usage chunk if
// the client asked for it, then [DONE].
func (s *anthropicStream) stop() {
	if !s.finished {
		s.finished = true
		s.chunk(`{}`, "stop")
	}
	if s.includeUsage {
		s.ensurePrefix()
		// The prefix ends inside choices; the usage chunk has none, so its
		// head is rebuilt up to "choices".
		s.out = append(s.out, "data: "...)
		s.out = s.appendHead(s.out)
		s.out = append(s.out, `,"choices":[],"usage":`...)
		s.out = s.tokens.appendOpenAIUsage(s.out)
		s.out = append(s.out, "}\n\n"...)
	}
	s.out = append(s.out, "data: [DONE]\n\n"...)
	s.done = true
}

// fail emits an OpenAI error object as the last event; OpenAI SDKs raise it
// as a stream error.
func (s *anthropicStream) fail(typ, msg string) {
	s.out = append(s.out, "data: "...)
	s.out = AppendErrorJSON(s.out, msg, typ, "", "")
	s.out = append(s.out, "\n\n"...)
	s.done = true
}

func (s *anthropicStream) textChunk(text string) {
	s.stringChunk(`{"content":`, text)
}

// stringChunk emits a chunk whose delta is one string member (head is
// `{"member":`).
func (s *anthropicStream) stringChunk(head, text string) {
	s.beginChunk()
	s.out = append(s.out, head...)
	s.out = appendJSONString(s.out, text)
	s.out = append(s.out, '}')
	s.endChunk("")
}

// chunk emits a chunk with a literal delta object.
func (s *anthropicStream) chunk(delta, finish string) {
	s.beginChunk()
	s.out = append(s.out, delta...)
	s.endChunk(finish)
}

func (s *anthropicStream) appendHead(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, s.id)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = appendInt(dst, s.created)
	dst = append(dst, `,"model":`...)
	return appendJSONString(dst, s.model)
}

func (s *anthropicStream) ensurePrefix() {
	if s.prefix != nil {
		return
	}
	if s.created == 0 {
		// Content before message_start: a broken upstream, still answered
		// with well-formed chunks.
		s.created = now().Unix()
	}
	s.prefix = append(s.prefix, "data: "...)
	s.prefix = s.appendHead(s.prefix)
	s.prefix = append(s.prefix, `,"choices":[{"index":0,"delta":`...)
}

func (s *anthropicStream) beginChunk() {
	s.ensurePrefix()
	s.out = append(s.out, s.prefix...)
}

func (s *anthropicStream) endChunk(finish string) {
	s.out = append(s.out, `,"logprobs":null,"finish_reason":`...)
	s.out = appendJSONStringOrNull(s.out, finish)
	s.out = append(s.out, "}]}\n\n"...)
}
