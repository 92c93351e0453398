package translate

import (
	"errors"

	"github.com/bytedance/sonic/encoder"

	"github.com/aigw/aigw/internal/bodyscan"
)

// Top-level member access for the translators, through the one scanner both
// phases share (internal/bodyscan): passthrough translators find or rewrite
// "model" in place and the Anthropic translator checks every top-level key
// against its mapping table without a generic map decode.

var errBadJSON = errors.New("request body is not a valid JSON object")

// encodeJSON encodes v into a buffer of sizeHint capacity: with a good hint
// the output is built in place, without sonic's pooled buffer and the copy
// out of it that Marshal makes.
func encodeJSON(v any, sizeHint int) ([]byte, error) {
	buf := make([]byte, 0, sizeHint)
	err := encoder.EncodeInto(&buf, v, encoder.ValidateString|encoder.NoEncoderNewline)
	return buf, err
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

// forEachMember calls fn for each top-level member of the object in b with
// the decoded key (valid only during the call) and the raw value's bounds,
// through the one top-level scanner both phases share (bodyscan.Walk), so a
// body is valid here exactly when the router phase finds it valid. A body
// that is not one valid JSON object is errBadJSON (before fn is called); a
// duplicate a lookup finds is bodyscan's Duplicate error.
func forEachMember(b []byte, fn func(key string, vs, ve int) error) error {
	return scanError(bodyscan.Walk(b, fn))
}

// findMember returns the raw value bounds of top-level key, if present.
func findMember(b []byte, key string) (vs, ve int, found bool, err error) {
	vs, ve, found, err = bodyscan.Find(b, key)
	return vs, ve, found, scanError(err)
}

// scanError maps the scanner's verdict on a body to errBadJSON, keeping a
// Duplicate (it names the member) and errors of the caller's own.
func scanError(err error) error {
	var se *bodyscan.Error
	if errors.As(err, &se) && se.Kind != bodyscan.Duplicate {
		return errBadJSON
	}
	return err
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
