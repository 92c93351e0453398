package bodyscan

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Eight bytes of a short string (a key, a role, a type) at a time in one
// general register: cheaper than IndexByte's call for a few bytes, and
// no SIMD setup.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// byteIs returns a mask of the bytes of x equal to c (their high bits):
// the lowest bit set is exact (the first such byte); bits above it may be
// set for other bytes (the subtraction's borrow), so only the lowest one
// means anything.
func byteIs(x uint64, c byte) uint64 {
	v := x ^ ones*uint64(c)
	return (v - ones) &^ v & highs
}

// PlainASCII reports whether b is all ASCII without a backslash: a string
// literal's contents that decode to themselves and need no UTF-8 check.
func PlainASCII(b []byte) bool {
	n := len(b)
	switch {
	case n >= 8:
		i := 0
		for ; i+8 <= n; i += 8 {
			if !plainWord(binary.LittleEndian.Uint64(b[i:])) {
				return false
			}
		}
		// The tail as the last word (overlapping the one before), not
		// byte by byte.
		return i == n || plainWord(binary.LittleEndian.Uint64(b[n-8:]))
	case n >= 4:
		// A role, a type: the first and the last four bytes, overlapping.
		return plainWord(uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<32)
	}
	for _, c := range b {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// plainWord reports whether the eight bytes of x are ASCII without a
// backslash.
func plainWord(x uint64) bool { return (x|byteIs(x, '\\'))&highs == 0 }

// shortStringEnd returns the end of the string at b[i] == '"' (after its
// closing quote) when it ends within the next shortKey bytes without an
// escape before its end, else ok false (the caller takes the general
// path). Only whole words within b are read.
func shortStringEnd(b []byte, i int) (end int, ok bool) {
	for j := i + 1; j+8 <= len(b) && j <= i+shortKey; j += 8 {
		x := binary.LittleEndian.Uint64(b[j:])
		q, bs := byteIs(x, '"'), byteIs(x, '\\')
		switch {
		case q != 0 && (bs == 0 || bits.TrailingZeros64(q) < bits.TrailingZeros64(bs)):
			return j + bits.TrailingZeros64(q)/8 + 1, true
		case bs != 0:
			return 0, false
		}
	}
	return 0, false
}

// hasBackslash reports whether b[s:e] holds a backslash, reading whole
// words of b (past e too, where b goes on: a key's closing quote and what
// follows it), for the few bytes of a key.
func hasBackslash(b []byte, s, e int) bool {
	for ; s+8 <= e; s += 8 {
		if byteIs(binary.LittleEndian.Uint64(b[s:]), '\\') != 0 {
			return true
		}
	}
	if s >= e {
		return false
	}
	if s+8 <= len(b) {
		// The first backslash of the word, if any, is inside b[s:e] or past it.
		bs := byteIs(binary.LittleEndian.Uint64(b[s:]), '\\')
		return bs != 0 && bits.TrailingZeros64(bs)/8 < e-s
	}
	return bytes.IndexByte(b[s:e], '\\') >= 0
}
