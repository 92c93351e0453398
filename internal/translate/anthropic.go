package translate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// OpenAI chat completions -> Anthropic Messages API (/v1/messages).
//
// The request is decoded into minimal OpenAI structs, checked parameter by
// parameter (anything Anthropic cannot express is a KindUnsupported Error naming
// it, never a silent drop) and re-encoded as an Anthropic request. Responses
// are translated back into chat.completion objects, or, for streams, event
// by event into chat.completion.chunk lines (anthropic_stream.go).
//
// A client already speaking Anthropic (/v1/messages) is passed through with
// only the model override and the anthropic-version header applied.

const (
	defaultAnthropicVersion   = "2023-06-01"
	defaultAnthropicMaxTokens = 4096
)

// now is the clock for "created"; tests pin it.
var now = time.Now

func init() {
	register(SchemaAnthropic, newAnthropic)
}

func newAnthropic(t Target, ep endpoint) (Translator, error) {
	prefix := t.PathPrefix
	if prefix == "" {
		prefix = "/v1"
	}
	version := t.APIVersion
	if version == "" {
		version = defaultAnthropicVersion
	}
	path := joinPath(prefix, "/messages")
	headers := []Header{{Key: "anthropic-version", Value: version}}
	switch ep.kind {
	case endpointChatCompletions:
		return &anthropicTranslator{target: t, path: path, headers: headers}, nil
	case endpointMessages:
		return &passthrough{target: t, usage: &anthropicUsageScanner{}, headers: headers, path: func(string) string { return path }}, nil
	default:
		return nil, &Error{
			Kind:    KindUnsupported,
			Status:  http.StatusBadRequest,
			Code:    "unsupported_endpoint",
			Message: "endpoint " + ep.suffix + " is not supported by an anthropic backend; use /v1/chat/completions",
		}
	}
}

// aliasString views b as a string without copying. Decoding through it makes
// sonic's strings point into b, which is only valid during the call: nothing
// decoded this way may be retained (retained values are cloned).
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// ---- OpenAI request (input) ----

type chatRequest struct {
	Model               string             `json:"model"`
	Messages            []chatMessage      `json:"messages"`
	MaxTokens           *int64             `json:"max_tokens"`
	MaxCompletionTokens *int64             `json:"max_completion_tokens"`
	Temperature         *float64           `json:"temperature"`
	TopP                *float64           `json:"top_p"`
	TopK                *int64             `json:"top_k"`
	Stop                rawJSON            `json:"stop"`
	Stream              bool               `json:"stream"`
	StreamOptions       *chatStreamOptions `json:"stream_options"`
	Tools               []chatTool         `json:"tools"`
	ToolChoice          rawJSON            `json:"tool_choice"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls"`
	User                string             `json:"user"`
}

type chatStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role         string         `json:"role"`
	Content      rawJSON        `json:"content"`
	ToolCalls    []chatToolCall `json:"tool_calls"`
	ToolCallID   string         `json:"tool_call_id"`
	FunctionCall rawJSON        `json:"function_call"`
	Audio        rawJSON        `json:"audio"`
}

type chatPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string  `json:"name"`
		Description string  `json:"description"`
		Parameters  rawJSON `json:"parameters"`
	} `json:"function"`
}

// ---- Anthropic request (output) ----

type anthRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int64           `json:"max_tokens"`
	System        string          `json:"system,omitempty"`
	Messages      []anthMessage   `json:"messages"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int64          `json:"top_k,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Tools         []anthTool      `json:"tools,omitempty"`
	ToolChoice    *anthToolChoice `json:"tool_choice,omitempty"`
	Metadata      *anthMetadata   `json:"metadata,omitempty"`
}

type anthMessage struct {
	Role    string      `json:"role"`
	Content []anthBlock `json:"content"`
}

type anthBlock struct {
	Type      string           `json:"type"`
	Text      string           `json:"text,omitempty"`
	Source    *anthImageSource `json:"source,omitempty"`
	ID        string           `json:"id,omitempty"`
	Name      string           `json:"name,omitempty"`
	Input     json.RawMessage  `json:"input,omitempty"`
	ToolUseID string           `json:"tool_use_id,omitempty"`
	Content   []anthBlock      `json:"content,omitempty"`
}

type anthImageSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anthTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type anthMetadata struct {
	UserID string `json:"user_id"`
}

// ---- request translation ----

type anthropicTranslator struct {
	target  Target
	path    string
	headers []Header

	model        string // upstream model, reported when the provider omits it
	includeUsage bool
	mode         ResponseMode
	coding       contentCoding
	gz           *gzipDecoder
	acc          accumulator
	stream       anthropicStream
	tokens       anthTokens
	errStatus    int
}

func (a *anthropicTranslator) RequestBody(body []byte) (RequestResult, error) {
	if err := forEachMember(body, anthropicParamCheck(body)); err != nil {
		if err == errBadJSON {
			return RequestResult{}, invalid("", "%s", err.Error())
		}
		return RequestResult{}, err
	}
	var req chatRequest
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &req); err != nil {
		return RequestResult{}, invalid("", "request body does not match the chat completions schema: %s", firstLine(err.Error()))
	}
	out, err := a.buildRequest(&req)
	if err != nil {
		return RequestResult{}, err
	}
	// The Anthropic body is about as large as the OpenAI one.
	encoded, err := encodeJSON(out, len(body)+len(body)/8+256)
	if err != nil {
		return RequestResult{}, invalid("", "cannot encode the anthropic request: %s", firstLine(err.Error()))
	}
	a.model = strings.Clone(out.Model)
	a.includeUsage = req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	return RequestResult{
		Path:          a.path,
		Body:          encoded,
		Headers:       append(a.headers, Header{Key: "content-type", Value: "application/json"}),
		RemoveHeaders: []string{"accept-encoding"},
		Model:         a.model,
		Stream:        req.Stream,
	}, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// anthropicParamCheck returns a forEachMember callback accepting a top-level
// chat completions parameter only if it has an Anthropic mapping or carries
// its default (no-op) value; anything else is a KindUnsupported Error naming it,
// so a request never silently loses a parameter.
func anthropicParamCheck(body []byte) func(key string, vs, ve int) error {
	return func(key string, vs, ve int) error {
		raw := body[vs:ve]
		ok := true
		switch key {
		case "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
			"stop", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls", "user":
			return nil
		case "n":
			ok = isNull(raw) || numberIs(raw, 1)
		case "logprobs", "store":
			ok = isNull(raw) || string(raw) == "false"
		case "top_logprobs", "frequency_penalty", "presence_penalty":
			ok = isNull(raw) || numberIs(raw, 0)
		case "logit_bias", "metadata":
			ok = isNull(raw) || isEmptyObject(raw)
		case "response_format":
			var rf struct {
				Type string `json:"type"`
			}
			ok = isNull(raw) || (jsonAPI.Unmarshal(raw, &rf) == nil && rf.Type == "text")
		case "modalities":
			var mods []string
			ok = isNull(raw) || (jsonAPI.Unmarshal(raw, &mods) == nil && len(mods) == 1 && mods[0] == "text")
		case "service_tier":
			s, _ := rawString(raw)
			ok = isNull(raw) || s == "auto"
		default:
			ok = isNull(raw)
		}
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
	if err := convertMessages(req.Messages, out); err != nil {
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
	raw := bytes.TrimSpace(req.ToolChoice)
	if len(raw) > 0 && !isNull(raw) {
		if raw[0] == '"' {
			s, _ := rawString(raw)
			switch s {
			case "auto":
				out.ToolChoice = &anthToolChoice{Type: "auto"}
			case "none":
				out.ToolChoice = &anthToolChoice{Type: "none"}
			case "required":
				out.ToolChoice = &anthToolChoice{Type: "any"}
			default:
				return invalid("tool_choice", "tool_choice %q is not one of none, auto, required", s)
			}
		} else {
			var named struct {
				Type     string `json:"type"`
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if err := jsonAPI.Unmarshal(raw, &named); err != nil {
				return invalid("tool_choice", "tool_choice must be a string or an object")
			}
			if named.Type != "function" {
				return unsupported("tool_choice", "tool_choice type %q is not supported by an anthropic backend", named.Type)
			}
			if named.Function.Name == "" {
				return invalid("tool_choice.function.name", "tool_choice function name is required")
			}
			out.ToolChoice = &anthToolChoice{Type: "tool", Name: named.Function.Name}
		}
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

func convertMessages(msgs []chatMessage, out *anthRequest) error {
	var system []string
	out.Messages = make([]anthMessage, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		loc := msgLoc(i)
		if len(m.FunctionCall) > 0 && !isNull(m.FunctionCall) {
			return unsupported(loc.at(".function_call"), "function_call is deprecated and not supported by an anthropic backend; use tool_calls")
		}
		if len(m.Audio) > 0 && !isNull(m.Audio) {
			return unsupported(loc.at(".audio"), "assistant audio is not supported by an anthropic backend")
		}
		switch m.Role {
		case "system", "developer":
			text, err := textContent(m.Content, loc)
			if err != nil {
				return err
			}
			if text != "" {
				system = append(system, text)
			}
			continue
		case "user":
			blocks, err := userBlocks(m.Content, loc)
			if err != nil {
				return err
			}
			if len(blocks) == 0 {
				return unsupported(loc.at(".content"), "an anthropic backend does not accept an empty user message")
			}
			appendTurn(out, "user", blocks...)
		case "assistant":
			blocks, err := assistantBlocks(m, loc)
			if err != nil {
				return err
			}
			if len(blocks) == 0 {
				return unsupported(loc.at(".content"), "an anthropic backend does not accept an assistant message with neither content nor tool_calls")
			}
			appendTurn(out, "assistant", blocks...)
		case "tool":
			if m.ToolCallID == "" {
				return invalid(loc.at(".tool_call_id"), "tool_call_id is required for tool messages")
			}
			text, err := textContent(m.Content, loc)
			if err != nil {
				return err
			}
			block := anthBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
			if text != "" {
				block.Content = []anthBlock{{Type: "text", Text: text}}
			}
			// Tool results are user content in Anthropic: consecutive ones
			// land in the single user turn following the tool_use turn.
			appendTurn(out, "user", block)
		case "function":
			return unsupported(loc.at(".role"), "function messages are deprecated and not supported by an anthropic backend; use tool messages")
		default:
			return invalid(loc.at(".role"), "unknown message role %q", m.Role)
		}
	}
	if len(out.Messages) == 0 {
		return invalid("messages", "messages must contain at least one user or assistant message")
	}
	out.System = strings.Join(system, "\n\n")
	return nil
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

// appendTurn adds blocks as a turn of role, merging them into the previous
// turn when it has the same role: Anthropic combines consecutive same-role
// turns anyway, and tool results must share one user turn.
func appendTurn(out *anthRequest, role string, blocks ...anthBlock) {
	if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
		out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
		return
	}
	out.Messages = append(out.Messages, anthMessage{Role: role, Content: blocks})
}

// contentParts splits message content into its string or content-part form.
func contentParts(raw rawJSON, loc msgLoc) (text string, parts []chatPart, isText bool, err error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || isNull(raw):
		return "", nil, true, nil
	case raw[0] == '"':
		s, ok := rawString(raw)
		if !ok {
			return "", nil, false, invalid(loc.at(".content"), "content is not a valid string")
		}
		return s, nil, true, nil
	case raw[0] == '[':
		if err := jsonAPI.UnmarshalFromString(aliasString(raw), &parts); err != nil {
			return "", nil, false, invalid(loc.at(".content"), "content must be a string or an array of content parts")
		}
		return "", parts, false, nil
	default:
		return "", nil, false, invalid(loc.at(".content"), "content must be a string or an array of content parts")
	}
}

// textContent flattens content that may only hold text (system, developer
// and tool messages) into one string.
func textContent(raw rawJSON, loc msgLoc) (string, error) {
	text, parts, isText, err := contentParts(raw, loc)
	if err != nil || isText {
		return text, err
	}
	var sb strings.Builder
	for j, p := range parts {
		if p.Type != "text" {
			return "", unsupported(loc.part(j, ""), "content part type %q is not supported here by an anthropic backend", p.Type)
		}
		sb.WriteString(p.Text)
	}
	return sb.String(), nil
}

func userBlocks(raw rawJSON, loc msgLoc) ([]anthBlock, error) {
	text, parts, isText, err := contentParts(raw, loc)
	if err != nil {
		return nil, err
	}
	if isText {
		if text == "" {
			return nil, nil
		}
		return []anthBlock{{Type: "text", Text: text}}, nil
	}
	blocks := make([]anthBlock, 0, len(parts))
	for j := range parts {
		p := &parts[j]
		switch p.Type {
		case "text":
			if p.Text != "" {
				blocks = append(blocks, anthBlock{Type: "text", Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, invalid(loc.part(j, ".image_url.url"), "image_url.url is required")
			}
			src, err := imageSource(p.ImageURL.URL, loc, j)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, anthBlock{Type: "image", Source: src})
		default:
			return nil, unsupported(loc.part(j, ""), "content part type %q is not supported by an anthropic backend", p.Type)
		}
	}
	return blocks, nil
}

// imageSource maps an OpenAI image URL (data URI or http(s) URL) to an
// Anthropic image source.
func imageSource(u string, loc msgLoc, j int) (*anthImageSource, error) {
	param := func() string { return loc.part(j, ".image_url.url") }
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, found := strings.Cut(rest, ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if !found || !isBase64 {
			return nil, unsupported(param(), "only base64 data URIs are supported for images")
		}
		switch mediaType {
		case "image/jpeg", "image/png", "image/gif", "image/webp":
		default:
			return nil, unsupported(param(), "image media type %q is not supported by an anthropic backend (jpeg, png, gif, webp)", mediaType)
		}
		return &anthImageSource{Type: "base64", MediaType: mediaType, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return &anthImageSource{Type: "url", URL: u}, nil
	}
	return nil, invalid(param(), "image URL must be an http(s) URL or a base64 data URI")
}

func assistantBlocks(m *chatMessage, loc msgLoc) ([]anthBlock, error) {
	text, parts, isText, err := contentParts(m.Content, loc)
	if err != nil {
		return nil, err
	}
	blocks := make([]anthBlock, 0, 1+len(m.ToolCalls))
	if isText {
		if text != "" {
			blocks = append(blocks, anthBlock{Type: "text", Text: text})
		}
	} else {
		for j := range parts {
			p := &parts[j]
			switch p.Type {
			case "text":
				if p.Text != "" {
					blocks = append(blocks, anthBlock{Type: "text", Text: p.Text})
				}
			case "refusal":
				// A refusal is text the model produced; Anthropic has no
				// separate field for it in the history.
				if p.Refusal != "" {
					blocks = append(blocks, anthBlock{Type: "text", Text: p.Refusal})
				}
			default:
				return nil, unsupported(loc.part(j, ""), "assistant content part type %q is not supported by an anthropic backend", p.Type)
			}
		}
	}
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		if tc.Type != "" && tc.Type != "function" {
			return nil, unsupported(loc.call(j, ".type"), "tool call type %q is not supported by an anthropic backend", tc.Type)
		}
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, invalid(loc.call(j, ""), "tool calls need an id and a function name")
		}
		args := strings.TrimSpace(tc.Function.Arguments)
		if args == "" {
			args = "{}"
		}
		if !jsonAPI.Valid([]byte(args)) || args[0] != '{' {
			return nil, invalid(loc.call(j, ".function.arguments"), "function arguments must be a JSON object")
		}
		blocks = append(blocks, anthBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: json.RawMessage(args)})
	}
	return blocks, nil
}

// ---- Anthropic response (input) ----

type anthUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

// anthTokens accumulates Anthropic usage. Anthropic's input_tokens exclude
// cache reads and writes, while OpenAI's prompt_tokens include all of them,
// so prompt tokens are the sum; cached tokens are the cache reads.
type anthTokens struct {
	input, output, cacheRead, cacheCreation int64
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
	return Usage{InputTokens: in, OutputTokens: plausible(t.output), CachedInputTokens: cacheRead}.sane()
}

// appendOpenAIUsage appends the OpenAI usage object for t.
func (t *anthTokens) appendOpenAIUsage(dst []byte) []byte {
	u := t.usage()
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, u.InputTokens)
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, u.OutputTokens)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, u.TotalTokens)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = appendInt(dst, u.CachedInputTokens)
	return append(dst, "}}"...)
}

type anthResponse struct {
	ID         string              `json:"id"`
	Model      string              `json:"model"`
	Content    []anthResponseBlock `json:"content"`
	StopReason string              `json:"stop_reason"`
	Usage      anthUsage           `json:"usage"`
}

type anthResponseBlock struct {
	Type  string  `json:"type"`
	Text  string  `json:"text"`
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Input rawJSON `json:"input"`
}

type anthErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// anthropicUsageScanner reads usage from Anthropic-native responses for the
// /v1/messages passthrough.
type anthropicUsageScanner struct {
	tokens anthTokens
}

func (s *anthropicUsageScanner) body(b []byte, u *Usage) {
	var r struct {
		Usage anthUsage `json:"usage"`
	}
	if jsonAPI.UnmarshalFromString(aliasString(b), &r) == nil {
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
			Usage anthUsage `json:"usage"`
		} `json:"message"`
		Usage anthUsage `json:"usage"`
	}
	if jsonAPI.UnmarshalFromString(aliasString(data), &ev) == nil {
		s.tokens.merge(&ev.Message.Usage)
		s.tokens.merge(&ev.Usage)
		*u = s.tokens.usage()
	}
}

// ---- OpenAI response (output) ----

type chatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   chatUsage    `json:"usage"`
}

type chatChoice struct {
	Index        int                 `json:"index"`
	Message      chatResponseMessage `json:"message"`
	Logprobs     *struct{}           `json:"logprobs"`
	FinishReason string              `json:"finish_reason"`
}

type chatResponseMessage struct {
	Role      string             `json:"role"`
	Content   *string            `json:"content"`
	Refusal   *string            `json:"refusal"`
	ToolCalls []chatResponseCall `json:"tool_calls,omitempty"`
}

type chatResponseCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// finishReason maps an Anthropic stop_reason to an OpenAI finish_reason.
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

// ---- response translation ----

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
		a.stream.init(a.model, a.includeUsage, a.target.Limits.eventBytes())
	default:
		a.mode.BufferBody, a.mode.ContentType = true, "application/json"
	}
	a.errStatus = status
	return a.mode, nil
}

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
		out, err := a.translateMessage(whole)
		return out, a.tokens.usage(), err
	}
}

func (a *anthropicTranslator) translateMessage(body []byte) ([]byte, error) {
	var r anthResponse
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &r); err != nil {
		// Truncated, HTML from a proxy, numbers out of range: the caller
		// answers 502 with an OpenAI error, as for an undecodable body.
		return nil, &BadResponseError{Reason: "the anthropic backend returned a malformed response: " + firstLine(err.Error())}
	}
	a.tokens.merge(&r.Usage)
	model := r.Model
	if model == "" {
		model = a.model
	}
	out := chatCompletion{
		ID:      r.ID,
		Object:  "chat.completion",
		Created: now().Unix(),
		Model:   model,
		Choices: []chatChoice{{FinishReason: finishReason(r.StopReason)}},
	}
	msg := &out.Choices[0].Message
	msg.Role = "assistant"
	// One text block (the usual case) is used as decoded; only several are
	// concatenated.
	var text string
	var joined []byte
	texts := 0
	for i := range r.Content {
		b := &r.Content[i]
		switch b.Type {
		case "text":
			if texts++; texts == 2 {
				joined = append(joined, text...)
			}
			if texts >= 2 {
				joined = append(joined, b.Text...)
			} else {
				text = b.Text
			}
		case "tool_use":
			call := chatResponseCall{ID: b.ID, Type: "function"}
			call.Function.Name = b.Name
			call.Function.Arguments = string(bytes.TrimSpace(b.Input))
			if call.Function.Arguments == "" {
				call.Function.Arguments = "{}"
			}
			msg.ToolCalls = append(msg.ToolCalls, call)
		}
		// thinking / redacted_thinking / server tool blocks have no
		// chat.completion field; they are only produced when the request
		// enabled them, which this translator never does.
	}
	if texts >= 2 {
		text = aliasString(joined)
	}
	if texts > 0 {
		msg.Content = &text
	}
	u := a.tokens.usage()
	out.Usage.PromptTokens, out.Usage.CompletionTokens, out.Usage.TotalTokens = u.InputTokens, u.OutputTokens, u.TotalTokens
	out.Usage.PromptTokensDetails.CachedTokens = u.CachedInputTokens
	return encodeJSON(&out, len(body)+512)
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
