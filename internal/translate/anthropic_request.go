package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/unquote"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/oaierr"
)

// OpenAI chat completions request -> Anthropic Messages request: the
// parameter policy and the conversion of messages, tools and options.

func (a *anthropicTranslator) RequestBody(body []byte) (RequestResult, error) {
	var req anthChatRequest
	head, err := a.parseChat(body, &req)
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
	encoded, err := appendAnthropicRequest(make([]byte, 0, len(body)+len(body)/8+256), head, req.Messages)
	if err != nil {
		return RequestResult{}, err
	}
	a.model = strings.Clone(model)
	a.includeUsage = req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	return RequestResult{
		Path:          path,
		Body:          encoded,
		Headers:       append(a.headers, Header{Key: "content-type", Value: "application/json"}),
		RemoveHeaders: []string{"accept-encoding"},
		Model:         a.model,
		RequestModel:  strings.Clone(req.Model), // may alias body
		Stream:        req.Stream,
	}, nil
}

// parseChat applies the Anthropic parameter policy to a chat completions
// body, decodes its top-level options into req and checks and converts them
// (buildRequest). Only the top-level options are decoded; the messages stay
// raw bytes (req.Messages) and are translated one at a time into the output
// (appendAnthropicRequest: no per-message values), so allocations do not
// grow with the conversation. Bedrock's Converse translation starts here
// too (bedrock_converse.go).
func (a *anthropicTranslator) parseChat(body []byte, req *anthChatRequest) (*anthRequest, error) {
	if err := forEachMember(body, anthropicParamCheck(body)); err != nil {
		if err == errBadJSON {
			return nil, invalid("", "%s", err.Error())
		}
		return nil, err
	}
	if err := jsonAPI.UnmarshalFromString(aliasString(body), req); err != nil {
		return nil, schemaError(err)
	}
	return a.buildRequest(&req.chatRequest)
}

// anthChatRequest is the chat completions request with its messages kept
// raw: they are walked element by element (appendMessages), never decoded
// into a slice.
type anthChatRequest struct {
	chatRequest
	Messages rawJSON `json:"messages"`
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
	return func(key string, vs, ve int) error {
		raw := body[vs:ve]
		switch key {
		case "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
			"stop", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls", "user":
			return nil
		}
		ok := isDefaultParam(key, raw)
		if ok {
			return nil
		}
		return unsupported(key, "parameter %s=%s is not supported by an anthropic backend", key, abbreviate(raw))
	}
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
	out := &anthRequest{Model: a.target.ResolveModel(req.Model), Stream: req.Stream}
	if out.Model == "" {
		return nil, invalid("model", "model is required")
	}
	switch {
	case req.MaxCompletionTokens != nil:
		out.MaxTokens = *req.MaxCompletionTokens
		if out.MaxTokens < 1 {
			return nil, invalid("max_completion_tokens", "max_completion_tokens must be at least 1")
		}
	case req.MaxTokens != nil:
		out.MaxTokens = *req.MaxTokens
		if out.MaxTokens < 1 {
			return nil, invalid("max_tokens", "max_tokens must be at least 1")
		}
	default:
		out.MaxTokens = defaultAnthropicMaxTokens
	}
	if t := req.Temperature; t != nil {
		if *t < 0 || *t > 1 {
			return nil, invalid("temperature", "temperature must be between 0 and 1 for an anthropic backend, got %s", strconv.FormatFloat(*t, 'g', -1, 64))
		}
		out.Temperature = t
	}
	if p := req.TopP; p != nil {
		if *p < 0 || *p > 1 {
			return nil, invalid("top_p", "top_p must be between 0 and 1")
		}
		out.TopP = p
	}
	if k := req.TopK; k != nil {
		if *k < 0 {
			return nil, invalid("top_k", "top_k must not be negative")
		}
		out.TopK = k
	}
	stops, err := parseStop(req.Stop)
	if err != nil {
		return nil, err
	}
	out.StopSequences = stops
	if req.User != "" {
		out.Metadata = &anthMetadata{UserID: req.User}
	}
	if err := convertTools(req, out); err != nil {
		return nil, err
	}
	return out, nil
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
	switch tc.mode {
	case "auto", "none":
		out.ToolChoice = &anthToolChoice{Type: tc.mode}
	case "required":
		out.ToolChoice = &anthToolChoice{Type: "any"}
	case "function":
		out.ToolChoice = &anthToolChoice{Type: "tool", Name: tc.name}
	}
	if p := req.ParallelToolCalls; p != nil && !*p {
		switch {
		case out.ToolChoice == nil:
			out.ToolChoice = &anthToolChoice{Type: "auto", DisableParallelToolUse: true}
		case out.ToolChoice.Type != "none":
			out.ToolChoice.DisableParallelToolUse = true
		}
	}
	return nil
}

// appendAnthropicRequest writes the Anthropic request: head (checked by
// buildRequest; its System and Messages unused) and the raw OpenAI messages
// array msgs, converted message by message straight into dst, in
// anthRequest's member order.
func appendAnthropicRequest(dst []byte, head *anthRequest, msgs rawJSON) ([]byte, error) {
	var c msgConverter
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
	// First pass: every message is converted and checked in order; system
	// and developer texts are joined into "system" as they come, the other
	// messages' output is dropped. Second pass: the turns are written.
	mark := len(dst)
	dst = append(dst, `,"system":"`...)
	system := len(dst)
	dst, turns, err := c.messages(dst, msgs, false)
	if err != nil {
		return nil, err
	}
	if turns == 0 {
		return nil, invalid("messages", "messages must contain at least one user or assistant message")
	}
	if len(dst) == system {
		dst = dst[:mark]
	} else {
		dst = append(dst, '"')
	}
	dst = append(dst, `,"messages":[`...)
	if dst, _, err = c.messages(dst, msgs, true); err != nil {
		return nil, err // the first pass accepted the same messages
	}
	dst = append(dst, ']')
	if head.Temperature != nil {
		dst = appendFloat(append(dst, `,"temperature":`...), *head.Temperature)
	}
	if head.TopP != nil {
		dst = appendFloat(append(dst, `,"top_p":`...), *head.TopP)
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
	return append(dst, '}'), nil
}

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
}

// rawPart is a content part with its texts kept as raw JSON literals,
// copied into the output without being decoded into strings.
type rawPart struct {
	Type     string  `json:"type"`
	Text     rawJSON `json:"text"`
	Refusal  rawJSON `json:"refusal"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

// messages converts every message of msgs in order and returns the number
// of user and assistant turns. Without write it only checks them, and
// appends the system and developer texts (escaped, joined by a blank line);
// with write it appends the turns, consecutive messages of one Anthropic
// role merged into one turn (Anthropic combines them anyway, and tool
// results must share one user turn).
func (c *msgConverter) messages(dst []byte, msgs rawJSON, write bool) ([]byte, int, error) {
	msgs = bytes.TrimSpace(msgs)
	if len(msgs) == 0 || isNull(msgs) {
		return dst, 0, nil
	}
	if msgs[0] != '[' {
		return dst, 0, invalid("", "request body does not match the chat completions schema: messages must be an array")
	}
	turns, role, system := 0, "", false
	err := bodyscan.Elements(msgs, func(i, vs, ve int) error {
		m := &c.m
		*m = chatMessage{ToolCalls: m.ToolCalls[:0]}
		if err := c.dec.decode(msgs[vs:ve], m); err != nil {
			return schemaError(err)
		}
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
			if write {
				return nil
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
		if _, ok := err.(*Error); !ok {
			err = schemaError(err)
		}
		return dst, 0, err
	}
	if write && role != "" {
		dst = append(dst, "]}"...)
	}
	return dst, turns, nil
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
	if bytes.IndexByte(inner, '\\') < 0 {
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
	err := bodyscan.Elements(raw, func(j, vs, ve int) error {
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
	raw = bytes.TrimSpace(raw)
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
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return dst, invalid(loc.part(j, ".image_url.url"), "image_url.url is required")
			}
			return appendImageBlock(dst, start, p.ImageURL.URL, loc, j)
		default:
			return dst, unsupported(loc.part(j, ""), "content part type %q is not supported by an anthropic backend", p.Type)
		}
	})
}

// appendImageBlock maps an OpenAI image URL (data URI or http(s) URL) to an
// Anthropic image block.
func appendImageBlock(dst []byte, start int, u string, loc msgLoc, j int) ([]byte, error) {
	param := func() string { return loc.part(j, ".image_url.url") }
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
			dst = appendJSONString(append(dst, `,"data":`...), data)
		}
		return append(dst, "}}"...), nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		dst = appendJSONString(append(dst, `{"type":"image","source":{"type":"url","url":`...), u)
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
