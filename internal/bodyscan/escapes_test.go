package bodyscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aigw/aigw/bench"
	"github.com/aigw/aigw/internal/testbodies"
)

// validOf is the pass's verdict on b as a JSON document of any type.
func validOf(b []byte) bool {
	if skipSpace(b, 0) == len(b) {
		return false
	}
	var s pass
	ok, _ := s.validate(b, nil)
	return ok
}

// checkValid fails t when the pass and encoding/json disagree on b: the one
// definition of valid JSON.
func checkValid(t *testing.T, b []byte) {
	t.Helper()
	if got, want := validOf(b), json.Valid(b); got != want {
		t.Fatalf("%q (len %d): pass says valid %v, encoding/json %v", b, len(b), got, want)
	}
}

// checkString checks the string literal "s", alone and as a member value at
// every offset in a block, against encoding/json.
func checkString(t *testing.T, s string) {
	t.Helper()
	checkValid(t, []byte(`"`+s+`"`))
	checkValid(t, []byte(`{"a":"`+s+`"}`))
	checkValid(t, []byte(`{"a":"`+s+`","b":[1]}`))
}

// checkMasks fails t when the SIMD classifications and classifyGo disagree
// on b, cut into whole blocks (up to a chunk), or stage1 (fused AVX-512 on
// amd64 where present) and classifyGo with stage1Go, from each kind of
// carry into the first block.
func checkMasks(t *testing.T, b []byte) {
	t.Helper()
	n := min(len(b)/blockLen, chunkBlocks)
	if n == 0 {
		return
	}
	var want [chunkBlocks]blockClass
	whigh := classifyGo(&want, b, n)
	for name, classify := range classifiers() {
		var got [chunkBlocks]blockClass
		if high := classify(&got, b, n); got != want || (high != 0) != (whigh != 0) {
			t.Fatalf("%q: %s %x (high %x), classifyGo %x (high %x)", b, name, got[:n], high, want[:n], whigh)
		}
	}
	for _, from := range []stage1State{{}, {str: ^uint64(0)}, {esc: 1}, {esc: 1, str: ^uint64(0)}, {scalar: 1}, {hex: 0xf}, {hex: 1, str: ^uint64(0)}} {
		st, wst := from, from
		var out, wout [chunkBlocks]blockOut
		var cls [chunkBlocks]blockClass
		done, bad := stage1(&st, &out, &cls, b, n)
		wst.high |= classifyGo(&cls, b, n)
		wdone, wbad := stage1Go(&wst, &wout, &cls, n)
		st.high, wst.high = min(st.high, 1), min(wst.high, 1) // nonzero is all it says
		if done != wdone || bad != wbad || !slices.Equal(out[:done], wout[:done]) || done == n && st != wst {
			t.Fatalf("%q from %+v: stage1 %d %x %x %+v, stage1Go %d %x %x %+v", b, from, done, bad, out[:done], st, wdone, wbad, wout[:wdone], wst)
		}
	}
}

// Backslash runs of every length up to two blocks, starting at every offset
// of a block (and two more), followed by each kind of byte that matters (a
// simple escape, \u with 0-4 digits, an invalid escape, a quote, a control
// byte, nothing): every carry into and out of a block, every position of
// the \u digits across a block's end and the padded tail.
func TestEscapeRuns(t *testing.T) {
	afters := []string{"", "n", "\"", "/", "u", "u0", "u00e", "u00e9", "uABCD", "uabcg", "u12\"4", "x", "\x01", "\xc3\xa9", "a\\", "ud83d\\ude00", "ud83d"}
	var b []byte
	for off := 0; off < blockLen+2; off++ {
		for run := 1; run <= 2*blockLen+2; run++ {
			for _, after := range afters {
				for _, tail := range []int{0, 7, 70} {
					b = append(b[:0], `{"a":"`...)
					b = append(b, bytes.Repeat([]byte{'a'}, off)...)
					b = append(b, bytes.Repeat([]byte{'\\'}, run)...)
					b = append(b, after...)
					b = append(b, bytes.Repeat([]byte{'z'}, tail)...)
					b = append(b, `"}`...)
					checkValid(t, b)
					checkValid(t, b[:len(b)-1])
				}
			}
		}
	}
}

func TestStringEscapes(t *testing.T) {
	cases := []struct {
		in     string // a string literal's content
		valid  bool
		reason string
	}{
		{``, true, "empty"},
		{`abc`, true, "no escapes"},
		{`\n\t\"\\\/\b\f\r`, true, "every simple escape"},
		{`\u00e9\uD83D\uDE00\uABCD`, true, "\\u, upper and lower case"},
		{`\ud800`, true, "a lone surrogate is valid JSON"},
		{`\x`, false, "invalid escape"},
		{`\U0041`, false, "upper-case U"},
		{`\u00G0`, false, "non-hex digit"},
		{`\u00`, false, "\\u with two digits, then the quote"},
		{`\`, false, "a backslash escaping the closing quote"},
		{`\\\`, false, "an odd run before the closing quote"},
		{`\\\\`, true, "an even run"},
		{"\\\n", false, "a backslash before a raw newline"},
		{"a\nb", false, "a raw newline"},
		{"\x1f", false, "the highest control byte"},
		{"\x20\x7f\x80\xff", true, "space, DEL and high bytes are not control bytes"},
		{"\\u\xb0\xb1\xb2\xb3", false, "bytes with the high bit set are not hex digits"},
		{"\\u\xc6\xc1\xb0\xb9", false, "nor are they when their low seven bits are"},
		{"\xa5\\n", true, "invalid UTF-8 is valid JSON to encoding/json"},
		{strings.Repeat("a", 63) + `\u0041`, true, "\\u split by a block's end"},
		{strings.Repeat("a", 62) + `\u004` + strings.Repeat("z", 80), false, "bad \\u split by a block's end"},
		{strings.Repeat("a", 63) + `\` + strings.Repeat("q", 80), false, "backslash at a block's end escapes the next block's first byte"},
		{strings.Repeat("a", 63) + `\n` + strings.Repeat("\\\\", 100) + `\q`, false, "the first bad escape after many good ones"},
		{strings.Repeat("a", 60) + `{}[]:,` + strings.Repeat("a", 60), true, "structural bytes inside a string"},
	}
	for _, tc := range cases {
		for pre := 0; pre < blockLen+2; pre++ {
			body := []byte(`{"k":"` + strings.Repeat("x", pre) + tc.in + `"}`)
			if got := validOf(body); got != tc.valid {
				t.Fatalf("%s: %q: valid %v, want %v", tc.reason, body, got, tc.valid)
			}
			checkValid(t, body)
		}
	}
}

// Every byte value after a backslash and in each \u digit position, at a
// block's end and in the middle of one.
func TestEscapeEveryByte(t *testing.T) {
	for _, off := range []int{0, 30, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 100} {
		for c := 0; c < 256; c++ {
			for digit := -1; digit < 4; digit++ {
				s := []byte(strings.Repeat("a", off) + `\u0aF9` + strings.Repeat("z", 80))
				if digit < 0 {
					s[off+1] = byte(c)
				} else {
					s[off+2+digit] = byte(c)
				}
				checkString(t, string(s))
				checkString(t, string(s[:off+6]))
			}
		}
	}
}

// Every byte value at every position of a block, alone among spaces,
// backslashes, quotes and others, in each block of a chunk: the masks are
// exact, and stage 1 agrees with its reference.
func TestClassify(t *testing.T) {
	for _, fill := range []byte{' ', '\\', 0x7f, 0xdc, '"', 'a'} {
		for pos := 0; pos < chunkLen; pos += 61 {
			for c := 0; c < 256; c++ {
				b := bytes.Repeat([]byte{fill}, chunkLen)
				b[pos] = byte(c)
				checkMasks(t, b)
				var got [chunkBlocks]blockClass
				high := classifyGo(&got, b, chunkBlocks)
				if want := c >= 0x80 || fill >= 0x80; (high != 0) != want {
					t.Fatalf("byte %#x at %d among %#x: high %x", c, pos, fill, high)
				}
				k, j := pos/blockLen, pos%blockLen
				m := got[k]
				for _, class := range []struct {
					name string
					mask uint64
					in   bool
				}{
					{"quote", m.quote, c == '"'},
					{"bs", m.bs, c == '\\'},
					{"op", m.op, strings.IndexByte("{}[]:,", byte(c)) >= 0},
					{"ws", m.ws, strings.IndexByte(" \t\n\r", byte(c)) >= 0},
					{"ctl", m.ctl, c < 0x20},
					{"hex", m.hex, strings.IndexByte("0123456789abcdefABCDEF", byte(c)) >= 0},
					{"esc", m.esc, strings.IndexByte(`"\/bfnrtu`, byte(c)) >= 0},
					{"u", m.u, c == 'u'},
					{"d", m.d, c == 'd' || c == 'D'},
				} {
					if bit := class.mask >> j & 1; (bit == 1) != class.in {
						t.Fatalf("byte %#x at %d among %#x: %s mask %x", c, pos, fill, class.name, class.mask)
					}
				}
			}
		}
	}
}

// escapeSeeds are bodies on the edges: escapes across block boundaries,
// \u at the end, control bytes, invalid UTF-8 in strings.
func escapeSeeds() [][]byte {
	var seeds [][]byte
	for _, s := range []string{
		`{"a":"\u"}`, `{"a":"\u12"}`, `{"a":"\u12`, `{"a":"\\"}`, `{"a":"\\\"}`, `{"a":"\\\""}`,
		"{\"a\":\"\xa5\xff\"}", "{\"a\":\"x\ny\"}", "{\n\"a\" : \"\\n\"\n}", "{\"a\":\"\\\x01\"}",
		`{"a":"\ud83d\ude00"}`, `{"a":"\/\b\f"}`, `{"a":"\q"}`, `["\"",1]`, `"\\"`,
	} {
		seeds = append(seeds, []byte(s))
	}
	for _, run := range []int{1, 2, 3, 62, 63, 64, 65, 127, 128, 129} {
		for _, off := range []int{0, 1, 55, 62, 63, 64, 65, 126, 127} {
			seeds = append(seeds, []byte(`{"a":"`+strings.Repeat("x", off)+strings.Repeat(`\`, run)+`n"}`))
		}
	}
	return seeds
}

// FuzzScanEscapes: the masks against the plain Go reference, and the pass
// against encoding/json, on arbitrary bytes.
func FuzzScanEscapes(f *testing.F) {
	for _, s := range escapeSeeds() {
		f.Add(s)
	}
	f.Add(bench.ChatBody(600))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkMasks(t, b)
		checkValid(t, b)
	})
}

// FuzzValidBenchBody: the pass against encoding/json on bench bodies
// (escape-dense, several blocks) with a fuzzed splice at a fuzzed offset,
// so mutations land at every position of a block inside a real document.
func FuzzValidBenchBody(f *testing.F) {
	for i, s := range escapeSeeds() {
		f.Add(s, uint16(i*37), uint8(i%3))
	}
	f.Add([]byte(`\`), uint16(700), uint8(0))
	f.Add([]byte(`\u00`), uint16(1000), uint8(1))
	f.Add([]byte("\n"), uint16(64), uint8(0))
	f.Add([]byte{0xa5}, uint16(300), uint8(2))
	bodies := [][]byte{bench.ChatBody(2 << 10), testbodies.Chat(2<<10, true), bench.BodySpec{Size: 1 << 10, Model: "m", Seed: 7}.Build(), plainBody(2 << 10)}
	f.Fuzz(func(t *testing.T, splice []byte, at uint16, which uint8) {
		base := bodies[int(which)%len(bodies)]
		pos := int(at) % (len(base) + 1)
		// Replace as many bytes as the splice has, or insert when it is
		// empty-handed at the end.
		body := append(append(append([]byte(nil), base[:pos]...), splice...), base[min(len(base), pos+len(splice)):]...)
		checkValid(t, body)
		checkScanMatchesJSON(t, body)
	})
}

// plainBody is a chat body of about n bytes whose one message is prose
// without an escape: blocks inside a string all along (stage 1's fast path).
func plainBody(n int) []byte {
	const word = "lorem ipsum dolor sit amet "
	return []byte(`{"messages":[{"role":"user","content":"` + strings.Repeat(word, n/len(word)) + `"}],"model":"m"}`)
}

// Stage 1's fast path (a block inside a string all along) against the
// reference and encoding/json: a plain string of three blocks and more
// with one byte or escape that ends the fast path (or makes the body
// invalid) at every offset of them, from every kind of carry into the
// first block.
func TestPlainStringBlocks(t *testing.T) {
	specials := []string{
		`\n`, `\"`, `\\`, `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\u00`, `\`, `\x`, `\u12g4`, // escapes, good and bad
		"\x01", "\x1f", "\x7f", "\xc3\xa9", "\x80", // control, DEL, UTF-8, a stray continuation byte
		`"`, `"]`, `"}`, // the string ends early
	}
	for _, sp := range specials {
		for off := 0; off < 3*blockLen; off++ {
			content := strings.Repeat("a", off) + sp + strings.Repeat("b", 3*blockLen-off)
			b := []byte(`{"a":"` + content + `"}`)
			checkValid(t, b)
			checkMasks(t, b)
			checkMasks(t, []byte(content))
		}
	}
}

// The bench bodies are valid at every size the benchmarks use.
func TestValidBenchBodies(t *testing.T) {
	for _, size := range bench.Sizes {
		for _, body := range [][]byte{bench.ChatBody(size.Bytes), testbodies.Chat(size.Bytes, true)} {
			t.Run(fmt.Sprint(size.Name, len(body)), func(t *testing.T) {
				if !validOf(body) {
					t.Fatal("invalid")
				}
				checkScanMatchesJSON(t, body)
			})
		}
	}
}

// BenchmarkValidate is the validating pass alone on the escape-dense bench
// body and on the plainer testbodies one.
func BenchmarkValidate(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"bench/1KiB", bench.ChatBody(1 << 10)},
		{"bench/1MiB", bench.ChatBody(1 << 20)},
		{"chat/1MiB", testbodies.Chat(1<<20, true)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				if !validOf(c.body) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkStage1 is stage 1 alone (classification included): stage1 (the
// fused AVX-512 where present), the plain Go reference, and each SIMD
// classification with the Go stage 1, on a bench body (escapes in most
// blocks) and on prose without escapes (blocks inside a string all along,
// stage 1's fast path).
func BenchmarkStage1(b *testing.B) {
	var (
		out [chunkBlocks]blockOut
		cls [chunkBlocks]blockClass
	)
	cases := []struct {
		name string
		fn   func(st *stage1State, src []byte, n int)
	}{
		{"stage1", func(st *stage1State, src []byte, n int) { stage1(st, &out, &cls, src, n) }},
		{"go", func(st *stage1State, src []byte, n int) {
			st.high |= classifyGo(&cls, src, n)
			stage1Go(st, &out, &cls, n)
		}},
	}
	for name, classify := range classifiers() {
		cases = append(cases, struct {
			name string
			fn   func(st *stage1State, src []byte, n int)
		}{name + "+go", func(st *stage1State, src []byte, n int) {
			st.high |= classify(&cls, src, n)
			stage1Go(st, &out, &cls, n)
		}})
	}
	for _, body := range []struct {
		name string
		b    []byte
	}{{"chat", bench.ChatBody(1 << 20)}, {"plain", plainBody(1 << 20)}} {
		for _, c := range cases {
			b.Run(body.name+"/"+c.name, func(b *testing.B) {
				b.SetBytes(int64(len(body.b)))
				for b.Loop() {
					var st stage1State
					for i := 0; i+chunkLen <= len(body.b); i += chunkLen {
						c.fn(&st, body.b[i:], chunkBlocks)
					}
				}
			})
		}
	}
}
