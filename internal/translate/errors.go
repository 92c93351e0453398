package translate

import (
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"
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

// AppendErrorJSON appends {"error":{"message","type","param","code"}} to dst;
// empty param or code are written as null, as OpenAI does.
func AppendErrorJSON(dst []byte, message, typ, param, code string) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = appendJSONString(dst, message)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, typ)
	dst = append(dst, `,"param":`...)
	dst = appendJSONStringOrNull(dst, param)
	dst = append(dst, `,"code":`...)
	dst = appendJSONStringOrNull(dst, code)
	return append(dst, "}}"...)
}

func appendJSONStringOrNull(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD so
// the output is always valid JSON whatever a provider sent.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendInt appends a decimal integer.
func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }
