// Package oaierr is the one error shape aigw answers clients with: OpenAI's
// `{"error":{"message","type","param","code"}}`, so any OpenAI SDK surfaces
// gateway errors the same way it surfaces provider errors.
package oaierr

import (
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf16"
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
	// Plain text is skipped a word at a time (plainWords) from the start
	// and after each byte or rune that is not plain ASCII, byte by byte
	// to the next one within a word.
	start := 0
	i := plainWords(s)
	if len(s)-i < 8 && len(s) >= 8 && plainWords(s[len(s)-8:]) == 8 {
		// Every word was plain and so is the tail, shorter than a word:
		// the last word (overlapping the one before) says so at once, not
		// byte by byte (an id, a model, a short text).
		return append(dst, s...)
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendASCII(dst, c)
			i++
			start = i
		} else if r, size := utf8.DecodeRuneInString(s[i:]); r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
		} else {
			i += size
		}
		i += plainWords(s[i:])
	}
	return append(dst, s[start:]...)
}

// ContentLength is the header value for a body of n bytes.
func ContentLength(n int) string { return strconv.Itoa(n) }

// AppendRawStringContents appends the contents of a JSON string literal,
// lit without its quotes, exactly as AppendStringContents appends the
// string lit decodes to (encoding/json's decoding: invalid UTF-8 and lone
// surrogate escapes become U+FFFD), in one pass and without decoding it:
// runs of bytes and the escapes the encoder writes itself (\" \\ \n \r \t)
// are copied as they are; other escapes (\/ \b \f, \u…) are rewritten in
// the encoder's form. lit comes from a document that encoding/json would
// accept; for any other bytes the output is still valid JSON string
// contents (a raw quote or control byte is escaped, a malformed escape's
// backslash is escaped), meaning unspecified.
func AppendRawStringContents(dst, lit []byte) []byte {
	// Plain text is skipped as in AppendStringContents.
	start := 0
	for i := plainWords(lit); i < len(lit); {
		c := lit[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			i++
			continue
		}
		next := i + 1
		var e byte // the escape letter, if c starts an escape
		if c == '\\' && i+1 < len(lit) {
			e = lit[i+1]
		}
		switch e {
		case '"', '\\', 'n', 'r', 't':
			// Already in the encoder's form.
			next = i + 2
		case '/', 'b', 'f':
			dst = append(dst, lit[start:i]...)
			dst = appendASCII(dst, unescapeShort(e))
			next, start = i+2, i+2
		case 'u':
			if r, n := unescapeU(lit[i:]); n > 0 {
				dst = append(dst, lit[start:i]...)
				if r < utf8.RuneSelf {
					dst = appendASCII(dst, byte(r))
				} else {
					dst = utf8.AppendRune(dst, r)
				}
				next, start = i+n, i+n
				break
			}
			fallthrough
		default:
			if c < utf8.RuneSelf {
				// A raw quote or control byte, or a malformed escape:
				// only in bytes no JSON decoder accepts; escaped like
				// a byte of a Go string.
				dst = append(dst, lit[start:i]...)
				dst = appendASCII(dst, c)
				start = next
			} else if r, size := utf8.DecodeRune(lit[i:]); r == utf8.RuneError && size == 1 {
				// Decoded, this byte is U+FFFD, which the encoder
				// writes as is.
				dst = append(dst, lit[start:i]...)
				dst = append(dst, "\uFFFD"...)
				start = next
			} else {
				next = i + size
			}
		}
		i = next + plainWords(lit[next:])
	}
	return append(dst, lit[start:]...)
}

// plainWords returns how many bytes at the start of s, in whole 8-byte
// words, are ASCII that is written as is (0x20 and up, not '"' nor '\\'),
// so the encoders copy a run of text a word at a time (SWAR: each test
// below is exact for the word as a whole).
func plainWords[T string | []byte](s T) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		q, b := w^(ones*'"'), w^(ones*'\\')
		// A byte 0x80 or above, below 0x20, or zero after the xor with
		// '"' or '\\' (the high bits of w are clear for the last three).
		if (w|(w-ones*0x20)&^w|(q-ones)&^q|(b-ones)&^b)&highs != 0 {
			break
		}
	}
	return i
}

// appendASCII appends the ASCII byte c as AppendStringContents does.
func appendASCII(dst []byte, c byte) []byte {
	switch {
	case c >= 0x20 && c != '"' && c != '\\':
		return append(dst, c)
	case c == '"' || c == '\\':
		return append(dst, '\\', c)
	case c == '\n':
		return append(dst, '\\', 'n')
	case c == '\r':
		return append(dst, '\\', 'r')
	case c == '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// unescapeShort is the byte a one-letter escape other than \" \\ \n \r \t
// stands for.
func unescapeShort(e byte) byte {
	switch e {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	}
	return '/'
}

// unescapeU decodes the \uXXXX escape at the start of b as encoding/json
// does: a high surrogate with a low one after it is one rune (12 bytes), a
// surrogate otherwise U+FFFD. n is 0 when b does not start with a valid
// \u escape.
func unescapeU(b []byte) (r rune, n int) {
	r = hex4(b)
	if r < 0 {
		return 0, 0
	}
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	if r2 := hex4(b[6:]); r2 >= 0 {
		if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
			return d, 12
		}
	}
	return utf8.RuneError, 6
}

// hex4 is the code unit of the \uXXXX escape at the start of b, or -1.
func hex4(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
