package bodyscan

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// Every string over the bytes that matter (a plain byte, a quote, a
// backslash, a byte from 0x80 on) up to 10 bytes long, at the start of
// a buffer and followed by more of them: the word-at-a-time helpers answer
// as the byte-wise definitions do.
func TestSWARExhaustive(t *testing.T) {
	alphabet := []byte{'a', '"', '\\', 0xe9}
	for n := 0; n <= 10; n++ {
		total := 1
		for range n {
			total *= len(alphabet)
		}
		for code := range total {
			s := make([]byte, n)
			for k, c := 0, code; k < n; k, c = k+1, c/len(alphabet) {
				s[k] = alphabet[c%len(alphabet)]
			}
			checkSWAR(t, s)
		}
	}
	// Longer: a quote, a backslash or a high byte at every offset past
	// the first words and shortKey.
	for n := 1; n <= shortKey+12; n++ {
		for at := 0; at < n; at++ {
			for _, c := range []byte{'"', '\\', 0x80, 0xff, 0x5c ^ 0x80, 0x22 ^ 0x01} {
				s := bytes.Repeat([]byte{'k'}, n)
				s[at] = c
				checkSWAR(t, s)
			}
		}
	}
}

func checkSWAR(t *testing.T, s []byte) {
	t.Helper()
	plain := bytes.IndexByte(s, '\\') < 0
	for _, c := range s {
		plain = plain && c < 0x80
	}
	if got := PlainASCII(s); got != plain {
		t.Fatalf("PlainASCII(%q) = %v, want %v", s, got, plain)
	}
	// hasBackslash over every span of s, reading past its end into s.
	for i := 0; i <= len(s); i++ {
		for j := i; j <= len(s); j++ {
			if got, want := hasBackslash(s, i, j), bytes.IndexByte(s[i:j], '\\') >= 0; got != want {
				t.Fatalf("hasBackslash(%q, %d, %d) = %v, want %v", s, i, j, got, want)
			}
		}
	}
	// shortStringEnd of the string opened by a quote before s: when it
	// answers, trustedStringEnd's end with no backslash before it.
	b := append([]byte{'"'}, s...)
	if end, ok := shortStringEnd(b, 0); ok {
		want, wok := trustedStringEnd(b, 0)
		if !wok || end != want || bytes.IndexByte(b[1:end], '\\') >= 0 || end > shortKey+9 {
			t.Fatalf("shortStringEnd(%q) = %d, trustedStringEnd %d %v", b, end, want, wok)
		}
	} else if q := bytes.IndexByte(b[1:], '"'); q >= 0 && q+9 <= len(b)-1 && q <= shortKey-8 && bytes.IndexByte(b[1:q+1], '\\') < 0 {
		// A quote before any backslash, within a whole word of b and
		// within shortKey: the word loop must have found it.
		t.Fatalf("shortStringEnd(%q) missed the end at %d", b, q+2)
	}
}

// keyOf (Walk's keys) reads a one-word key in place, escapes at every
// position of keys around a word long included, and near the body's end.
func TestKeyOfWords(t *testing.T) {
	var keys []string
	for n := 0; n <= 10; n++ {
		plain := strings.Repeat("k", n)
		keys = append(keys, plain)
		for at := 0; at <= n; at++ {
			for _, esc := range []string{`\n`, `\\`, `\"`, `\u0041`, `\/`} {
				keys = append(keys, plain[:at]+esc+plain[at:])
			}
		}
	}
	for _, k := range keys {
		var want string
		if err := json.Unmarshal([]byte(`"`+k+`"`), &want); err != nil {
			t.Fatal(err)
		}
		for _, body := range []string{`{"` + k + `":1}`, `{"` + k + `":"` + `\\` + `"}`, `{"a":2,"` + k + `":{}}`} {
			var got []string
			if err := Walk([]byte(body), func(key string, _, _ int) error { got = append(got, strings.Clone(key)); return nil }); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if got[len(got)-1] != want {
				t.Fatalf("%s: key %q, want %q", body, got[len(got)-1], want)
			}
		}
	}
}

// oldWholeNumber is wholeNumber before SmallInt: the reference.
func oldWholeNumber(lit []byte) (int64, bool) {
	if len(lit) == 0 || len(lit) > 16 {
		return 0, false
	}
	var n int64
	for _, c := range lit {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n <= maxWholeNumber
}

func TestWholeNumberMatchesOld(t *testing.T) {
	lits := []string{"", "-", "0", "-0", "-5", "7", "1.5", "1e3", "9007199254740992", "9007199254740993", "99999999999999999",
		"999999999999999999", "1000000000000000000", "0400", "12a"}
	for n := int64(1); n > 0 && n < 1<<62; n = n*3 + 1 {
		lits = append(lits, strconv.FormatInt(n, 10), strconv.FormatInt(-n, 10))
	}
	for _, lit := range lits {
		n, ok := wholeNumber([]byte(lit))
		wn, wok := oldWholeNumber([]byte(lit))
		if ok != wok || ok && n != wn {
			t.Fatalf("wholeNumber(%q) = %d %v, old %d %v", lit, n, ok, wn, wok)
		}
	}
}
