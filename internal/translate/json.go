package translate

import (
	"strconv"
	"unsafe"

	"github.com/bytedance/sonic"

	"github.com/aigw/aigw/internal/oaierr"
)

// JSON helpers shared by every translator: the decoder/encoder configuration,
// zero-copy decoding and the append-style encoders used to write responses.

// jsonAPI decodes and encodes request/response structs. Strings are
// validated so a provider's invalid UTF-8 cannot produce invalid JSON, and
// keys are matched case-sensitively as the OpenAI and Anthropic APIs do.
var jsonAPI = sonic.Config{ValidateString: true, CaseSensitive: true, NoEncoderNewline: true}.Froze()

// aliasString views b as a string without copying. Decoding through it makes
// sonic's strings point into b, which is only valid during the call: nothing
// decoded this way may be retained (retained values are cloned).
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
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
