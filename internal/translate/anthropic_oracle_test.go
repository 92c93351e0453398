package translate

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The struct-decoding OpenAI -> Anthropic request and response translations
// this package had before it wrote them straight from the bytes
// (anthropic_request.go, anthropic_response.go), kept verbatim as the
// oracles their output is compared with byte for byte
// (TestAnthropicRequestMatchesOracle, FuzzAnthropicRequest,
// TestAnthropicResponseMatchesOracle, FuzzAnthropicResponse).

func (a *anthropicTranslator) oracleRequestBody(body []byte) (RequestResult, error) {
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
	// Thinking (added after the oracle was frozen): the one implementation.
	th := anthChatRequest{chatRequest: req}
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &th); err != nil {
		return RequestResult{}, invalid("", "request body does not match the chat completions schema: %s", firstLine(err.Error()))
	}
	th.chatRequest = req
	if err := claudeThinking(&th, out); err != nil {
		return RequestResult{}, err
	}
	if err := oracleConvertMessages(req.Messages, out); err != nil {
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

func oracleConvertMessages(msgs []chatMessage, out *anthRequest) error {
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
			text, err := oracleTextContent(m.Content, loc)
			if err != nil {
				return err
			}
			if text != "" {
				system = append(system, text)
			}
			continue
		case "user":
			blocks, err := oracleUserBlocks(m.Content, loc)
			if err != nil {
				return err
			}
			if len(blocks) == 0 {
				return unsupported(loc.at(".content"), "an anthropic backend does not accept an empty user message")
			}
			oracleAppendTurn(out, "user", blocks...)
		case "assistant":
			blocks, err := oracleAssistantBlocks(m, loc)
			if err != nil {
				return err
			}
			if len(blocks) == 0 {
				return unsupported(loc.at(".content"), "an anthropic backend does not accept an assistant message with neither content nor tool_calls")
			}
			oracleAppendTurn(out, "assistant", blocks...)
		case "tool":
			if m.ToolCallID == "" {
				return invalid(loc.at(".tool_call_id"), "tool_call_id is required for tool messages")
			}
			text, err := oracleTextContent(m.Content, loc)
			if err != nil {
				return err
			}
			block := anthBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
			if text != "" {
				block.Content = []anthBlock{{Type: "text", Text: text}}
			}
			// Tool results are user content in Anthropic: consecutive ones
			// land in the single user turn following the tool_use turn.
			oracleAppendTurn(out, "user", block)
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

// oracleAppendTurn adds blocks as a turn of role, merging them into the previous
// turn when it has the same role: Anthropic combines consecutive same-role
// turns anyway, and tool results must share one user turn.
func oracleAppendTurn(out *anthRequest, role string, blocks ...anthBlock) {
	if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
		out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
		return
	}
	out.Messages = append(out.Messages, anthMessage{Role: role, Content: blocks})
}

// oracleContentParts is the old code's split of message content, which is
// contentParts (chat_options.go) unchanged.
func oracleContentParts(raw rawJSON, loc msgLoc) (text string, parts []chatPart, isText bool, err error) {
	return contentParts(raw, loc)
}

// oracleTextContent flattens content that may only hold text (system, developer
// and tool messages) into one string.
func oracleTextContent(raw rawJSON, loc msgLoc) (string, error) {
	text, parts, isText, err := oracleContentParts(raw, loc)
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

func oracleUserBlocks(raw rawJSON, loc msgLoc) ([]anthBlock, error) {
	text, parts, isText, err := oracleContentParts(raw, loc)
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
			src, err := oracleImageSource(p.ImageURL.URL, loc, j)
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

// oracleImageSource maps an OpenAI image URL (data URI or http(s) URL) to an
// Anthropic image source.
func oracleImageSource(u string, loc msgLoc, j int) (*anthImageSource, error) {
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

func oracleAssistantBlocks(m *chatMessage, loc msgLoc) ([]anthBlock, error) {
	text, parts, isText, err := oracleContentParts(m.Content, loc)
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

func (a *anthropicTranslator) oracleTranslateMessage(body []byte) ([]byte, error) {
	var r anthResponse
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &r); err != nil {
		// Truncated, HTML from a proxy, numbers out of range: the caller
		// answers 502 with an OpenAI error, as for an undecodable body.
		// The decoder's message quotes the body: only where it stopped
		// goes to the log.
		return nil, badResponse("the anthropic backend returned a malformed response" + decodeErrorAt(err))
	}
	a.tokens.merge(&r.Usage)
	model := r.Model
	if model == "" {
		model = a.model
	}
	a.tokens.setModel(model)
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
		case "thinking":
			// Thinking texts joined into reasoning_content
			// (anthropic_thinking.go).
			if len(b.Thinking) > 0 && !isNull(b.Thinking) {
				s, ok := rawString(b.Thinking)
				if !ok {
					return nil, badResponse("the anthropic backend returned a malformed response: a content block does not match the schema")
				}
				msg.ReasoningContent += s
			}
		}
		// redacted_thinking / server tool blocks have no chat.completion
		// field.
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
