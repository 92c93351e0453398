package translate

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/bufpool"
)

// OpenAI-compatible upstreams (OpenAI, vLLM, any OpenAI-style server) take
// the client's request as is: only the path prefix and, when an override
// applies, the top-level "model" string change. Responses pass through
// untouched; they are only read for token usage.

func init() {
	register(SchemaOpenAI, func(t Target, ep endpoint) (Translator, error) {
		prefix := t.PathPrefix
		if prefix == "" {
			prefix = "/v1"
		}
		if ep.kind == endpointMessages {
			// The Anthropic Messages front door (messages_openai.go).
			chat := joinPath(prefix, "/chat/completions")
			return newMessagesToOpenAI(t, func(string) string { return chat }, false), nil
		}
		p := openAIPassthroughs.Get().(*passthrough)
		*p = passthrough{target: t, usage: openaiUsageScanner{}, askUsage: askUsage(ep), fixedPath: openAIPath(prefix, ep), pooled: true}
		return p, nil
	})
}

// openAIPassthroughs holds the OpenAI passthroughs of attempts that are
// over (Release): one attempt's translator is about 640 bytes, allocated
// and collected once per attempt otherwise.
var openAIPassthroughs = sync.Pool{New: func() any { return new(passthrough) }}

// Release is Releaser: a pooled passthrough goes back, with nothing of its
// attempt (a zero passthrough), for the next one.
func (p *passthrough) Release() {
	if !p.pooled {
		return
	}
	*p = passthrough{}
	openAIPassthroughs.Put(p)
}

// openAIPath is the upstream path of an OpenAI-compatible backend for the
// client's endpoint ep: the configured prefix, the endpoint, the client's
// query. With the default prefix that is the client's own path, reused
// (one allocation less per attempt).
func openAIPath(prefix string, ep endpoint) string {
	if ep.v1Path != "" && strings.TrimSuffix(prefix, "/") == "/v1" {
		return ep.v1Path
	}
	p := joinPath(prefix, ep.suffix)
	if ep.query != "" {
		p += "?" + ep.query
	}
	return p
}

// passthrough is the OpenAI-schema translator, shared by Azure OpenAI which
// differs only in how the path is built.
type passthrough struct {
	target Target
	// path builds the upstream path from the effective model; when it is
	// nil the path is fixedPath, whatever the model.
	path      func(model string) string
	fixedPath string
	// pooled: the passthrough came from openAIPassthroughs (Release).
	pooled bool
	// requireModel makes a missing model an error (Azure needs it for the
	// deployment name).
	requireModel bool
	// modelInPath: the model becomes a path segment (Azure's deployment),
	// so it must be exactly one valid segment.
	modelInPath bool
	// headers are set on every upstream request.
	headers []Header
	// usage reads token counts in the upstream's own schema.
	usage usageScanner
	// askUsage: the endpoint takes stream_options, so a stream whose client
	// did not ask for usage is asked for it (stream_usage.go); stripping is
	// set once it was, and strip takes the usage back out of the stream.
	askUsage  bool
	stripping bool
	strip     usageStripper
	// errorJSON normalizes an error body into the client's error format;
	// nil means OpenAI's (openAIErrorJSON).
	errorJSON func(status int, body []byte) []byte

	// edits holds the request's rewrite as Edits (exportEdits): the
	// translator lives as long as its attempt, which applies them at once.
	edits editStore

	mode   ResponseMode
	status int
	coding contentCoding
	gz     *gzipDecoder
	acc    accumulator
	sse    sseParser
	tokens Usage
	// ended: the stream's terminal event passed (StreamEnded).
	ended bool
}

func (p *passthrough) RequestBody(body []byte) (RequestResult, error) {
	var (
		in     requestFacts
		models int
	)
	in.scanErr = forEachMember(body, func(key string, vs, ve int) error {
		in.members++
		switch key {
		case "model":
			// Which of two models a provider reads is not for the gateway
			// to guess (the router phase rejects them too).
			if models++; models > 1 {
				return &bodyscan.Error{Kind: bodyscan.Duplicate, Member: "model", Offset: vs}
			}
			if s, ok := rawString(body[vs:ve]); ok {
				// s may alias body, which the caller may release; the
				// router phase's findings (scanned) hold their own copy.
				in.requested, in.modelVS, in.modelVE, in.hasModel = strings.Clone(s), vs, ve, true
			}
		case "stream":
			in.stream = string(body[vs:ve]) == "true"
		case "stream_options":
			in.so, in.soVS = body[vs:ve], vs
		}
		return nil
	})
	in.n, in.open = len(body), bytes.IndexByte(body, '{')+1
	return p.request(body, in, false)
}

// RequestBodyScanned is RequestBody for a body the router phase validated
// and described (bodyscan.Recall): nothing is scanned again, and an
// override rewrites the one model string into one output buffer.
func (p *passthrough) RequestBodyScanned(body []byte, f bodyscan.Findings) (RequestResult, error) {
	return p.scanned(body, f, false)
}

// RequestEditsScanned is RequestBodyScanned with the rewrite as edits
// (EditedRequest).
func (p *passthrough) RequestEditsScanned(body []byte, f bodyscan.Findings) (RequestResult, error) {
	return p.scanned(body, f, true)
}

// SlicedEditedRequest is an EditedRequest that can also decide from the
// body as Envoy holds it, a list of slices (an upstream attempt's view of
// its buffer), without their concatenation: RequestEditsSliced(slices, f)
// is RequestEditsScanned(the concatenation, f) when done is true. done is
// false, with nothing decided, when the translator needs the body in one
// piece for this request (the caller then reads it so and calls
// RequestEditsScanned). The slices are only read, during the call; the
// result holds nothing of them.
type SlicedEditedRequest interface {
	EditedRequest
	RequestEditsSliced(slices [][]byte, f bodyscan.Findings) (res RequestResult, done bool, err error)
}

// requestFacts is what the passthrough's request decision (request) reads
// of a body: what a scan of it or the router phase's findings found, and
// the few bytes of the body itself it needs, read by whichever form holds
// the body (one slice: RequestBody, scanned; Envoy's slices:
// RequestEditsSliced).
type requestFacts struct {
	// scanErr is a scan's verdict on the body (findings: nil).
	scanErr error
	// requested is the client's model; when hasModel its string spans
	// [modelVS, modelVE).
	requested        string
	hasModel, stream bool
	modelVS, modelVE int
	members          int
	// n is the body's length, open the offset just after its opening
	// brace (0: none).
	n, open int
	// so is the top-level stream_options value, at offset soVS (nil:
	// none). With findings it is read only when needSO: a stream the
	// gateway asks usage for (stream_usage.go).
	so     []byte
	soVS   int
	needSO bool
	// quotes are the bytes at the model span's ends, read when the span
	// is within the body (spanInRange).
	quotes [2]byte
}

// scannedFacts are the facts findings f give for a body of n bytes; the
// caller reads open, quotes and (when needSO) so.
func (p *passthrough) scannedFacts(f bodyscan.Findings, n int) requestFacts {
	in := requestFacts{hasModel: f.Model.Present && f.Model.Type == bodyscan.TypeString, stream: f.Stream,
		modelVS: f.ModelStart, modelVE: f.ModelEnd, members: f.Members, n: n, needSO: f.Stream && p.askUsage}
	if in.hasModel {
		in.requested = f.Model.Value
	}
	return in
}

func (p *passthrough) scanned(body []byte, f bodyscan.Findings, asEdits bool) (RequestResult, error) {
	in := p.scannedFacts(f, len(body))
	in.open = bytes.IndexByte(body, '{') + 1
	// The findings do not locate stream_options: only a stream the gateway
	// asks for usage looks it up.
	if in.needSO {
		if vs, ve, ok, err := findMember(body, "stream_options"); err == nil && ok {
			in.so, in.soVS = body[vs:ve], vs
		}
	}
	if spanInRange(in.n, in.modelVS, in.modelVE) {
		in.quotes = [2]byte{body[in.modelVS], body[in.modelVE-1]}
	}
	if !in.modelSpanFits() {
		// Findings of other bytes (a handoff collision: see
		// bodyscan.Remember's threat model): the edits would cut this body
		// where it has no model string, or cross each other. Scan it.
		return p.RequestBody(body)
	}
	return p.request(body, in, asEdits)
}

// RequestEditsSliced is SlicedEditedRequest: the facts scanned reads of
// one slice, read across the slices. A stream the gateway asks usage for
// needs its stream_options member, which a walk of the body's top-level
// members finds: that walk reads the members around the messages value
// (outline), most of a chat body left out. A request whose body has no
// messages member to leave out (a completion's prompt), or whose findings
// do not fit its bytes (scanned then scans it), is not done here.
func (p *passthrough) RequestEditsSliced(slices [][]byte, f bodyscan.Findings) (RequestResult, bool, error) {
	n := 0
	for _, s := range slices {
		n += len(s)
	}
	in := p.scannedFacts(f, n)
	if in.needSO {
		ol, ok := outline(slices, n, f)
		if !ok {
			return RequestResult{}, false, nil
		}
		defer bufpool.Put(ol.buf)
		vs, ve, found, err := findMember(*ol.buf, "stream_options")
		if se, ok := err.(*bodyscan.Error); err != nil && !(ok && se.Kind == bodyscan.Duplicate) {
			// Not the body the findings describe (they are of other
			// bytes): leave it to scanned. A duplicate stream_options is
			// the body's own, which scanned finds too (and treats as
			// none).
			return RequestResult{}, false, nil
		}
		if err == nil && found {
			in.so, in.soVS = (*ol.buf)[vs:ve], ol.bodyOffset(vs)
		}
	}
	in.open = slicesIndexByte(slices, '{') + 1
	if spanInRange(in.n, in.modelVS, in.modelVE) {
		in.quotes = [2]byte{slicesByteAt(slices, in.modelVS), slicesByteAt(slices, in.modelVE-1)}
	}
	if !in.modelSpanFits() {
		return RequestResult{}, false, nil
	}
	res, err := p.request(nil, in, true)
	return res, true, err
}

// outlined is a body's outline (outline): its bytes with the value of its
// messages member, [ms, me) of the body, replaced by a 0.
type outlined struct {
	buf    *[]byte // bufpool's
	ms, me int
}

// bodyOffset is the body's offset of offset i of the outline, which is not
// the 0 in place of the messages value.
func (o *outlined) bodyOffset(i int) int {
	if i > o.ms {
		return i + o.me - o.ms - 1
	}
	return i
}

// outline is the body held in slices, of n bytes, with the value of its
// messages member (the findings' span) replaced by a 0, in one pooled
// buffer: the same top-level members, valid JSON when the body is, in a
// few hundred bytes for a chat body of any size, where a walk finds a
// member outside messages as in the body. ok is false without a messages
// span to leave out (or with one not within n bytes).
func outline(slices [][]byte, n int, f bodyscan.Findings) (outlined, bool) {
	ms, me := f.MessagesStart, f.MessagesEnd
	if me == 0 || ms < 0 || me > n || me-ms < 2 {
		return outlined{}, false
	}
	buf := bufpool.Get(n - (me - ms) + 1)
	b := appendRange((*buf)[:0], slices, 0, ms)
	b = append(b, '0')
	*buf = appendRange(b, slices, me, n)
	return outlined{buf: buf, ms: ms, me: me}, true
}

// appendRange appends bytes [lo, hi) of the concatenation of slices to dst.
func appendRange(dst []byte, slices [][]byte, lo, hi int) []byte {
	base := 0
	for _, s := range slices {
		if base >= hi {
			break
		}
		from, to := max(lo-base, 0), min(hi-base, len(s))
		if from < to {
			dst = append(dst, s[from:to]...)
		}
		base += len(s)
	}
	return dst
}

// slicesIndexByte is bytes.IndexByte over the concatenation of slices.
func slicesIndexByte(slices [][]byte, c byte) int {
	off := 0
	for _, s := range slices {
		if i := bytes.IndexByte(s, c); i >= 0 {
			return off + i
		}
		off += len(s)
	}
	return -1
}

// slicesByteAt is the byte at offset i of the concatenation of slices (i
// within it).
func slicesByteAt(slices [][]byte, i int) byte {
	for _, s := range slices {
		if i < len(s) {
			return s[i]
		}
		i -= len(s)
	}
	panic("translate: offset past the body")
}

// spanInRange reports whether [vs, ve) is within a body of n bytes and
// long enough to be a JSON string.
func spanInRange(n, vs, ve int) bool { return vs >= 0 && ve <= n && ve-vs >= 2 }

// modelSpanFits reports whether the findings' model span can be the model
// string they say it is: in range, quoted at both ends, and strictly before
// or after the bytes the usage edit may change (the stream_options value,
// or the point after the opening brace where one is inserted), so the two
// edits apply one after the other. A body without a model string fits.
func (in *requestFacts) modelSpanFits() bool {
	if !in.hasModel {
		return true
	}
	vs, ve := in.modelVS, in.modelVE
	if !spanInRange(in.n, vs, ve) || in.quotes != [2]byte{'"', '"'} {
		return false
	}
	if !in.needSO {
		return true
	}
	xs, xe := in.open, in.open
	if in.so != nil {
		xs, xe = in.soVS, in.soVS+len(in.so)
	}
	return xe < vs || xs >= ve
}

// request decides the passthrough's request from the facts in about its
// body. body is read only to rewrite it in one buffer (asEdits false) and
// to tell an empty body from a malformed one (in.scanErr): asEdits returns
// the rewrite as res.Edits instead of res.Body (EditedRequest), and a
// caller without the body in one piece passes nil.
func (p *passthrough) request(body []byte, in requestFacts, asEdits bool) (RequestResult, error) {
	scanErr, requested := in.scanErr, in.requested
	if scanErr != nil && (p.target.overrides() || p.requireModel) && len(bytes.TrimSpace(body)) > 0 {
		return RequestResult{}, invalid("", "%s", scanErr.Error())
	}
	model := p.target.ResolveModel(requested)
	if p.requireModel && model == "" {
		return RequestResult{}, invalid("model", "model is required")
	}
	if p.modelInPath {
		if err := checkPathSegment("model", model); err != nil {
			return RequestResult{}, err
		}
	}
	// Without accept-encoding the upstream answers in identity encoding, so
	// usage can be read without decompressing.
	res := RequestResult{Model: model, Stream: in.stream, Headers: p.headers, RemoveHeaders: removeAcceptEncoding}
	var edits [2]edit
	n := 0
	open := in.open
	switch {
	case scanErr != nil || model == requested:
		// Nothing to rewrite.
	case in.hasModel:
		edits[n] = edit{start: in.modelVS, end: in.modelVE, str: model, quote: true}
		n++
	default:
		// No model member but DefaultModel applies: insert it first.
		edits[n] = edit{start: open, end: open, repl: `"model":`, str: model, quote: true}
		if in.members > 0 {
			edits[n].after = ","
		}
		n++
	}
	if scanErr == nil && in.stream && p.askUsage {
		if e, ok := usageEdit(in.so, in.soVS, open); ok {
			edits[n] = e
			n++
			p.stripping = true
			p.strip.max = p.target.Limits.eventBytes()
		}
	}
	switch {
	case n > 0 && asEdits:
		res.Edits = exportEdits(edits[:n], &p.edits)
	case n > 0:
		res.setBody(applyEdits(body, edits[:n]))
	}
	res.Path = p.fixedPath
	if p.path != nil {
		res.Path = p.path(model)
	}
	res.Model, res.RequestModel = model, requested
	return res, nil
}

// usageEdit is includeUsageEdit for the stream_options value so found at
// offset vs of the body (nil: none), whichever form holds the body.
func usageEdit(so []byte, vs, open int) (edit, bool) {
	if so == nil {
		return includeUsageEdit(nil, 0, 0, open)
	}
	e, ok := includeUsageEdit(so, 0, len(so), open)
	e.start += vs
	e.end += vs
	return e, ok
}

func (p *passthrough) ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error) {
	p.coding = parseContentEncoding(contentEncoding)
	p.mode = ResponseMode{
		Stream: isEventStream(contentType),
		Error:  !isSuccess(status),
	}
	p.sse.max = p.target.Limits.eventBytes()
	switch p.coding {
	case codingGzip:
		// Decoded (incrementally, bounded) so usage can be read; a stream
		// is decoded chunk by chunk as it arrives.
		p.mode.ModifiesBody = true
		p.mode.RemoveContentEncoding = true
		p.mode.BufferBody = !p.mode.Stream
		p.gz = newGzipDecoder(p.target.Limits.decodedBytes())
	case codingIdentity:
		p.mode.BufferBody = !p.mode.Stream || p.mode.Error
	}
	if p.stripping && p.mode.Stream && !p.mode.Error && p.coding != codingOther {
		// The usage the gateway asked for comes out again (stream_usage.go).
		p.mode.ModifiesBody = true
	}
	if p.mode.Error && p.coding != codingOther {
		// Error bodies are small and not always in OpenAI's shape (older
		// vLLM, proxies answering with HTML): they are normalized.
		p.mode.BufferBody, p.mode.ModifiesBody, p.mode.ContentType = true, true, "application/json"
	}
	p.status = status
	return p.mode, nil
}

func (p *passthrough) ResponseBody(chunk []byte, eos bool) ([]byte, Usage, error) {
	switch {
	case p.coding == codingOther:
		// Undecodable: forwarded as is, no usage.
		return chunk, p.tokens, nil
	case p.coding == codingGzip:
		plain, err := p.gz.decode(chunk, eos)
		if err != nil {
			if p.mode.BufferBody {
				return nil, p.tokens, err
			}
			// The stream ends with an error event the client's SDK
			// raises (its 200 headers are gone: see the upstream filter).
			return streamErrorEvent(plain, "the backend's gzip stream could not be decoded"), p.tokens, err
		}
		if !p.mode.BufferBody {
			p.observe(plain, eos)
			return p.stripped(plain, eos), p.tokens, nil
		}
		whole, ok := p.acc.add(plain, eos)
		if !ok {
			return nil, p.tokens, nil
		}
		if p.mode.Error {
			return p.errorBody(whole), p.tokens, nil
		}
		p.observe(whole, true)
		return whole, p.tokens, nil
	case p.mode.Error:
		whole, ok := p.acc.add(chunk, eos)
		if !ok {
			return nil, p.tokens, nil
		}
		return p.errorBody(whole), p.tokens, nil
	case p.mode.Stream:
		p.observe(chunk, eos)
		return p.stripped(chunk, eos), p.tokens, nil
	default:
		whole, ok := p.acc.add(chunk, eos)
		if !ok {
			return nil, p.tokens, nil
		}
		p.observe(whole, true)
		return whole, p.tokens, nil
	}
}

// stripped is a stream piece without the usage the gateway asked for.
func (p *passthrough) stripped(b []byte, eos bool) []byte {
	if !p.stripping {
		return b
	}
	return p.strip.feed(b, eos)
}

// errorBody is the client's error body for the backend's error response.
func (p *passthrough) errorBody(body []byte) []byte {
	if p.errorJSON != nil {
		return p.errorJSON(p.status, body)
	}
	return openAIErrorJSON(p.status, body)
}

// observe reads token usage from a response body or stream piece.
func (p *passthrough) observe(b []byte, eos bool) {
	if p.mode.Error {
		return
	}
	if !p.mode.Stream {
		p.usage.body(b, &p.tokens)
		return
	}
	// A malformed stream is the client's to see; usage is best effort. Past
	// max_stream_event_bytes the parser gives up (and frees its buffers):
	// the bytes still pass on, usage is no longer read.
	_ = p.sse.feed(b, eos, func(event, data []byte) error {
		p.usage.event(data, &p.tokens)
		if terminalEvent(event, data) {
			p.ended = true
		}
		return nil
	})
}

// StreamEnded reports whether the stream's terminal event passed
// (StreamEnder).
func (p *passthrough) StreamEnded() bool { return p.ended }

// terminalEvent reports whether an event ends its stream: OpenAI's
// "data: [DONE]" (chat and legacy completions) or Anthropic's message_stop
// (the Messages API passed through). Streams of other APIs end only with
// the provider's end of stream.
func terminalEvent(event, data []byte) bool {
	return isDone(data) || string(event) == "message_stop"
}

// isDone reports whether an event's data is OpenAI's [DONE].
func isDone(data []byte) bool { return string(bytes.TrimSpace(data)) == "[DONE]" }

// streamErrorEvent appends an OpenAI error event to the decoded output of
// a passthrough stream that cannot go on; a blank line first ends any event
// the output left open.
func streamErrorEvent(out []byte, msg string) []byte {
	out = append(out, "\n\ndata: "...)
	out = AppendErrorJSON(out, msg, "api_error", "", "bad_backend_response")
	return append(out, "\n\n"...)
}

// usageScanner reads token usage in one upstream schema.
type usageScanner interface {
	// body reads a complete non-streamed response.
	body(b []byte, u *Usage)
	// event reads the data of one streamed event.
	event(data []byte, u *Usage)
}

type openaiUsageScanner struct{}

// body reads usage and model from a complete response in one validating
// walk of the body (bodyscan, the one definition of valid JSON): a body that
// is not one valid JSON object yields nothing, and a member present twice is
// not read (which one a reader takes is not something to guess). The body is
// only read, never changed.
func (openaiUsageScanner) body(b []byte, u *Usage) {
	var usage, model [2]int
	var nUsage, nModel int
	if bodyscan.Walk(b, func(key string, vs, ve int) error {
		switch key {
		case "usage":
			usage, nUsage = [2]int{vs, ve}, nUsage+1
		case "model":
			model, nModel = [2]int{vs, ve}, nModel+1
		}
		return nil
	}) != nil {
		return
	}
	if nUsage == 1 {
		readOpenAIUsage(b[usage[0]:usage[1]], u)
	}
	if nModel == 1 {
		if m, ok := rawString(b[model[0]:model[1]]); ok && m != u.Model {
			u.Model = strings.Clone(m) // m may alias b
		}
	}
}

func (s openaiUsageScanner) event(data []byte, u *Usage) {
	// Only the final chunk carries usage; skip the scan for the others.
	if bytes.Contains(data, []byte(`"usage"`)) {
		s.body(data, u)
	}
}

// readOpenAIUsage reads an OpenAI usage object (null: none), a value of a
// document bodyscan validated, without decoding it again: each count it
// knows must be a JSON integer that fits in int64 (or null), each details
// member an object (or null); anything else and the whole report is
// ignored, as a strict decode into oaiUsage would. Unknown members are
// skipped; a repeated member's last value wins.
func readOpenAIUsage(raw []byte, dst *Usage) {
	if isNull(raw) {
		return
	}
	var prompt, completion, total, cached, reasoning int64
	var o bodyscan.Object // a value's span starts at the value
	o.Start(raw, 0)
	for o.Next() {
		key, vs, ve := o.Member()
		v := raw[vs:ve]
		var err error
		switch key {
		case "prompt_tokens":
			err = usageCount(v, &prompt)
		case "completion_tokens":
			err = usageCount(v, &completion)
		case "total_tokens":
			err = usageCount(v, &total)
		case "prompt_tokens_details":
			err = usageDetail(v, "cached_tokens", &cached)
		case "completion_tokens_details":
			err = usageDetail(v, "reasoning_tokens", &reasoning)
		}
		if err != nil {
			return
		}
	}
	if _, err := o.End(); err != nil {
		return
	}
	*dst = Usage{InputTokens: prompt, OutputTokens: completion, TotalTokens: total,
		CachedInputTokens: cached, ReasoningTokens: reasoning, Model: dst.Model}.sane()
}

var errUsageType = errors.New("usage member of the wrong type")

// usageCount reads a token count: a JSON integer within int64, or null
// (leaves dst as it is, like a decoder).
func usageCount(v []byte, dst *int64) error {
	if isNull(v) {
		return nil
	}
	n, ok := bodyscan.SmallInt(v)
	if !ok {
		var err error
		if n, err = strconv.ParseInt(aliasString(v), 10, 64); err != nil {
			return errUsageType // a fraction, an exponent, out of range, not a number
		}
	}
	*dst = n
	return nil
}

// usageDetail reads member key of a details object (or null) into dst.
func usageDetail(v []byte, key string, dst *int64) error {
	if isNull(v) {
		return nil
	}
	if v[0] != '{' {
		return errUsageType
	}
	var o bodyscan.Object
	o.Start(v, 0)
	for o.Next() {
		if k, vs, ve := o.Member(); k == key {
			if err := usageCount(v[vs:ve], dst); err != nil {
				return err
			}
		}
	}
	_, err := o.End()
	return err
}

// openAIErrorJSON returns an error body in OpenAI's shape: a body whose
// "error" object has OpenAI's four members is kept as is (see
// completeErrorObject for one that lacks some); the flat form of older vLLM
// ({"object":"error","message",...}) is wrapped; anything else (HTML from a
// proxy, empty) becomes a generic error naming the status.
func openAIErrorJSON(status int, body []byte) []byte {
	if vs, ve, ok, err := findMember(body, "error"); err == nil && ok && body[vs] == '{' {
		return completeErrorObject(status, body, body[vs:ve])
	}
	var flat struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   string  `json:"param"`
		Code    rawJSON `json:"code"`
	}
	if jsonAPI.UnmarshalFromString(aliasString(body), &flat) == nil && flat.Message != "" {
		code, ok := rawString(flat.Code)
		if !ok && len(flat.Code) > 0 && !isNull(flat.Code) {
			code = string(flat.Code) // numeric codes, as vLLM sends
		}
		typ := flat.Type
		if typ == "" {
			typ = "api_error"
		}
		return AppendErrorJSON(nil, flat.Message, typ, flat.Param, code)
	}
	return AppendErrorJSON(nil, "the backend returned HTTP "+strconv.Itoa(status), "api_error", "", "")
}

// completeErrorObject keeps a body whose error object has all of message,
// type, param and code (OpenAI's own errors, Azure's content-filter errors
// with their innererror) and otherwise rebuilds it with all four, the
// message and code kept: Azure's front door answers auth, routing and
// throttling errors with only {"code","message"}, and clients reading
// error.type or error.param must find them.
func completeErrorObject(status int, body, obj []byte) []byte {
	var have [4]bool
	keys := [4]string{"message", "type", "param", "code"}
	_ = forEachMember(obj, func(k string, _, _ int) error {
		for i, want := range keys {
			if k == want {
				have[i] = true
			}
		}
		return nil
	})
	if have == [4]bool{true, true, true, true} {
		return body
	}
	var e struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   string  `json:"param"`
		Code    rawJSON `json:"code"`
	}
	_ = jsonAPI.UnmarshalFromString(aliasString(obj), &e)
	code, ok := rawString(e.Code)
	if !ok && len(e.Code) > 0 && !isNull(e.Code) {
		code = string(e.Code) // numeric codes
	}
	if e.Message == "" {
		e.Message = "the backend returned HTTP " + strconv.Itoa(status)
	}
	if e.Type == "" {
		e.Type = "invalid_request_error"
		if status >= 500 {
			e.Type = "api_error"
		}
	}
	return AppendErrorJSON(nil, e.Message, e.Type, e.Param, code)
}
