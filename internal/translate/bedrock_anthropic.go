package translate

import (
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// OpenAI chat completions -> Claude on Amazon Bedrock (InvokeModel and
// InvokeModelWithResponseStream). The body is Anthropic's Messages request
// (anthropic_request.go) without "model" and "stream", with
// "anthropic_version": "bedrock-2023-05-31"; the model id or
// inference-profile ARN is one percent-encoded path segment:
//
//	POST {prefix}/model/{model}/invoke                       plain
//	POST {prefix}/model/{model}/invoke-with-response-stream  streamed
//
// A plain response is Anthropic's message JSON; a streamed one is
// application/vnd.amazon.eventstream frames (bedrock_eventstream.go) whose
// "chunk" events carry Anthropic's stream events base64-encoded, translated
// by the Anthropic stream translator. Bedrock's errors are {"message"} JSON
// with the status; in a stream, exception frames.

// DefaultBedrockAnthropicVersion is the body's anthropic_version on Bedrock.
const DefaultBedrockAnthropicVersion = "bedrock-2023-05-31"

func init() {
	register(SchemaAWSBedrockAnthropic, newBedrockAnthropic)
}

func newBedrockAnthropic(t Target, ep endpoint) (Translator, error) {
	// Configured model ids are checked at load.
	for _, m := range t.ModelOverride {
		if _, err := escapedPathSegment("model_override", m); err != nil {
			return nil, err
		}
	}
	if t.DefaultModel != "" {
		if _, err := escapedPathSegment("model_override", t.DefaultModel); err != nil {
			return nil, err
		}
	}
	version := t.APIVersion
	if version == "" {
		version = DefaultBedrockAnthropicVersion
	}
	host := bedrockClaudeHost(t.PathPrefix, version)
	if ep.kind == endpointMessages {
		return &bedrockMessages{target: t, host: host}, nil
	}
	if ep.kind != endpointChatCompletions {
		return nil, &Error{
			Kind:    KindUnsupported,
			Status:  http.StatusBadRequest,
			Code:    "unsupported_endpoint",
			Message: "endpoint " + ep.suffix + " is not supported by an aws_bedrock_anthropic backend; use /v1/chat/completions or /v1/messages",
		}
	}
	return &bedrockAnthropic{anthropicTranslator: anthropicTranslator{
		target: t,
		host:   host,
	}}, nil
}

// bedrockClaudeHost is Bedrock's value of the Claude host hook
// (anthropic.go): the model id or ARN as one percent-encoded segment,
// streaming chosen by the action alone (Bedrock refuses "stream" in the
// body).
func bedrockClaudeHost(prefix, version string) *claudeHost {
	return &claudeHost{version: version, streamInPath: true, modelPath: func(model string, stream bool) (string, error) {
		seg, err := escapedPathSegment("model", model)
		if err != nil {
			return "", err
		}
		action := "/invoke"
		if stream {
			action = "/invoke-with-response-stream"
		}
		return joinPath(prefix, "/model/"+seg+action), nil
	}}
}

// bedrockAnthropic is the Anthropic translator with Bedrock's path, body
// version, errors and event stream.
type bedrockAnthropic struct {
	anthropicTranslator
	frames bedrockFrames
	event  []byte // a chunk's decoded Anthropic event, reused
}

func (b *bedrockAnthropic) ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error) {
	return b.bedrockResponseHeaders(&b.frames, status, contentType, contentEncoding)
}

// bedrockResponseHeaders is ResponseHeaders for both Bedrock translators: a
// 2xx AWS event stream becomes an SSE stream decoded frame by frame (frames),
// anything else is the Anthropic translator's.
func (a *anthropicTranslator) bedrockResponseHeaders(frames *bedrockFrames, status int, contentType, contentEncoding string) (ResponseMode, error) {
	mode, err := a.ResponseHeaders(status, contentType, contentEncoding)
	if err == nil && isSuccess(status) && isAWSEventStream(contentType) {
		mode.Stream, mode.BufferBody, mode.ContentType = true, false, "text/event-stream"
		a.mode = mode
		a.stream = new(anthropicStream)
		a.stream.init(a.model, a.includeUsage, a.target.Limits.eventBytes())
		frames.max, frames.on = a.target.Limits.eventBytes(), true
	}
	return mode, err
}

func (b *bedrockAnthropic) ResponseBody(chunk []byte, eos bool) ([]byte, Usage, error) {
	switch {
	case b.mode.Error:
		return b.bedrockError(chunk, eos)
	case b.frames.on:
		return b.bedrockStream(&b.frames, chunk, eos, b.frame)
	}
	return b.anthropicTranslator.ResponseBody(chunk, eos)
}

// bedrockWhole collects a buffered Bedrock body, gzip-decoded (bounded)
// when it is encoded; ok once it is complete.
func (a *anthropicTranslator) bedrockWhole(chunk []byte, eos bool) (whole []byte, ok bool, err error) {
	if a.coding == codingGzip {
		if chunk, err = a.gz.decode(chunk, eos); err != nil {
			return nil, false, err
		}
	}
	whole, ok = a.acc.add(chunk, eos)
	return whole, ok, nil
}

// bedrockError is a Bedrock error response ({"message": "..."}) as an
// OpenAI error; the status is kept.
func (a *anthropicTranslator) bedrockError(chunk []byte, eos bool) ([]byte, Usage, error) {
	whole, ok, err := a.bedrockWhole(chunk, eos)
	if !ok {
		return nil, Usage{}, err
	}
	return openAIErrorJSON(a.errStatus, whole), Usage{}, nil
}

// bedrockStream translates a chunk of an event stream (gzip-encoded or
// not) frame by frame with frame, for both Bedrock chat translators.
func (a *anthropicTranslator) bedrockStream(frames *bedrockFrames, chunk []byte, eos bool, frame func(*eventstream.Message) error) ([]byte, Usage, error) {
	s := a.stream
	s.out = s.out[:0]
	if s.done {
		return s.out, s.tokens.usage(), nil
	}
	var gz *gzipDecoder
	if a.coding == codingGzip {
		gz = a.gz
	}
	frameErr, gzErr := frames.feedCoded(gz, chunk, eos, frame)
	switch {
	case frameErr != nil:
		if !s.done {
			s.fail("api_error", "the bedrock backend sent a malformed event stream")
		}
		return s.out, s.tokens.usage(), badResponse("bedrock event stream: " + frameErr.Error())
	case gzErr != nil:
		if !s.done {
			s.fail("api_error", "the bedrock backend's gzip stream could not be decoded")
		}
		return s.out, s.tokens.usage(), gzErr
	}
	if eos {
		s.end()
	}
	return s.out, s.tokens.usage(), nil
}

// frame handles one decoded event stream message: a chunk's Anthropic event
// goes to the stream translator; an exception ends the stream with its
// message.
func (b *bedrockAnthropic) frame(m *eventstream.Message) error {
	s := b.stream
	if s.done {
		return nil
	}
	switch messageHeader(m, ":message-type") {
	case "event":
		if messageHeader(m, ":event-type") != "chunk" {
			return nil
		}
		ev, ok := bedrockChunk(m, &b.event)
		if !ok {
			s.fail("api_error", "the bedrock backend sent a malformed stream chunk")
			return nil
		}
		return s.handle(nil, ev)
	case "exception":
		s.fail(bedrockErrorType(messageHeader(m, ":exception-type")), bedrockExceptionMessage(m))
	case "error":
		s.fail("api_error", "the bedrock backend ended the stream with an error: "+firstLine(messageHeader(m, ":error-message")))
	}
	return nil
}

// bedrockExceptionMessage is an exception frame's {"message"}, or its type.
func bedrockExceptionMessage(m *eventstream.Message) string {
	var e struct {
		Message string `json:"message"`
	}
	if jsonAPI.Unmarshal(m.Payload, &e) == nil && e.Message != "" {
		return firstLine(e.Message)
	}
	return "the bedrock backend ended the stream with " + messageHeader(m, ":exception-type")
}

// bedrockErrorType maps Bedrock's exception names to OpenAI error types.
func bedrockErrorType(exception string) string {
	switch strings.ToLower(exception) {
	case "throttlingexception", "servicequotaexceededexception":
		return "rate_limit_error"
	case "validationexception":
		return "invalid_request_error"
	}
	return "api_error"
}

// messageHeader is a string header of an event stream message, or "".
func messageHeader(m *eventstream.Message, name string) string {
	if v := m.Headers.Get(name); v != nil {
		if s, ok := v.(eventstream.StringValue); ok {
			return string(s)
		}
	}
	return ""
}

// isAWSEventStream reports application/vnd.amazon.eventstream.
func isAWSEventStream(contentType string) bool {
	return isMediaType(contentType, "application/vnd.amazon.eventstream")
}
