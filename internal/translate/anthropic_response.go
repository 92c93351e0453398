package translate

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aigw/aigw/internal/bodyscan"
)

// Anthropic Messages response -> OpenAI chat.completion: usage, finish
// reasons, whole-body translation and error normalisation. Streams are
// translated event by event in anthropic_stream.go.

// anthTokens accumulates Anthropic usage. Anthropic's input_tokens exclude
// cache reads and writes, while OpenAI's prompt_tokens include all of them,
// so prompt tokens are the sum; cached tokens are the cache reads.
type anthTokens struct {
	input, output, cacheRead, cacheCreation int64
	// reasoning is the part of output spent thinking, where the provider
	// reports it (Gemini's thoughtsTokenCount; Anthropic does not).
	reasoning int64
	// model is the model the response names.
	model string
}

// setModel records the response's model (m may alias the body).
func (t *anthTokens) setModel(m string) {
	if m != "" && m != t.model {
		t.model = strings.Clone(m)
	}
}

// merge applies a usage object; fields present replace earlier values since
// Anthropic reports cumulative counts (message_start, then message_delta).
func (t *anthTokens) merge(u *anthUsage) {
	if u.InputTokens != nil {
		t.input = *u.InputTokens
	}
	if u.OutputTokens != nil {
		t.output = *u.OutputTokens
	}
	if u.CacheReadInputTokens != nil {
		t.cacheRead = *u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens != nil {
		t.cacheCreation = *u.CacheCreationInputTokens
	}
}

// usage applies the plausibility rules (usage.go) to each reported count
// before summing; the sums saturate.
func (t *anthTokens) usage() Usage {
	cacheRead := plausible(t.cacheRead)
	in := addTokens(addTokens(plausible(t.input), cacheRead), plausible(t.cacheCreation))
	return Usage{InputTokens: in, OutputTokens: plausible(t.output), CachedInputTokens: cacheRead,
		CacheCreationInputTokens: plausible(t.cacheCreation), ReasoningTokens: plausible(t.reasoning), Model: t.model}.sane()
}

// appendOpenAIUsage appends the OpenAI usage object for t.
func (t *anthTokens) appendOpenAIUsage(dst []byte) []byte {
	return appendOpenAIUsage(dst, t.usage())
}

// appendOpenAIUsage appends the OpenAI usage object for u (anthTokens.usage).
func appendOpenAIUsage(dst []byte, u Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, u.InputTokens)
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, u.OutputTokens)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, u.TotalTokens)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = appendInt(dst, u.CachedInputTokens)
	if u.ReasoningTokens > 0 {
		dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
		dst = appendInt(dst, u.ReasoningTokens)
	}
	return append(dst, "}}"...)
}

type anthropicUsageScanner struct {
	tokens anthTokens
}

func (s *anthropicUsageScanner) body(b []byte, u *Usage) {
	var r struct {
		Model string    `json:"model"`
		Usage anthUsage `json:"usage"`
	}
	if jsonAPI.UnmarshalFromString(aliasString(b), &r) == nil {
		s.tokens.setModel(r.Model)
		s.tokens.merge(&r.Usage)
		*u = s.tokens.usage()
	}
}

func (s *anthropicUsageScanner) event(data []byte, u *Usage) {
	if !bytes.Contains(data, []byte(`"usage"`)) {
		return
	}
	var ev struct {
		Message struct {
			Model string    `json:"model"`
			Usage anthUsage `json:"usage"`
		} `json:"message"`
		Usage anthUsage `json:"usage"`
	}
	if jsonAPI.UnmarshalFromString(aliasString(data), &ev) == nil {
		s.tokens.setModel(ev.Message.Model)
		s.tokens.merge(&ev.Message.Usage)
		s.tokens.merge(&ev.Usage)
		*u = s.tokens.usage()
	}
}

func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn, unknown future values
		return "stop"
	}
}

func (a *anthropicTranslator) ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error) {
	a.coding = parseContentEncoding(contentEncoding)
	if a.coding == codingOther {
		return ResponseMode{}, &Error{
			Kind:    KindProvider,
			Status:  http.StatusBadGateway,
			Code:    "unsupported_content_encoding",
			Message: "the anthropic backend answered with a content-encoding the gateway cannot decode",
		}
	}
	a.mode = ResponseMode{ModifiesBody: true, RemoveContentEncoding: a.coding == codingGzip}
	if a.coding == codingGzip {
		a.gz = newGzipDecoder(a.target.Limits.decodedBytes())
	}
	switch {
	case !isSuccess(status):
		a.mode.Error, a.mode.BufferBody, a.mode.ContentType = true, true, "application/json"
	case isEventStream(contentType):
		a.mode.Stream, a.mode.ContentType = true, "text/event-stream"
		a.stream = new(anthropicStream)
		a.stream.init(a.model, a.includeUsage, a.target.Limits.eventBytes())
	default:
		a.mode.BufferBody, a.mode.ContentType = true, "application/json"
	}
	a.errStatus = status
	return a.mode, nil
}

// StreamEnded reports whether the translated stream's [DONE] went out
// (StreamEnder).
func (a *anthropicTranslator) StreamEnded() bool { return a.stream != nil && a.stream.ended }

func (a *anthropicTranslator) ResponseBody(chunk []byte, eos bool) ([]byte, Usage, error) {
	if a.coding == codingGzip {
		// Decoded chunk by chunk (bounded); a stream is translated as it
		// decodes.
		plain, err := a.gz.decode(chunk, eos)
		if err != nil {
			if !a.mode.Stream {
				return nil, a.tokens.usage(), err
			}
			// Whatever decoded is translated, then the stream ends with an
			// error event.
			out, _ := a.stream.feed(plain, false)
			if !a.stream.done {
				a.stream.fail("api_error", "the anthropic backend's gzip stream could not be decoded")
				out = a.stream.out
			}
			return out, a.stream.tokens.usage(), err
		}
		chunk = plain
	}
	switch {
	case a.mode.Stream:
		out, err := a.stream.feed(chunk, eos)
		return out, a.stream.tokens.usage(), err
	case a.mode.Error:
		whole, ok := a.acc.add(chunk, eos)
		if !ok {
			return nil, Usage{}, nil
		}
		return anthropicErrorJSON(a.errStatus, whole), Usage{}, nil
	default:
		whole, ok := a.acc.add(chunk, eos)
		if !ok {
			return nil, Usage{}, nil
		}
		return a.translateWhole(whole)
	}
}

// translateMessage translates the whole message body (translateWhole,
// for a caller that reads the usage itself).
func (a *anthropicTranslator) translateMessage(body []byte) ([]byte, error) {
	out, _, err := a.translateWhole(body)
	return out, err
}

// translateWhole translates the whole message body and returns the usage
// it counted (a.tokens.usage(), computed once: the response carries it
// too).
func (a *anthropicTranslator) translateWhole(body []byte) ([]byte, Usage, error) {
	// The top level is decoded (its types checked); the content blocks stay
	// raw and are walked into the output one at a time, their texts copied
	// as JSON literals, so nothing grows with the number of blocks.
	c := converters.Get().(*msgConverter)
	defer c.release()
	c.used |= usedResp
	r := &c.resp
	validated, err := r.read(body)
	if err != nil {
		// Truncated, HTML from a proxy, numbers out of range: the caller
		// answers 502 with an OpenAI error, as for an undecodable body.
		// The decoder's message quotes the body: only where it stopped
		// goes to the log.
		return nil, a.tokens.usage(), badResponse("the anthropic backend returned a malformed response" + decodeErrorAt(err))
	}
	content := trimSpace(r.Content)
	if len(content) > 0 && content[0] != '[' && !isNull(content) {
		return nil, a.tokens.usage(), badResponse("the anthropic backend returned a malformed response: content is not an array")
	}
	model := r.Model
	if model == "" || model == a.model {
		model = a.model
		if model != "" {
			a.tokens.model = model // a copy already: not copied again
		}
	} else {
		a.tokens.setModel(model)
	}
	out := a.out[:0]
	if want := len(body) + 512; cap(out) < want {
		out = make([]byte, 0, want)
	}
	out = appendJSONString(append(out, `{"id":`...), r.ID)
	out = append(out, `,"object":"chat.completion","created":`...)
	out = appendInt(out, now().Unix())
	out = appendJSONString(append(out, `,"model":`...), model)
	out = append(out, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	// Text blocks are joined into content (null without any); tool_use
	// blocks become tool_calls; thinking blocks reasoning_content.
	// redacted_thinking and server tool blocks have no chat.completion
	// field.
	c.validDoc = validated
	mark := len(out)
	out = append(out, '"')
	out, texts, thinking, toolUse, err := c.joinBlockStrings(out, content, "text")
	if err != nil {
		return nil, a.tokens.usage(), err
	}
	if texts == 0 {
		out = append(out[:mark], "null"...)
	} else {
		out = append(out, '"')
	}
	if out, err = c.appendReasoningContent(out, content, thinking); err != nil { // anthropic_thinking.go
		return nil, a.tokens.usage(), err
	}
	out = append(out, `,"refusal":null`...)
	if out, err = c.appendToolCalls(out, content, toolUse); err != nil {
		return nil, a.tokens.usage(), err
	}
	out = append(out, `},"logprobs":null,"finish_reason":`...)
	out = appendQuoted(out, finishReason(r.StopReason)) // one of its constants: nothing to escape
	// Usage counts only once the whole body translated, as a body that
	// failed to decode never counted.
	a.tokens.merge(&r.Usage)
	u := a.tokens.usage()
	out = appendOpenAIUsage(append(out, `}],"usage":`...), u)
	out = append(out, '}')
	if a.pooled {
		// Kept for the next attempt (Release): what this returns has been
		// copied into Envoy's buffer by then.
		a.out = out[:0]
	}
	return out, u, nil
}

// appendToolCalls writes ,"tool_calls":[…] for the tool_use blocks of the
// content array, when it has any (toolUse is their count, from the pass
// over the text blocks: a response without them is not walked again).
func (c *msgConverter) appendToolCalls(out, content []byte, toolUse int) ([]byte, error) {
	if toolUse == 0 {
		return out, nil
	}
	calls := 0
	out, err := c.eachBlock(out, content, func(out []byte, b *anthRawBlock) ([]byte, error) {
		if b.Type != "tool_use" {
			return out, nil
		}
		if calls++; calls == 1 {
			out = append(out, `,"tool_calls":[`...)
		} else {
			out = append(out, ',')
		}
		out = appendJSONString(append(out, `{"id":`...), b.ID)
		out = appendJSONString(append(out, `,"type":"function","function":{"name":`...), b.Name)
		args := bytes.TrimSpace(b.Input)
		if len(args) == 0 {
			args = []byte("{}")
		}
		out = appendJSONString(append(out, `,"arguments":`...), aliasString(args))
		return append(out, "}}"...), nil
	})
	if err != nil {
		return nil, err
	}
	if calls > 0 {
		out = append(out, ']')
	}
	return out, nil
}

// anthRawResponse is anthResponse with its content blocks kept raw.
type anthRawResponse struct {
	anthResponse
	Content rawJSON `json:"content"`
	// counts holds the usage counts Usage points to (read; the decoder
	// ignores it).
	counts [4]int64
}

// read decodes the top level of the provider's message body into r as
// jsonAPI does (anthRawResponse's members; others ignored), in the walk
// that validates it (bodyscan.Walk): validated reports that it did, so the
// content blocks are walked without validating them again. A body the
// walk does not read exactly as the decoder would (not a valid object, a
// member of another type, a string with escapes or bytes outside
// printable ASCII, a count beyond an int64 literal, a repeated member) is
// decoded, as it always was: its verdict and its error are the decoder's.
func (r *anthRawResponse) read(body []byte) (validated bool, err error) {
	if r.walk(body) {
		return true, nil
	}
	*r = anthRawResponse{}
	return false, jsonAPI.UnmarshalFromString(aliasString(body), r)
}

// walk is read's walk: whether it validated body and read it into r.
func (r *anthRawResponse) walk(body []byte) bool {
	var d bodyscan.Doc
	if d.Start(body) != nil {
		return false
	}
	var seen memberSet
	for d.Next() {
		key, vs, ve := d.Member()
		v := body[vs:ve]
		var bit uint32
		ok := true
		switch key {
		case "id":
			bit = 1
			ok = plainStringInto(&r.ID, v)
		case "model":
			bit = 2
			ok = plainStringInto(&r.Model, v)
		case "stop_reason":
			bit = 4
			ok = plainStringInto(&r.StopReason, v)
		case "content":
			bit, r.Content = 8, v
		case "usage":
			bit = 16
			ok = r.readUsage(v)
		default:
			continue
		}
		if seen.take(bit, ok) != nil {
			return false
		}
	}
	return d.Err() == nil
}

// readUsage reads the usage object v (null: no change) of a validated
// body into r.Usage, its counts int64 literals or null.
func (r *anthRawResponse) readUsage(v []byte) bool {
	if isNull(v) {
		return true
	}
	if v[0] != '{' {
		return false
	}
	u := &r.Usage
	var seen uint8
	var o bodyscan.Object
	o.Start(v, 0)
	for o.Next() {
		key, vs, ve := o.Member()
		var k int
		var dst **int64
		switch key {
		case "input_tokens":
			k, dst = 0, &u.InputTokens
		case "output_tokens":
			k, dst = 1, &u.OutputTokens
		case "cache_creation_input_tokens":
			k, dst = 2, &u.CacheCreationInputTokens
		case "cache_read_input_tokens":
			k, dst = 3, &u.CacheReadInputTokens
		default:
			continue
		}
		if seen&(1<<k) != 0 || !intOption(dst, &r.counts[k], v[vs:ve]) {
			return false
		}
		seen |= 1 << k
	}
	_, err := o.End()
	return err == nil
}

// anthRawBlock is a response content block with its text kept as a raw
// JSON literal.
type anthRawBlock struct {
	anthResponseBlock
	Text rawJSON `json:"text"`
}

// isString reports whether the raw value lit is a valid JSON string, null
// or absent, without writing it anywhere.
func (c *msgConverter) isString(lit []byte) bool {
	var one [1]byte
	c.dry = true
	_, ok := c.literal(one[:0], lit)
	c.dry = false
	return ok
}

// eachBlock reads the content blocks of the array raw (or nothing, for an
// empty or null raw) one at a time and calls fn with each. In a validated
// body (c.validDoc) a block is walked member by member (walkBlock), its end
// found by the walk; one the walk cannot read exactly as the decoder does
// is decoded, as is every block of a body the decoder alone read.
func (c *msgConverter) eachBlock(out []byte, raw []byte, fn func(out []byte, b *anthRawBlock) ([]byte, error)) ([]byte, error) {
	if len(raw) == 0 || isNull(raw) {
		return out, nil
	}
	c.used |= usedBlock
	b := &c.block
	use := func() error {
		if b.Type != "text" && !c.isString(b.Text) {
			return errBadParts // the text member has the wrong type
		}
		var err error
		out, err = fn(out, b)
		return err
	}
	decode := func(vs, ve int) error {
		*b = anthRawBlock{}
		if err := c.dec.decode(raw[vs:ve], b); err != nil {
			return err
		}
		return use()
	}
	var err error
	if c.validDoc {
		a := bodyscan.ArrayAt(raw)
		for err == nil && a.Next() {
			i := a.At()
			*b = anthRawBlock{}
			end, ok := walkBlock(raw, i, b)
			if !ok {
				if end, err = bodyscan.ValueEndTrusted(raw, i); err != nil {
					break
				}
				a.SetEnd(end)
				err = decode(i, end)
				continue
			}
			a.SetEnd(end)
			err = use()
		}
		if err == nil {
			err = a.Err()
		}
	} else {
		err = bodyscan.Elements(raw, func(_, vs, ve int) error { return decode(vs, ve) })
	}
	if err != nil {
		return nil, badResponse("the anthropic backend returned a malformed response: a content block does not match the schema")
	}
	return out, nil
}

// walkBlock reads the content block that starts at raw[i], a value of a
// validated document, into b as the decoder would, and returns its end;
// false when it cannot: not an object, a type, id or name that is not
// null or a plainString, a text, input or thinking that is not valid
// UTF-8, a repeated member.
func walkBlock(raw []byte, i int, b *anthRawBlock) (int, bool) {
	var seen memberSet
	var o bodyscan.Object
	o.Start(raw, i)
	for o.Next() {
		key, vs, ve := o.Member()
		v := raw[vs:ve]
		var bit uint32
		ok := true
		switch key {
		case "type":
			bit = 1
			ok = plainStringInto(&b.Type, v)
		case "id":
			bit = 2
			ok = plainStringInto(&b.ID, v)
		case "name":
			bit = 4
			ok = plainStringInto(&b.Name, v)
		case "text":
			bit, b.Text = 8, v
		case "input":
			bit, b.Input = 16, v
		case "thinking":
			bit, b.Thinking = 32, v
		default:
			continue
		}
		if bit >= 8 {
			// The decoder hands a raw value with invalid UTF-8 over as a
			// copy whose bad bytes are U+FFFD, which then go out as they
			// are, not escaped.
			ok = utf8.Valid(v)
		}
		if seen.take(bit, ok) != nil {
			return 0, false
		}
	}
	end, err := o.End()
	return end, err == nil
}

// anthropicErrorJSON converts an Anthropic error body
// {"type":"error","error":{"type","message"}} into an OpenAI error body; the
// HTTP status is kept by the caller.
func anthropicErrorJSON(status int, body []byte) []byte {
	var e struct {
		Error anthErrorBody `json:"error"`
	}
	if jsonAPI.UnmarshalFromString(aliasString(body), &e) == nil && e.Error.Message != "" {
		typ := e.Error.Type
		if typ == "" {
			typ = "api_error"
		}
		return AppendErrorJSON(nil, e.Error.Message, typ, "", "")
	}
	return AppendErrorJSON(nil, "the anthropic backend returned HTTP "+strconv.Itoa(status), "api_error", "", "")
}

// anthropicClientErrorJSON keeps an Anthropic error body for a client that
// speaks Anthropic (/v1/messages passthrough): a body already in Anthropic's
// shape is kept as is; anything else (HTML from a proxy, an empty body, a
// gateway in between answering in OpenAI's shape) becomes Anthropic's
// error shape with the status's type.
func anthropicClientErrorJSON(status int, body []byte) []byte {
	var e struct {
		Type  string        `json:"type"`
		Error anthErrorBody `json:"error"`
	}
	if jsonAPI.UnmarshalFromString(aliasString(body), &e) == nil && e.Type == "error" && e.Error.Type != "" && e.Error.Message != "" {
		return body
	}
	return anthropicErrorFromOpenAI(status, body)
}
