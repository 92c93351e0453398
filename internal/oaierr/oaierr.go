// Package oaierr is the one error shape aigw answers clients with: OpenAI's
// `{"error":{"message","type","param","code"}}`, so any OpenAI SDK surfaces
// gateway errors the same way it surfaces provider errors.
package oaierr

import (
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// Error is a client-facing error with the HTTP status it is answered with.
type Error struct {
	Status  int
	Message string
	Type    string // OpenAI's error type, e.g. "invalid_request_error"
	Param   string // the request member at fault, "" when none
	Code    string // machine-readable code, "" when none
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message)
}

// InvalidRequest is a 400 about one request member.
func InvalidRequest(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Message: fmt.Sprintf(format, args...)}
}

// New builds an error with an explicit status, type and code.
func New(status int, typ, code, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Code: code, Message: fmt.Sprintf(format, args...)}
}

// TypeForStatus is the OpenAI error type clients expect for a status.
func TypeForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusRequestEntityTooLarge:
		return "invalid_request_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// JSON renders the OpenAI error document. Hand-rolled so it never fails and
// costs one allocation; null is used for empty param/code as OpenAI does.
func (e *Error) JSON() []byte {
	typ := e.Type
	if typ == "" {
		typ = TypeForStatus(e.Status)
	}
	b := make([]byte, 0, 64+len(e.Message)+len(typ)+len(e.Param)+len(e.Code))
	b = append(b, `{"error":{"message":`...)
	b = AppendString(b, e.Message)
	b = append(b, `,"type":`...)
	b = AppendString(b, typ)
	b = append(b, `,"param":`...)
	b = appendNullable(b, e.Param)
	b = append(b, `,"code":`...)
	b = appendNullable(b, e.Code)
	b = append(b, "}}"...)
	return b
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return AppendString(b, s)
}

// AppendString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD so the output is always valid JSON whatever a client sent us.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// ContentLength is the header value for a body of n bytes.
func ContentLength(n int) string { return strconv.Itoa(n) }
