package translate

import "strings"

// messagesStream converts an OpenAI chat.completion.chunk stream into
// Anthropic's Messages event sequence:
//
//	first chunk            -> message_start (usage zero until the end)
//	delta.content          -> content_block_start text (once per block), content_block_delta text_delta
//	delta.tool_calls[i]    -> content_block_stop of the open block, content_block_start tool_use
//	                          (id, name), then content_block_delta input_json_delta per arguments piece
//	finish_reason          -> content_block_stop of the open block; stop reason kept
//	usage chunk            -> usage kept
//	[DONE] / end of stream -> message_delta (stop_reason, usage), message_stop
//	error object           -> event: error, the stream ends
//
// The front door always asks for the usage chunk (stream_options), so
// message_delta carries the real counts.
type messagesStream struct {
	parser    sseParser
	out       []byte
	id, model string
	started   bool
	open      bool   // a content block is open
	openTool  int    // OpenAI tool_calls index of the open tool_use block, -1 for text
	index     int    // Anthropic index of the next content block
	stop      string // Anthropic stop_reason once a finish_reason came
	usage     Usage
	done      bool // message_stop or an error event sent: later input is ignored
	ended     bool // message_stop sent: the stream is complete
	ev        chatChunk
}

func (s *messagesStream) init(model string, maxEvent int) {
	s.model = model
	s.parser.max = maxEvent
	s.openTool = -1
}

func (s *messagesStream) feed(chunk []byte, eos bool) ([]byte, error) {
	s.out = s.out[:0]
	if s.done {
		return s.out, nil
	}
	err := s.parser.feed(chunk, eos, s.handle)
	if err == errEventTooLarge {
		s.fail("api_error", s.parser.tooLargeMessage("the backend"))
		return s.out, err
	}
	if eos && !s.done {
		if s.stop != "" {
			s.finish() // [DONE] missing but the message was complete
		} else {
			s.fail("api_error", "the backend's stream ended before the message was complete")
		}
	}
	return s.out, err
}

func (s *messagesStream) handle(_, data []byte) error {
	if s.done {
		return nil
	}
	if isDone(data) {
		s.finish()
		return nil
	}
	ev := &s.ev
	*ev = chatChunk{}
	if err := jsonAPI.UnmarshalFromString(aliasString(data), ev); err != nil {
		s.fail("api_error", "the backend sent a malformed stream event")
		return nil
	}
	if ev.Error != nil {
		msg := ev.Error.Message
		if msg == "" {
			msg = "the backend reported an error"
		}
		s.fail(anthropicStreamErrorType(ev.Error.Type), msg)
		return nil
	}
	s.begin(ev)
	if ev.Usage != nil {
		s.usage = usageFromOpenAI(ev.Usage, s.model)
	}
	for i := range ev.Choices {
		c := &ev.Choices[i]
		if t := c.Delta.Content; t != nil && *t != "" {
			s.text(*t)
		} else if t := c.Delta.Refusal; t != nil && *t != "" {
			s.text(*t)
		}
		for j := range c.Delta.ToolCalls {
			tc := &c.Delta.ToolCalls[j]
			if tc.ID != "" || (s.openTool != tc.Index) {
				s.closeBlock()
				s.out = append(s.out, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
				s.out = appendInt(s.out, int64(s.index))
				s.out = append(s.out, `,"content_block":{"type":"tool_use","id":`...)
				s.out = appendJSONString(s.out, tc.ID)
				s.out = append(s.out, `,"name":`...)
				s.out = appendJSONString(s.out, tc.Function.Name)
				s.out = append(s.out, ",\"input\":{}}}\n\n"...)
				s.open, s.openTool = true, tc.Index
			}
			if tc.Function.Arguments != "" {
				s.delta(`{"type":"input_json_delta","partial_json":`, tc.Function.Arguments)
			}
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			s.closeBlock()
			s.stop = stopReason(*c.FinishReason)
		}
	}
	return nil
}

// anthropicStreamErrorType is the Anthropic type for an OpenAI error type
// seen mid-stream (no status there).
func anthropicStreamErrorType(openAIType string) string {
	switch openAIType {
	case "invalid_request_error", "rate_limit_error", "overloaded_error", "authentication_error", "permission_error":
		return openAIType
	}
	return "api_error"
}

// begin emits message_start once.
func (s *messagesStream) begin(ev *chatChunk) {
	if s.started {
		return
	}
	s.started = true
	s.id = strings.Clone(ev.ID)
	if ev.Model != "" {
		s.model = strings.Clone(ev.Model)
	}
	s.out = append(s.out, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	s.out = appendJSONString(s.out, s.id)
	s.out = append(s.out, `,"type":"message","role":"assistant","model":`...)
	s.out = appendJSONString(s.out, s.model)
	s.out = append(s.out, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	s.out = appendAnthropicUsage(s.out, Usage{})
	s.out = append(s.out, "}}\n\n"...)
}

func (s *messagesStream) text(t string) {
	if !s.open || s.openTool != -1 {
		s.closeBlock()
		s.out = append(s.out, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
		s.out = appendInt(s.out, int64(s.index))
		s.out = append(s.out, ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"...)
		s.open, s.openTool = true, -1
	}
	s.delta(`{"type":"text_delta","text":`, t)
}

// delta emits a content_block_delta for the open block; head is the delta
// object up to its string value.
func (s *messagesStream) delta(head, value string) {
	s.out = append(s.out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	s.out = appendInt(s.out, int64(s.index))
	s.out = append(s.out, `,"delta":`...)
	s.out = append(s.out, head...)
	s.out = appendJSONString(s.out, value)
	s.out = append(s.out, "}}\n\n"...)
}

func (s *messagesStream) closeBlock() {
	if !s.open {
		return
	}
	s.out = append(s.out, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	s.out = appendInt(s.out, int64(s.index))
	s.out = append(s.out, "}\n\n"...)
	s.open, s.openTool = false, -1
	s.index++
}

// finish ends the message: message_delta with the stop reason and usage,
// then message_stop.
func (s *messagesStream) finish() {
	if !s.started {
		s.fail("api_error", "the backend's stream ended without a message")
		return
	}
	s.closeBlock()
	stop := s.stop
	if stop == "" {
		stop = "end_turn"
	}
	s.out = append(s.out, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"...)
	s.out = appendJSONString(s.out, stop)
	s.out = append(s.out, `,"stop_sequence":null},"usage":`...)
	s.out = appendAnthropicUsage(s.out, s.usage)
	s.out = append(s.out, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	s.done, s.ended = true, true
}

// fail ends the stream with Anthropic's error event, which its SDKs raise.
func (s *messagesStream) fail(typ, msg string) {
	s.out = append(s.out, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"...)
	s.out = appendJSONString(s.out, typ)
	s.out = append(s.out, `,"message":`...)
	s.out = appendJSONString(s.out, msg)
	s.out = append(s.out, "}}\n\n"...)
	s.done = true
}
