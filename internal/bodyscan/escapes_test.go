package bodyscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bytedance/sonic"

	"github.com/aigw/aigw/bench"
	"github.com/aigw/aigw/internal/testbodies"
)

// refScanEscapes is the oracle for scanEscapes: the definition, one byte at
// a time. Escapes chain left to right from b[0]; a backslash starts an
// escape unless the previous escape consumed it.
func refScanEscapes(b []byte) (hasCtl bool, badEscape int) {
	for j := 0; j < len(b); j++ {
		c := b[j]
		if c < 0x20 {
			hasCtl = true
		}
		if c != '\\' {
			continue
		}
		switch {
		case j+1 < len(b) && strings.IndexByte(`"\/bfnrt`, b[j+1]) >= 0:
			j++
		case j+6 <= len(b) && b[j+1] == 'u' && refHex(b[j+2:j+6]):
			j += 5
		default:
			return hasCtl, j
		}
	}
	return hasCtl, -1
}

func refHex(b []byte) bool {
	for _, c := range b {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(c)) {
			return false
		}
	}
	return true
}

// checkEscapes fails t when scanEscapes and the oracle disagree on b.
func checkEscapes(t *testing.T, b []byte) {
	t.Helper()
	ctl, bad := scanEscapes(b)
	rctl, rbad := refScanEscapes(b)
	if bad != rbad || (bad < 0 && ctl != rctl) {
		t.Fatalf("%q (len %d): scanEscapes = (%v, %d), reference (%v, %d)", b, len(b), ctl, bad, rctl, rbad)
	}
}

// checkMasks fails t when blockMasks (SSE2 on amd64) and the plain Go
// blockMasksGo disagree on b, cut into whole blocks (up to a chunk).
func checkMasks(t *testing.T, b []byte) {
	t.Helper()
	n := min(len(b)/blockLen, chunkLen/blockLen)
	var got, want [chunkLen / blockLen]uint64
	ctl, wctl := blockMasks(&got, b, n), blockMasksGo(&want, b, n)
	if got != want || (ctl != 0) != (wctl != 0) {
		t.Fatalf("%q: blockMasks %x (ctl %x), blockMasksGo %x (ctl %x)", b, got[:n], ctl, want[:n], wctl)
	}
}

// checkValid fails t when encoderValid (sonic and scanEscapes) and
// encoding/json disagree on b: the one definition of valid JSON.
func checkValid(t *testing.T, b []byte) {
	t.Helper()
	if ok, _ := encoderValid(b); ok != json.Valid(b) {
		t.Fatalf("%q: encoderValid %v, encoding/json %v", b, ok, !ok)
	}
}

// Backslash runs of every length up to two blocks, starting at every offset
// up to two blocks, followed by each kind of byte that matters (a simple
// escape, \u with 0-4 digits, an invalid escape, a quote, a control byte,
// nothing): every carry into and out of a block, every position of the \u
// digits across a block's end and the padded tail.
func TestScanEscapesRuns(t *testing.T) {
	afters := []string{"", "n", "\"", "/", "u", "u0", "u00e", "u00e9", "uABCD", "uabcg", "u12\"4", "x", "\x01", "\xc3\xa9", "a\\"}
	var b []byte
	for off := 0; off < 2*blockLen+2; off++ {
		for run := 1; run <= 2*blockLen+2; run++ {
			for _, after := range afters {
				for _, tail := range []int{0, 7, 70} {
					b = append(b[:0], bytes.Repeat([]byte{'a'}, off)...)
					b = append(b, bytes.Repeat([]byte{'\\'}, run)...)
					b = append(b, after...)
					b = append(b, bytes.Repeat([]byte{'z'}, tail)...)
					checkEscapes(t, b)
				}
			}
		}
	}
}

func TestScanEscapes(t *testing.T) {
	cases := []struct {
		in     string
		ctl    bool
		bad    int
		reason string
	}{
		{``, false, -1, "empty"},
		{`"abc"`, false, -1, "no escapes"},
		{`"\n\t\"\\\/\b\f\r"`, false, -1, "every simple escape"},
		{`"\u00e9\uD83D\uDE00\uABCD"`, false, -1, "\\u, upper and lower case"},
		{`"\ud800"`, false, -1, "a lone surrogate is valid JSON"},
		{`"\x"`, false, 1, "invalid escape"},
		{`"\U0041"`, false, 1, "upper-case U"},
		{`"\u00G0"`, false, 1, "non-hex digit"},
		{`"\u00"`, false, 1, "\\u with two digits, then the quote"},
		{`\u12`, false, 0, "\\u cut by the end"},
		{`ab\`, false, 2, "a lone backslash at the end"},
		{`\\\`, false, 2, "an odd run at the end"},
		{`\\\\`, false, -1, "an even run"},
		{"\"\\\n\"", true, 1, "a backslash before a raw newline"},
		{"\"a\nb\"", true, -1, "a raw newline: hasCtl, judged by encoding/json"},
		{"\"\x1f\"", true, -1, "the highest control byte"},
		{"\"\x20\x7f\x80\xff\"", false, -1, "space, DEL and high bytes are not control bytes"},
		{"\"\\u\xb0\xb1\xb2\xb3\"", false, 1, "bytes with the high bit set are not hex digits"},
		{"\"\\u\xc6\xc1\xb0\xb9\"", false, 1, "nor are they when their low seven bits are"},
		{"\"\xa5\\n\"", false, -1, "invalid UTF-8 is not an escape question"},
		{strings.Repeat("a", 63) + `\u0041`, false, -1, "\\u split by a block's end"},
		{strings.Repeat("a", 62) + `\u004` + strings.Repeat("z", 80), false, 62, "bad \\u split by a block's end"},
		{strings.Repeat("a", 63) + `\` + strings.Repeat("q", 80), false, 63, "backslash at a block's end escapes the next block's first byte"},
		{strings.Repeat("a", 63) + `\n` + strings.Repeat("\\\\", 100) + `\q`, false, 265, "the first bad escape after many good ones"},
	}
	for _, tc := range cases {
		ctl, bad := scanEscapes([]byte(tc.in))
		if bad != tc.bad || (bad < 0 && ctl != tc.ctl) {
			t.Errorf("%s: %q: got (%v, %d), want (%v, %d)", tc.reason, tc.in, ctl, bad, tc.ctl, tc.bad)
		}
		checkEscapes(t, []byte(tc.in))
	}
}

// Every byte value after a backslash and in each \u digit position, at a
// block's end and in the middle of one.
func TestScanEscapesEveryByte(t *testing.T) {
	for _, off := range []int{0, 30, 58, 59, 60, 61, 62, 63, 64, 100} {
		for c := 0; c < 256; c++ {
			for digit := -1; digit < 4; digit++ {
				b := []byte(strings.Repeat("a", off) + `\u0aF9` + strings.Repeat("z", 80))
				if digit < 0 {
					b[off+1] = byte(c)
				} else {
					b[off+2+digit] = byte(c)
				}
				checkEscapes(t, b)
				checkEscapes(t, b[:off+6])
			}
		}
	}
}

// Every byte value at every position of a block, alone among spaces and
// among backslashes, in each block of a chunk: the masks and the control
// byte verdict are exact.
func TestBlockMasks(t *testing.T) {
	for _, fill := range []byte{' ', '\\', 0x7f, 0xdc} {
		for pos := 0; pos < chunkLen; pos += 61 {
			for c := 0; c < 256; c++ {
				b := bytes.Repeat([]byte{fill}, chunkLen)
				b[pos] = byte(c)
				checkMasks(t, b)
				var got [chunkLen / blockLen]uint64
				ctl := blockMasks(&got, b, chunkLen/blockLen)
				if want := c < 0x20; (ctl != 0) != want {
					t.Fatalf("byte %#x at %d among %#x: ctl %x", c, pos, fill, ctl)
				}
				if bit := got[pos/blockLen] >> (pos % blockLen) & 1; (bit == 1) != (c == '\\') {
					t.Fatalf("byte %#x at %d among %#x: mask %x", c, pos, fill, got[pos/blockLen])
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

// FuzzScanEscapes: scanEscapes against the byte-at-a-time oracle, and the
// validator as a whole against encoding/json, on arbitrary bytes.
func FuzzScanEscapes(f *testing.F) {
	for _, s := range escapeSeeds() {
		f.Add(s)
	}
	f.Add(bench.ChatBody(600))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkEscapes(t, b)
		checkMasks(t, b)
		checkValid(t, b)
	})
}

// FuzzValidBenchBody: the validator against encoding/json on bench bodies
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
	bodies := [][]byte{bench.ChatBody(2 << 10), testbodies.Chat(2<<10, true), bench.BodySpec{Size: 1 << 10, Model: "m", Seed: 7}.Build()}
	f.Fuzz(func(t *testing.T, splice []byte, at uint16, which uint8) {
		base := bodies[int(which)%len(bodies)]
		pos := int(at) % (len(base) + 1)
		// Replace as many bytes as the splice has, or insert when it is
		// empty-handed at the end.
		body := append(append(append([]byte(nil), base[:pos]...), splice...), base[min(len(base), pos+len(splice)):]...)
		checkEscapes(t, body)
		checkValid(t, body)
		_, err := Scan(body, "backend")
		if valid := json.Valid(body); valid && IsKind(err, Invalid) || !valid && !IsKind(err, Invalid) && !IsKind(err, Empty) {
			t.Fatalf("Scan says %v, encoding/json valid %v", err, valid)
		}
	})
}

// The bench bodies are valid and their escapes agree with the oracle at
// every size the benchmarks use.
func TestScanEscapesBenchBodies(t *testing.T) {
	for _, size := range bench.Sizes {
		for _, body := range [][]byte{bench.ChatBody(size.Bytes), testbodies.Chat(size.Bytes, true)} {
			t.Run(fmt.Sprint(size.Name, len(body)), func(t *testing.T) {
				checkEscapes(t, body)
				if ok, at := encoderValid(body); !ok {
					t.Fatalf("invalid at %d", at)
				}
			})
		}
	}
}

// BenchmarkEncoderValid is the validation pass alone (sonic's structure
// check and the escape scan) on the escape-dense bench body and on the
// plainer testbodies one.
func BenchmarkEncoderValid(b *testing.B) {
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
				if ok, _ := encoderValid(c.body); !ok {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkScanEscapes is the escape scan alone, and sonic's structure check
// alone, on the escape-dense bench body and the plainer testbodies one: the
// two halves of BenchmarkEncoderValid.
func BenchmarkScanEscapes(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"bench/1MiB", bench.ChatBody(1 << 20)},
		{"chat/1MiB", testbodies.Chat(1<<20, true)},
	} {
		b.Run("escapes/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				if _, bad := scanEscapes(c.body); bad >= 0 {
					b.Fatal(bad)
				}
			}
		})
		b.Run("sonic/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				if !sonic.Valid(c.body) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
