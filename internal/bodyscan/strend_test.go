package bodyscan

import (
	"fmt"
	"strings"
	"testing"
)

// stringEndRef is the plain string end, one byte at a time: from inside a
// string at b[j] (b[j] not escaped), the offset after its closing quote.
func stringEndRef(b []byte, j int) (int, bool) {
	for ; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// checkStringEnd checks stringRest and trustedStringEnd (the kernel from
// the first byte and after the IndexByte steps, and without the kernel)
// against the plain string end, for the string whose opening quote is
// b[i]. Stage 1's skip (no kernel) validates what it reads, so it is
// checked only for a valid document's bytes (valid).
func checkStringEnd(t *testing.T, b []byte, i int, valid bool) {
	t.Helper()
	want, wok := stringEndRef(b, i+1)
	checkKernels(t, b, i+1)
	for _, q := range []int{0, 1, 32} {
		for _, kernel := range []bool{true, false} {
			if !kernel && (!valid || !wok) {
				continue
			}
			func() {
				defer func(q int, k bool) { escapedQuotes, useStringKernel = q, k }(escapedQuotes, useStringKernel)
				escapedQuotes, useStringKernel = q, kernel && useStringKernel
				if got, ok := trustedStringEnd(b, i); got != want || ok != wok {
					t.Fatalf("trustedStringEnd(%q, %d) with %d IndexByte steps, kernel %v = %d %v, want %d %v", b, i, q, useStringKernel, got, ok, want, wok)
				}
			}()
		}
	}
}

// checkKernels checks stringRest from b[j] against the plain string end,
// with each kernel this machine has (AVX-512, then AVX2).
func checkKernels(t *testing.T, b []byte, j int) {
	t.Helper()
	want, wok := stringEndRef(b, j)
	defer func(v bool) { useAVX512 = v }(useAVX512)
	for {
		if got, ok := stringRest(b, j); got != want || ok != wok {
			t.Fatalf("stringRest(%q, %d) with AVX-512 %v = %d %v, want %d %v", b, j, useAVX512, got, ok, want, wok)
		}
		if !useAVX512 {
			return
		}
		useAVX512 = false
	}
}

// TestStringEndRuns: runs of 1..130 backslashes before a quote at offsets
// around block ends from where the kernel starts, the string ending there
// (even runs) or later (odd ones), at the end of b or before more bytes,
// or not at all; and every alignment of the string in b.
func TestStringEndRuns(t *testing.T) {
	tails := []string{"", `,"k":1}`, strings.Repeat("y", 60)}
	for _, q := range []int{0, 1, 31, 32, 62, 63, 64, 65, 127, 128, 129, 191, 192} {
		for r := 0; r <= 130 && r <= q; r++ {
			content := strings.Repeat("x", q-r) + strings.Repeat(`\`, r) + `"`
			for _, after := range []string{`ab"`, `ab\\"`} {
				if r%2 == 0 {
					after = ""
				}
				for _, tail := range tails {
					checkStringEnd(t, []byte(`"`+content+after+tail), 0, true)
				}
			}
			if r%2 == 1 {
				content += `ab\\"`
			}
			// Unterminated: cut before the closing quote, or within an
			// escape.
			open := []byte(`"` + content)
			checkStringEnd(t, open[:len(open)-1], 0, true)
			checkStringEnd(t, []byte(`"`+strings.Repeat("x", q-r)+strings.Repeat(`\`, r)), 0, true)
		}
	}
	for pre := 0; pre < 2*blockLen+3; pre++ {
		for _, s := range []string{
			`"` + strings.Repeat("z", blockLen-1) + `"`, // ends at a block end from the kernel's start
			`"` + strings.Repeat(`a\"`, 50) + `"`,
			`"` + strings.Repeat(`\\`, 70) + `\"` + strings.Repeat("x", 2*blockLen) + `"`,
			`"` + strings.Repeat(`\\\"`, 40),
		} {
			b := []byte(strings.Repeat(" ", pre) + s)
			checkStringEnd(t, b, pre, true)
			checkStringEnd(t, append(b, "}  "...), pre, true)
		}
	}
}

// TestStringEndBounds: the kernel never reads past the end of b, for
// strings (ended or not) whose last byte is the last of a page followed
// by one that may not be read.
func TestStringEndBounds(t *testing.T) {
	page, release := guardedPage(t)
	defer release()
	for n := 1; n <= 3*blockLen+1 && n <= len(page); n++ {
		for _, fill := range []string{"x", `\`, `\"`, `a"`, `\\"`} {
			b := page[len(page)-n:]
			for k := range b {
				b[k] = fill[k%len(fill)]
			}
			b[0] = '"'
			checkStringEnd(t, b, 0, false)
		}
	}
}

// FuzzStringEnd: on any bytes, from any start, the kernel's end is the
// plain one (the escape logic does not depend on the bytes being JSON).
func FuzzStringEnd(f *testing.F) {
	f.Add([]byte(`"ab\"c\\"`), 0)
	f.Add([]byte(`x"`+strings.Repeat(`\\\"`, 30)+`"`), 1)
	f.Add([]byte(`"`+strings.Repeat(`\`, 64)+`"`), 0)
	f.Fuzz(func(t *testing.T, b []byte, i int) {
		if i < 0 || i >= len(b) {
			return
		}
		checkKernels(t, b, i+1)
		if b[i] == '"' {
			checkStringEnd(t, b, i, false)
		}
	})
}

// BenchmarkStringEnd is trustedStringEnd on strings with an escaped quote
// every 70 bytes (quoted code): the kernel after the first (kernel), every
// quote by IndexByte (indexbyte), or 32 by IndexByte then stage 1's skip
// (stage1, what was there before the kernel).
func BenchmarkStringEnd(b *testing.B) {
	for _, size := range []int{64, 256, 1 << 10, 64 << 10} {
		s := []byte(`"` + strings.Repeat(strings.Repeat("x", 66)+`\"`, size/68+1)[:size] + `"}`)
		if s[len(s)-3] == '\\' {
			s[len(s)-3] = 'y'
		}
		for _, m := range []struct {
			name   string
			quotes int
			kernel bool
		}{{"kernel", escapedQuotes, useStringKernel}, {"indexbyte", 1 << 30, false}, {"stage1", 32, false}} {
			b.Run(fmt.Sprintf("%d/%s", size, m.name), func(b *testing.B) {
				defer func(q int, k bool) { escapedQuotes, useStringKernel = q, k }(escapedQuotes, useStringKernel)
				escapedQuotes, useStringKernel = m.quotes, m.kernel
				b.SetBytes(int64(len(s)))
				for b.Loop() {
					if end, ok := trustedStringEnd(s, 0); !ok || end != len(s)-1 {
						b.Fatal(end, ok)
					}
				}
			})
		}
	}
}
