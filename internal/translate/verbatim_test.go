package translate

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// oldVerbatim is verbatim before plainASCII: the reference.
func oldVerbatim(inner []byte) bool {
	ascii := len(inner) <= 32
	for i := 0; ascii && i < len(inner); i++ {
		ascii = inner[i] != '\\' && inner[i] < utf8.RuneSelf
	}
	return ascii || bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner)
}

func TestVerbatim(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"user", true},
		{"claude-3-5-haiku-20241022", true},
		{"msg_01XFDUDYJgAACzvnptvVoYEL", true},
		{`a\nb`, false},
		{`\`, false},
		{"café", true},           // valid UTF-8: decodes to itself
		{"caf\xe9", false},       // invalid UTF-8: the decoder replaces it
		{"\x7f\x00\x1f ~", true}, // not a valid literal's bytes, but no escape
		{strings.Repeat("x", 40), true},
		{strings.Repeat("x", 40) + `\"`, false},
		{strings.Repeat("é", 20), true},
	}
	for _, c := range cases {
		if got := verbatim([]byte(c.in)); got != c.want || got != oldVerbatim([]byte(c.in)) {
			t.Errorf("verbatim(%q) = %v, want %v (old %v)", c.in, got, c.want, oldVerbatim([]byte(c.in)))
		}
	}
	// A backslash or a byte from 0x80 on at every offset of every length
	// up to past the short limit, each byte value in the word at once.
	for n := 0; n <= 40; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[at] = byte(c)
				if got, want := verbatim(b), oldVerbatim(b); got != want {
					t.Fatalf("verbatim(%q) = %v, old %v", b, got, want)
				}
			}
		}
	}
}

func FuzzVerbatim(f *testing.F) {
	for _, s := range []string{"", "user", `a\"b`, "caf\xc3\xa9", "\xff", strings.Repeat("\\", 9)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := verbatim(b), oldVerbatim(b); got != want {
			t.Fatalf("verbatim(%q) = %v, old %v", b, got, want)
		}
	})
}

// trimSpace is bytes.TrimSpace: every short string over spaces (ASCII
// and Unicode), JSON bytes and other bytes.
func TestTrimSpace(t *testing.T) {
	atoms := []string{" ", "\t", "\n", "\v", "\f", "\r", "\u0085", "\u00a0", "\u2028", "\u3000", "\x1f", "\x7f", "a", `"`, "}", "\xc2", "\xff", "é"}
	var gen func(s string, n int)
	gen = func(s string, n int) {
		checkTrimSpace(t, []byte(s))
		if n == 0 {
			return
		}
		for _, a := range atoms {
			gen(s+a, n-1)
		}
	}
	gen("", 3)
}

func checkTrimSpace(t *testing.T, b []byte) {
	t.Helper()
	if got, want := trimSpace(b), bytes.TrimSpace(b); !bytes.Equal(got, want) || len(got) != 0 && &got[0] != &want[0] {
		t.Fatalf("trimSpace(%q) = %q, bytes.TrimSpace %q", b, got, want)
	}
}

func FuzzTrimSpace(f *testing.F) {
	for _, s := range []string{"", " x ", "\u00a0x", "[1]", "x\u0085"} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkTrimSpace)
}
