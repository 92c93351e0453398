package bodyscan

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/aigw/aigw/bench"
)

// The trusted walk as it was before Object and Array (callbacks at every
// level), kept as the reference the loops are checked against
// (TestTrustedLoopsMatchCallbacks, FuzzWalkTrusted).

// oldWalkTrusted calls fn for each top-level member of body, in order, with
// its unescaped key (aliasing body unless it had escapes; valid only during
// the call) and its value's span body[vs:ve], as Walk does, for a body
// Recall vouched for. An error from fn ends the walk and is returned as is.
func oldWalkTrusted(body []byte, fn func(key string, vs, ve int) error) error {
	i := skipSpace(body, 0)
	if i >= len(body) {
		return &Error{Kind: Empty}
	}
	_, err := oldObjectTrusted(body, i, fn)
	return err
}

// oldWalkTrustedKnown is oldWalkTrusted for a body whose member value starting
// at body[ks] is known to end at body[ke] (the Findings' messages span,
// most of a chat request): that value is jumped over, not skipped. A span
// that cannot be one of the body's values (out of range, not bracketed
// alike) is ignored; a wrong one that looks right is the caller's error,
// like any other unvouched bytes: meaningless spans, never a panic.
func oldWalkTrustedKnown(body []byte, ks, ke int, fn func(key string, vs, ve int) error) error {
	if ks < 0 || ke > len(body) || ke-ks < 2 || !(body[ks] == '[' && body[ke-1] == ']' || body[ks] == '{' && body[ke-1] == '}') {
		return oldWalkTrusted(body, fn)
	}
	i := skipSpace(body, 0)
	if i >= len(body) {
		return &Error{Kind: Empty}
	}
	_, err := oldObjectTrustedKnown(body, i, ks, ke, fn)
	return err
}

// oldObjectTrusted is oldWalkTrusted for the object that starts at b[i], a value
// of a document known to be valid, and returns the offset after it: a
// walk over an array of objects reads each object once, its end found by
// walking its members (not by skipping it first).
func oldObjectTrusted(b []byte, i int, fn func(key string, vs, ve int) error) (end int, err error) {
	return oldObjectTrustedKnown(b, i, -1, 0, fn)
}

// oldObjectTrusted is oldObjectTrusted knowing that a member value starting at
// b[ks] ends at b[ke] (ks -1: none known).
func oldObjectTrustedKnown(b []byte, i, ks, ke int, fn func(key string, vs, ve int) error) (end int, err error) {
	if i >= len(b) || b[i] != '{' {
		return 0, &Error{Kind: NotObject, Offset: i}
	}
	return oldTrustedList(b, i, '}', func(i int) (int, error) {
		if b[i] != '"' {
			return 0, &Error{Kind: Invalid, Offset: i}
		}
		// A key's end as the loops find it (trustedKeyEnd, checked against
		// trustedStringEnd by checkKeyEnds): on bytes that are not JSON,
		// stage 1's skip (blocksOnly) may fail where the word-wise end
		// answers, so the reference takes the same end.
		keyEnd, _, ok := trustedKeyEnd(b, i)
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

// oldElementsTrusted is Elements for an array of a document known to be
// valid (a value of a body Walk validated or Recall vouched for): the
// elements are skipped, strings by trustedStringEnd.
func oldElementsTrusted(arr []byte, fn func(i, vs, ve int) error) error {
	return oldEachTrusted(arr, func(n, i int) (int, error) {
		ve, ok := trustedValueEnd(arr, i)
		if !ok {
			return 0, &Error{Kind: Invalid, Offset: i}
		}
		return ve, fn(n, i, ve)
	})
}

// oldEachTrusted calls fn with the index n and the offset i of each element
// of arr, an array of a document known to be valid; fn reads the element
// and returns the offset after it (ValueEndTrusted, or oldObjectTrusted's
// end). An error from fn ends the walk and is returned as is.
func oldEachTrusted(arr []byte, fn func(n, i int) (end int, err error)) error {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return &Error{Kind: Invalid, Offset: i}
	}
	n := 0
	_, err := oldTrustedList(arr, i, ']', func(i int) (int, error) {
		n++
		return fn(n-1, i)
	})
	return err
}

// oldTrustedList walks the comma-separated items of the object or array whose
// opening bracket is b[open] and whose closing one is closer: item gets the
// offset of each item (not past the end of b) and returns the offset after
// it; an error from item ends the walk. It returns the offset after the
// closing bracket.
func oldTrustedList(b []byte, open int, closer byte, item func(i int) (int, error)) (int, error) {
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

// errStop is a reader's own error that ends a walk.
var errStop = fmt.Errorf("stop")

// trace records a walk: each call with its arguments, then the answer
// (an *Error by kind and offset).
func trace(calls []string, end int, err error) string {
	var e *Error
	if errors.As(err, &e) {
		return fmt.Sprintf("%v end %d error %d@%d", calls, end, e.Kind, e.Offset)
	}
	return fmt.Sprintf("%v end %d %v", calls, end, err)
}

// memberTrace is a walk with callback fn(stopAt) that records each member
// and returns errStop at the stopAt-th (never when negative).
func memberTrace(walk func(fn func(string, int, int) error) (int, error), stopAt int) string {
	var calls []string
	end, err := walk(func(k string, vs, ve int) error {
		calls = append(calls, fmt.Sprintf("%q:%d-%d", k, vs, ve))
		if len(calls)-1 == stopAt {
			return errStop
		}
		return nil
	})
	return trace(calls, end, err)
}

// compareTrustedLoops checks that the loops (Object, Array and the
// functions built on them) answer on body exactly as the callbacks did:
// the same calls in the same order, the same end, the same error, on any
// bytes (valid or not) and for readers that stop or return nonsense.
func compareTrustedLoops(t *testing.T, body []byte) {
	t.Helper()
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s on %q:\n got %s\nwant %s", what, body, got, want)
		}
	}
	for stop := -1; stop < 3; stop++ {
		walk := func(w func([]byte, func(string, int, int) error) error) func(fn func(string, int, int) error) (int, error) {
			return func(fn func(string, int, int) error) (int, error) { return 0, w(body, fn) }
		}
		check("WalkTrusted", memberTrace(walk(WalkTrusted), stop), memberTrace(walk(oldWalkTrusted), stop))
		for _, k := range [][2]int{{0, len(body)}, {1, len(body) - 1}, {len(body) / 3, len(body) / 2}, {-1, 2}, {2, 1}} {
			known := func(w func([]byte, int, int, func(string, int, int) error) error) func(fn func(string, int, int) error) (int, error) {
				return func(fn func(string, int, int) error) (int, error) { return 0, w(body, k[0], k[1], fn) }
			}
			check("WalkTrustedKnown", memberTrace(known(WalkTrustedKnown), stop), memberTrace(known(oldWalkTrustedKnown), stop))
		}
	}
	for i, c := range body {
		switch c {
		case '{':
			for stop := -1; stop < 2; stop++ {
				obj := func(w func([]byte, int, func(string, int, int) error) (int, error)) func(fn func(string, int, int) error) (int, error) {
					return func(fn func(string, int, int) error) (int, error) { return w(body, i, fn) }
				}
				check("ObjectTrusted", memberTrace(obj(ObjectTrusted), stop), memberTrace(obj(oldObjectTrusted), stop))
			}
		case '[':
			arr := body[i:]
			elems := func(w func([]byte, func(int, int, int) error) error) string {
				var calls []string
				err := w(arr, func(n, vs, ve int) error {
					calls = append(calls, fmt.Sprintf("%d:%d-%d", n, vs, ve))
					if n == 1 {
						return errStop
					}
					return nil
				})
				return trace(calls, 0, err)
			}
			check("ElementsTrusted", elems(ElementsTrusted), elems(oldElementsTrusted))
			// Readers that find the end, return nonsense or stop.
			for _, read := range []func(n, i int) (int, error){
				func(_, i int) (int, error) { return ValueEndTrusted(arr, i) },
				func(_, i int) (int, error) { return -1, nil },
				func(_, i int) (int, error) { return len(arr) + 1, nil },
				func(_, i int) (int, error) { return i + 1, nil },
				func(n, i int) (int, error) {
					if n == 2 {
						return 0, errStop
					}
					return ObjectTrusted(arr, i, func(string, int, int) error { return nil })
				},
			} {
				each := func(w func([]byte, func(int, int) (int, error)) error) string {
					var calls []string
					err := w(arr, func(n, i int) (int, error) {
						calls = append(calls, fmt.Sprintf("%d@%d", n, i))
						return read(n, i)
					})
					return trace(calls, 0, err)
				}
				check("EachTrusted", each(EachTrusted), each(oldEachTrusted))
			}
			// A loop that leaves the end to Next skips each element as
			// ElementsTrusted does.
			var calls []string
			a := ArrayAt(arr)
			for a.Next() {
				calls = append(calls, fmt.Sprintf("%d@%d", a.Index(), a.At()))
			}
			var want []string
			werr := oldEachTrusted(arr, func(n, i int) (int, error) {
				want = append(want, fmt.Sprintf("%d@%d", n, i))
				return ValueEndTrusted(arr, i)
			})
			check("Array without SetEnd", trace(calls, 0, a.Err()), trace(want, 0, werr))
		}
	}
}

// The loops answer as the callbacks did: on the trusted bodies, the
// garbage, and the bench bodies, with strings and containers skipped both
// ways.
func TestTrustedLoopsMatchCallbacks(t *testing.T) {
	bodies := append([]string{}, trustedBodies...)
	bodies = append(bodies, ``, ` `, `[]`, `"x"`, `{`, `{"`, `{"a`, `{"a"`, `{"a":`, `{"a":"`, `{"a":"\"}`, `{"a":[`,
		`{"a":{"b":1`, `{"a":1`, `{"a":1,`, `{"a":1 x`, `{"a"1}`, `{a:1}`, `{"a":}`, `{"a":]}`, `{"\\`, `[`, `["`, `[1`,
		`[1,`, `[1 x]`, `[1,]`, `[,1]`, `[{"a":1} {"b":2}]`, `{"a":1,,"b":2}`, `{"a":1,}`, `{"k\u00":1}`, `{"a" 1}`,
		`[{"a":[1,2]},{"b":"]"},3,"x"]`, `{"a":[{"b":{"c":[{}]}}],"d":{"e":[[],{}]}}`)
	// Keys around trustedKeyEnd's byte loop limit: escapes and quotes on
	// both sides of it, cut keys.
	for n := shortKey - 3; n <= shortKey+3; n++ {
		k := strings.Repeat("k", n)
		bodies = append(bodies, `{"`+k+`":1,"b":2}`, `{"`+k+`\"x":1}`, `{"`+k+`\\":[1]}`, `{"`+k+`\u00e9":{"a":"`+k+`"}}`,
			`{"`+strings.Repeat(`\\`, n/2)+`":1}`, `{"`+k+`\`, `{"`+k, `{"`+k+`"`, `{"`+k+`\"`)
	}
	for _, size := range []int{1 << 10, 8 << 10} {
		bodies = append(bodies, string(bench.ChatBody(size)), string(LargeChatBody(size, true)))
	}
	for _, b := range bodies {
		checkKeyEnds(t, []byte(b))
		compareTrustedLoops(t, []byte(b))
		blocksOnly(func() { compareTrustedLoops(t, []byte(b)) })
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

// checkKeyEnds: at every quote of body, trustedKeyEnd answers as
// trustedStringEnd with IndexByte does (the kernel or IndexByte, which
// read quotes and backslashes only, on any bytes), escaped when the key
// has a backslash.
func checkKeyEnds(t *testing.T, body []byte) {
	t.Helper()
	for i, c := range body {
		if c != '"' {
			continue
		}
		end, escaped, ok := trustedKeyEnd(body, i)
		want, wok := trustedStringEnd(body, i)
		if ok != wok || ok && (end != want || escaped != (bytes.IndexByte(body[i+1:end-1], '\\') >= 0)) {
			t.Fatalf("trustedKeyEnd(%q, %d) = %d %v %v, trustedStringEnd %d %v", body, i, end, escaped, ok, want, wok)
		}
	}
}
