package translate

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// OpenAI chat completions request -> Anthropic Messages request: the
// parameter policy and the conversion of messages, tools and options.

func (a *anthropicTranslator) RequestBody(body []byte) (RequestResult, error) {
	out, req, err := a.parseChat(body)
	if err != nil {
		return RequestResult{}, err
	}
	path := a.path
	if a.host != nil {
		if path, err = a.host.apply(out); err != nil {
			return RequestResult{}, err
		}
	}
	// The Anthropic body is about as large as the OpenAI one.
	encoded, err := encodeJSON(out, len(body)+len(body)/8+256)
	if err != nil {
		return RequestResult{}, invalid("", "cannot encode the anthropic request: %s", firstLine(err.Error()))
	}
	a.model = strings.Clone(out.Model)
	if a.host != nil {
		a.model = a.host.model
	}
	a.includeUsage = req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	return RequestResult{
		Path:          path,
		Body:          encoded,
		Headers:       append(a.headers, Header{Key: "content-type", Value: "application/json"}),
		RemoveHeaders: []string{"accept-encoding"},
		Model:         a.model,
		Stream:        req.Stream,
	}, nil
}

// parseChat checks and converts a chat completions body into an Anthropic
// request (also the first step of Bedrock's Converse translation).
func (a *anthropicTranslator) parseChat(body []byte) (*anthRequest, *chatRequest, error) {
	if err := forEachMember(body, anthropicParamCheck(body)); err != nil {
		if err == errBadJSON {
			return nil, nil, invalid("", "%s", err.Error())
		}
		return nil, nil, err
	}
	req := new(chatRequest)
	if err := jsonAPI.UnmarshalFromString(aliasString(body), req); err != nil {
		return nil, nil, invalid("", "request body does not match the chat completions schema: %s", firstLine(err.Error()))
	}
	out, err := a.buildRequest(req)
	return out, req, err
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
