package bodyscan

import (
	"math"
	"math/bits"
)

// The validating pass: one pass over the body, simdjson-style, that judges
// it exactly as encoding/json.Valid does and finds its top-level members on
// the way (no second pass to skip values).
//
// Stage 1, per 64-byte block (classify: SIMD masks of quotes, backslashes,
// structural bytes, whitespace, control bytes, hex digits and escapable
// bytes), in Go: the escaped positions (simdjson's branchless odd-run
// carry), the unescaped quotes, the in-string mask by prefix XOR, and the
// errors that are masks: a backslash outside a string, a control byte
// inside one, an escaped byte that may not be escaped, a \u not followed
// by four hex digits (checked against the next block's hex mask when the
// digits cross it). Outside strings, every byte that is neither whitespace
// nor structural nor a quote belongs to a scalar run: the first byte of
// each run, the structural bytes and the quotes are the tokens.
//
// Stage 2, over the tokens (a few per message in a chat body): the grammar
// as a state machine with a bit stack of open containers (object or
// array) up to encoding/json's nesting limit, scalars (numbers, true,
// false, null) checked in place where their run starts. Nothing allocates:
// the masks of one chunk of blocks and the container stack live in the
// pass.

// maxDepth is encoding/json's nesting limit: 10000 open containers are
// valid, 10001 are not.
const maxDepth = 10000

// Grammar states: what the next token may be.
const (
	sValue    uint8 = iota // a value
	sArrFirst              // a value or ']'
	sObjFirst              // a key or '}'
	sKey                   // a key
	sKeyEnd                // the key's closing quote
	sColon                 // ':'
	sStrEnd                // a string value's closing quote
	sAfter                 // ',' or the container's closing bracket
	sDone                  // nothing: the document's value is complete
)

const evenBits = 0x5555555555555555

// pass is the state of one validating pass over body.
type pass struct {
	body []byte
	st   stage1State
	out  [chunkBlocks]blockOut

	// rawStrings: no byte is 0x80 or above (st.high stays zero) and no \u
	// escape is a lone surrogate (lone stays false). pairedLow is the
	// offset of the 'u' of the low surrogate that completes the last
	// high one seen.
	lone      bool
	pairedLow int

	// Stage 2.
	state   uint8
	depth   int
	rootObj bool // the document is an object: its members are reported
	// The top-level member being read: its key's span, its value's.
	keyStart, keyEnd, valStart, valEnd int
	prevEnd                            int // end of the previous member's value; -1 before the first
	// objs holds one bit per open container, 1 for an object: the first
	// 64 levels here, deeper ones in deep (allocated by the first document
	// that nests that far; the limit is maxDepth).
	objs uint64
	deep []uint64

	// keepStrings makes the pass note where each string value of at least
	// longString bytes starts and ends (strs, in order; Scan's). strStart
	// is the opening quote of the string value being read.
	keepStrings bool
	strStart    int
	strs        []strSpan
}

// setObj records whether the container opened at depth d is an object.
func (s *pass) setObj(d int, obj bool) {
	if d < 64 {
		bit := uint64(1) << d
		if obj {
			s.objs |= bit
		} else {
			s.objs &^= bit
		}
		return
	}
	if s.deep == nil {
		s.deep = make([]uint64, maxDepth/64+1)
	}
	w, bit := d/64, uint64(1)<<(d%64)
	if obj {
		s.deep[w] |= bit
	} else {
		s.deep[w] &^= bit
	}
}

// isObj reports whether the container open at depth d is an object.
func (s *pass) isObj(d int) bool {
	if d < 64 {
		return s.objs>>d&1 == 1
	}
	return s.deep[d/64]>>(d%64)&1 == 1
}

// validate runs the pass over body (not only whitespace: the caller checks
// Empty first) and reports whether it is one valid JSON document, whether
// it is an object, and where it failed. onMember (may be nil) sees each
// top-level member of an object as it completes; it must not take a
// member for valid before validate returns ok.
func (s *pass) validate(body []byte, onMember func(f field)) (ok bool, at int) {
	// Not s = pass{...}: the masks and the container stack need no zeroing
	// (each bit is written before it is read).
	s.body = body
	s.st = stage1State{}
	s.lone, s.pairedLow = false, -1
	s.state, s.depth, s.rootObj, s.prevEnd = sValue, 0, false, -1
	full := len(body) &^ (blockLen - 1)
	for c := 0; c < full; c += chunkLen {
		n := min(chunkLen, full-c) / blockLen
		if at := s.blocks(body[c:], c, n, onMember); at >= 0 {
			return false, at
		}
	}
	// The last bytes, in a block padded with spaces: whitespace outside a
	// string, nothing wrong inside one, not a hex digit nor an escapable
	// byte (so a backslash or a \u cut by the end is an error here).
	pad := spaceBlock
	copy(pad[:], body[full:])
	if at := s.blocks(pad[:], full, 1, onMember); at >= 0 {
		return false, at
	}
	if s.state != sDone {
		return false, len(body)
	}
	return true, 0
}

var spaceBlock = func() (b [blockLen]byte) {
	for i := range b {
		b[i] = ' '
	}
	return b
}()

// rawStrings reports, after a valid pass, whether every string literal is
// raw copyable: all ASCII and no lone surrogate escape.
func (s *pass) rawStrings() bool { return s.st.high == 0 && !s.lone }

// stage1 runs stage 1 over the first n blocks of src. Every validation
// declares a pass and Go zeroes what it declares, so the pass holds nothing
// a call may not need: the portable path's mask scratch (stage1AVX512 needs
// none) lives in stage1Portable's frame.
func (s *pass) stage1(src []byte, n int) (done int, bad uint64) {
	if useAVX512 {
		return stage1(&s.st, &s.out, nil, src, n)
	}
	return stage1Portable(&s.st, &s.out, src, n)
}

//go:noinline
func stage1Portable(st *stage1State, out *[chunkBlocks]blockOut, src []byte, n int) (done int, bad uint64) {
	var cls [chunkBlocks]blockClass
	return stage1(st, out, &cls, src, n)
}

// blocks runs both stages over the first n blocks of src, the body's from
// offset base, and returns the offset of the first error or -1.
func (s *pass) blocks(src []byte, base, n int, onMember func(f field)) int {
	done, bad := s.stage1(src, n)
	for k, o := range s.out[:done] {
		at := base + k*blockLen
		// A \u followed by 'd' (or by the next block) may be a surrogate.
		if cand := o.uEsc & (o.d>>1 | 1<<63); cand != 0 {
			s.surrogates(cand, at)
		}
		if o.tokens != 0 {
			if e := s.tokens(o.tokens, at, onMember); e >= 0 {
				return e
			}
		}
	}
	if done < n {
		return base + done*blockLen + bits.TrailingZeros64(bad)
	}
	return -1
}

// stage1State is stage 1's carries from one block to the next, and what
// it learns of the whole body.
type stage1State struct {
	esc    uint64 // 1: the block's first byte is escaped
	str    uint64 // all ones: the block starts inside a string
	scalar uint64 // 1: the previous block ended in a scalar run
	hex    uint64 // \u digits that must be hex in the block's first bits
	high   uint64 // nonzero: a byte was 0x80 or above
}

// blockOut is stage 1's answer for a block, for stage 2: its tokens (the
// structural bytes and quotes outside strings, the first byte of each
// scalar run), its escaped 'u' bytes and its 'd' bytes (surrogates; zero
// in a block without escapes, where no \u reads them).
type blockOut struct {
	tokens, uEsc, d uint64
}

// stage1Go is stage 1 in Go over the masks of n blocks (classifyGo's): it
// fills out for each block without an error and returns how many; bad is
// the error mask of the block after them (when done < n). The reference
// for stage1AVX512.
func stage1Go(st *stage1State, out *[chunkBlocks]blockOut, cls *[chunkBlocks]blockClass, n int) (done int, bad uint64) {
	escCarry, strCarry, scalarCarry, hexCarry := st.esc, st.str, st.scalar, st.hex
	for k := range n {
		c := &cls[k]
		if c.quote|c.bs|escCarry|hexCarry == 0 && strCarry != 0 {
			// Inside a string all along (most of a prompt): only a
			// control byte is wrong, and there is no token.
			if c.ctl != 0 {
				st.esc, st.str, st.scalar, st.hex = escCarry, strCarry, scalarCarry, hexCarry
				return k, c.ctl
			}
			// Its 'd' bytes need no mask: no \u of this block reads them
			// (blocks reads d only with uEsc).
			scalarCarry = 0
			out[k] = blockOut{}
			continue
		}
		// simdjson's find_escaped_branchless: a backslash that is escaped
		// escapes nothing; every other byte of a run is escaped, counting
		// from the run's start.
		bs := c.bs &^ escCarry
		follows := bs<<1 | escCarry
		oddStarts := bs &^ evenBits &^ follows
		evenSeqs, out1 := bits.Add64(oddStarts, bs, 0)
		escaped := (evenBits ^ evenSeqs<<1) & follows
		escCarry = out1

		quote := c.quote &^ escaped
		inStr := prefixXor(quote) ^ strCarry // opening quote in, closing quote out
		strCarry = uint64(int64(inStr) >> 63)

		// The four bytes after each escaped 'u' are hex digits; those past
		// the block's end are checked against the next block's.
		uEsc := escaped & c.u
		bad := c.bs&^inStr | c.ctl&inStr | escaped&^c.esc | (hexCarry|uEsc<<1|uEsc<<2|uEsc<<3|uEsc<<4)&^c.hex
		hexCarry = uEsc>>63 | uEsc>>62 | uEsc>>61 | uEsc>>60
		if bad != 0 {
			st.esc, st.str, st.scalar, st.hex = escCarry, strCarry, scalarCarry, hexCarry
			return k, bad
		}
		scalar := ^(inStr | c.op | c.ws | c.quote)
		starts := scalar &^ (scalar<<1 | scalarCarry)
		scalarCarry = scalar >> 63
		out[k] = blockOut{tokens: c.op&^inStr | quote | starts, uEsc: uEsc, d: c.d}
	}
	st.esc, st.str, st.scalar, st.hex = escCarry, strCarry, scalarCarry, hexCarry
	return n, 0
}

// prefixXor sets each bit of x to the XOR of it and all lower bits: from
// the quote mask, the bytes from an opening quote up to (not including)
// its closing one.
func prefixXor(x uint64) uint64 {
	x ^= x << 1
	x ^= x << 2
	x ^= x << 4
	x ^= x << 8
	x ^= x << 16
	x ^= x << 32
	return x
}

// surrogates notes a lone surrogate among the \u escapes whose 'u' bytes
// are the bits of uEsc, in the block at offset base: a high one
// (\uD800-\uDBFF) not followed at once by a \u low one (\uDC00-\uDFFF), or
// a low one not so preceded. Digits that are not hex make the body
// invalid: what it says about them does not matter, it only reads within
// the body.
func (s *pass) surrogates(uEsc uint64, base int) {
	b := s.body
	for ; uEsc != 0; uEsc &= uEsc - 1 {
		p := base + bits.TrailingZeros64(uEsc)
		if p+4 >= len(b) || b[p+1]|0x20 != 'd' {
			continue
		}
		switch d := b[p+2] | 0x20; {
		case d == '8' || d == '9' || d == 'a' || d == 'b':
			if p+10 < len(b) && b[p+5] == '\\' && b[p+6] == 'u' && b[p+7]|0x20 == 'd' && isLowSecond(b[p+8]) {
				s.pairedLow = p + 6
			} else {
				s.lone = true
			}
		case isLowSecond(b[p+2]):
			if p != s.pairedLow {
				s.lone = true
			}
		}
	}
}

// isLowSecond: c is the second hex digit of a low surrogate (c-f).
func isLowSecond(c byte) bool {
	c |= 0x20
	return c >= 'c' && c <= 'f'
}

// tokens runs the grammar over the tokens of the block at offset base (the
// bits of t) and returns the offset of the first error or -1.
func (s *pass) tokens(t uint64, base int, onMember func(f field)) int {
	b := s.body
	for ; t != 0; t &= t - 1 {
		p := base + bits.TrailingZeros64(t)
		c := b[p]
		switch s.state {
		case sValue, sArrFirst:
			if s.depth == 1 {
				s.valStart = p
			}
			switch c {
			case '{', '[':
				if s.depth == maxDepth {
					return p
				}
				s.setObj(s.depth, c == '{')
				if c == '{' {
					s.state = sObjFirst
				} else {
					s.state = sArrFirst
				}
				if s.depth == 0 {
					s.rootObj = c == '{'
				}
				s.depth++
			case '"':
				s.state, s.strStart = sStrEnd, p
			case ']':
				if s.state != sArrFirst {
					return p
				}
				s.depth--
				s.valueEnd(p + 1)
			case '}', ',', ':':
				return p
			default:
				e := scalarEnd(b, p)
				if e < 0 {
					return p
				}
				s.valueEnd(e)
			}
		case sObjFirst, sKey:
			switch {
			case c == '"':
				if s.depth == 1 {
					s.keyStart = p
				}
				s.state = sKeyEnd
			case c == '}' && s.state == sObjFirst:
				s.depth--
				s.valueEnd(p + 1)
			default:
				return p
			}
		case sKeyEnd: // the closing quote: the only token a string has
			if s.depth == 1 {
				s.keyEnd = p + 1
			}
			s.state = sColon
		case sColon:
			if c != ':' {
				return p
			}
			s.state = sValue
		case sStrEnd:
			if s.keepStrings && p+1-s.strStart >= longString {
				s.noteString(p + 1)
			}
			s.valueEnd(p + 1)
		case sAfter:
			d := s.depth - 1
			obj := s.isObj(d)
			switch {
			case c == ',':
				if d == 0 && s.rootObj {
					s.member(p, c, onMember)
				}
				if obj {
					s.state = sKey
				} else {
					s.state = sValue
				}
			case c == '}' && obj, c == ']' && !obj:
				if d == 0 && s.rootObj {
					s.member(p, c, onMember)
				}
				s.depth--
				s.valueEnd(p + 1)
			default:
				return p
			}
		default: // sDone: a second value
			return p
		}
	}
	return -1
}

// valueEnd completes a value that ends at e.
func (s *pass) valueEnd(e int) {
	switch s.depth {
	case 0:
		s.state = sDone
		return
	case 1:
		s.valEnd = e
	}
	s.state = sAfter
}

// member reports the top-level member that the ',' or '}' at b[p] ends.
func (s *pass) member(p int, next byte, onMember func(f field)) {
	f := field{keyStart: s.keyStart, keyEnd: s.keyEnd, valStart: s.valStart, valEnd: s.valEnd}
	switch {
	case next == ',':
		// Remove `"k": v,` and the space before the next key.
		f.cutStart, f.cutEnd = s.keyStart, skipSpace(s.body, p+1)
	case s.prevEnd >= 0:
		// Last member: remove `, "k": v` back to the previous value.
		f.cutStart, f.cutEnd = s.prevEnd, s.valEnd
	default:
		// Only member.
		f.cutStart, f.cutEnd = s.keyStart, s.valEnd
	}
	s.prevEnd = s.valEnd
	if onMember != nil {
		onMember(f)
	}
}

// noteString notes the long string value that ends at end (its closing
// quote's offset plus one). The first note makes room for one per 2 KiB
// of body (a long conversation's turns), so most bodies' notes take one
// allocation. (Not inlined: tokens' loop keeps only the length check.)
//
//go:noinline
func (s *pass) noteString(end int) {
	if end > math.MaxInt32 {
		return // past what a span holds (no body Envoy buffers is that long): found again by the walk
	}
	if s.strs == nil {
		s.strs = make([]strSpan, 0, len(s.body)/(2*longString)+4)
	}
	s.strs = append(s.strs, strSpan{int32(s.strStart), int32(end)})
}

// scalarEnd returns the end of the number or literal (true, false, null)
// at b[i], which must run to the end of b or to a byte that is not part of
// a scalar run (whitespace, structural, a quote), else -1.
func scalarEnd(b []byte, i int) int {
	j := i
	switch c := b[i]; c {
	case 't':
		if len(b)-i < 4 || string(b[i:i+4]) != "true" {
			return -1
		}
		j += 4
	case 'f':
		if len(b)-i < 5 || string(b[i:i+5]) != "false" {
			return -1
		}
		j += 5
	case 'n':
		if len(b)-i < 4 || string(b[i:i+4]) != "null" {
			return -1
		}
		j += 4
	default:
		if j = numberEnd(b, i); j < 0 {
			return -1
		}
	}
	if j < len(b) && byteClass[b[j]]&(cQuote|cOp|cWS) == 0 {
		return -1
	}
	return j
}

// numberEnd returns the end of the JSON number at b[i]
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), or -1.
func numberEnd(b []byte, i int) int {
	j := i
	if b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		j = digits(b, j+1)
	default:
		return -1
	}
	if j < len(b) && b[j] == '.' {
		if j+1 >= len(b) || !isDigit(b[j+1]) {
			return -1
		}
		j = digits(b, j+1)
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || !isDigit(b[j]) {
			return -1
		}
		j = digits(b, j)
	}
	return j
}

func digits(b []byte, j int) int {
	for j < len(b) && isDigit(b[j]) {
		j++
	}
	return j
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
