package translate

import (
	"errors"

	"github.com/aigw/aigw/internal/bodyscan"
)

// Top-level member access for the translators, through the one scanner both
// phases share (internal/bodyscan): passthrough translators find or rewrite
// "model" in place and the Anthropic translator checks every top-level key
// against its mapping table without a generic map decode.

var errBadJSON = errors.New("request body is not a valid JSON object")

// forEachMember calls fn for each top-level member of the object in b with
// the decoded key (valid only during the call) and the raw value's bounds,
// through the one top-level scanner both phases share (bodyscan.Walk), so a
// body is valid here exactly when the router phase finds it valid. A body
// that is not one valid JSON object is errBadJSON (before fn is called); a
// duplicate a lookup finds is bodyscan's Duplicate error.
func forEachMember(b []byte, fn func(key string, vs, ve int) error) error {
	return scanError(bodyscan.Walk(b, fn))
}

// memberWalk walks a body's top-level members: forEachMember, which
// validates the body, or trustedMembers, for a body the router phase
// validated.
type memberWalk func(b []byte, fn func(key string, vs, ve int) error) error

// trustedMembers is forEachMember for a body the router phase validated and
// bodyscan.Recall vouched for (RequestBodyScanned): it is not validated
// again, only walked (bodyscan.WalkTrusted).
func trustedMembers(b []byte, fn func(key string, vs, ve int) error) error {
	return scanError(bodyscan.WalkTrusted(b, fn))
}

// findMember returns the raw value bounds of top-level key, if present.
func findMember(b []byte, key string) (vs, ve int, found bool, err error) {
	vs, ve, found, err = bodyscan.Find(b, key)
	return vs, ve, found, scanError(err)
}

// scanError maps the scanner's verdict on a body to errBadJSON, keeping a
// Duplicate (it names the member) and errors of the caller's own.
func scanError(err error) error {
	if err == nil {
		return nil // without errors.As, whose target escapes: no allocation
	}
	var se *bodyscan.Error
	if errors.As(err, &se) && se.Kind != bodyscan.Duplicate {
		return errBadJSON
	}
	return err
}

// memberSet records which members of one object a walk has read, a bit
// each: the readers that decode in the walk instead of the decoder
// (request options, messages, tools, response top level and blocks) hand
// an object to the decoder when a member repeats or is of a shape they do
// not read exactly as it would.
type memberSet uint32

// take marks the member bit as read: errSlowMessage (the object goes to
// the decoder) when it was read already or ok is false; bit 0 is a member
// the reader ignores.
func (s *memberSet) take(bit uint32, ok bool) error {
	if !ok || uint32(*s)&bit != 0 {
		return errSlowMessage
	}
	*s |= memberSet(bit)
	return nil
}
