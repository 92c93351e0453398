package bodyscan

import (
	"bytes"
	"math/bits"
	"unsafe"
)

// A walk over a body that is already known to be one valid JSON object:
// the router phase validated these exact bytes and Recall vouches for them
// (the handoff is keyed by the bytes themselves). Nothing is validated
// again; values are only skipped, with the validating pass's own stage 1
// (skipEnd): a string ends at its closing quote, a container at the
// bracket that brings its depth back to zero, both found among the
// block's tokens (outside strings, past escapes). A long string with
// escaped quotes goes to the string end kernel where there is one
// (stringRest). On bytes that are not
// valid JSON these functions return an *Error or meaningless spans, but
// they never panic or read out of range: callers must use them only for
// vouched bytes.

// WalkTrusted calls fn for each top-level member of body, in order, with
// its unescaped key (aliasing body unless it had escapes; valid only during
// the call) and its value's span body[vs:ve], as Walk does, for a body
// Recall vouched for. An error from fn ends the walk and is returned as is.
func WalkTrusted(body []byte, fn func(key string, vs, ve int) error) error {
	i := skipSpace(body, 0)
	if i >= len(body) {
		return &Error{Kind: Empty}
	}
	_, err := ObjectTrusted(body, i, fn)
	return err
}

// WalkTrustedKnown is WalkTrusted for a body whose member value starting
// at body[ks] is known to end at body[ke] (the Findings' messages span,
// most of a chat request): that value is jumped over, not skipped. A span
// that cannot be one of the body's values (out of range, not bracketed
// alike) is ignored; a wrong one that looks right is the caller's error,
// like any other unvouched bytes: meaningless spans, never a panic.
func WalkTrustedKnown(body []byte, ks, ke int, fn func(key string, vs, ve int) error) error {
	if ks < 0 || ke > len(body) || ke-ks < 2 || !(body[ks] == '[' && body[ke-1] == ']' || body[ks] == '{' && body[ke-1] == '}') {
		return WalkTrusted(body, fn)
	}
	i := skipSpace(body, 0)
	if i >= len(body) {
		return &Error{Kind: Empty}
	}
	_, err := objectTrusted(body, i, ks, ke, fn)
	return err
}

// ObjectTrusted is WalkTrusted for the object that starts at b[i], a value
// of a document known to be valid, and returns the offset after it: a
// walk over an array of objects reads each object once, its end found by
// walking its members (not by skipping it first).
func ObjectTrusted(b []byte, i int, fn func(key string, vs, ve int) error) (end int, err error) {
	return objectTrusted(b, i, -1, 0, fn)
}

// objectTrusted is ObjectTrusted knowing that a member value starting at
// b[ks] ends at b[ke] (ks -1: none known).
func objectTrusted(b []byte, i, ks, ke int, fn func(key string, vs, ve int) error) (end int, err error) {
	if i >= len(b) || b[i] != '{' {
		return 0, &Error{Kind: NotObject, Offset: i}
	}
	return trustedList(b, i, '}', func(i int) (int, error) {
		if b[i] != '"' {
			return 0, &Error{Kind: Invalid, Offset: i}
		}
		keyEnd, ok := trustedStringEnd(b, i)
		if !ok {
			return 0, &Error{Kind: Invalid, Offset: i}
		}
		key, err := trustedKey(b[i:keyEnd])
		if err != nil {
			return 0, &Error{Kind: Invalid, Offset: i}
		}
		if i = skipSpace(b, keyEnd); i >= len(b) || b[i] != ':' {
			return 0, &Error{Kind: Invalid, Offset: i}
		}
		vs := skipSpace(b, i+1)
		ve, ok := ke, true
		if vs != ks {
			ve, ok = trustedValueEnd(b, vs)
		}
		if !ok {
			return 0, &Error{Kind: Invalid, Offset: vs}
		}
		return ve, fn(key, vs, ve)
	})
}

// ElementsTrusted is Elements for an array of a document known to be
// valid (a value of a body Walk validated or Recall vouched for): the
// elements are skipped, strings by trustedStringEnd.
func ElementsTrusted(arr []byte, fn func(i, vs, ve int) error) error {
	return EachTrusted(arr, func(n, i int) (int, error) {
		ve, ok := trustedValueEnd(arr, i)
		if !ok {
			return 0, &Error{Kind: Invalid, Offset: i}
		}
		return ve, fn(n, i, ve)
	})
}

// EachTrusted calls fn with the index n and the offset i of each element
// of arr, an array of a document known to be valid; fn reads the element
// and returns the offset after it (ValueEndTrusted, or ObjectTrusted's
// end). An error from fn ends the walk and is returned as is.
func EachTrusted(arr []byte, fn func(n, i int) (end int, err error)) error {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return &Error{Kind: Invalid, Offset: i}
	}
	n := 0
	_, err := trustedList(arr, i, ']', func(i int) (int, error) {
		n++
		return fn(n-1, i)
	})
	return err
}

// ValueEndTrusted returns the offset after the value that starts at b[i],
// a value of a document known to be valid.
func ValueEndTrusted(b []byte, i int) (int, error) {
	end, ok := trustedValueEnd(b, i)
	if !ok {
		return 0, &Error{Kind: Invalid, Offset: i}
	}
	return end, nil
}

// trustedList walks the comma-separated items of the object or array whose
// opening bracket is b[open] and whose closing one is closer: item gets the
// offset of each item (not past the end of b) and returns the offset after
// it; an error from item ends the walk. It returns the offset after the
// closing bracket.
func trustedList(b []byte, open int, closer byte, item func(i int) (int, error)) (int, error) {
	i := skipSpace(b, open+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return 0, &Error{Kind: Invalid, Offset: i}
		}
		end, err := item(i)
		if err != nil {
			return 0, err
		}
		if end <= i || end > len(b) {
			return 0, &Error{Kind: Invalid, Offset: i}
		}
		if i = skipSpace(b, end); i >= len(b) {
			return 0, &Error{Kind: Invalid, Offset: i}
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case closer:
			return i + 1, nil
		default:
			return 0, &Error{Kind: Invalid, Offset: i}
		}
	}
}

// trustedKey is the unescaped key of the string literal lit: a view of
// body when it has no escapes.
func trustedKey(lit []byte) (string, error) {
	inner := lit[1 : len(lit)-1]
	if len(inner) == 0 {
		return "", nil
	}
	if bytes.IndexByte(inner, '\\') < 0 {
		return unsafe.String(&inner[0], len(inner)), nil
	}
	return decodeString(lit)
}

// trustedStringEnd returns the offset after the closing quote of the string
// starting at b[i] == '"'. The first quotes are found with IndexByte, each
// escaped when an odd run of backslashes precedes it (a string with few
// escaped quotes, most of them, costs a few IndexByte calls); past
// escapedQuotes of them, the rest of the string is skipped by blocks
// (stringRest: the string end kernel where there is one).
func trustedStringEnd(b []byte, i int) (int, bool) {
	j := i + 1
	for range escapedQuotes {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, false
		}
		q := j + k
		p := q - 1
		for p > i && b[p] == '\\' {
			p--
		}
		if (q-1-p)%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
	return stringRest(b, j)
}

// escapedQuotes is how many escaped quotes trustedStringEnd steps over one
// by one before it skips the rest of a string by blocks (stringRest): a
// prompt full of quoted code has one every few dozen bytes. Where there is
// a string end kernel, kernelQuotes. (A variable: tests set it to zero to
// skip every string by blocks.)
var escapedQuotes = 32

// containerEnd returns the offset after the object or array that starts at
// b[i]. Its first bytes are stepped through one by one (strings by
// trustedStringEnd): a small object (a message, a usage) ends before
// stage 1 would have classified its blocks; past byteWise bytes, the rest
// is skipped by blocks.
func containerEnd(b []byte, i int) (int, bool) {
	depth := 0
	for j := i; j < len(b); {
		if j-i > byteWise {
			return skipEnd(b, j, false, depth)
		}
		switch b[j] {
		case '"':
			end, ok := trustedStringEnd(b, j)
			if !ok {
				return 0, false
			}
			j = end
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return j + 1, true
			}
		}
		j++
	}
	return 0, false
}

// byteWise is how far containerEnd steps through a container byte by byte.
// (A variable: tests set it to zero to skip every container by blocks.)
var byteWise = 1024

// skipEnd returns the offset after the string or container that starts at
// b[i] ('"', '{' or '['), after the string b[i] is inside of (inStr, b[i]
// not escaped), or after the container b[i] is inside of at depth (b[i]
// outside strings), of a document known to be valid: stage 1 from b[i],
// block by block (the last one padded with spaces), its tokens read only
// for quotes and brackets. The first call covers two blocks, each next one
// twice as many up to a chunk: a message of a few hundred bytes is not
// skipped as a kilobyte. Not ok when the value does not end within b or
// stage 1 finds b is not JSON.
func skipEnd(b []byte, i int, inStr bool, depth int) (int, bool) {
	var (
		st  stage1State
		out [chunkBlocks]blockOut
		cls [chunkBlocks]blockClass
	)
	if i >= len(b) {
		return 0, false
	}
	str := inStr || depth == 0 && b[i] == '"'
	if inStr {
		st.str = ^uint64(0)
	}
	for base, want := i, 2; base < len(b); want = min(2*want, chunkBlocks) {
		src, n := b[base:], min((len(b)-base)/blockLen, want)
		if n == 0 {
			pad := spaceBlock
			copy(pad[:], src)
			src, n = pad[:], 1
		}
		done, _ := stage1(&st, &out, &cls, src, n)
		for k, o := range out[:done] {
			for t := o.tokens; t != 0; t &= t - 1 {
				p := base + k*blockLen + bits.TrailingZeros64(t)
				switch b[p] {
				case '"':
					if inStr || str && p > i {
						return p + 1, true
					}
				case '{', '[':
					depth++
				case '}', ']':
					if depth--; depth <= 0 {
						return p + 1, !str
					}
				}
			}
		}
		if done < n {
			return 0, false
		}
		base += n * blockLen
	}
	return 0, false
}

// trustedValueEnd returns the offset after the value starting at b[i].
func trustedValueEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return trustedStringEnd(b, i)
	case '{', '[':
		return containerEnd(b, i)
	default:
		// A number, true, false or null: up to the next delimiter.
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j, j > i
			}
			j++
		}
		return j, j > i
	}
}
