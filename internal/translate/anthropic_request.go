package translate

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/bufpool"
)

// OpenAI chat completions request -> Anthropic Messages request: the
// parameter policy and the conversion of messages, tools and options.

func (a *anthropicTranslator) RequestBody(body []byte) (RequestResult, error) {
	return a.request(body, forEachMember, nil)
}

// RequestBodyScanned is RequestBody for a body the router phase validated
// (bodyscan.Recall vouched for these bytes): it is walked, not validated
// again, and the walk jumps over the messages the findings span (they are
// walked once, when they are converted).
func (a *anthropicTranslator) RequestBodyScanned(body []byte, f bodyscan.Findings) (RequestResult, error) {
	return a.request(body, knownMembers(f), &f)
}

// knownMembers is trustedMembers jumping over the messages value f spans.
func knownMembers(f bodyscan.Findings) memberWalk {
	return func(b []byte, fn func(key string, vs, ve int) error) error {
		return scanError(bodyscan.WalkTrustedKnown(b, f.MessagesStart, f.MessagesEnd, fn))
	}
}

// messageStrings are the ends of the long strings in body's messages msgs
// that the router phase's findings f (nil: none) know: none unless msgs is
// the very messages value f spans (the walk took it from there).
func messageStrings(body, msgs []byte, f *bodyscan.Findings) bodyscan.Strings {
	if f == nil || f.MessageStrings.Len() == 0 || len(msgs) == 0 || f.MessagesStart < 0 || f.MessagesEnd > len(body) ||
		len(msgs) != f.MessagesEnd-f.MessagesStart || &msgs[0] != &body[f.MessagesStart] {
		return bodyscan.Strings{}
	}
	return f.MessageStrings
}

// f: the router phase's findings for body (RequestBodyScanned), else nil.
// When it found every string literal raw copyable
// (bodyscan.Findings.RawStrings), no literal is checked again.
func (a *anthropicTranslator) request(body []byte, walk memberWalk, f *bodyscan.Findings) (RequestResult, error) {
	// The decoded options, their checked form and the walk's state are
	// pooled: they only live during the call (what outlives it is cloned).
	req := chatRequests.Get().(*anthChatRequest)
	defer req.release()
	rawStrings := f != nil && f.RawStrings
	req.ascii = rawStrings
	head, err := a.parseChat(body, req, walk)
	if err != nil {
		return RequestResult{}, err
	}
	path, model := a.path, head.Model
	if a.host != nil {
		if path, err = a.host.modelPath(model, req.Stream); err != nil {
			return RequestResult{}, err
		}
		head.Model, head.AnthropicVersion = "", a.host.version
		if a.host.streamInPath {
			head.Stream = false
		}
	}
	// The Anthropic body is about as large as the OpenAI one.
	buf := bodyBuffer(len(body) + len(body)/8 + 256)
	encoded, err := appendAnthropicRequest(*buf, head, req.Messages, rawStrings, messageStrings(body, req.Messages, f))
	if err != nil {
		bufpool.Put(buf)
		return RequestResult{}, err
	}
	// The models alias body (or the target): copies (modelNames.of).
	var requestModel string
	a.model, requestModel = a.names.of(model, req.Model)
	a.includeUsage = req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	res := RequestResult{
		Path:          path,
		Headers:       a.jsonHeaders(),
		RemoveHeaders: removeAcceptEncoding,
		Model:         a.model,
		RequestModel:  requestModel,
		Stream:        req.Stream,
	}
	res.setBody(buf, encoded)
	return res, nil
}

// modelNames are the upstream and requested model names of an attempt,
// copies that outlive its body. A pooled translator keeps those of its
// last attempt (Release): the next one that names the same models (most
// do) uses them again instead of copying them once more.
type modelNames struct{ model, request string }

// of returns copies of model and request, both in one string when they
// differ.
func (k *modelNames) of(model, request string) (string, string) {
	if model == k.model && request == k.request {
		return k.model, k.request
	}
	if request == model {
		k.model = strings.Clone(model)
		k.request = k.model
	} else {
		both := model + request
		k.model, k.request = both[:len(model)], both[len(model):]
	}
	return k.model, k.request
}

// jsonHeaders is a.headers and content-type: application/json: one value
// for every request with the usual headers (the default anthropic-version
// alone; capacity 2, so an append copies it), else a new list.
func (a *anthropicTranslator) jsonHeaders() []Header {
	if len(a.headers) == 1 && a.headers[0] == defaultJSONHeaders[0] {
		return defaultJSONHeaders
	}
	return append(a.headers, Header{Key: "content-type", Value: "application/json"})
}

var defaultJSONHeaders = []Header{
	{Key: "anthropic-version", Value: defaultAnthropicVersion},
	{Key: "content-type", Value: "application/json"},
}[:2:2]

// removeAcceptEncoding is the RemoveHeaders of a translated request (one
// value for every request: capacity 1, so an append copies it).
var removeAcceptEncoding = []string{"accept-encoding"}[:1:1]

// parseChat applies the Anthropic parameter policy to a chat completions
// body, walked with walk, decodes its top-level options into req and checks
// and converts them (fillRequest) into req's head, which it returns. Only
// the top-level options are decoded, in the same walk
// (anthChatRequest.member, chat_options.go); the
// messages stay raw bytes (req.Messages) and are translated one at a time
// into the output (appendAnthropicRequest: no per-message values), so
// allocations do not grow with the conversation. Bedrock's Converse
// translation starts here too (bedrock_converse.go).
func (a *anthropicTranslator) parseChat(body []byte, req *anthChatRequest, walk memberWalk) (*anthRequest, error) {
	if req.onMember == nil {
		req.onMember = req.member // bound once per pooled request
	}
	req.walkBody = body
	err := walk(body, req.onMember)
	req.walkBody = nil
	if err != nil {
		if err == errBadJSON {
			return nil, invalid("", "%s", err.Error())
		}
		return nil, err
	}
	if req.slow {
		// A shape the walk does not read exactly as the decoder does: the
		// decoder reads the options, as it always did (its semantics and its
		// errors, which quote the client's bytes).
		if err := req.decodeSlow(body); err != nil {
			return nil, schemaError(err)
		}
	}
	out := &req.head
	if err := a.fillRequest(&req.chatRequest, out); err != nil {
		return nil, err
	}
	// The literals the walk read them from (nil after decodeSlow).
	out.temperatureLit, out.topPLit = req.temperatureLit, req.topPLit
	if err := claudeThinking(req, out); err != nil { // anthropic_thinking.go
		return nil, err
	}
	return out, nil
}

// decodeWithout decodes the options of a chat request into req: when cut,
// from a copy of body whose value body[vs:ve] (the one messages member:
// most of the body, kept raw anyway) is null, so the decoder does not run
// over the conversation; else body as it is.
func decodeWithout(body []byte, vs, ve int, cut bool, req *anthChatRequest) error {
	if !cut {
		return jsonAPI.UnmarshalFromString(aliasString(body), req)
	}
	rest := make([]byte, 0, len(body)-(ve-vs)+len("null"))
	rest = append(append(append(rest, body[:vs]...), "null"...), body[ve:]...)
	// req's strings alias rest, which lives as long as they are used.
	if err := jsonAPI.UnmarshalFromString(aliasString(rest), req); err != nil {
		// The error quotes the input around the fault: the client's bytes,
		// not the copy's (a rare path; the cost does not matter).
		*req = anthChatRequest{}
		return jsonAPI.UnmarshalFromString(aliasString(body), req)
	}
	return nil
}

// anthChatRequest is the chat completions request with its messages kept
// raw: they are walked element by element (msgConverter), never decoded
// into a slice. Its unexported fields (the decoder ignores them) are the
// top-level walk's state and the storage its options point to
// (chat_options.go), and the checked request (parseChat).
type anthChatRequest struct {
	chatRequest
	Messages rawJSON `json:"messages"`
	// Claude's thinking (anthropic_thinking.go).
	ReasoningEffort string  `json:"reasoning_effort"`
	Thinking        rawJSON `json:"thinking"`

	optionWalk
	head anthRequest
}

// chatRequests pools the requests request decodes into.
var chatRequests = sync.Pool{New: func() any { return new(anthChatRequest) }}

// release empties req, keeping its storage, and puts it back in
// chatRequests: nothing of the body it was decoded from stays reachable.
func (req *anthChatRequest) release() {
	tools := req.head.Tools[:cap(req.head.Tools)]
	clear(tools)
	funcs := req.funcs[:cap(req.funcs)]
	clear(funcs)
	calls := req.toolList[:cap(req.toolList)]
	clear(calls)
	// Cleared, then the storage kept set again: not a copy of a new value,
	// whose write barriers (while the GC marks) cover each pointer slot
	// twice.
	onMember := req.onMember
	*req = anthChatRequest{}
	req.onMember, req.funcs, req.toolList, req.head.Tools = onMember, funcs[:0], calls[:0], tools[:0]
	chatRequests.Put(req)
}

// schemaError is the 400 for a body whose members have the wrong types.
func schemaError(err error) error {
	return invalid("", "request body does not match the chat completions schema: %s", firstLine(err.Error()))
}

// anthropicParamCheck returns a forEachMember callback accepting a top-level
// chat completions parameter only if it has an Anthropic mapping or carries
// its default (no-op) value; anything else is a KindUnsupported Error naming it,
// so a request never silently loses a parameter.
func anthropicParamCheck(body []byte) func(key string, vs, ve int) error {
	return func(key string, vs, ve int) error { return checkAnthropicParam(key, body[vs:ve]) }
}

// checkAnthropicParam is anthropicParamCheck's verdict on the member key
// whose raw value is raw.
func checkAnthropicParam(key string, raw []byte) error {
	switch key {
	case "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
		"stop", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls", "user",
		"reasoning_effort", "thinking":
		return nil
	}
	if isDefaultParam(key, raw) {
		return nil
	}
	return unsupported(key, "parameter %s=%s is not supported by an anthropic backend", key, abbreviate(raw))
}

// numberIs reports whether a raw JSON number equals v.
func numberIs(raw []byte, v float64) bool {
	f, err := strconv.ParseFloat(string(raw), 64)
	return err == nil && f == v
}

func isEmptyObject(raw []byte) bool {
	if len(raw) < 2 || raw[0] != '{' {
		return false
	}
	return len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0
}

// abbreviate keeps error messages short when a client sends a large value.
func abbreviate(raw []byte) string {
	const limit = 64
	if len(raw) <= limit {
		return string(raw)
	}
	return string(raw[:limit]) + "..."
}

func (a *anthropicTranslator) buildRequest(req *chatRequest) (*anthRequest, error) {
	out := new(anthRequest)
	if err := a.fillRequest(req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// fillRequest is buildRequest into out, whose Tools' storage it reuses.
func (a *anthropicTranslator) fillRequest(req *chatRequest, out *anthRequest) error {
	*out = anthRequest{Model: a.target.ResolveModel(req.Model), Stream: req.Stream, Tools: out.Tools[:0]}
	if out.Model == "" {
		return invalid("model", "model is required")
	}
	switch {
	case req.MaxCompletionTokens != nil:
		out.MaxTokens = *req.MaxCompletionTokens
		if out.MaxTokens < 1 {
			return invalid("max_completion_tokens", "max_completion_tokens must be at least 1")
		}
	case req.MaxTokens != nil:
		out.MaxTokens = *req.MaxTokens
		if out.MaxTokens < 1 {
			return invalid("max_tokens", "max_tokens must be at least 1")
		}
	default:
		out.MaxTokens = defaultAnthropicMaxTokens
	}
	if t := req.Temperature; t != nil {
		if *t < 0 || *t > 1 {
			return invalid("temperature", "temperature must be between 0 and 1 for an anthropic backend, got %s", strconv.FormatFloat(*t, 'g', -1, 64))
		}
		out.Temperature = t
	}
	if p := req.TopP; p != nil {
		if *p < 0 || *p > 1 {
			return invalid("top_p", "top_p must be between 0 and 1")
		}
		out.TopP = p
	}
	if k := req.TopK; k != nil {
		if *k < 0 {
			return invalid("top_k", "top_k must not be negative")
		}
		out.TopK = k
	}
	stops, err := parseStop(req.Stop)
	if err != nil {
		return err
	}
	out.StopSequences = stops
	if req.User != "" {
		out.metadata = anthMetadata{UserID: req.User}
		out.Metadata = &out.metadata
	}
	return convertTools(req, out)
}

func parseStop(raw rawJSON) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	if raw[0] == '"' {
		s, ok := rawString(raw)
		if !ok {
			return nil, invalid("stop", "stop must be a string or an array of strings")
		}
		return []string{s}, nil
	}
	var list []string
	if err := jsonAPI.Unmarshal(raw, &list); err != nil {
		return nil, invalid("stop", "stop must be a string or an array of strings")
	}
	return list, nil
}

func convertTools(req *chatRequest, out *anthRequest) error {
	for i, t := range req.Tools {
		param := "tools[" + strconv.Itoa(i) + "]"
		if t.Type != "function" {
			return unsupported(param+".type", "tool type %q is not supported by an anthropic backend", t.Type)
		}
		if t.Function == nil || t.Function.Name == "" {
			return invalid(param+".function.name", "tool function name is required")
		}
		schema := json.RawMessage(t.Function.Parameters)
		if len(bytes.TrimSpace(schema)) == 0 || isNull(schema) {
			// Anthropic requires a schema; OpenAI's "no parameters" is an empty object schema.
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, anthTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	tc, err := parseToolChoice(req.ToolChoice, "an anthropic backend")
	if err != nil {
		return err
	}
	choose := func(c anthToolChoice) {
		out.toolChoice = c
		out.ToolChoice = &out.toolChoice
	}
	switch tc.mode {
	case "auto", "none":
		choose(anthToolChoice{Type: tc.mode})
	case "required":
		choose(anthToolChoice{Type: "any"})
	case "function":
		choose(anthToolChoice{Type: "tool", Name: tc.name})
	}
	if p := req.ParallelToolCalls; p != nil && !*p {
		switch {
		case out.ToolChoice == nil:
			choose(anthToolChoice{Type: "auto", DisableParallelToolUse: true})
		case out.ToolChoice.Type != "none":
			out.ToolChoice.DisableParallelToolUse = true
		}
	}
	return nil
}

// appendAnthropicRequest writes the Anthropic request: head (checked by
// buildRequest; its System and Messages unused) and the raw OpenAI messages
// array msgs, converted message by message straight into dst, in
// anthRequest's member order. rawStrings: every string literal of msgs is
// known to be raw copyable (msgConverter.raw); long: the ends of msgs' long
// strings, known (messageStrings).
func appendAnthropicRequest(dst []byte, head *anthRequest, msgs rawJSON, rawStrings bool, long bodyscan.Strings) ([]byte, error) {
	// The messages come from a body bodyscan validated (parseChat), or the
	// router phase vouched for: their strings copy as raw tokens.
	c := converters.Get().(*msgConverter)
	defer c.release()
	c.trusted, c.raw, c.long = true, rawStrings, long.Cursor()
	// The members in anthRequest's order: model and anthropic_version only
	// when set (a host that takes the model in its path sets the version in
	// the body instead).
	dst = append(dst, '{')
	if head.Model != "" {
		dst = appendJSONString(append(dst, `"model":`...), head.Model)
		dst = append(dst, ',')
	}
	if head.AnthropicVersion != "" {
		dst = appendJSONString(append(dst, `"anthropic_version":`...), head.AnthropicVersion)
		dst = append(dst, ',')
	}
	dst = append(dst, `"max_tokens":`...)
	dst = appendInt(dst, head.MaxTokens)
	// One pass when every system and developer message comes before the
	// first turn (the usual conversation): the system texts are joined into
	// "system" as they come, then the turns are written.
	head0 := len(dst)
	dst, turns, err := c.messages(c.openSystem(dst), msgs, passSingle)
	switch {
	case err == errLateSystem:
		// Two passes. First: every message is converted and checked in
		// order; system and developer texts are joined into "system" as
		// they come, the other messages' output is dropped. Second: the
		// turns are written.
		dst = c.openSystem(dst[:head0])
		if dst, turns, err = c.messages(dst, msgs, passCheck); err != nil {
			return nil, err
		}
		if turns == 0 {
			return nil, invalid("messages", "messages must contain at least one user or assistant message")
		}
		if dst, _, err = c.messages(c.closeSystem(dst), msgs, passWrite); err != nil {
			return nil, err // the first pass accepted the same messages
		}
	case err != nil:
		return nil, err
	case turns == 0:
		return nil, invalid("messages", "messages must contain at least one user or assistant message")
	}
	dst = append(dst, ']')
	if head.Temperature != nil {
		dst = appendFloatLit(append(dst, `,"temperature":`...), *head.Temperature, head.temperatureLit)
	}
	if head.TopP != nil {
		dst = appendFloatLit(append(dst, `,"top_p":`...), *head.TopP, head.topPLit)
	}
	if head.TopK != nil {
		dst = appendInt(append(dst, `,"top_k":`...), *head.TopK)
	}
	if len(head.StopSequences) > 0 {
		dst = append(dst, `,"stop_sequences":[`...)
		for i, s := range head.StopSequences {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, s)
		}
		dst = append(dst, ']')
	}
	if head.Stream {
		dst = append(dst, `,"stream":true`...)
	}
	if len(head.Tools) > 0 {
		dst = append(dst, `,"tools":[`...)
		for i := range head.Tools {
			t := &head.Tools[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(append(dst, `{"name":`...), t.Name)
			if t.Description != "" {
				dst = appendJSONString(append(dst, `,"description":`...), t.Description)
			}
			dst = append(append(dst, `,"input_schema":`...), t.InputSchema...)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if tc := head.ToolChoice; tc != nil {
		dst = appendJSONString(append(dst, `,"tool_choice":{"type":`...), tc.Type)
		if tc.Name != "" {
			dst = appendJSONString(append(dst, `,"name":`...), tc.Name)
		}
		if tc.DisableParallelToolUse {
			dst = append(dst, `,"disable_parallel_tool_use":true`...)
		}
		dst = append(dst, '}')
	}
	if head.Metadata != nil {
		dst = appendJSONString(append(dst, `,"metadata":{"user_id":`...), head.Metadata.UserID)
		dst = append(dst, '}')
	}
	dst = appendThinking(dst, head.Thinking)
	return append(dst, '}'), nil
}
