package oaierr

import (
	"net/http"
	"strings"
)

// Format is the error shape a client reads: OpenAI's for every OpenAI-style
// endpoint, Anthropic's for a client speaking Anthropic's Messages API
// (`/v1/messages`), whose SDKs parse `{"type":"error","error":{"type","message"}}`.
type Format uint8

const (
	FormatOpenAI Format = iota
	FormatAnthropic
)

// FormatFor is the one place the client's error format is decided, from the
// client's request path (query ignored): both phases call it with the path
// the client sent, so every error a `/v1/messages` client gets, whoever
// answers it, is Anthropic's.
func FormatFor(path string) Format {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimSuffix(path, "/")
	if path == "/v1/messages" {
		return FormatAnthropic
	}
	return FormatOpenAI
}

// Render is the error's body in format f.
func (e *Error) Render(f Format) []byte {
	if f == FormatAnthropic {
		return AppendAnthropicErrorJSON(make([]byte, 0, 64+len(e.Message)), AnthropicType(e.Status, e.Type), e.Message)
	}
	return e.JSON()
}

// AnthropicType is Anthropic's error type for an error of this status and
// OpenAI type (Anthropic's documented set: invalid_request_error,
// authentication_error, permission_error, not_found_error,
// request_too_large, rate_limit_error, api_error, overloaded_error).
func AnthropicType(status int, openAIType string) string {
	switch openAIType {
	case "authentication_error", "permission_error", "not_found_error", "request_too_large",
		"rate_limit_error", "overloaded_error":
		return openAIType
	case "invalid_request_error":
		// OpenAI also types auth and not-found errors this way: the
		// status says more.
		if status == http.StatusBadRequest || status == 0 {
			return openAIType
		}
	}
	// api_error, server_error and anything else: the status decides.
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusServiceUnavailable || status == 529:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	default:
		return "invalid_request_error"
	}
}

// AppendAnthropicErrorJSON appends `{"type":"error","error":{"type","message"}}`.
func AppendAnthropicErrorJSON(dst []byte, typ, message string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = AppendString(dst, typ)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, message)
	return append(dst, "}}"...)
}
