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

// Internal is a 500 for a failure of the gateway itself (a recovered panic),
// with a message that says nothing about its cause.
func Internal(message string) *Error {
	return &Error{Status: http.StatusInternalServerError, Type: "server_error", Code: "internal_error", Message: message}
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

// JSON renders the OpenAI error document.
func (e *Error) JSON() []byte {
	typ := e.Type
	if typ == "" {
		typ = TypeForStatus(e.Status)
	}
	return AppendErrorJSON(make([]byte, 0, 64+len(e.Message)+len(typ)+len(e.Param)+len(e.Code)), e.Message, typ, e.Param, e.Code)
}

// AppendErrorJSON appends `{"error":{"message","type","param","code"}}`.
// Hand-rolled so it never fails; an empty param or code is null, as OpenAI
// sends them.
func AppendErrorJSON(dst []byte, message, typ, param, code string) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = AppendString(dst, message)
	dst = append(dst, `,"type":`...)
	dst = AppendString(dst, typ)
	dst = append(dst, `,"param":`...)
	dst = appendNullable(dst, param)
	dst = append(dst, `,"code":`...)
	dst = appendNullable(dst, code)
	return append(dst, "}}"...)
}

func appendNullable(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return AppendString(dst, s)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal, copying unescaped runs
// whole. Invalid UTF-8 becomes U+FFFD so the output is always valid JSON
// whatever a client or provider sent.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendStringContents(dst, s)
	return append(dst, '"')
}

// AppendStringContents appends s escaped as AppendString does, without the
// quotes, so a string can be written in pieces (a joined text, a string
// copied from another JSON document).
func AppendStringContents(dst []byte, s string) []byte {
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
	return append(dst, s[start:]...)
}

// ContentLength is the header value for a body of n bytes.
func ContentLength(n int) string { return strconv.Itoa(n) }
