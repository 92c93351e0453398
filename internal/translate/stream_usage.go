package translate

import "bytes"

// OpenAI-style streams report usage only when the request asks for it
// (stream_options.include_usage). The gateway accounts every stream, so it
// asks on the client's behalf and then takes out of the stream what the
// client did not ask for: the usage-only last chunk, and the "usage":null
// member the provider adds to every other chunk, so the client gets the
// bytes it would have got without the request edit.

// askUsage reports whether the endpoint takes stream_options.
func askUsage(ep endpoint) bool {
	return ep.kind == endpointChatCompletions || ep.kind == endpointCompletions
}

// edit replaces body[start:end] with repl, then str as a JSON string when
// quote is set, then after.
type edit struct {
	start, end int
	repl       string
	str        string
	quote      bool
	after      string
}

// applyEdits returns body with the (non-overlapping) edits applied, in one
// pooled buffer (bodyBuffer): hand both results to setBody. The edits are
// sorted in place (there are at most two: an insertion sort, which
// allocates nothing).
func applyEdits(body []byte, edits []edit) (*[]byte, []byte) {
	sortEdits(edits)
	n := len(body)
	for _, e := range edits {
		n += len(e.repl) + len(e.str) + 2 + len(e.after) - (e.end - e.start)
	}
	buf := bodyBuffer(n)
	out := *buf
	at := 0
	for _, e := range edits {
		out = append(out, body[at:e.start]...)
		out = append(out, e.repl...)
		if e.quote {
			out = appendJSONString(out, e.str)
		}
		out = append(out, e.after...)
		at = e.end
	}
	return buf, append(out, body[at:]...)
}

func sortEdits(edits []edit) {
	for i := 1; i < len(edits); i++ {
		for j := i; j > 0 && edits[j].start < edits[j-1].start; j-- {
			edits[j], edits[j-1] = edits[j-1], edits[j]
		}
	}
}

// exportEdits is applyEdits' rewrite as Edits (EditedRequest): sorted, each
// edit's text in one small allocation.
func exportEdits(edits []edit, st *editStore) []Edit {
	sortEdits(edits)
	out := st.edits[:0]
	text := st.text[:0]
	for _, e := range edits {
		from := len(text)
		text = append(text, e.repl...)
		if e.quote {
			text = appendJSONString(text, e.str)
		}
		text = append(text, e.after...)
		out = append(out, Edit{Start: e.start, End: e.end, Text: text[from:len(text):len(text)]})
	}
	// Texts that outgrew the store moved while being appended: the earlier
	// ones still hold their bytes where they were written.
	return out
}

// editStore is where exportEdits writes, in memory its caller owns (a
// translator lives as long as its attempt): a model override and a usage
// request, the passthrough's two edits, fit without an allocation.
type editStore struct {
	edits [2]Edit
	text  [64]byte
}

// includeUsageEdit is the edit that makes a streamed request ask for usage,
// given its top-level stream_options value (vs == ve when absent) and the
// position right after the body's opening brace; ok is false when the
// client asked already or the value is not something to edit (the provider
// answers that).
func includeUsageEdit(body []byte, vs, ve, open int) (e edit, ok bool) {
	if vs == ve {
		return edit{start: open, end: open, repl: `"stream_options":{"include_usage":true},`}, true
	}
	v := body[vs:ve]
	switch {
	case isNull(v):
		return edit{start: vs, end: ve, repl: `{"include_usage":true}`}, true
	case v[0] != '{':
		return edit{}, false
	}
	ivs, ive, found, err := findMember(v, "include_usage")
	switch {
	case err != nil:
		return edit{}, false
	case found && string(v[ivs:ive]) == "true":
		return edit{}, false
	case found:
		return edit{start: vs + ivs, end: vs + ive, repl: "true"}, true
	}
	inner := vs + 1
	if len(bytes.TrimSpace(v[1:len(v)-1])) == 0 {
		return edit{start: inner, end: inner, repl: `"include_usage":true`}, true
	}
	return edit{start: inner, end: inner, repl: `"include_usage":true,`}, true
}

// usageStripper takes the usage the gateway asked for out of a stream,
// event by event, keeping every other byte. An event is held until its
// blank line arrives (at most max bytes; past that the rest of the stream
// passes unchanged).
type usageStripper struct {
	max     int
	pending []byte
	out     []byte
	off     bool
}

func (s *usageStripper) feed(chunk []byte, eos bool) []byte {
	if s.off {
		return chunk
	}
	data := chunk
	// The held bytes hold no blank line (else they would have gone out), so
	// the first search starts where a terminator across the seam could
	// (3 bytes back: "\r\n\r\n"), not at the start: an event held across
	// many small chunks is scanned once, not once per chunk.
	from := 0
	if len(s.pending) > 0 {
		from = max(len(s.pending)-3, 0)
		s.pending = append(s.pending, chunk...)
		data = s.pending
	}
	s.out = s.out[:0]
	for {
		end := eventEnd(data[from:])
		if end < 0 {
			break
		}
		end += from
		from = 0
		s.out = appendWithoutUsage(s.out, data[:end])
		data = data[end:]
	}
	if eos {
		s.out = appendWithoutUsage(s.out, data)
		data = nil
	}
	if len(data) > s.max {
		// Not an event stream the gateway understands: pass it on.
		s.off = true
		s.out = append(s.out, data...)
		s.pending = nil
		return s.out
	}
	s.pending = append(s.pending[:0], data...)
	return s.out
}

// eventEnd returns the length of the first complete event in b (through its
// blank line), or -1.
func eventEnd(b []byte) int {
	i, j := bytes.Index(b, []byte("\n\n")), bytes.Index(b, []byte("\r\n\r\n"))
	switch {
	case i < 0 && j < 0:
		return -1
	case j >= 0 && (i < 0 || j < i):
		return j + 4
	}
	return i + 2
}

// appendWithoutUsage appends ev, an OpenAI stream event, without its
// top-level usage member; the usage-only chunk (no choices) is dropped
// whole. Anything else is appended as is.
func appendWithoutUsage(out, ev []byte) []byte {
	if !bytes.HasPrefix(ev, []byte("data:")) {
		return append(out, ev...)
	}
	ps := len("data:")
	if ps < len(ev) && ev[ps] == ' ' {
		ps++
	}
	pe := len(ev)
	if i := bytes.IndexAny(ev[ps:], "\r\n"); i >= 0 {
		pe = ps + i
	}
	payload := ev[ps:pe]
	if len(payload) == 0 || payload[0] != '{' {
		return append(out, ev...)
	}
	vs, ve, found, err := findMember(payload, "usage")
	if err != nil || !found {
		return append(out, ev...)
	}
	if !isNull(payload[vs:ve]) {
		if cs, ce, ok, _ := findMember(payload, "choices"); ok && string(bytes.TrimSpace(payload[cs+1:ce-1])) == "" {
			return out // the usage-only chunk
		}
	}
	cs, ce, ok := memberCut(payload, vs, ve)
	if !ok {
		return append(out, ev...)
	}
	out = append(out, ev[:ps+cs]...)
	return append(out, ev[ps+ce:]...)
}

// memberCut is the span that removes the "usage" member whose value is
// obj[vs:ve] together with one adjacent comma, leaving valid JSON.
func memberCut(obj []byte, vs, ve int) (start, end int, ok bool) {
	i := vs - 1
	for i >= 0 && isSpace(obj[i]) {
		i--
	}
	if i < 0 || obj[i] != ':' {
		return 0, 0, false
	}
	i--
	for i >= 0 && isSpace(obj[i]) {
		i--
	}
	const key = `"usage"`
	if i+1 < len(key) || string(obj[i+1-len(key):i+1]) != key {
		return 0, 0, false // an escaped key: leave it
	}
	ks := i + 1 - len(key)
	j := ks - 1
	for j >= 0 && isSpace(obj[j]) {
		j--
	}
	if j >= 0 && obj[j] == ',' {
		return j, ve, true
	}
	// The first member: take the comma after it.
	k := ve
	for k < len(obj) && isSpace(obj[k]) {
		k++
	}
	if k < len(obj) && obj[k] == ',' {
		k++
		for k < len(obj) && isSpace(obj[k]) {
			k++
		}
		return ks, k, true
	}
	return ks, ve, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
