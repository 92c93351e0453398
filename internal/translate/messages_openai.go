package translate

import (
	"net/http"
)

// The Anthropic Messages front door to OpenAI-style backends: a client on
// /v1/messages reaches an `openai` or `azure_openai` backend through
// translation both ways. The request becomes an OpenAI chat request
// (messages_openai_request.go); the chat.completion becomes an Anthropic
// message and the chunk stream Anthropic's event sequence
// (messages_openai_response.go, messages_openai_stream.go); provider errors
// become Anthropic errors with their status kept.

type messagesToOpenAI struct {
	target Target
	// path builds the upstream chat completions path from the model.
	path func(model string) string
	// modelInPath: the model is an Azure deployment segment.
	modelInPath bool

	model     string
	mode      ResponseMode
	coding    contentCoding
	gz        *gzipDecoder
	acc       accumulator
	stream    messagesStream
	tokens    Usage
	errStatus int
}

func newMessagesToOpenAI(t Target, path func(model string) string, modelInPath bool) *messagesToOpenAI {
	return &messagesToOpenAI{target: t, path: path, modelInPath: modelInPath}
}

func (m *messagesToOpenAI) ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error) {
	m.coding = parseContentEncoding(contentEncoding)
	if m.coding == codingOther {
		return ResponseMode{}, &Error{
			Kind:    KindProvider,
			Status:  http.StatusBadGateway,
			Code:    "unsupported_content_encoding",
			Message: "the backend answered with a content-encoding the gateway cannot decode",
		}
	}
	m.mode = ResponseMode{ModifiesBody: true, RemoveContentEncoding: m.coding == codingGzip}
	if m.coding == codingGzip {
		m.gz = newGzipDecoder(m.target.Limits.decodedBytes())
	}
	switch {
	case !isSuccess(status):
		m.mode.Error, m.mode.BufferBody, m.mode.ContentType = true, true, "application/json"
	case isEventStream(contentType):
		m.mode.Stream, m.mode.ContentType = true, "text/event-stream"
		m.stream.init(m.model, m.target.Limits.eventBytes())
	default:
		m.mode.BufferBody, m.mode.ContentType = true, "application/json"
	}
	m.errStatus = status
	return m.mode, nil
}

// StreamEnded reports whether the translated stream's message_stop went
// out (StreamEnder).
func (m *messagesToOpenAI) StreamEnded() bool { return m.mode.Stream && m.stream.ended }

func (m *messagesToOpenAI) ResponseBody(chunk []byte, eos bool) ([]byte, Usage, error) {
	if m.coding == codingGzip {
		plain, err := m.gz.decode(chunk, eos)
		if err != nil {
			if !m.mode.Stream {
				return nil, m.tokens, err
			}
			out, _ := m.stream.feed(plain, false)
			if !m.stream.done {
				m.stream.fail("api_error", "the backend's gzip stream could not be decoded")
				out = m.stream.out
			}
			return out, m.stream.usage, err
		}
		chunk = plain
	}
	switch {
	case m.mode.Stream:
		out, err := m.stream.feed(chunk, eos)
		return out, m.stream.usage, err
	case m.mode.Error:
		whole, ok := m.acc.add(chunk, eos)
		if !ok {
			return nil, Usage{}, nil
		}
		return anthropicErrorFromOpenAI(m.errStatus, whole), Usage{}, nil
	default:
		whole, ok := m.acc.add(chunk, eos)
		if !ok {
			return nil, Usage{}, nil
		}
		out, err := m.translateCompletion(whole)
		return out, m.tokens, err
	}
}
