package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aigw/aigw/internal/bodyscan"
)

// anthropicStream converts Anthropic Messages SSE events into OpenAI
// chat.completion.chunk SSE lines:
//
//	message_start              -> first chunk, delta {"role":"assistant","content":""}
//	content_block_start (tool) -> tool_calls delta with index, id, type, name
//	content_block_delta text   -> delta {"content": text}
//	content_block_delta json   -> tool_calls delta with index and arguments
//	content_block_delta thinking -> delta {"reasoning_content": text}
//	message_delta              -> empty delta with finish_reason; usage recorded
//	message_stop               -> usage chunk (choices: []) if requested, then [DONE]
//	error                      -> OpenAI error object chunk, stream ends
//	ping, signatures, unknown  -> nothing
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
	ended        bool        // [DONE] sent: the stream is complete
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
	// data is only valid during this call: the texts are copied into the
	// output, and the two strings that are kept are cloned.
	if ev.read(data) != nil {
		s.fail("api_error", "the anthropic backend sent a malformed stream event")
		return nil
	}
	s.apply(ev)
	return nil
}

// apply translates one event read from the stream.
func (s *anthropicStream) apply(ev *anthStreamEvent) {
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
			if !emptyLiteral(ev.ContentBlock.Text) {
				s.rawStringChunk(`{"content":`, ev.ContentBlock.Text)
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
			if !emptyLiteral(ev.Delta.Text) {
				s.rawStringChunk(`{"content":`, ev.Delta.Text)
			}
		case "thinking_delta":
			if !emptyLiteral(ev.Delta.Thinking) {
				s.reasoningChunk(ev.Delta.Thinking) // anthropic_thinking.go
			}
		case "input_json_delta":
			idx, ok := s.toolIndex[ev.Index]
			if !ok || emptyLiteral(ev.Delta.PartialJSON) {
				return
			}
			s.beginChunk()
			s.out = append(s.out, `{"tool_calls":[{"index":`...)
			s.out = appendInt(s.out, int64(idx))
			s.out = append(s.out, `,"function":{"arguments":`...)
			s.out = appendRawJSONString(s.out, ev.Delta.PartialJSON)
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
}

// errMalformedEvent: an event's data is not JSON, or a member the
// translation reads has the wrong type.
var errMalformedEvent = errors.New("malformed anthropic stream event")

// read fills ev from data, one event's JSON, as decoding data into ev's
// members with encoding/json (or sonic) would, without decoding the rest
// (anthStreamEventOracle in the tests is that decode): the document is
// validated by bodyscan.Walk (encoding/json's verdict); a member read must
// have its type or be null, which leaves it as it was, except that a null
// usage count unsets it; of repeated members the last wins, repeated
// objects merge; keys are compared case-sensitively and unknown members
// ignored; a document that is just null is an event without members.
func (ev *anthStreamEvent) read(data []byte) error {
	*ev = anthStreamEvent{}
	err := bodyscan.Walk(data, func(key string, vs, ve int) error {
		lit := data[vs:ve]
		switch key {
		case "type":
			return readString(lit, &ev.Type)
		case "index":
			return readInt(lit, &ev.Index)
		case "message":
			m := &ev.Message
			return readObject(data, vs, func(key string, vs, ve int) error {
				switch key {
				case "id":
					return readString(data[vs:ve], &m.ID)
				case "model":
					return readString(data[vs:ve], &m.Model)
				case "usage":
					return readUsage(data, vs, &m.Usage, (*[4]int64)(ev.counts[:4]))
				}
				return nil
			})
		case "content_block":
			b := &ev.ContentBlock
			return readObject(data, vs, func(key string, vs, ve int) error {
				switch key {
				case "type":
					return readString(data[vs:ve], &b.Type)
				case "id":
					return readString(data[vs:ve], &b.ID)
				case "name":
					return readString(data[vs:ve], &b.Name)
				case "text":
					return readRawString(data[vs:ve], &b.Text)
				}
				return nil
			})
		case "delta":
			d := &ev.Delta
			if d.readWritten(lit) {
				return nil
			}
			return readObject(data, vs, func(key string, vs, ve int) error {
				switch key {
				case "type":
					return readString(data[vs:ve], &d.Type)
				case "text":
					return readRawString(data[vs:ve], &d.Text)
				case "partial_json":
					return readRawString(data[vs:ve], &d.PartialJSON)
				case "thinking":
					return readRawString(data[vs:ve], &d.Thinking)
				case "stop_reason":
					return readString(data[vs:ve], &d.StopReason)
				}
				return nil
			})
		case "usage":
			return readUsage(data, vs, &ev.Usage, (*[4]int64)(ev.counts[4:]))
		case "error":
			e := &ev.Error
			return readObject(data, vs, func(key string, vs, ve int) error {
				switch key {
				case "type":
					return readString(data[vs:ve], &e.Type)
				case "message":
					return readString(data[vs:ve], &e.Message)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil && bodyscan.IsKind(err, bodyscan.NotObject) && isNull(bytes.Trim(data, " \t\r\n")) {
		return nil
	}
	return err
}

// The delta objects of the commonest events as Anthropic writes them: the
// type, then the text, nothing else, no space.
const (
	textDeltaHead     = `{"type":"text_delta","text":`
	thinkingDeltaHead = `{"type":"thinking_delta","thinking":`
	jsonDeltaHead     = `{"type":"input_json_delta","partial_json":`
)

// readWritten reads lit, a delta object of a document Walk validated, when
// it is one of the deltas as Anthropic writes them (a head above, a
// string, '}'): its two members are then known without walking it, and
// they are what the walk would read (two members, no repeats). It reports
// whether lit was one of them.
func (d *anthStreamDelta) readWritten(lit []byte) bool {
	var typ string
	var text *[]byte
	var rest []byte
	switch {
	case bytes.HasPrefix(lit, []byte(textDeltaHead)):
		typ, text, rest = "text_delta", &d.Text, lit[len(textDeltaHead):]
	case bytes.HasPrefix(lit, []byte(thinkingDeltaHead)):
		typ, text, rest = "thinking_delta", &d.Thinking, lit[len(thinkingDeltaHead):]
	case bytes.HasPrefix(lit, []byte(jsonDeltaHead)):
		typ, text, rest = "input_json_delta", &d.PartialJSON, lit[len(jsonDeltaHead):]
	default:
		return false
	}
	if len(rest) < 3 || rest[0] != '"' {
		return false
	}
	end, err := bodyscan.ValueEndTrusted(rest, 0)
	if err != nil || end != len(rest)-1 {
		return false
	}
	d.Type, *text = typ, rest[:end]
	return true
}

// readObject walks the members of the object value at data[vs] (of a
// document Walk validated); null has none, any other value is the wrong
// type.
func readObject(data []byte, vs int, fn func(key string, vs, ve int) error) error {
	switch data[vs] {
	case 'n':
		return nil
	case '{':
		_, err := bodyscan.ObjectTrusted(data, vs, fn)
		return err
	}
	return errMalformedEvent
}

// readString sets *dst to the string the literal lit decodes to (aliasing
// lit unless it has escapes or invalid UTF-8); null leaves it.
func readString(lit []byte, dst *string) error {
	switch lit[0] {
	case 'n':
		return nil
	case '"':
		inner := lit[1 : len(lit)-1]
		if verbatim(inner) {
			*dst = aliasString(inner)
			return nil
		}
		// Rare: decoded as encoding/json decodes it (U+FFFD for invalid
		// UTF-8 and lone surrogates).
		var s string
		if json.Unmarshal(lit, &s) != nil {
			return errMalformedEvent
		}
		*dst = s
		return nil
	}
	return errMalformedEvent
}

// verbatim reports whether the contents of a string literal decode to
// themselves: no escape, valid UTF-8. A short one (a type, a stop reason,
// a model) is checked for ASCII without a backslash a word at a time
// (bodyscan.PlainASCII), cheaper than IndexByte's call for it; anything
// else by IndexByte and utf8.Valid.
func verbatim(inner []byte) bool {
	if len(inner) <= 32 && bodyscan.PlainASCII(inner) {
		return true
	}
	return bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner)
}

// readRawString sets *dst to the string literal lit as it is, for
// appendRawJSONString; null leaves it.
func readRawString(lit []byte, dst *[]byte) error {
	switch lit[0] {
	case 'n':
		return nil
	case '"':
		*dst = lit
		return nil
	}
	return errMalformedEvent
}

// readInt sets *dst to the integer lit; null leaves it. A fraction, an
// exponent or a number out of int's range is the wrong type, as for
// encoding/json.
func readInt(lit []byte, dst *int) error {
	if lit[0] == 'n' {
		return nil
	}
	n, err := readInteger(lit, strconv.IntSize)
	*dst = int(n)
	return err
}

// readInteger is the JSON number lit as an integer of bits bits; any other
// value is the wrong type.
func readInteger(lit []byte, bits int) (int64, error) {
	if c := lit[0]; c != '-' && (c < '0' || c > '9') {
		return 0, errMalformedEvent
	}
	if len(lit) == 1 && lit[0] != '-' {
		// One digit: an index, mostly.
		return int64(lit[0] - '0'), nil
	}
	n, err := strconv.ParseInt(aliasString(lit), 10, bits)
	if err != nil {
		return 0, errMalformedEvent
	}
	return n, nil
}

// readUsage reads the usage object at data[vs] into u, whose counts point
// into counts. A count that is null is unset.
func readUsage(data []byte, vs int, u *anthUsage, counts *[4]int64) error {
	return readObject(data, vs, func(key string, vs, ve int) error {
		var p **int64
		var c *int64
		switch key {
		case "input_tokens":
			p, c = &u.InputTokens, &counts[0]
		case "output_tokens":
			p, c = &u.OutputTokens, &counts[1]
		case "cache_creation_input_tokens":
			p, c = &u.CacheCreationInputTokens, &counts[2]
		case "cache_read_input_tokens":
			p, c = &u.CacheReadInputTokens, &counts[3]
		default:
			return nil
		}
		lit := data[vs:ve]
		if lit[0] == 'n' {
			*p = nil
			return nil
		}
		n, err := readInteger(lit, 64)
		if err != nil {
			return err
		}
		*c, *p = n, c
		return nil
	})
}

// emptyLiteral reports whether the raw string literal lit is absent or "".
func emptyLiteral(lit []byte) bool { return len(lit) <= 2 }

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
	s.done, s.ended = true, true
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

// rawStringChunk is stringChunk for a text that is still the raw JSON
// string literal lit.
func (s *anthropicStream) rawStringChunk(head string, lit []byte) {
	s.beginChunk()
	s.out = append(s.out, head...)
	s.out = appendRawJSONString(s.out, lit)
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
