// Package bodyscan reads the few top-level members of an OpenAI-style JSON
// request that routing needs (`model` and the backend member) without
// decoding the document: keys are compared in place and every value is
// skipped with sonic's validating skipper, so a 1 MiB body of messages costs
// one pass and no allocation that grows with its size.
//
// It is the one top-level JSON scanner of both phases: the translators of
// the upstream phase read and find members through Walk and Find, so a body
// is valid for one phase exactly when it is for the other.
package bodyscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/decoder"
)

// Kind says what was wrong with a body, so callers can pick the status and
// the OpenAI error `param` without parsing messages.
type Kind int

const (
	// Empty: no bytes, or only whitespace.
	Empty Kind = iota + 1
	// Invalid: not a JSON document.
	Invalid
	// NotObject: valid JSON whose top level is not an object.
	NotObject
	// Duplicate: a member we route on appears twice. Gateways and providers
	// disagree on which duplicate wins, which is a routing and billing hole.
	Duplicate
	// BadEncoding: a member we route on is not valid UTF-8. It would become
	// a header value and a protobuf string in dynamic metadata, where
	// invalid UTF-8 is an error, and no provider knows such a model.
	BadEncoding
)

// Error describes why a body could not be scanned.
type Error struct {
	Kind   Kind
	Member string // for Duplicate: the member's name
	Offset int    // byte offset where scanning stopped
}

func (e *Error) Error() string {
	switch e.Kind {
	case Empty:
		return "request body is empty"
	case NotObject:
		return "request body must be a JSON object"
	case Duplicate:
		return fmt.Sprintf("request body has more than one top-level %q member", e.Member)
	case BadEncoding:
		return fmt.Sprintf("the %q member is not valid UTF-8", e.Member)
	default:
		return fmt.Sprintf("request body is not valid JSON (at byte %d)", e.Offset)
	}
}

// ValueType is the JSON type of a member's value.
type ValueType uint8

const (
	TypeNone ValueType = iota
	TypeString
	TypeNumber
	TypeObject
	TypeArray
	TypeBool
	TypeNull
)

func (t ValueType) String() string {
	return [...]string{"none", "string", "number", "object", "array", "boolean", "null"}[t]
}

// Member is one top-level member found in the body.
type Member struct {
	Present bool
	Type    ValueType
	// Value is the decoded string when Type is TypeString.
	Value string
	// cut is the byte span to delete to remove the member together with one
	// adjacent comma, leaving valid JSON.
	cutStart, cutEnd int
}

// Result holds the members routing needs.
type Result struct {
	Model   Member
	Backend Member
	// MaxTokens is the request's output cap: the larger of its top-level
	// max_tokens and max_completion_tokens when they are whole numbers in
	// [0, 2^53], -1 when there is none (what quota budgets reserve for).
	MaxTokens int64

	// For the upstream phase (FindingsOf): the model value's span, the
	// last "stream" member's verdict, the number of members and the last
	// "messages" value's span.
	modelStart, modelEnd int
	messagesStart        int
	messagesEnd          int
	stream               bool
	members              int
}

// Scan validates body as a JSON object and returns its top-level `model` and
// backendField members. Keys are compared after unescaping, so
// `"mod\u0065l"` is the model member too: an escaped duplicate must not slip
// past the duplicate check.
func Scan(body []byte, backendField string) (Result, error) {
	r := Result{MaxTokens: -1}
	w, err := newWalker(body)
	for err == nil {
		var (
			key  string
			f    field
			more bool
		)
		if key, f, more, err = w.next(); !more || err != nil {
			break
		}
		r.members++
		var target *Member
		switch key {
		case "model":
			target = &r.Model
			r.modelStart, r.modelEnd = f.valStart, f.valEnd
		case backendField:
			target = &r.Backend
		case "stream":
			r.stream = string(body[f.valStart:f.valEnd]) == "true"
			continue
		case "messages":
			r.messagesStart, r.messagesEnd = f.valStart, f.valEnd
			continue
		case "max_tokens", "max_completion_tokens":
			if n, ok := wholeNumber(body[f.valStart:f.valEnd]); ok && n > r.MaxTokens {
				r.MaxTokens = n
			}
			continue
		default:
			continue
		}
		if target.Present {
			return r, &Error{Kind: Duplicate, Member: strings.Clone(key), Offset: f.keyStart}
		}
		m := Member{Present: true, Type: typeOf(body[f.valStart]), cutStart: f.cutStart, cutEnd: f.cutEnd}
		if m.Type == TypeString {
			if m.Value, err = decodeString(body[f.valStart:f.valEnd]); err != nil {
				return r, &Error{Kind: Invalid, Offset: f.valStart}
			}
			if !utf8.ValidString(m.Value) {
				return r, &Error{Kind: BadEncoding, Member: strings.Clone(key), Offset: f.valStart}
			}
		}
		*target = m
	}
	return r, err
}

// maxWholeNumber is 2^53: integers up to it are exact in every JSON decoder.
const maxWholeNumber = 1 << 53

// wholeNumber reads a JSON number literal that is a non-negative integer
// (digits only) up to maxWholeNumber, without allocating.
func wholeNumber(lit []byte) (int64, bool) {
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

// Walk validates body as one JSON object, exactly as Scan does (the one
// definition of valid, for both phases), and calls fn for each top-level
// member in order with its key and its value's span body[vs:ve]. The key is
// unescaped; it aliases body (unless it had escapes) and is only valid
// during the call: clone it to keep it. The body is validated before fn is
// first called. An error from fn ends the walk and is returned as is; a body
// that is not one valid JSON object is an *Error.
func Walk(body []byte, fn func(key string, vs, ve int) error) error {
	w, err := newWalker(body)
	return w.each(err, fn)
}

// each calls fn for each remaining member, unless err (the walker's start)
// is already an error.
func (w *walker) each(err error, fn func(key string, vs, ve int) error) error {
	for err == nil {
		key, f, more, nerr := w.next()
		if !more || nerr != nil {
			return nerr
		}
		err = fn(key, f.valStart, f.valEnd)
	}
	return err
}

// Find returns the span of the value of body's top-level member key, after
// validating body like Walk. A second member of that name is a Duplicate
// *Error: which one a reader takes is not something to guess.
func Find(body []byte, key string) (vs, ve int, found bool, err error) {
	w, err := newWalker(body)
	for err == nil {
		k, f, more, nerr := w.next()
		if !more || nerr != nil {
			if nerr != nil {
				return 0, 0, false, nerr
			}
			return vs, ve, found, nil
		}
		if k != key {
			continue
		}
		if found {
			return 0, 0, false, &Error{Kind: Duplicate, Member: strings.Clone(key), Offset: f.keyStart}
		}
		vs, ve, found = f.valStart, f.valEnd, true
	}
	return 0, 0, false, err
}

// Elements calls fn with the index and the span arr[vs:ve] of each element
// of the JSON array arr, in order. arr must be a value Walk or Find returned
// (validated with its document): elements are only skipped, not validated
// again, so a translator walks a nested array without decoding it. An error
// from fn ends the walk and is returned as is; arr not being an array is an
// *Error.
func Elements(arr []byte, fn func(i, vs, ve int) error) error {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return &Error{Kind: Invalid, Offset: i}
	}
	if i = skipSpace(arr, i+1); i < len(arr) && arr[i] == ']' {
		return trailing(arr, i+1)
	}
	for n := 0; ; n++ {
		vs, ve, err := skipValue(arr, i)
		if err != nil {
			return err
		}
		if err := fn(n, vs, ve); err != nil {
			return err
		}
		if i = skipSpace(arr, ve); i >= len(arr) {
			return &Error{Kind: Invalid, Offset: i}
		}
		switch arr[i] {
		case ',':
			i = skipSpace(arr, i+1)
		case ']':
			return trailing(arr, i+1)
		default:
			return &Error{Kind: Invalid, Offset: i}
		}
	}
}

// Members calls fn for each member of the JSON object obj, like Walk, but
// obj must be a value Walk or Find returned (validated with its document):
// it is not validated again, so a reader walks a nested object (a
// response's usage) for the cost of skipping it. obj not being an object is
// an *Error; an error from fn ends the walk and is returned as is.
func Members(obj []byte, fn func(key string, vs, ve int) error) error {
	i := skipSpace(obj, 0)
	if i == len(obj) {
		return &Error{Kind: Empty}
	}
	w, err := objectWalker(obj, i)
	return w.each(err, fn)
}

// field is one top-level member as the walker finds it.
type field struct {
	keyStart         int // the key's opening quote
	valStart, valEnd int
	// cutStart, cutEnd is the span to delete to remove the member together
	// with one adjacent comma, leaving valid JSON.
	cutStart, cutEnd int
}

// walker is the one top-level scanner: newWalker validates body as one JSON
// document, and next steps through its top-level members. It is a value
// the caller loops over (no callbacks), so a scan allocates nothing.
type walker struct {
	body    []byte
	i       int
	prevEnd int // end of the previous member's value; -1 before the first
	done    bool
}

func newWalker(body []byte) (walker, error) {
	i := skipSpace(body, 0)
	if i == len(body) {
		return walker{}, &Error{Kind: Empty}
	}
	// One SIMD validation pass over the whole document; the walk then only
	// skips values (sonic's skipper does not check escapes on its own).
	if ok, at := encoderValid(body); !ok {
		return walker{}, &Error{Kind: Invalid, Offset: at}
	}
	return objectWalker(body, i)
}

// objectWalker starts a walk of the object at body[i] (past any space), of
// a document already validated.
func objectWalker(body []byte, i int) (walker, error) {
	if body[i] != '{' {
		return walker{}, &Error{Kind: NotObject, Offset: i}
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return walker{done: true}, trailing(body, i+1)
	}
	return walker{body: body, i: i, prevEnd: -1}, nil
}

// next returns the next member with its unescaped key (aliasing body when
// it has no escapes); more is false after the last.
func (w *walker) next() (key string, f field, more bool, err error) {
	if w.done {
		return "", field{}, false, nil
	}
	body, i := w.body, w.i
	if i >= len(body) || body[i] != '"' {
		return "", f, false, &Error{Kind: Invalid, Offset: i}
	}
	keyStart := i
	keyEnd, escaped, err := skipString(body, i)
	if err != nil {
		return "", f, false, err
	}
	i = skipSpace(body, keyEnd)
	if i >= len(body) || body[i] != ':' {
		return "", f, false, &Error{Kind: Invalid, Offset: i}
	}
	i = skipSpace(body, i+1)
	valStart, valEnd, err := skipValue(body, i)
	if err != nil {
		return "", f, false, err
	}
	i = skipSpace(body, valEnd)
	if i >= len(body) {
		return "", f, false, &Error{Kind: Invalid, Offset: i}
	}
	next := body[i]
	if next != ',' && next != '}' {
		return "", f, false, &Error{Kind: Invalid, Offset: i}
	}
	if escaped {
		var k string // scoped here: only an escaped key allocates
		if err := sonic.Unmarshal(body[keyStart:keyEnd], &k); err != nil {
			return "", f, false, &Error{Kind: Invalid, Offset: keyStart}
		}
		key = k
	} else if keyEnd-keyStart > 2 {
		key = unsafe.String(&body[keyStart+1], keyEnd-keyStart-2)
	}
	f = field{keyStart: keyStart, valStart: valStart, valEnd: valEnd}
	switch {
	case next == ',':
		// Remove `"k": v,` and the space before the next key.
		f.cutStart, f.cutEnd = keyStart, skipSpace(body, i+1)
	case w.prevEnd >= 0:
		// Last member: remove `, "k": v` back to the previous value.
		f.cutStart, f.cutEnd = w.prevEnd, valEnd
	default:
		// Only member.
		f.cutStart, f.cutEnd = keyStart, valEnd
	}
	if next == '}' {
		w.done = true
		if err := trailing(body, i+1); err != nil {
			return "", f, false, err
		}
	}
	w.prevEnd = valEnd
	w.i = skipSpace(body, i+1)
	return key, f, true, nil
}

// RemoveMember deletes m from body in place and returns the shortened slice.
// body must be the slice Scan read and must not have changed since; the
// caller owns it (Envoy's Bytes() already hands us a private copy, so no
// second body-sized buffer is needed).
func RemoveMember(body []byte, m Member) []byte {
	if !m.Present {
		return body
	}
	n := copy(body[m.cutStart:], body[m.cutEnd:])
	return body[:m.cutStart+n]
}

func trailing(body []byte, i int) error {
	if i = skipSpace(body, i); i != len(body) {
		return &Error{Kind: Invalid, Offset: i}
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the closing quote of the string that
// starts at b[i] == '"', and whether it contains escapes. Keys are short, so
// one byte loop (quote, backslash and control bytes at once) beats both the
// skipper and bytes.IndexAny, which builds its byte set on every call.
func skipString(b []byte, i int) (end int, escaped bool, err error) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			j++ // the escaped byte; encoderValid already checked the sequence
		case c < 0x20:
			return 0, false, &Error{Kind: Invalid, Offset: i}
		}
	}
	return 0, false, &Error{Kind: Invalid, Offset: len(b)}
}

// encoderValid reports whether body is one valid JSON document. sonic's
// validator checks structure but lets any byte follow a backslash and raw
// control bytes sit inside strings, so one pass (scanEscapes) checks both:
// in a structurally valid document every backslash is inside a string and
// escapes chain left to right. SDKs send compact JSON with no control bytes
// at all; a body that has some (pretty-printed, or a raw newline inside a
// string) is judged by encoding/json, which tracks string context.
func encoderValid(body []byte) (bool, int) {
	if !sonic.Valid(body) {
		return false, 0
	}
	hasCtl, badEscape := scanEscapes(body)
	if badEscape >= 0 {
		return false, badEscape
	}
	if hasCtl && !json.Valid(body) {
		return false, 0
	}
	return true, 0
}

const (
	blockLen  = 64
	blockRead = blockLen + 8 // a block and the \u digits that may run past it
	evenBits  = 0x5555555555555555
	lo7       = 0x7f7f7f7f7f7f7f7f
	hiBits    = 0x8080808080808080
)

// scanEscapes reports whether b has a byte below 0x20 and the offset of the
// backslash that starts the first invalid escape (-1 if none), escapes
// chaining left to right from b[0] (a backslash an escape consumed starts
// none). hasCtl is only complete when no escape is bad.
//
// It works like simdjson, in 64-byte blocks: the exact bit mask of a
// block's backslashes (blockMasks: SSE2 on amd64, eight bytes at a time in
// plain Go elsewhere), the escaped positions from it with the odd-run carry
// trick (no branch per escape sequence), their offsets gathered for a chunk
// of blocks, then one table lookup per escaped byte, with the four digits of
// a \u checked in one 32-bit word: a long predictable loop, not a
// mispredicted branch or two per escape (an escape-dense prompt has one
// every 17 bytes). The last bytes are copied into a block padded with
// spaces, so the same loop serves the whole body.
func scanEscapes(b []byte) (hasCtl bool, badEscape int) {
	var s escapeScan
	full := 0 // the bytes of b in blocks whose \u digits are in b too
	if len(b) >= blockRead {
		full = ((len(b)-blockRead)/blockLen + 1) * blockLen
	}
	if at, bad := s.blocks(b, full); bad {
		return s.hasCtl(), at
	}
	pad := spaces
	n := copy(pad[:], b[full:])
	if at, bad := s.blocks(pad[:], n); bad {
		return s.hasCtl(), full + at
	}
	if s.carry != 0 { // the last byte is a backslash that escapes nothing
		return s.hasCtl(), len(b) - 1
	}
	return s.hasCtl(), -1
}

// spaces is the tail block's padding: neither an escape, a hex digit nor a
// control byte.
var spaces = func() (p [blockRead + blockLen]byte) {
	for i := range p {
		p[i] = ' '
	}
	return p
}()

// escapeScan is scanEscapes' state between blocks.
type escapeScan struct {
	carry uint64 // 1: the next block's first byte is escaped
	ctl   uint64 // nonzero: a byte below 0x20 was seen
	// offs are a chunk's escaped offsets. At most every other byte is
	// escaped (plus the first, by carry); each block writes eight offsets
	// whether it has that many or not.
	offs [chunkLen/2 + 1 + 8]int32
	// masks are a chunk's blocks' backslash masks (blockMasks).
	masks [chunkLen / blockLen]uint64
}

func (s *escapeScan) hasCtl() bool { return s.ctl != 0 }

// blocks scans src[:n] (n a multiple of blockLen, or less in the padded
// tail; src holds blockRead-blockLen more bytes) and returns the offset in
// src of the backslash that starts the first bad escape (-1: the one that
// ended the previous call's last block).
func (s *escapeScan) blocks(src []byte, n int) (at int, bad bool) {
	for c := 0; c < n; c += chunkLen {
		if at, bad := s.chunk(src, c, min(n, c+chunkLen)); bad {
			return at, true
		}
	}
	return 0, false
}

// chunkLen is how many bytes chunk finds the escapes of before it checks
// them: one long loop over their offsets, not one short (mispredicted) loop
// per block.
const chunkLen = 16 * blockLen

// chunk scans src[from:to] (at most chunkLen bytes) like blocks.
func (s *escapeScan) chunk(src []byte, from, to int) (at int, found bool) {
	offs := &s.offs
	k := 0
	carry := s.carry
	s.ctl |= blockMasks(&s.masks, src[from:], (to-from+blockLen-1)/blockLen)
	for i := from; i < to; i += blockLen {
		bs := s.masks[(i-from)/blockLen]
		if bs|carry == 0 {
			continue
		}
		// simdjson's find_escaped_branchless: a backslash that is escaped
		// escapes nothing; every other byte of a run is escaped, counting
		// from the run's start.
		bs &^= carry
		follows := bs<<1 | carry
		oddStarts := bs &^ evenBits &^ follows
		evenSeqs, out := bits.Add64(oddStarts, bs, 0)
		escaped := (evenBits ^ evenSeqs<<1) & follows
		carry = out
		// simdjson's flatten_bits: eight offsets unconditionally (past the
		// last escape they are junk that k does not count), more rarely.
		cnt := bits.OnesCount64(escaped)
		w := (*[8]int32)(offs[k:])
		w[0] = int32(i + bits.TrailingZeros64(escaped))
		escaped &= escaped - 1
		w[1] = int32(i + bits.TrailingZeros64(escaped))
		escaped &= escaped - 1
		w[2] = int32(i + bits.TrailingZeros64(escaped))
		escaped &= escaped - 1
		w[3] = int32(i + bits.TrailingZeros64(escaped))
		escaped &= escaped - 1
		w[4] = int32(i + bits.TrailingZeros64(escaped))
		escaped &= escaped - 1
		w[5] = int32(i + bits.TrailingZeros64(escaped))
		escaped &= escaped - 1
		w[6] = int32(i + bits.TrailingZeros64(escaped))
		escaped &= escaped - 1
		w[7] = int32(i + bits.TrailingZeros64(escaped))
		escaped &= escaped - 1
		for j := 8; j < cnt; j++ {
			offs[k+j] = int32(i + bits.TrailingZeros64(escaped))
			escaped &= escaped - 1
		}
		k += cnt
	}
	s.carry = carry
	escClass := &escapeClass
	var any uint64
	for _, p := range offs[:k] {
		any |= escapeBad(escClass, src, int(p))
	}
	if any != 0 {
		for _, p := range offs[:k] {
			if escapeBad(escClass, src, int(p)) != 0 {
				return int(p) - 1, true
			}
		}
	}
	return 0, false
}

// escapeBad is nonzero when the escaped byte src[p] does not make a valid
// escape.
func escapeBad(escClass *[256]uint64, src []byte, p int) uint64 {
	e := src[p : p+5 : p+5]
	return escClass[e[0]] & (notHex4(binary.LittleEndian.Uint32(e[1:])) | badSimple)
}

// notHex4 is zero exactly when the four bytes of u are hex digits.
func notHex4(u uint32) uint64 {
	high := u & 0x80808080 // not ASCII; the sums below may then carry, but the answer is already no
	digit := (u + 0x50505050) &^ (u + 0x46464646)
	l := u | 0x20202020
	letter := (l + 0x1f1f1f1f) &^ (l + 0x19191919)
	return uint64((digit|letter)&0x80808080 ^ 0x80808080 | high)
}

// badSimple is the escapeClass bit of a byte that may not follow a
// backslash; the low 32 bits of the class select notHex4 (for \u).
const badSimple = 1 << 32

// escapeClass classifies the byte after an escaping backslash: 0 for the
// characters that may follow it on their own, 0xffffffff for 'u' (valid when
// four hex digits follow), badSimple for anything else.
var escapeClass = func() (t [256]uint64) {
	for c := range t {
		t[c] = badSimple
	}
	for _, c := range `"\/bfnrt` {
		t[c] = 0
	}
	t['u'] = 0xffffffff
	return t
}()

// skipValue skips the JSON value at b[i] with sonic's native
// skipper and returns its span.
func skipValue(b []byte, i int) (start, end int, err error) {
	if i >= len(b) {
		return 0, 0, &Error{Kind: Invalid, Offset: i}
	}
	if e := scalarEnd(b, i); e > i {
		return i, e, nil
	}
	s, e := decoder.Skip(b[i:])
	if s < 0 || e <= s {
		return 0, 0, &Error{Kind: Invalid, Offset: i}
	}
	return i + s, i + e, nil
}

// scalarEnd returns the end of the number or literal (true, false, null)
// at b[i] when it is followed by the end of b or by a byte that may follow
// a value (space, ',', '}', ']'), else i: the skipper's fixed cost per call
// is most of a short scalar's skip (a usage object is a dozen of them). The
// documents walked are validated (newWalker; Elements' and Members'
// contract), so the scalar's own syntax is already checked.
func scalarEnd(b []byte, i int) int {
	j := i
	switch c := b[i]; {
	case c == '-' || c >= '0' && c <= '9':
		for j++; j < len(b); j++ {
			if c := b[j]; !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
				break
			}
		}
	case c == 't' || c == 'n':
		j += 4
	case c == 'f':
		j += 5
	default:
		return i
	}
	if j > len(b) {
		return i
	}
	if j < len(b) {
		switch b[j] {
		case ' ', '\t', '\n', '\r', ',', '}', ']':
		default:
			return i
		}
	}
	return j
}

func typeOf(c byte) ValueType {
	switch c {
	case '"':
		return TypeString
	case '{':
		return TypeObject
	case '[':
		return TypeArray
	case 't', 'f':
		return TypeBool
	case 'n':
		return TypeNull
	default:
		return TypeNumber
	}
}

// decodeString decodes a JSON string literal; the common unescaped case is a
// plain sub-slice conversion.
func decodeString(lit []byte) (string, error) {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), nil
	}
	var s string
	if err := sonic.Unmarshal(lit, &s); err != nil {
		return "", err
	}
	return s, nil
}

// IsKind reports whether err is a scan error of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
