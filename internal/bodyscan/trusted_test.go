package bodyscan

import (
	"fmt"
	"strings"
	"testing"
)

type span struct {
	key    string
	vs, ve int
}

func walkSpans(walk func([]byte, func(string, int, int) error) error, body []byte) ([]span, error) {
	var out []span
	err := walk(body, func(k string, vs, ve int) error {
		out = append(out, span{strings.Clone(k), vs, ve})
		return nil
	})
	return out, err
}

func elementSpans(elems func([]byte, func(int, int, int) error) error, arr []byte) ([]span, error) {
	var out []span
	err := elems(arr, func(i, vs, ve int) error {
		out = append(out, span{fmt.Sprint(i), vs, ve})
		return nil
	})
	return out, err
}

// trustedBodies are valid bodies whose strings end in every way the
// trusted skip must get right: escaped quotes after backslash runs of
// both parities, brackets and quotes inside strings, escaped keys.
var trustedBodies = []string{
	`{}`,
	` { } `,
	`{"a":1}`,
	`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`,
	`{"a":"\\","b":"\\\\","c":"\"","d":"\\\"","e":"x\\\\\"y"}`,
	`{"a":"}]{[","b":{"c":["]","}",{"d":"\"}"}]},"e":[]}`,
	"{\n  \"a\" : [ 1 , -2.5e3 , true , false , null ] ,\n  \"b\" : { }\n}\n",
	`{"mod\u0065l":"x","k\"ey":[{"x":"\u00e9\ud83d\ude00"}]}`,
	`{"a":[[[[]]]],"b":[{},{}],"c":""}`,
	`{"messages":[{"role":"assistant","content":"C:\\path\\","tool_calls":[{"id":"1","function":{"arguments":"{\"q\":\"\\\\\"}"}}]}]}`,
}

// WalkTrusted finds on a valid body exactly the members Walk finds, and
// ElementsTrusted exactly the elements Elements finds.
func TestWalkTrustedMatchesWalk(t *testing.T) {
	for _, b := range trustedBodies {
		checkTrusted(t, []byte(b))
	}
}

func checkTrusted(t *testing.T, body []byte) {
	t.Helper()
	want, werr := walkSpans(Walk, body)
	if werr != nil {
		t.Fatalf("%q is not valid: %v", body, werr)
	}
	got, err := walkSpans(WalkTrusted, body)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("WalkTrusted(%q) = %v %v, Walk %v", body, got, err, want)
	}
	for _, m := range want {
		v := body[m.vs:m.ve]
		if v[0] == '{' || v[0] == '[' {
			// Knowing a container member's span (the findings' messages)
			// changes nothing but the work.
			known := func(b []byte, fn func(string, int, int) error) error { return WalkTrustedKnown(b, m.vs, m.ve, fn) }
			if got, err := walkSpans(known, body); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("WalkTrustedKnown(%q, %d, %d) = %v %v, Walk %v", body, m.vs, m.ve, got, err, want)
			}
		}
		if v[0] == '{' {
			// An object's walk ends where Walk's span of it ends.
			end, err := ObjectTrusted(body, m.vs, func(string, int, int) error { return nil })
			if err != nil || end != m.ve {
				t.Fatalf("ObjectTrusted(%q at %d) = %d %v, want end %d", body, m.vs, end, err, m.ve)
			}
		}
		if end, err := ValueEndTrusted(body, m.vs); err != nil || end != m.ve {
			t.Fatalf("ValueEndTrusted(%q at %d) = %d %v, want %d", body, m.vs, end, err, m.ve)
		}
		if v[0] != '[' {
			continue
		}
		we, werr := elementSpans(Elements, v)
		ge, gerr := elementSpans(ElementsTrusted, v)
		if (werr == nil) != (gerr == nil) || fmt.Sprint(ge) != fmt.Sprint(we) {
			t.Fatalf("ElementsTrusted(%q) = %v %v, Elements %v %v", v, ge, gerr, we, werr)
		}
	}
}

// On bytes nobody validated the trusted walk may return anything but an
// answer: no panic, no read out of range, no endless loop.
func TestWalkTrustedGarbage(t *testing.T) {
	for _, b := range []string{
		``, ` `, `[]`, `"x"`, `{`, `{"`, `{"a`, `{"a"`, `{"a":`, `{"a":"`, `{"a":"\"}`, `{"a":[`, `{"a":{"b":1`,
		`{"a":1`, `{"a":1,`, `{"a":1 x`, `{"a"1}`, `{a:1}`, `{"a":}`, `{"a":]}`, `{"\\`, `[`, `["`, `[1`, `[1,`, `[1 x]`,
	} {
		_, _ = walkSpans(WalkTrusted, []byte(b))
		_, _ = elementSpans(ElementsTrusted, []byte(b))
		_, _ = ObjectTrusted([]byte(b), 0, func(string, int, int) error { return nil })
		_, _ = ValueEndTrusted([]byte(b), 0)
		// Spans nobody found: out of range, inverted, not a container.
		for _, k := range [][2]int{{-1, 2}, {0, len(b) + 1}, {2, 1}, {0, len(b)}, {1, len(b)}, {len(b), len(b)}} {
			_, _ = walkSpans(func(b []byte, fn func(string, int, int) error) error { return WalkTrustedKnown(b, k[0], k[1], fn) }, []byte(b))
		}
		// A reader that returns nonsense ends the walk, not the process.
		_ = EachTrusted([]byte(b), func(int, int) (int, error) { return -1, nil })
	}
	if _, err := walkSpans(WalkTrusted, []byte(`[]`)); !IsKind(err, NotObject) {
		t.Errorf("array: %v, want NotObject", err)
	}
	if _, err := walkSpans(WalkTrusted, []byte(`  `)); !IsKind(err, Empty) {
		t.Errorf("blank: %v, want Empty", err)
	}
}

func FuzzWalkTrusted(f *testing.F) {
	for _, b := range trustedBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// Whatever the bytes, no panic; on a valid body, Walk's answer.
		_, _ = walkSpans(WalkTrusted, body)
		_, _ = elementSpans(ElementsTrusted, body)
		// A known span that is wrong for these bytes (findings of other
		// bodies) yields nonsense, never a panic.
		for _, k := range [][2]int{{0, len(body)}, {len(body) / 3, len(body) / 2}, {1, len(body) - 1}} {
			_, _ = walkSpans(func(b []byte, fn func(string, int, int) error) error { return WalkTrustedKnown(b, k[0], k[1], fn) }, body)
		}
		if _, err := walkSpans(Walk, body); err == nil {
			checkTrusted(t, body)
		}
	})
}
