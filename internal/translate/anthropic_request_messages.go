package translate

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/unquote"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/oaierr"
)

// The OpenAI messages of a chat request, walked element by element and
// written as Anthropic turns and content blocks (msgConverter), for
// appendAnthropicRequest.

// msgConverter converts OpenAI messages one at a time into Anthropic
// content blocks written straight into the output. Its message, part and
// scratch values are reused for every message, so converting a
// conversation allocates the same whatever its length.
type msgConverter struct {
	m       chatMessage
	part    rawPart
	scratch []byte // an unescaped string literal
	dec     elementDecoder
	// dry is set while the first pass checks the turns: texts are then
	// checked, and stand for themselves in the output by one byte (which
	// the pass drops), instead of being escaped twice.
	dry bool
	// trusted: the literals come from a validated document (a request body
	// bodyscan validated, or the router phase vouched for), so their escapes
	// are valid JSON and a literal copies as its raw token (rawCopyable).
	trusted bool
	// validDoc: the response whose content blocks eachBlock walks was
	// validated (anthRawResponse.read), so they are walked, not decoded.
	validDoc bool
	// raw: the router phase found every string literal of the request
	// raw copyable (bodyscan.Findings.RawStrings: all ASCII, no lone
	// surrogate escape), so literal skips its per-literal rawCopyable.
	raw bool
	// long reads the ends of the messages' long strings, which the router
	// phase found (bodyscan.Findings.MessageStrings): a message's walk
	// takes them instead of finding them again.
	long bodyscan.StringCursor
	// sysMark and sysStart locate the open "system" string in the single
	// pass (passSingle): where its member starts and where its text does.
	sysMark, sysStart int
	// block is the response content block eachBlock reads, resp the
	// response translateMessage reads (kept here: pooled with the rest).
	block anthRawBlock
	resp  anthRawResponse
	// used has a bit for each of m, part, block and resp that was written
	// since the converter left the pool: release clears those alone.
	used uint8
}

// The bits of msgConverter.used, each set where its field is first
// written (resetMessage, eachPart, eachBlock, translateWhole).
const (
	usedMessage uint8 = 1 << iota
	usedPart
	usedBlock
	usedResp
)

// converters pools the converters of requests and responses: a converter
// and the decoder, scratch and values it reuses only live during one
// translation.
var converters = sync.Pool{New: func() any { return new(msgConverter) }}

// maxPooledScratch is the largest scratch a pooled converter keeps.
const maxPooledScratch = 64 << 10

// release empties c, keeping its storage, and puts it back in converters:
// nothing of the bodies it read stays reachable. A part that holds nothing
// is not cleared again: while the GC marks, clearing costs a write barrier
// for each pointer slot, used or not, and a request uses none of the
// response's parts (nor a response the request's). Which parts were
// written is known (c.used): they are not read word by word to find out
// (zeroed), but for the small decoder. Every field of c is listed here
// (TestConverterReleaseCoversFields; TestConverterReleasedAfterUse checks
// real translations leave nothing behind).
func (c *msgConverter) release() {
	if c.used&usedMessage != 0 {
		calls := c.m.ToolCalls[:cap(c.m.ToolCalls)]
		clear(calls)
		c.m = chatMessage{ToolCalls: calls[:0]}
	}
	if c.used&usedPart != 0 {
		c.part = rawPart{}
	}
	if cap(c.scratch) > maxPooledScratch {
		c.scratch = nil
	} else {
		c.scratch = c.scratch[:0]
	}
	if !zeroed(&c.dec) {
		c.dec = elementDecoder{}
	}
	c.dry, c.trusted, c.validDoc, c.raw, c.long = false, false, false, false, bodyscan.StringCursor{}
	c.sysMark, c.sysStart = 0, 0
	if c.used&usedBlock != 0 {
		c.block = anthRawBlock{}
	}
	if c.used&usedResp != 0 {
		c.resp = anthRawResponse{}
	}
	c.used = 0
	converters.Put(c)
}

// zeroed reports whether *v is all zero bytes (its zero value; padding
// that is not zero only makes it false), read a word at a time: reading
// needs no write barrier.
func zeroed[T any](v *T) bool {
	p, n := unsafe.Pointer(v), unsafe.Sizeof(*v)
	off := uintptr(0)
	for ; off+8 <= n; off += 8 {
		if *(*uint64)(unsafe.Add(p, off)) != 0 {
			return false
		}
	}
	for ; off < n; off++ {
		if *(*byte)(unsafe.Add(p, off)) != 0 {
			return false
		}
	}
	return true
}

// pass is what one walk over the messages does.
type pass int

const (
	// passCheck converts and checks every message, appends the system and
	// developer texts (the system string's contents) and drops the turns.
	passCheck pass = iota
	// passWrite appends the turns (after a passCheck over the same messages).
	passWrite
	// passSingle does both in one walk, for the usual conversation whose
	// system and developer messages all come before its first turn: it
	// appends the system texts, closes the system string at the first turn
	// and writes the turns. A system message after a turn is errLateSystem
	// (the caller then makes the two passes).
	passSingle
)

// errLateSystem ends a single pass that met a system or developer message
// after a turn was written.
var errLateSystem = errors.New("system message after a turn")

// rawPart is a content part with its texts kept as raw JSON literals,
// copied into the output without being decoded into strings.
type rawPart struct {
	Type     string  `json:"type"`
	Text     rawJSON `json:"text"`
	Refusal  rawJSON `json:"refusal"`
	ImageURL *struct {
		URL rawJSON `json:"url"`
	} `json:"image_url"`
}

// messages converts every message of msgs in order and returns the number
// of user and assistant turns. passCheck only checks them, and appends the
// system and developer texts (escaped, joined by a blank line); passWrite
// appends the turns, consecutive messages of one Anthropic role merged into
// one turn (Anthropic combines them anyway, and tool results must share one
// user turn); passSingle does both (see pass). msgs is an array of a
// validated document (eachMessage walks it without validating).
func (c *msgConverter) messages(dst []byte, msgs rawJSON, p pass) ([]byte, int, error) {
	write := p != passCheck
	msgs = trimSpace(msgs)
	if len(msgs) == 0 || isNull(msgs) {
		return dst, 0, nil
	}
	if msgs[0] != '[' {
		return dst, 0, invalid("", "request body does not match the chat completions schema: messages must be an array")
	}
	turns, role, system := 0, "", false
	err := c.eachMessage(msgs, func(i int) error {
		m := &c.m
		loc := msgLoc(i)
		if len(m.FunctionCall) > 0 && !isNull(m.FunctionCall) {
			return unsupported(loc.at(".function_call"), "function_call is deprecated and not supported by an anthropic backend; use tool_calls")
		}
		if len(m.Audio) > 0 && !isNull(m.Audio) {
			return unsupported(loc.at(".audio"), "assistant audio is not supported by an anthropic backend")
		}
		r := m.Role
		switch r {
		case "system", "developer":
			switch {
			case p == passWrite:
				return nil
			case p == passSingle && role != "":
				return errLateSystem
			}
			mark := len(dst)
			if system {
				dst = append(dst, `\n\n`...)
			}
			start := len(dst)
			var err error
			if dst, err = c.text(dst, m.Content, loc); err != nil {
				return err
			}
			if len(dst) == start {
				dst = dst[:mark]
			} else {
				system = true
			}
			return nil
		case "user", "assistant":
		case "tool":
			if m.ToolCallID == "" {
				return invalid(loc.at(".tool_call_id"), "tool_call_id is required for tool messages")
			}
			r = "user" // tool results are user content in Anthropic
		case "function":
			return unsupported(loc.at(".role"), "function messages are deprecated and not supported by an anthropic backend; use tool messages")
		default:
			return invalid(loc.at(".role"), "unknown message role %q", m.Role)
		}
		mark := len(dst)
		c.dry = !write
		defer func() { c.dry = false }()
		if write {
			if p == passSingle && role == "" {
				dst = c.closeSystem(dst)
			}
			switch {
			case r == role:
				dst = append(dst, ',')
			case role != "":
				dst = append(dst, "]},"...)
				fallthrough
			default:
				dst = append(append(append(dst, `{"role":"`...), r...), `","content":[`...)
			}
		}
		start := len(dst)
		var err error
		switch m.Role {
		case "user":
			if dst, err = c.userBlocks(dst, m.Content, loc); err == nil && len(dst) == start {
				err = unsupported(loc.at(".content"), "an anthropic backend does not accept an empty user message")
			}
		case "assistant":
			if dst, err = c.assistantBlocks(dst, m, loc); err == nil && len(dst) == start {
				err = unsupported(loc.at(".content"), "an anthropic backend does not accept an assistant message with neither content nor tool_calls")
			}
		case "tool":
			dst, err = c.toolResult(dst, m, loc)
		}
		if err != nil {
			return err
		}
		if !write {
			dst = dst[:mark]
		}
		role = r
		turns++
		return nil
	})
	if err != nil {
		if _, ok := err.(*Error); !ok && err != errLateSystem {
			err = schemaError(err)
		}
		return dst, 0, err
	}
	if write && role != "" {
		dst = append(dst, "]}"...)
	}
	return dst, turns, nil
}

// openSystem starts the "system" member at the end of dst for passSingle.
func (c *msgConverter) openSystem(dst []byte) []byte {
	c.sysMark = len(dst)
	dst = append(dst, `,"system":"`...)
	c.sysStart = len(dst)
	return dst
}

// closeSystem ends the system member openSystem started (removing it when
// no text went in) and opens the messages array.
func (c *msgConverter) closeSystem(dst []byte) []byte {
	if len(dst) == c.sysStart {
		dst = dst[:c.sysMark]
	} else {
		dst = append(dst, '"')
	}
	return append(dst, `,"messages":[`...)
}

// elements walks the elements of an array of the document: without
// sonic's skipper when the document is validated (c.trusted).
func (c *msgConverter) elements(arr []byte, fn func(i, vs, ve int) error) error {
	if c.trusted {
		return bodyscan.ElementsTrusted(arr, fn)
	}
	return bodyscan.Elements(arr, fn)
}

// eachMessage reads each message of msgs, an array of a validated
// document, into c.m as decoding it would, and calls fn with its index. A
// message is walked member by member (its end found by the walk, so it is
// read once), its members kept raw and its strings viewed in place; one
// the walk cannot read exactly as the decoder does (not an object, a
// string member of another type or with escapes or bytes outside printable
// ASCII, a repeated member) is decoded.
func (c *msgConverter) eachMessage(msgs []byte, fn func(i int) error) error {
	a := bodyscan.ArrayAt(msgs)
	for a.Next() {
		vs := a.At()
		ve, ok := c.walkMessage(msgs, vs)
		if !ok {
			var err error
			if ve, err = bodyscan.ValueEndTrusted(msgs, vs); err != nil {
				return err
			}
			c.resetMessage()
			if err := c.dec.decode(msgs[vs:ve], &c.m); err != nil {
				return schemaError(err)
			}
		}
		a.SetEnd(ve)
		if err := fn(a.Index()); err != nil {
			return err
		}
	}
	return a.Err()
}

// resetMessage empties c.m for the next message, keeping its tool calls'
// storage: the decoder fills reused tool calls in place, so a call it
// decodes from {} must not keep an earlier message's id and name.
func (c *msgConverter) resetMessage() {
	c.used |= usedMessage
	calls := c.m.ToolCalls[:cap(c.m.ToolCalls)]
	clear(calls)
	c.m = chatMessage{ToolCalls: calls[:0]}
}

// errSlowMessage makes walkMessage give way to the decoder.
var errSlowMessage = errors.New("message needs the decoder")

// walkMessage reads the message that starts at msgs[i] into c.m without
// the decoder and returns its end, or false when it cannot (see
// eachMessage).
func (c *msgConverter) walkMessage(msgs []byte, i int) (int, bool) {
	c.resetMessage()
	m := &c.m
	var seen memberSet
	var calls []byte
	var o bodyscan.Object
	o.Start(msgs, i)
	o.KnowStrings(&c.long)
	for o.Next() {
		key, vs, ve := o.Member()
		v := msgs[vs:ve]
		var bit uint32
		ok := true
		switch key {
		case "role":
			bit = 1
			m.Role, ok = plainString(v)
		case "content":
			bit, m.Content = 2, v
		case "tool_calls":
			bit, calls = 4, v
		case "tool_call_id":
			bit = 8
			m.ToolCallID, ok = plainString(v)
		case "function_call":
			bit, m.FunctionCall = 16, v
		case "audio":
			bit, m.Audio = 32, v
		default:
			continue // the decoder ignores other members too
		}
		if seen.take(bit, ok) != nil {
			return 0, false
		}
	}
	end, err := o.End()
	if err != nil {
		return 0, false
	}
	if len(calls) > 0 && !isNull(calls) && c.dec.decode(calls, &m.ToolCalls) != nil {
		return 0, false
	}
	return end, true
}

// plainString reads a raw JSON value of a validated document that the
// decoder would store in a string field unchanged: null (no value) or a
// string whose contents decode to themselves (verbatim), viewed in place.
func plainString(v []byte) (string, bool) {
	if isNull(v) {
		return "", true
	}
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if !verbatim(inner) {
		return "", false
	}
	return aliasString(inner), true
}

// msgLoc is the index of a message; it names request locations in errors,
// built only when an error occurs.
type msgLoc int

func (m msgLoc) at(suffix string) string {
	return "messages[" + strconv.Itoa(int(m)) + "]" + suffix
}

func (m msgLoc) part(j int, suffix string) string {
	return m.at(".content[" + strconv.Itoa(j) + "]" + suffix)
}

func (m msgLoc) call(j int, suffix string) string {
	return m.at(".tool_calls[" + strconv.Itoa(j) + "]" + suffix)
}

// literal appends the contents of the raw JSON string lit, escaped for the
// output and without quotes; a null (or absent) value appends nothing, any
// other value is not a string (ok false). A literal without escapes is
// copied as is; one with escapes is unescaped into the reused scratch.
func (c *msgConverter) literal(dst []byte, lit []byte) (out []byte, ok bool) {
	if len(lit) == 0 || isNull(lit) {
		return dst, true
	}
	if len(lit) < 2 || lit[0] != '"' {
		return dst, false
	}
	inner := lit[1 : len(lit)-1]
	if c.trusted && (c.raw || rawCopyable(inner)) {
		// The token as the client wrote it: its escapes mean the same in
		// the output, so it is neither decoded nor escaped again.
		if c.dry {
			return appendDry(dst, inner), true
		}
		return append(dst, inner...), true
	}
	if bytes.IndexByte(inner, '\\') < 0 {
		if c.validDoc && !c.dry {
			// A literal of a validated response without escapes: no quote,
			// no control character, and valid UTF-8 (walkBlock checked it;
			// the decoder replaces bad bytes): escaping it changes nothing.
			return append(dst, inner...), true
		}
		if c.dry {
			return appendDry(dst, inner), true
		}
		return oaierr.AppendStringContents(dst, aliasString(inner)), true
	}
	if cap(c.scratch) < len(inner) {
		c.scratch = make([]byte, 0, len(inner)+len(inner)/4)
	}
	if unquote.IntoBytes(aliasString(inner), &c.scratch) != 0 {
		return dst, false
	}
	if c.dry {
		return appendDry(dst, c.scratch), true
	}
	return oaierr.AppendStringContents(dst, aliasString(c.scratch)), true
}

// rawCopyable reports whether inner, the contents of a string literal of a
// validated document (its escapes valid), is what writing its decoded
// text would produce up to the spelling of escapes: valid UTF-8 (else the
// decoder and the encoder replace bytes with U+FFFD) and no lone surrogate
// escape (decoded as U+FFFD too). Both are rare; such a literal takes the
// decoding path.
func rawCopyable(inner []byte) bool {
	if !utf8.Valid(inner) {
		return false
	}
	for i := 0; ; {
		k := bytes.IndexByte(inner[i:], '\\')
		if k < 0 {
			return true
		}
		j := i + k
		if j+1 >= len(inner) {
			return false
		}
		if inner[j+1] != 'u' {
			i = j + 2
			continue
		}
		if j+6 > len(inner) {
			return false
		}
		// The four hex digits are valid; only a surrogate's matter.
		switch surrogate(inner[j+2], inner[j+3]) {
		case 0:
			i = j + 6
		case 'h':
			// A high surrogate is copyable only with its low half.
			if j+12 > len(inner) || inner[j+6] != '\\' || inner[j+7] != 'u' || surrogate(inner[j+8], inner[j+9]) != 'l' {
				return false
			}
			i = j + 12
		default:
			return false
		}
	}
}

// surrogate classifies the \u escape whose first two hex digits are a, b:
// 'h' for a high surrogate (D800-DBFF), 'l' for a low one (DC00-DFFF), 0
// for any other code unit.
func surrogate(a, b byte) byte {
	if a != 'd' && a != 'D' {
		return 0
	}
	switch b {
	case '8', '9', 'a', 'b', 'A', 'B':
		return 'h'
	case 'c', 'd', 'e', 'f', 'C', 'D', 'E', 'F':
		return 'l'
	}
	return 0
}

// trimSpace is bytes.TrimSpace without its call for a value that has
// nothing to trim: one that starts and ends with an ASCII byte that is
// not space (every JSON value a walk found), the only kind it returns
// as is without looking further.
func trimSpace(b []byte) []byte {
	if n := len(b); n > 0 && notSpaceASCII(b[0]) && notSpaceASCII(b[n-1]) {
		return b
	}
	return bytes.TrimSpace(b)
}

// notSpaceASCII: c is ASCII and not one of bytes.TrimSpace's spaces
// (\t \n \v \f \r and space; its Unicode ones start at 0x80).
func notSpaceASCII(c byte) bool {
	return c < utf8.RuneSelf && c != ' ' && (c < '\t' || c > '\r')
}

// appendQuoted appends s between quotes: s needs no escaping.
func appendQuoted(dst []byte, s string) []byte {
	return append(append(append(dst, '"'), s...), '"')
}

// appendDry appends what stands for text in a dry run: one byte if it is
// not empty.
func appendDry(dst, text []byte) []byte {
	if len(text) == 0 {
		return dst
	}
	return append(dst, '.')
}

// textBlock appends {"type":"text","text":lit} after a separator, or
// nothing when the text is empty.
func (c *msgConverter) textBlock(dst []byte, start int, lit []byte) ([]byte, bool) {
	mark := len(dst)
	if len(dst) > start {
		dst = append(dst, ',')
	}
	dst = append(dst, `{"type":"text","text":"`...)
	text := len(dst)
	dst, ok := c.literal(dst, lit)
	if !ok || len(dst) == text {
		return dst[:mark], ok
	}
	return append(dst, `"}`...), true
}

// partFunc appends the output for part j of a message's content.
type partFunc func(dst []byte, j int, p *rawPart) ([]byte, error)

// eachPart decodes the content parts of the array raw into c.part, one at a
// time, and calls fn with each.
func (c *msgConverter) eachPart(dst []byte, raw []byte, loc msgLoc, fn partFunc) ([]byte, error) {
	c.used |= usedPart
	err := c.elements(raw, func(j, vs, ve int) error {
		c.part = rawPart{}
		if c.dec.decode(raw[vs:ve], &c.part) != nil {
			return errBadParts
		}
		var err error
		dst, err = fn(dst, j, &c.part)
		return err
	})
	if _, ok := err.(*Error); !ok && err != nil {
		return dst, invalid(loc.at(".content"), "content must be a string or an array of content parts")
	}
	return dst, err
}

var errBadParts = errors.New("bad content parts")

// content appends the text of message content in string form, or calls
// eachPart for the array form.
func (c *msgConverter) content(dst []byte, raw rawJSON, loc msgLoc, str func(dst []byte, lit []byte) ([]byte, bool), part partFunc) ([]byte, error) {
	raw = trimSpace(raw)
	switch {
	case len(raw) == 0 || isNull(raw):
		return dst, nil
	case raw[0] == '"':
		dst, ok := str(dst, raw)
		if !ok {
			return dst, invalid(loc.at(".content"), "content is not a valid string")
		}
		return dst, nil
	case raw[0] == '[':
		return c.eachPart(dst, raw, loc, part)
	default:
		return dst, invalid(loc.at(".content"), "content must be a string or an array of content parts")
	}
}

// text appends content that may only hold text (system, developer and tool
// messages), its parts' texts concatenated, escaped and without quotes.
func (c *msgConverter) text(dst []byte, raw rawJSON, loc msgLoc) ([]byte, error) {
	return c.content(dst, raw, loc, c.literal, func(dst []byte, j int, p *rawPart) ([]byte, error) {
		if p.Type != "text" {
			return dst, unsupported(loc.part(j, ""), "content part type %q is not supported here by an anthropic backend", p.Type)
		}
		dst, ok := c.literal(dst, p.Text)
		if !ok {
			return dst, errBadParts
		}
		return dst, nil
	})
}

func (c *msgConverter) userBlocks(dst []byte, raw rawJSON, loc msgLoc) ([]byte, error) {
	start := len(dst)
	return c.content(dst, raw, loc, func(dst []byte, lit []byte) ([]byte, bool) {
		return c.textBlock(dst, start, lit)
	}, func(dst []byte, j int, p *rawPart) ([]byte, error) {
		switch p.Type {
		case "text":
			dst, ok := c.textBlock(dst, start, p.Text)
			if !ok {
				return dst, errBadParts
			}
			return dst, nil
		case "image_url":
			var lit rawJSON
			if p.ImageURL != nil {
				lit = p.ImageURL.URL
			}
			u, raw, ok := c.urlString(lit)
			if !ok {
				return dst, errBadParts
			}
			if u == "" {
				return dst, invalid(loc.part(j, ".image_url.url"), "image_url.url is required")
			}
			return appendImageBlock(dst, start, u, raw, loc, j)
		default:
			return dst, unsupported(loc.part(j, ""), "content part type %q is not supported by an anthropic backend", p.Type)
		}
	})
}

// urlString reads an image URL, the raw JSON value lit (absent or null: an
// empty URL): ok is false unless it is a string. A string without escapes
// in a validated document (a base64 image is most of a request that
// carries one) is a view of its raw contents, which need no escaping (raw
// true); one with escapes is decoded. Invalid UTF-8 is refused (the
// message decoder already replaced it with U+FFFD; the raw copy does not
// depend on that).
func (c *msgConverter) urlString(lit []byte) (u string, raw, ok bool) {
	if len(lit) == 0 || isNull(lit) {
		return "", false, true
	}
	if len(lit) < 2 || lit[0] != '"' {
		return "", false, false
	}
	inner := lit[1 : len(lit)-1]
	if c.trusted && bytes.IndexByte(inner, '\\') < 0 {
		return aliasString(inner), true, utf8.Valid(inner)
	}
	u, ok = rawString(lit)
	return u, false, ok && utf8.ValidString(u)
}

// appendImageBlock maps an OpenAI image URL (data URI or http(s) URL) to an
// Anthropic image block. raw: u is the raw contents of a string of the
// validated document without escapes, copied as they are.
func appendImageBlock(dst []byte, start int, u string, raw bool, loc msgLoc, j int) ([]byte, error) {
	param := func() string { return loc.part(j, ".image_url.url") }
	str := appendJSONString
	if raw {
		str = appendQuoted
	}
	if len(dst) > start {
		dst = append(dst, ',')
	}
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, found := strings.Cut(rest, ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if !found || !isBase64 {
			return dst, unsupported(param(), "only base64 data URIs are supported for images")
		}
		switch mediaType {
		case "image/jpeg", "image/png", "image/gif", "image/webp":
		default:
			return dst, unsupported(param(), "image media type %q is not supported by an anthropic backend (jpeg, png, gif, webp)", mediaType)
		}
		dst = appendJSONString(append(dst, `{"type":"image","source":{"type":"base64","media_type":`...), mediaType)
		if data != "" {
			dst = str(append(dst, `,"data":`...), data)
		}
		return append(dst, "}}"...), nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		dst = str(append(dst, `{"type":"image","source":{"type":"url","url":`...), u)
		return append(dst, "}}"...), nil
	}
	return dst, invalid(param(), "image URL must be an http(s) URL or a base64 data URI")
}

func (c *msgConverter) assistantBlocks(dst []byte, m *chatMessage, loc msgLoc) ([]byte, error) {
	start := len(dst)
	dst, err := c.content(dst, m.Content, loc, func(dst []byte, lit []byte) ([]byte, bool) {
		return c.textBlock(dst, start, lit)
	}, func(dst []byte, j int, p *rawPart) ([]byte, error) {
		lit := p.Text
		switch p.Type {
		case "text":
		case "refusal":
			// A refusal is text the model produced; Anthropic has no
			// separate field for it in the history.
			lit = p.Refusal
		default:
			return dst, unsupported(loc.part(j, ""), "assistant content part type %q is not supported by an anthropic backend", p.Type)
		}
		dst, ok := c.textBlock(dst, start, lit)
		if !ok {
			return dst, errBadParts
		}
		return dst, nil
	})
	if err != nil {
		return dst, err
	}
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		if tc.Type != "" && tc.Type != "function" {
			return dst, unsupported(loc.call(j, ".type"), "tool call type %q is not supported by an anthropic backend", tc.Type)
		}
		if tc.ID == "" || tc.Function.Name == "" {
			return dst, invalid(loc.call(j, ""), "tool calls need an id and a function name")
		}
		args := strings.TrimSpace(tc.Function.Arguments)
		if args == "" {
			args = "{}"
		}
		if args[0] != '{' || !sonic.ValidString(args) {
			return dst, invalid(loc.call(j, ".function.arguments"), "function arguments must be a JSON object")
		}
		if len(dst) > start {
			dst = append(dst, ',')
		}
		dst = appendJSONString(append(dst, `{"type":"tool_use","id":`...), tc.ID)
		dst = appendJSONString(append(dst, `,"name":`...), tc.Function.Name)
		dst = append(append(append(dst, `,"input":`...), args...), '}')
	}
	return dst, nil
}

// toolResult appends a tool message as one tool_result block.
func (c *msgConverter) toolResult(dst []byte, m *chatMessage, loc msgLoc) ([]byte, error) {
	dst = appendJSONString(append(dst, `{"type":"tool_result","tool_use_id":`...), m.ToolCallID)
	mark := len(dst)
	dst = append(dst, `,"content":[{"type":"text","text":"`...)
	text := len(dst)
	dst, err := c.text(dst, m.Content, loc)
	if err != nil {
		return dst, err
	}
	if len(dst) == text {
		dst = dst[:mark]
	} else {
		dst = append(dst, `"}]`...)
	}
	return append(dst, '}'), nil
}

// appendFloatLit appends f, read from the JSON number lit (nil: not
// known), as appendFloat does: lit itself when it is what appendFloat
// writes (shortestDecimal), without formatting f again.
func appendFloatLit(dst []byte, f float64, lit []byte) []byte {
	if shortestDecimal(lit) {
		return append(dst, lit...)
	}
	return appendFloat(dst, f)
}

// shortestDecimal reports whether the JSON number lit is what appendFloat
// writes for its value: -?(0|[1-9][0-9]*)(\.[0-9]*[1-9])? without exponent,
// at most 15 significant digits (two decimals of 15 digits never round to
// one float64, so the shortest decimal that reads back as lit's value is
// lit's own digits), at most 15 integer digits (below 1e21) and, below 1,
// a first significant digit within six places (from 1e-6 on: no exponent).
func shortestDecimal(lit []byte) bool {
	i := 0
	if i < len(lit) && lit[i] == '-' {
		i++
	}
	if i == len(lit) {
		return false
	}
	intStart := i
	switch c := lit[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
			i++
		}
	default:
		return false
	}
	intDigits := i - intStart
	sig := intDigits // significant digits so far (none for a 0 integer part)
	if lit[intStart] == '0' {
		sig = 0
	}
	if intDigits > 15 {
		return false
	}
	if i == len(lit) {
		return true
	}
	if lit[i] != '.' {
		return false
	}
	i++
	fracStart := i
	for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
		if sig > 0 || lit[i] != '0' {
			if sig == 0 && i-fracStart >= 6 {
				return false // below 1e-6: appendFloat writes an exponent
			}
			sig++
		}
		i++
	}
	return i == len(lit) && i > fracStart && lit[i-1] != '0' && sig <= 15
}

// appendFloat appends f as the JSON encoders of the gateway do (encoding/json's
// format: shortest representation, exponent only below 1e-6 or from 1e21).
func appendFloat(dst []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
