package translate

import (
	"strconv"
	"unsafe"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/decoder"
	"github.com/bytedance/sonic/encoder"

	"github.com/aigw/aigw/internal/oaierr"
)

// JSON helpers shared by every translator: the decoder/encoder configuration,
// zero-copy decoding and the append-style encoders used to write responses.

// jsonAPI decodes and encodes request/response structs. Strings are
// validated so a provider's invalid UTF-8 cannot produce invalid JSON, and
// keys are matched case-sensitively as the OpenAI and Anthropic APIs do.
var jsonAPI = sonic.Config{ValidateString: true, CaseSensitive: true, NoEncoderNewline: true}.Froze()

// elementDecoder decodes the elements of one array (messages, content
// parts) one after another with jsonAPI's options through one sonic
// decoder: jsonAPI.Unmarshal allocates a decoder per call, which for a
// conversation would be an allocation per message.
type elementDecoder struct{ d decoder.Decoder }

// jsonDecoderOptions are jsonAPI's decoder options (its Config above).
const jsonDecoderOptions = decoder.OptionValidateString | decoder.OptionCaseSensitive

// decode decodes the JSON document s into v, as jsonAPI.UnmarshalFromString
// does. Strings in v alias s as they do there.
func (e *elementDecoder) decode(s []byte, v any) error {
	e.d.Reset(aliasString(s))
	e.d.SetOptions(jsonDecoderOptions)
	if err := e.d.Decode(v); err != nil {
		return err
	}
	return e.d.CheckTrailings()
}

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

// appendRawJSONString appends the string literal lit, raw from a document
// Walk validated (quotes included), as appendJSONString appends the string
// it decodes to, without decoding it.
func appendRawJSONString(dst, lit []byte) []byte {
	dst = append(dst, '"')
	dst = oaierr.AppendRawStringContents(dst, lit[1:len(lit)-1])
	return append(dst, '"')
}

// appendJSONStringOrNull appends s, or null when it is empty.
func appendJSONStringOrNull(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return oaierr.AppendString(dst, s)
}

// appendInt appends a decimal integer.
func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

// encodeJSON encodes v into a buffer of sizeHint capacity: with a good hint
// the output is built in place, without sonic's pooled buffer and the copy
// out of it that Marshal makes.
func encodeJSON(v any, sizeHint int) ([]byte, error) {
	return appendJSON(make([]byte, 0, sizeHint), v)
}

// appendJSON appends v's encoding to dst.
func appendJSON(dst []byte, v any) ([]byte, error) {
	err := encoder.EncodeInto(&dst, v, encoder.ValidateString|encoder.NoEncoderNewline)
	return dst, err
}

// rawJSON holds a raw JSON value during one decode. Unlike json.RawMessage
// it does not copy: it aliases the decoder's input (sonic passes a view of
// the source), so it is only valid while that input is, which is the
// duration of one translation call.
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// rawString decodes a raw JSON string value; ok is false for other types.
// A string without escapes aliases raw: clone it before keeping it.
func rawString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' || c < 0x20 {
			var s string
			if err := jsonAPI.Unmarshal(raw, &s); err != nil {
				return "", false
			}
			return s, true
		}
	}
	return aliasString(inner), true
}

// isNull reports whether a raw JSON value is the literal null.
func isNull(raw []byte) bool { return string(raw) == "null" }
