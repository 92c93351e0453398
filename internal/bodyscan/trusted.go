package bodyscan

import (
	"bytes"
	"math/bits"
	"sort"
	"unsafe"
)

// A walk over a body that is already known to be one valid JSON object:
// the router phase validated these exact bytes and Recall vouches for them
// (the handoff is keyed by the bytes themselves). Nothing is validated
// again; values are only skipped, with the validating pass's own stage 1
// (skipEnd): a string ends at its closing quote, a container at the
// bracket that brings its depth back to zero, both found among the
// block's tokens (outside strings, past escapes). A long string with
// escaped quotes goes to the string end kernel where there is one
// (stringRest). On bytes that are not
// valid JSON these functions return an *Error or meaningless spans, but
// they never panic or read out of range: callers must use them only for
// vouched bytes.

// WalkTrusted calls fn for each top-level member of body, in order, with
// its unescaped key (aliasing body unless it had escapes; valid only during
// the call) and its value's span body[vs:ve], as Walk does, for a body
// Recall vouched for. An error from fn ends the walk and is returned as is.
func WalkTrusted(body []byte, fn func(key string, vs, ve int) error) error {
	return WalkTrustedKnown(body, -1, 0, fn)
}

// WalkTrustedKnown is WalkTrusted for a body whose member value starting
// at body[ks] is known to end at body[ke] (the Findings' messages span,
// most of a chat request): that value is jumped over, not skipped. A span
// that cannot be one of the body's values (out of range, not bracketed
// alike) is ignored; a wrong one that looks right is the caller's error,
// like any other unvouched bytes: meaningless spans, never a panic.
func WalkTrustedKnown(body []byte, ks, ke int, fn func(key string, vs, ve int) error) error {
	i := skipSpace(body, 0)
	if i >= len(body) {
		return &Error{Kind: Empty}
	}
	var o Object
	o.Start(body, i)
	o.know(ks, ke)
	for o.Next() {
		key, vs, ve := o.Member()
		if err := fn(key, vs, ve); err != nil {
			return err
		}
	}
	_, err := o.End()
	return err
}

// ObjectTrusted is WalkTrusted for the object that starts at b[i], a value
// of a document known to be valid, and returns the offset after it: a
// walk over an array of objects reads each object once, its end found by
// walking its members (not by skipping it first). A reader that needs no
// callback loops over an Object (Start) instead.
func ObjectTrusted(b []byte, i int, fn func(key string, vs, ve int) error) (end int, err error) {
	var o Object
	o.Start(b, i)
	for o.Next() {
		key, vs, ve := o.Member()
		if err := fn(key, vs, ve); err != nil {
			return 0, err
		}
	}
	return o.End()
}

// Object steps through the members of an object of a document known to be
// valid (Start), a loop in the reader instead of a callback per member
// and per level:
//
//	var o bodyscan.Object
//	o.Start(b, i)
//	for o.Next() {
//		key, vs, ve := o.Member()
//		...
//	}
//	end, err := o.End()
//
// Its verdicts are ObjectTrusted's: on bytes nobody validated, an *Error or
// meaningless spans, never a panic or a read out of range.
type Object struct {
	b []byte
	// i is where the walk goes on: the first member's key (first), or the
	// end of the last member's value (after).
	i     int
	state uint8
	// ks, ke: a member value starting at b[ks] is known to end at b[ke]
	// (ks -1: none known).
	ks, ke int
	// The member Next found.
	key    string
	vs, ve int
	// Once done: the offset after the closing brace, or the error.
	end int
	err error
	// strs, when set, knows the ends of long string values (KnowStrings).
	strs *StringCursor
}

// The states of an Object or Array walk.
const (
	walkFirst uint8 = iota // b[i] is the first item
	walkItem               // an Array's item at cur was handed out; its end is not known yet
	walkAfter              // b[i] is past the last item: space, then ',' or the closer
	walkDone               // end or err is the answer
	walkOpen               // an Object's b[i] is to be its opening brace
)

// Start makes o, new or used, a walk over the object that starts at b[i]
// (ObjectTrusted); the first Next reads the opening brace. It works in
// place, each field written on its own, rather than returning an Object:
// a returned struct is built in a temporary and copied into the caller's,
// and that copy's wide loads of narrower stores are a store-forwarding
// stall the CPU pays on every object of a walk (tens of nanoseconds each,
// most of a message's cost in a translation's walk over a long chat).
func (o *Object) Start(b []byte, i int) {
	o.b, o.i, o.state, o.ks, o.ke = b, i, walkOpen, -1, 0
	o.key, o.vs, o.ve, o.end, o.err, o.strs = "", 0, 0, 0, nil, nil
}

// KnowStrings lets the walk take the end of a long string value from c
// instead of finding it again: c must read spans of the walk's bytes
// (offsets into them: Findings.MessageStrings for the messages value they
// span). A span the bytes disagree with is not taken: the end is found as
// usual.
func (o *Object) KnowStrings(c *StringCursor) { o.strs = c }

// know sets the known member value span b[ks:ke] (WalkTrustedKnown's), or
// nothing when it cannot be one of the object's values.
func (o *Object) know(ks, ke int) {
	b := o.b
	if ks < 0 || ke > len(b) || ke-ks < 2 || !(b[ks] == '[' && b[ke-1] == ']' || b[ks] == '{' && b[ke-1] == '}') {
		return
	}
	o.ks, o.ke = ks, ke
}

// fail ends the walk with an Invalid error at offset at.
func (o *Object) fail(at int) bool {
	o.state, o.err = walkDone, &Error{Kind: Invalid, Offset: at}
	return false
}

// Next moves to the next member (Member) and reports whether there is one.
func (o *Object) Next() bool {
	b, i := o.b, o.i
	switch o.state {
	case walkDone:
		return false
	case walkOpen:
		if i < 0 || i >= len(b) || b[i] != '{' {
			o.state, o.err = walkDone, &Error{Kind: NotObject, Offset: max(i, 0)}
			return false
		}
		if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
			o.state, o.end = walkDone, i+1
			return false
		}
	case walkAfter:
		next, more, ok := afterItem(b, i, '}')
		switch {
		case !ok:
			return o.fail(next)
		case !more:
			o.state, o.end = walkDone, next
			return false
		}
		i = next
	}
	if i >= len(b) || b[i] != '"' {
		return o.fail(i)
	}
	keyEnd, escaped, ok := trustedKeyEnd(b, i)
	if !ok {
		return o.fail(i)
	}
	var key string
	if escaped {
		k, err := decodeString(b[i:keyEnd])
		if err != nil {
			return o.fail(i)
		}
		key = k
	} else if keyEnd-i > 2 {
		key = unsafe.String(&b[i+1], keyEnd-i-2)
	}
	j := skipSpace(b, keyEnd)
	if j >= len(b) || b[j] != ':' {
		return o.fail(j)
	}
	vs := skipSpace(b, j+1)
	ve := o.ke
	if vs != o.ks {
		ok = false
		if o.strs != nil && len(o.strs.spans) > 0 {
			ve, ok = o.strs.end(b, vs)
		}
		if !ok {
			if ve, ok = trustedValueEnd(b, vs); !ok {
				return o.fail(vs)
			}
		}
	}
	if ve <= i || ve > len(b) {
		return o.fail(i)
	}
	o.key, o.vs, o.ve, o.i, o.state = key, vs, ve, ve, walkAfter
	return true
}

// afterItem reads what follows an item of a list (an object's members, an
// array's elements) whose closing bracket is closer, from b[i], past the
// item: a comma (more: next is the next item, past space) or the closer
// (next is the offset after it); anything else is not ok (next is where).
func afterItem(b []byte, i int, closer byte) (next int, more, ok bool) {
	if i = skipSpace(b, i); i >= len(b) {
		return i, false, false
	}
	switch b[i] {
	case ',':
		return skipSpace(b, i+1), true, true
	case closer:
		return i + 1, false, true
	}
	return i, false, false
}

// Member is the member Next moved to: its unescaped key (aliasing the
// document unless it had escapes) and its value's span b[vs:ve].
func (o *Object) Member() (key string, vs, ve int) { return o.key, o.vs, o.ve }

// End finishes the walk (the members not read yet are skipped) and returns
// the offset after the object's closing brace, or the *Error that ended it.
func (o *Object) End() (int, error) {
	for o.Next() {
	}
	if o.err != nil {
		return 0, o.err
	}
	return o.end, nil
}

// ElementsTrusted is Elements for an array of a document known to be
// valid (a value of a body Walk validated or Recall vouched for): the
// elements are skipped, strings by trustedStringEnd.
func ElementsTrusted(arr []byte, fn func(i, vs, ve int) error) error {
	a := ArrayAt(arr)
	for a.Next() {
		vs := a.At()
		ve, ok := trustedValueEnd(arr, vs)
		if !ok {
			return &Error{Kind: Invalid, Offset: vs}
		}
		a.SetEnd(ve)
		if err := fn(a.Index(), vs, ve); err != nil {
			return err
		}
	}
	return a.Err()
}

// EachTrusted calls fn with the index n and the offset i of each element
// of arr, an array of a document known to be valid; fn reads the element
// and returns the offset after it (ValueEndTrusted, or ObjectTrusted's
// end). An error from fn ends the walk and is returned as is. A reader
// that needs no callback loops over ArrayAt instead.
func EachTrusted(arr []byte, fn func(n, i int) (end int, err error)) error {
	a := ArrayAt(arr)
	for a.Next() {
		end, err := fn(a.Index(), a.At())
		if err != nil {
			return err
		}
		a.SetEnd(end)
	}
	return a.Err()
}

// Array steps through the elements of an array of a document known to be
// valid (ArrayAt), a loop in the reader instead of a callback:
//
//	a := bodyscan.ArrayAt(arr)
//	for a.Next() {
//		end := read(arr, a.At()) // the element at arr[a.At()]
//		a.SetEnd(end)            // or not: Next then skips the element
//	}
//	err := a.Err()
//
// Its verdicts are EachTrusted's: on bytes nobody validated, an *Error or
// meaningless offsets, never a panic or a read out of range.
type Array struct {
	b     []byte
	i     int // the first element (first), or the end of the last one (after)
	state uint8
	n     int // the index of the element handed out
	cur   int // its offset
	err   error
}

// ArrayAt starts a walk over the array arr (past any space), as
// EachTrusted does.
func ArrayAt(arr []byte) Array {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return Array{state: walkDone, err: &Error{Kind: Invalid, Offset: i}}
	}
	a := Array{b: arr, n: -1}
	if a.i = skipSpace(arr, i+1); a.i < len(arr) && arr[a.i] == ']' {
		a.state = walkDone
	}
	return a
}

func (a *Array) fail(at int) bool {
	a.state, a.err = walkDone, &Error{Kind: Invalid, Offset: at}
	return false
}

// Next moves to the next element (At) and reports whether there is one.
// When the reader did not SetEnd the element before, Next skips it.
func (a *Array) Next() bool {
	b, i := a.b, a.i
	switch a.state {
	case walkDone:
		return false
	case walkItem:
		end, ok := trustedValueEnd(b, a.cur)
		if !ok {
			return a.fail(a.cur)
		}
		i = end
		fallthrough
	case walkAfter:
		next, more, ok := afterItem(b, i, ']')
		switch {
		case !ok:
			return a.fail(next)
		case !more:
			a.state = walkDone
			return false
		}
		i = next
	}
	if i >= len(b) {
		return a.fail(i)
	}
	a.n++
	a.cur, a.state = i, walkItem
	return true
}

// At is the offset of the element Next moved to.
func (a *Array) At() int { return a.cur }

// Index is the index of the element Next moved to.
func (a *Array) Index() int { return a.n }

// SetEnd tells the walk that the element Next moved to ends at end (its
// reader found it): Next goes on from there.
func (a *Array) SetEnd(end int) {
	if a.state != walkItem {
		return
	}
	if end <= a.cur || end > len(a.b) {
		a.fail(a.cur)
		return
	}
	a.i, a.state = end, walkAfter
}

// Err is the *Error that ended the walk, or nil once every element was
// read: call it after Next returned false.
func (a *Array) Err() error { return a.err }

// ValueEndTrusted returns the offset after the value that starts at b[i],
// a value of a document known to be valid.
func ValueEndTrusted(b []byte, i int) (int, error) {
	end, ok := trustedValueEnd(b, i)
	if !ok {
		return 0, &Error{Kind: Invalid, Offset: i}
	}
	return end, nil
}

// shortKey is how far trustedKeyEnd looks for a key's end word by word.
const shortKey = 32

// trustedKeyEnd is trustedStringEnd for a key (the string at b[i] == '"'),
// and whether it has escapes: keys are short, so eight bytes at a time
// (shortStringEnd) beat IndexByte's call for the quote and another for a
// backslash; a long key, one with escapes or one at the end of b takes
// trustedStringEnd.
func trustedKeyEnd(b []byte, i int) (end int, escaped, ok bool) {
	if end, ok = shortStringEnd(b, i); ok {
		return end, false, true
	}
	if end, ok = trustedStringEnd(b, i); !ok {
		return 0, false, false
	}
	return end, bytes.IndexByte(b[i+1:end-1], '\\') >= 0, true
}

// trustedStringEnd returns the offset after the closing quote of the string
// starting at b[i] == '"'. The first quotes are found with IndexByte, each
// escaped when an odd run of backslashes precedes it (a string with few
// escaped quotes, most of them, costs a few IndexByte calls); past
// escapedQuotes of them, the rest of the string is skipped by blocks
// (stringRest: the string end kernel where there is one).
func trustedStringEnd(b []byte, i int) (int, bool) {
	j := i + 1
	for range escapedQuotes {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, false
		}
		q := j + k
		p := q - 1
		for p > i && b[p] == '\\' {
			p--
		}
		if (q-1-p)%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
	return stringRest(b, j)
}

// escapedQuotes is how many escaped quotes trustedStringEnd steps over one
// by one before it skips the rest of a string by blocks (stringRest): a
// prompt full of quoted code has one every few dozen bytes. Where there is
// a string end kernel, kernelQuotes. (A variable: tests set it to zero to
// skip every string by blocks.)
var escapedQuotes = 32

// containerEnd returns the offset after the object or array that starts at
// b[i]. Its first bytes are stepped through one by one (strings by
// trustedStringEnd): a small object (a message, a usage) ends before
// stage 1 would have classified its blocks; past byteWise bytes, the rest
// is skipped by blocks.
func containerEnd(b []byte, i int) (int, bool) {
	depth := 0
	for j := i; j < len(b); {
		if j-i > byteWise {
			return skipEnd(b, j, false, depth)
		}
		switch b[j] {
		case '"':
			end, ok := trustedStringEnd(b, j)
			if !ok {
				return 0, false
			}
			j = end
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return j + 1, true
			}
		}
		j++
	}
	return 0, false
}

// byteWise is how far containerEnd steps through a container byte by byte.
// (A variable: tests set it to zero to skip every container by blocks.)
var byteWise = 1024

// skipEnd returns the offset after the string or container that starts at
// b[i] ('"', '{' or '['), after the string b[i] is inside of (inStr, b[i]
// not escaped), or after the container b[i] is inside of at depth (b[i]
// outside strings), of a document known to be valid: stage 1 from b[i],
// block by block (the last one padded with spaces), its tokens read only
// for quotes and brackets. The first call covers two blocks, each next one
// twice as many up to a chunk: a message of a few hundred bytes is not
// skipped as a kilobyte. Not ok when the value does not end within b or
// stage 1 finds b is not JSON.
func skipEnd(b []byte, i int, inStr bool, depth int) (int, bool) {
	var (
		st  stage1State
		out [chunkBlocks]blockOut
		cls [chunkBlocks]blockClass
	)
	if i >= len(b) {
		return 0, false
	}
	str := inStr || depth == 0 && b[i] == '"'
	if inStr {
		st.str = ^uint64(0)
	}
	for base, want := i, 2; base < len(b); want = min(2*want, chunkBlocks) {
		src, n := b[base:], min((len(b)-base)/blockLen, want)
		if n == 0 {
			pad := spaceBlock
			copy(pad[:], src)
			src, n = pad[:], 1
		}
		done, _ := stage1(&st, &out, &cls, src, n)
		for k, o := range out[:done] {
			for t := o.tokens; t != 0; t &= t - 1 {
				p := base + k*blockLen + bits.TrailingZeros64(t)
				switch b[p] {
				case '"':
					if inStr || str && p > i {
						return p + 1, true
					}
				case '{', '[':
					depth++
				case '}', ']':
					if depth--; depth <= 0 {
						return p + 1, !str
					}
				}
			}
		}
		if done < n {
			return 0, false
		}
		base += n * blockLen
	}
	return 0, false
}

// trustedValueEnd returns the offset after the value starting at b[i].
func trustedValueEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return trustedStringEnd(b, i)
	case '{', '[':
		return containerEnd(b, i)
	default:
		// A number, true, false or null: up to the next delimiter.
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j, j > i
			}
			j++
		}
		return j, j > i
	}
}

// longString is the least length, quotes included, of a string value whose
// span Scan notes (Findings.MessageStrings): a walk finds its end by a scan
// over its blocks (the string end kernel: about 4 ns per 64 bytes of a
// prompt dense in escapes, so 60 ns and more here) that the note saves,
// while a note costs the router phase an allocation per body (of a few
// dozen bytes for a small one) and the walk a lookup. A body of 1 KiB has
// none.
const longString = 1024

// strSpan is a long string value's span: its opening quote, and the offset
// after its closing one.
type strSpan struct{ start, end int32 }

// Strings are the spans of the long string values of a document, in order,
// as the validating pass found them (Findings.MessageStrings), for a walk
// of the same bytes (Cursor, Object.KnowStrings). They are read only:
// findings that several attempts recall share them.
type Strings struct {
	spans []strSpan
}

// Len is how many spans s holds.
func (s Strings) Len() int { return len(s.spans) }

// Cursor is a reader of s for one walk.
func (s Strings) Cursor() StringCursor { return StringCursor{spans: s.spans} }

// StringCursor looks up the spans of Strings for a walk (Object.KnowStrings).
// A walk goes forward, so a lookup steps on from where the last one
// stopped (most values between two long strings are short ones, looked up
// and not found); one behind it (a walk that starts over: a second pass
// over the messages) searches back by halves.
type StringCursor struct {
	spans []strSpan
	next  int // where the last lookup stopped
}

// end returns the offset after the string value that starts at b[i] when c
// holds its span and b agrees (a string as long, ending in a quote); not
// ok otherwise, for the caller to find the end itself. Object.Next calls it
// only when c holds spans.
func (c *StringCursor) end(b []byte, i int) (int, bool) {
	if i < 0 || i >= len(b) || b[i] != '"' {
		return 0, false
	}
	sp := c.spans
	k := min(c.next, len(sp))
	if k > 0 && int(sp[k-1].start) >= i {
		k = sort.Search(k, func(m int) bool { return int(sp[m].start) >= i })
	}
	for k < len(sp) && int(sp[k].start) < i {
		k++
	}
	c.next = k
	if k == len(sp) || int(sp[k].start) != i {
		return 0, false
	}
	e := int(sp[k].end)
	if e-i < 2 || e > len(b) || b[e-1] != '"' {
		return 0, false
	}
	return e, true
}
