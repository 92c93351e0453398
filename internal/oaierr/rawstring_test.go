package oaierr

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// rawStringCases: the contents of a JSON string literal and what
// AppendRawStringContents writes for it, which is what AppendStringContents
// writes for the string encoding/json decodes it to.
var rawStringCases = []struct{ name, lit, want string }{
	{"empty", ``, ``},
	{"plain", `a few more words`, `a few more words`},
	{"canonical escapes copied", `a\"b\\c\nd\re\tf`, `a\"b\\c\nd\re\tf`},
	{"solidus", `a\/b`, `a/b`},
	{"backspace and form feed", `\b\f`, `\u0008\u000c`},
	{"control escape kept lowercase", `\u001f\u001F\u0000`, `\u001f\u001f\u0000`},
	{"u escapes of canonical short forms", `\u000a\u000D\u0009\u0022\u005c`, `\n\r\t\"\\`},
	{"u escape of printable ASCII", `\u0041\u007e`, `A~`},
	{"u escape of DEL", `\u007f`, "\x7f"},
	{"u escape non-ASCII", `\u00e9\u20AC\u2028`, "é€\u2028"},
	{"raw non-ASCII", "é€\u2028😀", "é€\u2028😀"},
	{"surrogate pair", `\ud83d\ude00`, "😀"},
	{"surrogate pair upper hex", `\uD83D\uDE00x`, "😀x"},
	{"lone high surrogate", `\ud800x`, "\ufffdx"},
	{"lone high at end", `\ud800`, "\ufffd"},
	{"high then high", `\ud800\ud800\udc00`, "\ufffd𐀀"},
	{"lone low surrogate", `\udc00`, "\ufffd"},
	{"high then non-surrogate escape", `\ud800\u0041`, "\ufffdA"},
	{"high then short escape", `\ud800\n`, "\ufffd\\n"},
	{"invalid UTF-8 byte", "a\xffb", "a\ufffdb"},
	{"UTF-8 encoded surrogate", "\xed\xa0\x80", "\ufffd\ufffd\ufffd"},
	{"truncated UTF-8 at end", "a\xe2\x82", "a\ufffd\ufffd"},
	{"U+FFFD itself", "\ufffd", "\ufffd"},
	{"mixed", `say \"hi\"\/\u00e9` + "\xff", `say \"hi\"/é` + "\ufffd"},
}

func TestAppendRawStringContents(t *testing.T) {
	for _, tc := range rawStringCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendRawStringContents([]byte("x"), []byte(tc.lit))); got != "x"+tc.want {
				t.Fatalf("got %q, want %q", got, "x"+tc.want)
			}
			checkRawAgainstDecoded(t, []byte(tc.lit))
		})
	}
}

// TestAppendRawStringContentsNotJSON: bytes no decoder accepts still give
// valid JSON string contents.
func TestAppendRawStringContentsNotJSON(t *testing.T) {
	for _, lit := range []string{`"`, "\x01", `\`, `a\`, `\x`, `\u12`, `\u12g4`, `\ud800\u12`, "\\\xff", `\u`} {
		got := AppendRawStringContents(nil, []byte(lit))
		if !json.Valid([]byte(`"` + string(got) + `"`)) {
			t.Errorf("%q: %q is not valid string contents", lit, got)
		}
	}
}

// checkRawAgainstDecoded: for the contents of a literal encoding/json
// accepts, AppendRawStringContents writes what AppendStringContents writes
// for the decoded string (encoding/json is the oracle); for any other bytes
// it writes valid string contents.
func checkRawAgainstDecoded(t *testing.T, lit []byte) {
	t.Helper()
	quoted := append(append([]byte{'"'}, lit...), '"')
	got := AppendRawStringContents(nil, lit)
	var s string
	if json.Unmarshal(quoted, &s) != nil {
		if !json.Valid(append(append([]byte{'"'}, got...), '"')) {
			t.Fatalf("%q (not a literal): %q is not valid string contents", lit, got)
		}
		return
	}
	if want := AppendStringContents(nil, s); string(got) != string(want) {
		t.Fatalf("%q: got %q, want %q (decoded %q)", lit, got, want, s)
	}
}

func FuzzAppendRawStringContents(f *testing.F) {
	for _, tc := range rawStringCases {
		f.Add([]byte(tc.lit))
	}
	f.Fuzz(checkRawAgainstDecoded)
}

// appendStringContentsBytewise is AppendStringContents as it was before it
// skipped plain text a word at a time: one byte at a time. The oracle for
// plainWords.
func appendStringContentsBytewise(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendASCII(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// TestPlainWordsEveryPosition: each byte that must be escaped (and plain
// ones next to them in value), at every offset of two words and a tail,
// is found by the word test.
func TestPlainWordsEveryPosition(t *testing.T) {
	for _, c := range []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', 0x23, 0x5b, '\\', 0x5d, 0x7e, 0x7f, 0x80, 0xc3, 0xff} {
		for p := range 20 {
			b := []byte(strings.Repeat("a", 20))
			b[p] = c
			want := appendStringContentsBytewise(nil, string(b))
			if got := AppendStringContents(nil, string(b)); string(got) != string(want) {
				t.Fatalf("byte %#x at %d: got %q, want %q", c, p, got, want)
			}
			plain := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
			if n := plainWords(b); (n == 16) != (plain || p >= 16) || n > p && !plain {
				t.Fatalf("byte %#x at %d: plainWords %d", c, p, n)
			}
			checkRawAgainstDecoded(t, b)
		}
	}
}

func FuzzAppendStringContents(f *testing.F) {
	for _, tc := range rawStringCases {
		f.Add(tc.lit)
		f.Add(tc.want)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendStringContents(nil, s), appendStringContentsBytewise(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}

// Every length up to three words, each byte that must be escaped (and a
// plain one) at every offset: the plain-string shortcut of
// AppendStringContents (whole words, then the last word overlapping them)
// answers as the byte-wise encoder does.
func TestAppendStringContentsEveryLength(t *testing.T) {
	for n := range 25 {
		for p := range max(n, 1) {
			for _, c := range []byte{'a', 0x00, 0x1f, '"', '\\', 0x7f, 0x80, 0xc3, 0xff} {
				b := []byte(strings.Repeat("b", n))
				if n > 0 {
					b[p] = c
				}
				want := appendStringContentsBytewise([]byte("x"), string(b))
				if got := AppendStringContents([]byte("x"), string(b)); string(got) != string(want) {
					t.Fatalf("%d bytes, %#x at %d: got %q, want %q", n, c, p, got, want)
				}
			}
		}
	}
}
