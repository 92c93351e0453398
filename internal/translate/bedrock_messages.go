package translate

import (
	"net/http"
	"strings"

	"github.com/aigw/aigw/internal/oaierr"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// The Anthropic Messages front door to Claude on Bedrock: a client speaking
// Anthropic's /v1/messages reaches an aws_bedrock_anthropic backend with only
// the host's rewrites. The request body keeps every member but "model" (it
// goes into the path, overridden as configured) and "stream" (the path
// chooses streaming), and gains "anthropic_version"; the plain response is
// Anthropic's own and passes unchanged; a stream's event stream frames
// become Anthropic's SSE events (event: <type>, data: <event>); Bedrock's
// errors ({"message"} with the status, or exception frames) become
// Anthropic's error format, {"type":"error","error":{"type","message"}}.

type bedrockMessages struct {
	target Target
	host   *claudeHost

	status int
	mode   ResponseMode
	gz     *gzipDecoder // a gzip-encoded response's decoder (body.go), else nil
	acc    accumulator
	frames bedrockFrames
	usage  anthropicUsageScanner
	tokens Usage
	out    []byte
	event  []byte
	done   bool // message_stop or an error event passed: later input is ignored
	ended  bool // message_stop passed: the stream is complete
}

func (b *bedrockMessages) RequestBody(body []byte) (RequestResult, error) {
	type member struct {
		key    string
		vs, ve int
	}
	var (
		kept   []member
		model  string
		stream bool
	)
	err := forEachMember(body, func(key string, vs, ve int) error {
		switch key {
		case "model":
			s, ok := rawString(body[vs:ve])
			if !ok {
				return invalid("model", "model must be a string")
			}
			model = s
		case "stream":
			stream = string(body[vs:ve]) == "true"
		case "anthropic_version":
			// The host's version replaces the client's.
		default:
			kept = append(kept, member{key, vs, ve})
		}
		return nil
	})
	if err == errBadJSON {
		return RequestResult{}, invalid("", "%s", err.Error())
	}
	if err != nil {
		return RequestResult{}, err
	}
	upstream := b.target.ResolveModel(model)
	if upstream == "" {
		return RequestResult{}, invalid("model", "model is required")
	}
	path, err := b.host.modelPath(upstream, stream)
	if err != nil {
		return RequestResult{}, err
	}
	buf := bodyBuffer(len(body) + len(b.host.version) + 32)
	nb := append(*buf, `{"anthropic_version":`...)
	nb = appendJSONString(nb, b.host.version)
	for _, m := range kept {
		nb = append(nb, ',')
		nb = appendJSONString(nb, m.key)
		nb = append(nb, ':')
		nb = append(nb, body[m.vs:m.ve]...)
	}
	nb = append(nb, '}')
	res := RequestResult{
		Path:          path,
		Headers:       []Header{{Key: "content-type", Value: "application/json"}},
		RemoveHeaders: []string{"accept-encoding"},
		Model:         strings.Clone(upstream),
		RequestModel:  strings.Clone(model),
		Stream:        stream,
	}
	res.setBody(buf, nb)
	return res, nil
}

func (b *bedrockMessages) ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error) {
	// accept-encoding was removed, but a proxy in between may still gzip:
	// decoded as on every other path (bounded by max_decoded_response_bytes).
	coding := parseContentEncoding(contentEncoding)
	if coding == codingOther {
		return ResponseMode{}, &Error{
			Kind:    KindProvider,
			Status:  http.StatusBadGateway,
			Code:    "unsupported_content_encoding",
			Message: "the bedrock backend answered with a content-encoding the gateway cannot decode",
		}
	}
	b.status = status
	switch {
	case !isSuccess(status):
		b.mode = ResponseMode{Error: true, BufferBody: true, ModifiesBody: true, ContentType: "application/json"}
	case isAWSEventStream(contentType):
		b.mode = ResponseMode{Stream: true, ModifiesBody: true, ContentType: "text/event-stream"}
		b.frames.max, b.frames.on = b.target.Limits.eventBytes(), true
	default:
		b.mode = ResponseMode{BufferBody: true}
	}
	if coding == codingGzip {
		b.gz = newGzipDecoder(b.target.Limits.decodedBytes())
		b.mode.RemoveContentEncoding, b.mode.ModifiesBody = true, true
	}
	return b.mode, nil
}

// StreamEnded reports whether the stream's message_stop went out
// (StreamEnder).
func (b *bedrockMessages) StreamEnded() bool { return b.ended }

func (b *bedrockMessages) ResponseBody(chunk []byte, eos bool) ([]byte, Usage, error) {
	switch {
	case b.mode.Stream:
		b.out = b.out[:0]
		if b.done {
			return b.out, b.tokens, nil
		}
		frameErr, gzErr := b.frames.feedCoded(b.gz, chunk, eos, b.frame)
		switch {
		case frameErr != nil:
			if !b.done {
				b.fail("api_error", "the bedrock backend sent a malformed event stream")
			}
			return b.out, b.tokens, badResponse("bedrock event stream: " + frameErr.Error())
		case gzErr != nil:
			if !b.done {
				b.fail("api_error", "the bedrock backend's gzip stream could not be decoded")
			}
			return b.out, b.tokens, gzErr
		}
		if eos && !b.done {
			b.fail("api_error", "the bedrock stream ended before the message was complete")
		}
		return b.out, b.tokens, nil
	}
	if b.gz != nil {
		plain, err := b.gz.decode(chunk, eos)
		if err != nil {
			return nil, b.tokens, err // buffered: the caller answers 502
		}
		chunk = plain
	}
	switch {
	case b.mode.Error:
		whole, ok := b.acc.add(chunk, eos)
		if !ok {
			return nil, Usage{}, nil
		}
		return bedrockAnthropicError(b.status, whole), Usage{}, nil
	default:
		whole, ok := b.acc.add(chunk, eos)
		if !ok {
			return nil, b.tokens, nil
		}
		b.usage.body(whole, &b.tokens)
		return whole, b.tokens, nil
	}
}

// frame re-emits a chunk's Anthropic event as SSE.
func (b *bedrockMessages) frame(m *eventstream.Message) error {
	if b.done {
		return nil
	}
	switch messageHeader(m, ":message-type") {
	case "event":
		if messageHeader(m, ":event-type") != "chunk" {
			return nil
		}
		ev, ok := bedrockChunk(m, &b.event)
		var typ string
		if ok {
			if ts, te, found, err := findMember(ev, "type"); err == nil && found {
				typ, _ = rawString(ev[ts:te])
			}
		}
		if typ == "" || strings.ContainsAny(typ, "\r\n") {
			b.fail("api_error", "the bedrock backend sent a malformed stream chunk")
			return nil
		}
		b.out = append(b.out, "event: "...)
		b.out = append(b.out, typ...)
		b.out = append(b.out, "\ndata: "...)
		// Line breaks in valid JSON are whitespace between tokens: one
		// data line carries the whole event.
		start := len(b.out)
		b.out = append(b.out, ev...)
		for i := start; i < len(b.out); i++ {
			if b.out[i] == '\n' || b.out[i] == '\r' {
				b.out[i] = ' '
			}
		}
		b.out = append(b.out, "\n\n"...)
		b.usage.event(ev, &b.tokens)
		if typ == "message_stop" || typ == "error" {
			b.done = true
			b.ended = typ == "message_stop"
		}
	case "exception":
		b.fail(anthropicErrorTypeForException(messageHeader(m, ":exception-type")), bedrockExceptionMessage(m))
	case "error":
		b.fail("api_error", "the bedrock backend ended the stream with an error: "+firstLine(messageHeader(m, ":error-message")))
	}
	return nil
}

// fail ends the stream with Anthropic's error event.
func (b *bedrockMessages) fail(typ, msg string) {
	b.out = append(b.out, "event: error\ndata: "...)
	b.out = oaierr.AppendAnthropicErrorJSON(b.out, typ, msg)
	b.out = append(b.out, "\n\n"...)
	b.done = true
}

// bedrockAnthropicError is a Bedrock error body ({"message"}) in Anthropic's
// error format, typed by status as Anthropic types its own.
func bedrockAnthropicError(status int, body []byte) []byte {
	var e struct {
		Message string `json:"message"`
	}
	msg := "the bedrock backend returned HTTP " + http.StatusText(status)
	if jsonAPI.UnmarshalFromString(aliasString(body), &e) == nil && e.Message != "" {
		msg = firstLine(e.Message)
	}
	// Typed by status as Anthropic types its own (one formatter:
	// oaierr's, as every other Anthropic-format error).
	return oaierr.AppendAnthropicErrorJSON(nil, oaierr.AnthropicType(status, ""), msg)
}

// anthropicErrorTypeForException maps a Bedrock stream exception to
// Anthropic's error type.
func anthropicErrorTypeForException(exception string) string {
	switch strings.ToLower(exception) {
	case "throttlingexception", "servicequotaexceededexception":
		return "rate_limit_error"
	case "validationexception":
		return "invalid_request_error"
	case "serviceunavailableexception", "modelnotreadyexception":
		return "overloaded_error"
	}
	return "api_error"
}
