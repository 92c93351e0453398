package translate

import (
	"errors"

	"github.com/bytedance/sonic/encoder"
)

// The scanner below walks the top level of a JSON object without decoding
// it, so passthrough translators can find or rewrite "model" in place and
// the Anthropic translator can check every top-level key against its
// mapping table without a generic map decode.

var errBadJSON = errors.New("request body is not a valid JSON object")

// errStop ends a forEachMember walk early.
var errStop = errors.New("stop")

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

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errBadJSON
}

// skipValue returns the index after the JSON value starting at b[i]
// (whitespace already skipped). Containers are matched by depth; scalars by
// their character class. It checks structure, not full JSON grammar: the
// consumer of the body validates the rest.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errBadJSON
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errBadJSON
	default:
		start := i
		for i < len(b) {
			c := b[i]
			if c == ',' || c == '}' || c == ']' || isSpace(c) {
				break
			}
			i++
		}
		if i == start {
			return 0, errBadJSON
		}
		return i, nil
	}
}

// forEachMember calls fn for each top-level member of the object in b with
// the decoded key and the raw value's bounds. A key containing escapes is
// decoded; plain keys alias b.
func forEachMember(b []byte, fn func(key string, vs, ve int) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errBadJSON
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		if skipSpace(b, i+1) != len(b) {
			return errBadJSON
		}
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errBadJSON
		}
		ke, err := skipString(b, i)
		if err != nil {
			return err
		}
		key, err := memberKey(b[i:ke])
		if err != nil {
			return err
		}
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return errBadJSON
		}
		vs := skipSpace(b, i+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return err
		}
		if err := fn(key, vs, ve); err != nil {
			return err
		}
		i = skipSpace(b, ve)
		if i >= len(b) {
			return errBadJSON
		}
		if b[i] == '}' {
			if skipSpace(b, i+1) != len(b) {
				return errBadJSON
			}
			return nil
		}
		if b[i] != ',' {
			return errBadJSON
		}
		i = skipSpace(b, i+1)
	}
}

func memberKey(quoted []byte) (string, error) {
	raw := quoted[1 : len(quoted)-1]
	for _, c := range raw {
		if c == '\\' {
			var s string
			if err := jsonAPI.Unmarshal(quoted, &s); err != nil {
				return "", errBadJSON
			}
			return s, nil
		}
	}
	return string(raw), nil
}

// findMember returns the raw value bounds of top-level key, if present.
func findMember(b []byte, key string) (vs, ve int, found bool, err error) {
	err = forEachMember(b, func(k string, s, e int) error {
		if k == key {
			vs, ve, found = s, e, true
			return errStop
		}
		return nil
	})
	if err == errStop {
		err = nil
	}
	return vs, ve, found, err
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
