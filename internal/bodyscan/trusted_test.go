package bodyscan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aigw/aigw/bench"
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
		blocksOnly(func() { checkTrusted(t, []byte(b)) })
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
		blocksOnly(func() {
			_, _ = walkSpans(WalkTrusted, []byte(b))
			_, _ = elementSpans(ElementsTrusted, []byte(b))
			_, _ = ValueEndTrusted([]byte(b), 0)
		})
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
		// Whatever the bytes, no panic and the callbacks' answer (the
		// walk before Object and Array); on a valid body, Walk's answer.
		compareTrustedLoops(t, body)
		blocksOnly(func() { compareTrustedLoops(t, body) })
		checkKeyEnds(t, body)
		_, _ = walkSpans(WalkTrusted, body)
		_, _ = elementSpans(ElementsTrusted, body)
		blocksOnly(func() {
			_, _ = walkSpans(WalkTrusted, body)
			_, _ = elementSpans(ElementsTrusted, body)
			_, _ = ValueEndTrusted(body, 0)
		})
		// A known span that is wrong for these bytes (findings of other
		// bodies) yields nonsense, never a panic.
		for _, k := range [][2]int{{0, len(body)}, {len(body) / 3, len(body) / 2}, {1, len(body) - 1}} {
			_, _ = walkSpans(func(b []byte, fn func(string, int, int) error) error { return WalkTrustedKnown(b, k[0], k[1], fn) }, body)
		}
		if _, err := walkSpans(Walk, body); err == nil {
			checkTrusted(t, body)
			blocksOnly(func() { checkTrusted(t, body) })
		}
	})
}

// blocksOnly runs fn with the trusted skip going by blocks from the first
// byte of every string and container: strings by the string end kernel
// where there is one, then by stage 1's skip.
func blocksOnly(fn func()) {
	defer func(q, w int, k bool) { escapedQuotes, byteWise, useStringKernel = q, w, k }(escapedQuotes, byteWise, useStringKernel)
	escapedQuotes, byteWise = 0, 0
	fn()
	if useStringKernel {
		useStringKernel = false
		fn()
	}
}

// BenchmarkTrusted is the trusted walk of a chat body's messages (each
// message's members, each value skipped), as the translators walk a
// vouched body, on the escape-dense bench body and the plainer one.
func BenchmarkTrusted(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"bench/1KiB", bench.ChatBody(1 << 10)},
		{"bench/1MiB", bench.ChatBody(1 << 20)},
		{"chat/1MiB", LargeChatBody(1<<20, true)},
	} {
		vs, ve, found, err := Find(c.body, "messages")
		if err != nil || !found {
			b.Fatal(err)
		}
		msgs := c.body[vs:ve]
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				if err := WalkTrusted(c.body, func(string, int, int) error { n++; return nil }); err != nil {
					b.Fatal(err)
				}
				if err := EachTrusted(msgs, func(_, i int) (int, error) {
					return ObjectTrusted(msgs, i, func(string, int, int) error { n++; return nil })
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The trusted skip past its one-by-one starts: strings with more escaped
// quotes than escapedQuotes, containers longer than byteWise, escapes,
// quotes and brackets at every offset of a block, and the bench bodies.
func TestTrustedSkipLong(t *testing.T) {
	var bodies []string
	for off := 0; off < blockLen+3; off++ {
		pre := strings.Repeat("x", off)
		quoted := strings.Repeat(`a\"b\\`, escapedQuotes+3)
		bodies = append(bodies,
			`{"s":"`+pre+quoted+`","n":1}`,
			`{"s":"`+pre+quoted+`\\\\\"\\"}`,
			`{"a":[`+strings.Repeat(`{"k":"`+pre+`]}\"[{"},`, byteWise/8)+`{"e":[[[]]]}],"b":"`+pre+`"}`,
			`{"o":{"deep":`+strings.Repeat(`[`, 40)+`"`+pre+quoted+`"`+strings.Repeat(`]`, 40)+`,"x":{"y":"`+strings.Repeat("z", byteWise)+pre+`}"}}}`,
		)
	}
	for _, size := range []int{1 << 10, 8 << 10, 64 << 10} {
		bodies = append(bodies, string(bench.ChatBody(size)), string(LargeChatBody(size, true)))
	}
	for _, b := range bodies {
		checkTrusted(t, []byte(b))
		blocksOnly(func() { checkTrusted(t, []byte(b)) })
	}
}
