package translate

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/aigw/aigw/internal/oaierr"
)

// UnsupportedError reports a request the target cannot express: a parameter
// or value with no mapping in the provider's API, or an endpoint the
// provider does not offer. The caller answers the client with Status and
// JSON() instead of sending the attempt upstream.
type UnsupportedError struct {
	Status  int    // HTTP status for the client, 400 unless stated
	Param   string // offending request parameter, e.g. "n" or "messages[2].content[0]"
	Code    string // OpenAI-style error code, e.g. "unsupported_parameter"
	Message string
}

func (e *UnsupportedError) Error() string {
	if e.Param == "" {
		return "translate: " + e.Message
	}
	return "translate: " + e.Param + ": " + e.Message
}

// JSON renders the error as an OpenAI error body.
func (e *UnsupportedError) JSON() []byte {
	return AppendErrorJSON(nil, e.Message, "invalid_request_error", e.Param, e.Code)
}

// InvalidRequestError reports a malformed client request (not JSON, wrong
// types, values out of range) found while translating it.
type InvalidRequestError struct {
	Status  int
	Param   string
	Code    string
	Message string
}

func (e *InvalidRequestError) Error() string {
	if e.Param == "" {
		return "translate: " + e.Message
	}
	return "translate: " + e.Param + ": " + e.Message
}

// JSON renders the error as an OpenAI error body.
func (e *InvalidRequestError) JSON() []byte {
	return AppendErrorJSON(nil, e.Message, "invalid_request_error", e.Param, e.Code)
}

func unsupported(param, format string, args ...any) *UnsupportedError {
	return &UnsupportedError{Status: http.StatusBadRequest, Param: param, Code: "unsupported_parameter", Message: fmt.Sprintf(format, args...)}
}

func invalid(param, format string, args ...any) *InvalidRequestError {
	return &InvalidRequestError{Status: http.StatusBadRequest, Param: param, Code: "invalid_value", Message: fmt.Sprintf(format, args...)}
}

// AppendErrorJSON appends OpenAI's error document; see oaierr.AppendErrorJSON.
func AppendErrorJSON(dst []byte, message, typ, param, code string) []byte {
	return oaierr.AppendErrorJSON(dst, message, typ, param, code)
}

// appendJSONString appends s as a JSON string (oaierr's encoder: one for the
// whole gateway).
func appendJSONString(dst []byte, s string) []byte { return oaierr.AppendString(dst, s) }

// appendJSONStringOrNull appends s, or null when it is empty.
func appendJSONStringOrNull(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return oaierr.AppendString(dst, s)
}

// appendInt appends a decimal integer.
func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

// BadResponseError reports a provider response the gateway cannot
// translate: an undecodable or oversized gzip body, a 2xx body that does not
// parse. The caller answers 502 with an OpenAI error when the response
// headers are still held (never the provider's status with an empty or
// error body), or ends a stream under way.
type BadResponseError struct {
	Reason string // for logs: never the body's content
}

func (e *BadResponseError) Error() string { return "translate: " + e.Reason }
