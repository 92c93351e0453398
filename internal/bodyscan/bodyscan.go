// Package bodyscan reads the few top-level members of an OpenAI-style JSON
// request that routing needs (`model` and the backend member) without
// decoding the document: one validating pass (validate.go) judges the body
// exactly as encoding/json does and finds the top-level members on the
// way, keys compared in place, so a 1 MiB body of messages costs one pass
// and no allocation that grows with its size.
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
	"sort"
	"strings"
	"unicode/utf8"
	"unsafe"
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
	// rawStrings: every string literal of the body can be copied as is
	// into another JSON document and decodes to valid UTF-8 (FindingsOf).
	rawStrings bool
	// messageStrings: the long string values in the messages value, as
	// offsets into it (FindingsOf).
	messageStrings []strSpan
}

// Scan validates body as a JSON object and returns its top-level `model` and
// backendField members. Keys are compared after unescaping, so
// `"mod\u0065l"` is the model member too: an escaped duplicate must not slip
// past the duplicate check.
func Scan(body []byte, backendField string) (Result, error) {
	r := Result{MaxTokens: -1}
	i := skipSpace(body, 0)
	if i == len(body) {
		return r, &Error{Kind: Empty}
	}
	// The members are read as the pass finds them, but an error about one
	// (Duplicate, BadEncoding) is only the answer for a valid document.
	var (
		s       pass
		memberE error
	)
	s.keepStrings = true
	ok, at := s.validate(body, func(f field) {
		if memberE == nil {
			memberE = r.add(body, backendField, f)
		}
	})
	if !ok {
		return r, &Error{Kind: Invalid, Offset: at}
	}
	if !s.rootObj {
		return r, &Error{Kind: NotObject, Offset: i}
	}
	r.rawStrings = s.rawStrings()
	r.messageStrings = within(s.strs, r.messagesStart, r.messagesEnd)
	return r, memberE
}

// within returns the spans of strs (in order) inside the value
// body[vs:ve], made relative to vs in place: offsets into the value, which
// a cut of another member does not move.
func within(strs []strSpan, vs, ve int) []strSpan {
	first := sort.Search(len(strs), func(k int) bool { return int(strs[k].start) >= vs })
	last := first
	for last < len(strs) && int(strs[last].start) < ve {
		strs[last].start -= int32(vs)
		strs[last].end -= int32(vs)
		last++
	}
	if first == last {
		return nil
	}
	return strs[first:last:last]
}

// add records the top-level member f of body in r.
func (r *Result) add(body []byte, backendField string, f field) error {
	key, err := keyOf(body, f.keyStart, f.keyEnd)
	if err != nil {
		return err
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
		return nil
	case "messages":
		r.messagesStart, r.messagesEnd = f.valStart, f.valEnd
		return nil
	case "max_tokens", "max_completion_tokens":
		if n, ok := wholeNumber(body[f.valStart:f.valEnd]); ok && n > r.MaxTokens {
			r.MaxTokens = n
		}
		return nil
	default:
		return nil
	}
	if target.Present {
		return &Error{Kind: Duplicate, Member: strings.Clone(key), Offset: f.keyStart}
	}
	m := Member{Present: true, Type: typeOf(body[f.valStart]), cutStart: f.cutStart, cutEnd: f.cutEnd}
	if m.Type == TypeString {
		lit := body[f.valStart:f.valEnd]
		if m.Value, err = decodeString(lit); err != nil {
			return &Error{Kind: Invalid, Offset: f.valStart}
		}
		// A value of plain ASCII (a model, a backend name) decodes to
		// itself: valid UTF-8 without utf8's check.
		if !PlainASCII(lit[1:len(lit)-1]) && !utf8.ValidString(m.Value) {
			return &Error{Kind: BadEncoding, Member: strings.Clone(key), Offset: f.valStart}
		}
	}
	*target = m
	return nil
}

// keyOf is the unescaped key whose literal is body[ks:ke]: a view of body
// when it has no escapes.
func keyOf(body []byte, ks, ke int) (string, error) {
	s, e := ks+1, ke-1
	if s >= e {
		return "", nil
	}
	// Keys are short: a word at a time beats IndexByte's call and setup,
	// which pays off from a few dozen bytes on. Most fit in one word, read
	// here (a key is followed by at least its closing quote and a value).
	if e-s <= 8 && s+8 <= len(body) {
		if bs := byteIs(binary.LittleEndian.Uint64(body[s:]), '\\'); bs != 0 && bits.TrailingZeros64(bs)/8 < e-s {
			return escapedKey(body, ks, ke)
		}
	} else if hasBackslash(body, s, e) {
		return escapedKey(body, ks, ke)
	}
	return unsafe.String(&body[s], e-s), nil
}

// escapedKey decodes the key body[ks:ke], which has escapes.
func escapedKey(body []byte, ks, ke int) (string, error) {
	k, err := decodeString(body[ks:ke])
	if err != nil {
		return "", &Error{Kind: Invalid, Offset: ks}
	}
	return k, nil
}

// maxWholeNumber is 2^53: integers up to it are exact in every JSON decoder.
const maxWholeNumber = 1 << 53

// wholeNumber reads a JSON number literal that is a non-negative integer
// (digits only) up to maxWholeNumber, without allocating.
func wholeNumber(lit []byte) (int64, bool) {
	n, ok := SmallInt(lit)
	return n, ok && lit[0] != '-' && n <= maxWholeNumber
}

// SmallInt reads lit, an optional minus and 1 to 18 digits (any such
// number is within int64), as strconv.ParseInt does; anything else is not
// ok (a caller that needs more asks ParseInt). A few instructions a digit,
// no call: for the token counts and limits of a request or a response.
func SmallInt(lit []byte) (int64, bool) {
	digits := lit
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if len(digits) < len(lit) {
		n = -n
	}
	return n, true
}

// Walk validates body as one JSON object, exactly as Scan does (the one
// definition of valid, for both phases), and calls fn for each top-level
// member in order with its key and its value's span body[vs:ve]. The key is
// unescaped; it aliases body (unless it had escapes) and is only valid
// during the call: clone it to keep it. The body is validated before fn is
// first called. An error from fn ends the walk and is returned as is; a body
// that is not one valid JSON object is an *Error.
func Walk(body []byte, fn func(key string, vs, ve int) error) error {
	var d Doc
	if err := d.Start(body); err != nil {
		return err
	}
	for d.Next() {
		key, vs, ve := d.Member()
		if err := fn(key, vs, ve); err != nil {
			return err
		}
	}
	return d.Err()
}

// Doc is Walk as a loop in the reader instead of a callback per member:
//
//	var d bodyscan.Doc
//	if err := d.Start(body); err != nil { ... } // not one valid JSON object
//	for d.Next() {
//		key, vs, ve := d.Member()
//		...
//	}
//	err := d.Err()
//
// Start validates the body (Walk's verdict) before the first member.
type Doc struct {
	body []byte
	m    memberList
	k    int    // the next listed member
	w    walker // past the listed ones (m.more)
	// past: w walks the members after the listed ones; done: no more.
	past, done bool
	key        string
	f          listedSpan
	err        error
}

// Start validates body as one JSON object, exactly as Walk does, and
// starts the walk over its members: an *Error when it is not one.
func (d *Doc) Start(body []byte) error {
	d.body = body
	if err := d.m.scan(body); err != nil {
		d.done, d.err = true, err
		return err
	}
	return nil
}

// Next moves to the next member (Member) and reports whether there is one.
func (d *Doc) Next() bool {
	if d.done {
		return false
	}
	if d.k < d.m.n {
		f := &d.m.f[d.k]
		d.k++
		key, err := keyOf(d.body, f.keyStart, f.keyEnd)
		if err != nil {
			d.done, d.err = true, err
			return false
		}
		d.key, d.f = key, *f
		return true
	}
	if !d.m.more {
		d.done = true
		return false
	}
	if !d.past {
		d.w, d.past = walker{body: d.body, i: d.m.moreFrom, prevEnd: d.m.f[d.m.n-1].valEnd}, true
	}
	key, f, more, err := d.w.next()
	if !more || err != nil {
		d.done, d.err = true, err
		return false
	}
	d.key, d.f = key, listedSpan{f.keyStart, f.keyEnd, f.valStart, f.valEnd}
	return true
}

// Member is the member Next moved to: its unescaped key (aliasing the body
// unless it had escapes; valid until the next call of Next) and its
// value's span body[vs:ve].
func (d *Doc) Member() (key string, vs, ve int) { return d.key, d.f.valStart, d.f.valEnd }

// Err is the error that ended the walk (nil once every member was read):
// call it after Next returned false.
func (d *Doc) Err() error { return d.err }

// Find returns the span of the value of body's top-level member key, after
// validating body like Walk. A second member of that name is a Duplicate
// *Error: which one a reader takes is not something to guess.
func Find(body []byte, key string) (vs, ve int, found bool, err error) {
	var d Doc
	if err := d.Start(body); err != nil {
		return 0, 0, false, err
	}
	for d.Next() {
		if d.key != key {
			continue
		}
		if found {
			return 0, 0, false, &Error{Kind: Duplicate, Member: strings.Clone(key), Offset: d.f.keyStart}
		}
		vs, ve, found = d.f.valStart, d.f.valEnd, true
	}
	if d.err != nil {
		return 0, 0, false, d.err
	}
	return vs, ve, found, nil
}

// listed is how many top-level members a memberList holds: a request has
// a dozen or two; the rest of a longer object are walked again after the
// pass (validated by then), not buffered in memory that grows with them.
const listed = 32

// memberList is the top-level members of a document, found by its
// validating pass and only handed out once the whole document is valid.
type memberList struct {
	f        [listed]listedSpan // the first listed members
	n        int
	more     bool // there are members after f[listed-1]
	moreFrom int  // the first of them starts here
}

// listedSpan is a listed member: its key's span (quotes included) and its
// value's (a field without the cut, which only Scan needs: a smaller list
// to clear for each walk).
type listedSpan struct{ keyStart, keyEnd, valStart, valEnd int }

// scan validates body as one JSON object and lists its members.
func (m *memberList) scan(body []byte) error {
	i := skipSpace(body, 0)
	if i == len(body) {
		return &Error{Kind: Empty}
	}
	var s pass
	ok, at := s.validate(body, func(f field) {
		switch {
		case m.n < listed:
			m.f[m.n] = listedSpan{f.keyStart, f.keyEnd, f.valStart, f.valEnd}
			m.n++
		case !m.more:
			m.more, m.moreFrom = true, f.keyStart
		}
	})
	if !ok {
		return &Error{Kind: Invalid, Offset: at}
	}
	if !s.rootObj {
		return &Error{Kind: NotObject, Offset: i}
	}
	return nil
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

// field is one top-level member as the walker finds it.
type field struct {
	keyStart, keyEnd int // the key's span, quotes included
	valStart, valEnd int
	// cutStart, cutEnd is the span to delete to remove the member together
	// with one adjacent comma, leaving valid JSON.
	cutStart, cutEnd int
}

// walker steps through the members of an object already validated (a
// value Walk or Find returned, or the members of a document past the
// ones its pass listed). It is a value the caller loops over (no
// callbacks), so a walk allocates nothing.
type walker struct {
	body    []byte
	i       int
	prevEnd int // end of the previous member's value; -1 before the first
	done    bool
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
		k, err := decodeString(body[keyStart:keyEnd]) // scoped here: only an escaped key allocates
		if err != nil {
			return "", f, false, &Error{Kind: Invalid, Offset: keyStart}
		}
		key = k
	} else if keyEnd-keyStart > 2 {
		key = unsafe.String(&body[keyStart+1], keyEnd-keyStart-2)
	}
	f = field{keyStart: keyStart, keyEnd: keyEnd, valStart: valStart, valEnd: valEnd}
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
// block-wise string end and bytes.IndexAny, which builds its byte set on
// every call.
func skipString(b []byte, i int) (end int, escaped bool, err error) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			j++ // the escaped byte; the document was validated
		case c < 0x20:
			return 0, false, &Error{Kind: Invalid, Offset: i}
		}
	}
	return 0, false, &Error{Kind: Invalid, Offset: len(b)}
}

// skipValue returns the span of the value at b[i], a value of a document
// already validated.
func skipValue(b []byte, i int) (start, end int, err error) {
	e, ok := trustedValueEnd(b, i)
	if !ok {
		return 0, 0, &Error{Kind: Invalid, Offset: i}
	}
	return i, e, nil
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
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", err
	}
	return s, nil
}

// IsKind reports whether err is a scan error of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
