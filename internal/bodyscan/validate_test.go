package bodyscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aigw/aigw/bench"
)

// tokenMembers is the oracle for the members of a valid JSON object:
// encoding/json's Decoder token walk, each member's decoded key and its
// value's span.
func tokenMembers(t *testing.T, body []byte) []span {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%q: first token %v %v", body, tok, err)
	}
	var out []span
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: key: %v", body, err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("%q: value: %v", body, err)
		}
		end := int(dec.InputOffset())
		out = append(out, span{tok.(string), end - len(raw), end})
	}
	if _, err := dec.Token(); err != nil {
		t.Fatalf("%q: closing brace: %v", body, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%q: after the object: %v", body, err)
	}
	return out
}

// rawStringsRef is the definition of Result.rawStrings, one byte at a
// time: all ASCII, and every \u escape of a surrogate is half of a pair
// (high then low, at once).
func rawStringsRef(body []byte) bool {
	for _, c := range body {
		if c >= 0x80 {
			return false
		}
	}
	in, pendingHigh := false, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !in {
			in = c == '"'
			continue
		}
		switch c {
		case '"':
			in = false
		case '\\':
			if body[i+1] != 'u' {
				if pendingHigh {
					return false
				}
				i++
				continue
			}
			var v rune
			fmt.Sscanf(string(body[i+2:i+6]), "%x", &v)
			i += 5
			switch {
			case v >= 0xd800 && v < 0xdc00:
				if pendingHigh {
					return false
				}
				pendingHigh = true
				continue
			case v >= 0xdc00 && v < 0xe000:
				if !pendingHigh {
					return false
				}
				pendingHigh = false
				continue
			}
		}
		if pendingHigh {
			return false
		}
	}
	return !pendingHigh
}

// checkScanMatchesJSON: Scan's verdict is encoding/json's (valid, and an
// object), Walk's members are the Decoder's, and rawStrings is exact.
func checkScanMatchesJSON(t *testing.T, body []byte) {
	t.Helper()
	r, err := Scan(body, "backend")
	valid := json.Valid(body)
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		if !IsKind(err, Empty) {
			t.Fatalf("%q: blank body: %v", body, err)
		}
		return
	case !valid:
		if !IsKind(err, Invalid) {
			t.Fatalf("%q: encoding/json says invalid, Scan %v", body, err)
		}
		return
	case trimmed[0] != '{':
		if !IsKind(err, NotObject) {
			t.Fatalf("%q: valid non-object, Scan %v", body, err)
		}
		return
	case err != nil && !IsKind(err, Duplicate) && !IsKind(err, BadEncoding):
		t.Fatalf("%q: valid object, Scan %v", body, err)
	}
	want := tokenMembers(t, body)
	got, werr := walkSpans(Walk, body)
	if werr != nil || len(got) != len(want) {
		t.Fatalf("%q: Walk %v %v, decoder %v", body, got, werr, want)
	}
	for i := range got {
		if got[i].vs != want[i].vs || got[i].ve != want[i].ve || utf8.ValidString(got[i].key) && got[i].key != want[i].key {
			t.Fatalf("%q: member %d: Walk %v, decoder %v", body, i, got[i], want[i])
		}
	}
	if err == nil {
		if r.members != len(want) {
			t.Fatalf("%q: %d members, decoder %d", body, r.members, len(want))
		}
		if ref := rawStringsRef(body); r.rawStrings != ref {
			t.Fatalf("%q: rawStrings %v, reference %v", body, r.rawStrings, ref)
		}
	}
}

// FuzzScanMatchesEncodingJSON: for arbitrary bytes, Scan's verdict is
// encoding/json's, and on valid objects the members are the Decoder's.
func FuzzScanMatchesEncodingJSON(f *testing.F) {
	for _, s := range validateSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkValid(t, body)
		checkScanMatchesJSON(t, body)
		checkPathsAgree(t, body)
	})
}

// checkPathsAgree fails unless Scan answers body alike through every stage
// 1 this machine has: the fused AVX-512 kernel, AVX2 classification with
// the Go stage 1 (machines without AVX-512, such as many AMD servers), and
// plain Go. The differential fuzzing of the verdict then covers all three.
func checkPathsAgree(t *testing.T, body []byte) {
	t.Helper()
	scan := func() string {
		r, err := Scan(body, "backend")
		return fmt.Sprintf("%+v %v", r, err)
	}
	defer func(v512, v2 bool) { useAVX512, useAVX2 = v512, v2 }(useAVX512, useAVX2)
	fast := scan()
	useAVX512 = false
	avx2 := scan()
	useAVX2 = false
	if portable := scan(); fast != portable || avx2 != portable {
		t.Fatalf("%.80q: AVX-512 %s, AVX2 %s, portable %s", body, fast, avx2, portable)
	}
}

// validateSeeds are the edge cases of the grammar and of the blocks.
func validateSeeds() []string {
	seeds := []string{
		``, ` `, `{}`, `[]`, `{"a":1}`, `{"a":1}{}`, `{"a":1} {"b":2}`, `{"a":1} x`, `{"a":1},`, `{"a":1}]`,
		`-`, `-0`, `01`, `1.`, `.5`, `1e`, `1e+`, `1E-5`, `-0.0e0`, `-01`, `1.5e3`, `0e0`, `2E+10`, `1-2`, `1+2`, `--1`, `0x10`, `1.e5`, `1e5.0`,
		`tru`, `nul`, `fals`, `true`, `null`, `false`, `truex`, `nulll`, `True`, `NaN`, `Infinity`,
		"{\"a\":\x01}", "{\"a\":\"\x01\"}", "{\"a\":\"\x7f\"}", "{\"a\":\x7f}", "{\"a\":\xc3\xa9}", "{\"a\":\"\xc3\xa9\"}",
		"\xef\xbb\xbf{}", "{\v}", "{\f}", "{\t\n\r }", "{ \"a\" \t:\n1 \r}",
		`{"a":"\ud83d\ude00"}`, `{"a":"\ud83d"}`, `{"a":"\ude00"}`, `{"a":"\ud83d\u0041"}`, `{"a":"\ud83d\\ude00"}`, `{"a":"\uD83D\uDE00\uDE00"}`,
		`{"a":[1,2,]}`, `{"a":[,1]}`, `{"a":{,}}`, `{"a":{"b"}}`, `{"a":{"b":}}`, `{"a" "b"}`, `{"a"::1}`, `{1:2}`, `{"a":1,,"b":2}`,
		`{"a":[}`, `{"a":{]}`, `["a":1]`, `[1:2]`, `"\"`, `"abc`, `{"a`, `{"a":"b`, `{"a":"b\`,
		`{"model":"m","model":"n"}`, `{"mod\u0065l":"x"}`, `{"":1,"":2}`, `{"a\"b":1}`,
		`{"a":"\\"}`, `{"a":"\\\"}`, `{"a":"\\\\"}`, "\\{}", `{\"a":1}`, `{"a":1\}`,
	}
	for _, n := range []int{62, 63, 64, 65, 126, 127, 128} {
		pad := strings.Repeat(" ", n)
		seeds = append(seeds,
			pad+`{"a":"\u00e9"}`, `{"a":"`+strings.Repeat("x", n)+`\u00e9"}`, `{"a":"`+strings.Repeat("x", n)+`\"", "b":1}`,
			`{"a":`+pad+`123}`, `{"a":`+pad+`tru}`, `{"`+strings.Repeat("k", n)+`":1}`, `{"a":"`+strings.Repeat("x", n)+`\ud83d\ude00"}`)
	}
	for _, d := range []int{maxDepth, maxDepth + 1} {
		seeds = append(seeds, `{"a":`+strings.Repeat("[", d-1)+strings.Repeat("]", d-1)+`}`)
	}
	seeds = append(seeds, string(bench.ChatBody(700)))
	return seeds
}

func TestValidateSeeds(t *testing.T) {
	for _, s := range validateSeeds() {
		checkValid(t, []byte(s))
		checkScanMatchesJSON(t, []byte(s))
	}
}

// Nesting: encoding/json accepts 10000 open containers and not 10001; so
// does the pass, objects and arrays alike, as the document or inside one.
func TestDepthLimit(t *testing.T) {
	for _, d := range []int{1, 63, 64, 65, 128, maxDepth - 1, maxDepth, maxDepth + 1, maxDepth + 64} {
		for _, mk := range []func(int) string{
			func(d int) string { return strings.Repeat("[", d) + strings.Repeat("]", d) },
			func(d int) string { return strings.Repeat(`{"a":`, d) + "1" + strings.Repeat("}", d) },
			func(d int) string {
				return strings.Repeat(`[{"a":`, d/2) + [...]string{"1", "[]"}[d%2] + strings.Repeat("}]", d/2)
			},
		} {
			b := []byte(mk(d))
			if got, want := validOf(b), d <= maxDepth; got != want || json.Valid(b) != want {
				t.Fatalf("depth %d (%.20s...): pass %v, encoding/json %v, want %v", d, b, got, json.Valid(b), want)
			}
		}
	}
}

func TestScalars(t *testing.T) {
	for _, s := range []string{
		`0`, `-0`, `1`, `-1`, `10`, `01`, `-01`, `00`, `1.`, `.5`, `1.5`, `1.50`, `-`, `+1`, `1e`, `1e+`, `1e-`, `1E-5`, `1e05`, `-0.0e0`,
		`1.e1`, `1e1.5`, `1ee1`, `1e+-1`, `0.0.0`, `1a`, `1 2`, `true`, `tru`, `truee`, `false`, `fals`, `null`, `nul`, `nil`, `t`, `n`, `f`,
	} {
		for _, ctx := range []string{"%s", "[%s]", `{"a":%s}`, " %s ", "[%s,1]", `{"a":%s,"b":2}`, "[\"x\"%s]", "[%s\"x\"]"} {
			checkValid(t, []byte(fmt.Sprintf(ctx, s)))
		}
	}
}

// rawStrings on the bodies the translator must and must not copy as is.
func TestRawStrings(t *testing.T) {
	cases := []struct {
		body string
		raw  bool
	}{
		{`{"a":"plain"}`, true},
		{`{"a":"\u00e9\n\"\\"}`, true},
		{`{"a":"\ud83d\ude00"}`, true},
		{`{"a":"\uD83D\uDE00 \ud83d\ude01"}`, true},
		{`{"a":"\ud83d"}`, false},
		{`{"a":"\ude00"}`, false},
		{`{"a":"\ud83d\u0041"}`, false},
		{`{"a":"\ud83d\ud83d\ude00"}`, false},
		{`{"a":"\ud83d\ude00\ude00"}`, false},
		{`{"a":"\ud83d\\ude00"}`, false},
		{`{"a":"\ud83d","b":"\ude00"}`, false},
		{`{"\ud83d":1}`, false},
		{"{\"a\":\"caf\xc3\xa9\"}", false},
		{"{\"a\":\"\xa5\"}", false},
		{`{"a":"\udbff\udfff"}`, true},
		{`{"a":"\ud7ff\ue000"}`, true},
	}
	for _, tc := range cases {
		for _, pre := range []int{0, 40, 50, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64} {
			body := []byte(`{"pad":"` + strings.Repeat("x", pre) + `",` + tc.body[1:])
			r, err := Scan(body, "backend")
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if r.rawStrings != tc.raw || rawStringsRef(body) != tc.raw {
				t.Fatalf("%s: rawStrings %v (reference %v), want %v", body, r.rawStrings, rawStringsRef(body), tc.raw)
			}
			if f := FindingsOf(r, Member{}); f.RawStrings != tc.raw {
				t.Fatalf("%s: Findings.RawStrings %v", body, f.RawStrings)
			}
		}
	}
}

// More members than a memberList holds: the rest are walked after the
// pass, with the same spans and cut.
func TestManyMembers(t *testing.T) {
	for _, n := range []int{listed - 1, listed, listed + 1, 3 * listed} {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(" , ")
			}
			fmt.Fprintf(&b, `"k%d" : [%d,{"x":"}"}]`, i, i)
		}
		b.WriteString(`,"model":"m","backend":"b"}`)
		body := []byte(b.String())
		checkScanMatchesJSON(t, body)
		if _, _, found, err := Find(body, "backend"); !found || err != nil {
			t.Fatalf("%d members: backend not found: %v", n, err)
		}
		r, err := Scan(body, "backend")
		if err != nil || r.members != n+2 || r.Backend.Value != "b" {
			t.Fatalf("%d members: %+v %v", n, r, err)
		}
		if out := RemoveMember(append([]byte(nil), body...), r.Backend); !json.Valid(out) || bytes.Contains(out, []byte(`"backend"`)) {
			t.Fatalf("%d members: removal gave %s", n, out)
		}
	}
}

// The portable path (classifyGo, stage1Go) and the AVX2 one give every
// answer the fused AVX-512 one gives: the seeds and the bench bodies,
// scanned all three ways (where the machine has them).
func TestPortableStage1(t *testing.T) {
	if !useAVX512 {
		t.Log("no AVX-512: the portable path is the only one, and every other test ran it")
	}
	bodies := [][]byte{bench.ChatBody(1 << 10), bench.ChatBody(64 << 10), LargeChatBody(20<<10, true)}
	for _, s := range validateSeeds() {
		bodies = append(bodies, []byte(s))
	}
	for _, b := range escapeSeeds() {
		bodies = append(bodies, b)
	}
	type verdict struct {
		r   Result
		err string
	}
	scan := func() []verdict {
		var out []verdict
		for _, b := range bodies {
			r, err := Scan(b, "backend")
			out = append(out, verdict{r, fmt.Sprint(err)})
		}
		return out
	}
	fast := scan()
	defer func(v512, v2 bool) { useAVX512, useAVX2 = v512, v2 }(useAVX512, useAVX2)
	useAVX512 = false
	avx2 := scan()
	useAVX2 = false
	portable := scan()
	for i := range bodies {
		if f, a, p := fmt.Sprintf("%+v", fast[i]), fmt.Sprintf("%+v", avx2[i]), fmt.Sprintf("%+v", portable[i]); f != p || a != p {
			t.Fatalf("%.80q: AVX-512 %s, AVX2 %s, portable %s", bodies[i], f, a, p)
		}
		checkScanMatchesJSON(t, bodies[i])
	}
}
