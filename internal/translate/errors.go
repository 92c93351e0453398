package translate

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/bytedance/sonic/decoder"

	"github.com/aigw/aigw/internal/oaierr"
)

// ErrorKind says whose fault a translation error is.
type ErrorKind uint8

const (
	// KindInvalid is a malformed client request (not JSON, wrong types,
	// values out of range): the client's error for every backend.
	KindInvalid ErrorKind = iota + 1
	// KindUnsupported is a request the target cannot express: a parameter
	// or value with no mapping in the provider's API, or an endpoint the
	// provider does not offer.
	KindUnsupported
	// KindProvider is a provider response the gateway cannot translate
	// (e.g. a content-encoding it cannot decode).
	KindProvider
)

// Error is every error a translator reports to its caller, whatever its
// kind. The caller answers the client with OpenAI() instead of sending the
// attempt upstream (or instead of the provider's response).
type Error struct {
	Kind    ErrorKind
	Status  int    // HTTP status for the client, 400 unless stated
	Param   string // offending request parameter, e.g. "n" or "messages[2].content[0]"
	Code    string // OpenAI-style error code, e.g. "unsupported_parameter"
	Message string
	// Reason, when set, is what the logs say instead of Message (Error()):
	// why a provider response cannot be translated, never its content and
	// never sent to the client.
	Reason string
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return "translate: " + e.Reason
	}
	if e.Param == "" {
		return "translate: " + e.Message
	}
	return "translate: " + e.Param + ": " + e.Message
}

// OpenAI is the client's error: the one place a translation error becomes
// OpenAI's error shape. A request the client or the target got wrong is an
// invalid_request_error; a provider response the gateway cannot translate
// is a server_error.
func (e *Error) OpenAI() *oaierr.Error {
	typ := "invalid_request_error"
	if e.Kind == KindProvider {
		typ = "server_error"
	}
	return &oaierr.Error{Status: e.Status, Type: typ, Param: e.Param, Code: e.Code, Message: e.Message}
}

// JSON renders the error as an OpenAI error body.
func (e *Error) JSON() []byte { return e.OpenAI().JSON() }

// AsError returns err's *Error of kind k, if it has one.
func AsError(err error, k ErrorKind) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) && e.Kind == k {
		return e, true
	}
	return nil, false
}

// unsupported is a KindUnsupported 400 about one parameter.
func unsupported(param, format string, args ...any) *Error {
	return &Error{Kind: KindUnsupported, Status: http.StatusBadRequest, Param: param, Code: "unsupported_parameter", Message: fmt.Sprintf(format, args...)}
}

// invalid is a KindInvalid 400 about one parameter.
func invalid(param, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Status: http.StatusBadRequest, Param: param, Code: "invalid_value", Message: fmt.Sprintf(format, args...)}
}

// AppendErrorJSON appends OpenAI's error document; see oaierr.AppendErrorJSON.
func AppendErrorJSON(dst []byte, message, typ, param, code string) []byte {
	return oaierr.AppendErrorJSON(dst, message, typ, param, code)
}

// CodeBadResponse is the OpenAI error code of a provider response the
// gateway cannot decode or translate (badResponse).
const CodeBadResponse = "bad_backend_response"

// badResponse is the KindProvider 502 for a provider response the gateway
// cannot translate: an undecodable or oversized gzip body, a 2xx body that
// does not parse, an SSE event over the cap. reason is for the logs
// (Error()); it must never quote the body, and the client's Message is
// generic. The caller answers 502 with OpenAI() when the response headers
// are still held (never the provider's status with an empty or error body),
// or ends a stream under way.
func badResponse(reason string) *Error {
	return &Error{
		Kind:    KindProvider,
		Status:  http.StatusBadGateway,
		Code:    CodeBadResponse,
		Message: "the backend sent a response the gateway cannot translate",
		Reason:  reason,
	}
}

// firstLine is the first line of an error text (a decoder error adds lines
// quoting the input, which must not reach the client).
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// decodeErrorAt says where a decoder stopped in a provider body (" at byte
// N"), never what it found there: a decoder's own message quotes the input.
func decodeErrorAt(err error) string {
	var se decoder.SyntaxError
	if errors.As(err, &se) {
		return " at byte " + strconv.Itoa(se.Pos)
	}
	return ""
}
