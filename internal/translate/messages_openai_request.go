package translate

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/aigw/aigw/internal/bodyscan"
)

// Anthropic Messages request (a client on /v1/messages) -> OpenAI chat
// request for an OpenAI-style backend. Every top-level parameter either has
// an OpenAI mapping or is a KindUnsupported 400 naming it; nothing is
// silently dropped except what is only a hint to Anthropic's servers
// (cache_control: OpenAI-style servers cache prompts on their own) and
// thinking blocks in earlier assistant turns (Anthropic itself ignores them
// there).

func (m *messagesToOpenAI) RequestBody(body []byte) (RequestResult, error) {
	return m.request(body, forEachMember)
}

// RequestBodyScanned is RequestBody for a body the router phase validated
// (bodyscan.Recall vouched for these bytes): its parameters are walked,
// not validated again.
func (m *messagesToOpenAI) RequestBodyScanned(body []byte, _ bodyscan.Findings) (RequestResult, error) {
	return m.request(body, trustedMembers)
}

func (m *messagesToOpenAI) request(body []byte, walk memberWalk) (RequestResult, error) {
	if err := walk(body, messagesParamCheck(body)); err != nil {
		if err == errBadJSON {
			return RequestResult{}, invalid("", "%s", err.Error())
		}
		return RequestResult{}, err
	}
	var req msgRequest
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &req); err != nil {
		return RequestResult{}, invalid("", "request body does not match the messages schema: %s", firstLine(err.Error()))
	}
	out, err := m.buildRequest(&req)
	if err != nil {
		return RequestResult{}, err
	}
	if m.modelInPath {
		if err := checkPathSegment("model", out.Model); err != nil {
			return RequestResult{}, err
		}
	}
	buf, encoded, err := encodeBody(out, len(body)+len(body)/8+256)
	if err != nil {
		return RequestResult{}, invalid("", "cannot encode the chat request: %s", firstLine(err.Error()))
	}
	m.model = strings.Clone(out.Model)
	res := RequestResult{
		Path:          m.path(m.model),
		Headers:       []Header{{Key: "content-type", Value: "application/json"}},
		RemoveHeaders: []string{"accept-encoding"},
		Model:         m.model,
		RequestModel:  strings.Clone(req.Model), // may alias body
		Stream:        req.Stream,
	}
	res.setBody(buf, encoded)
	return res, nil
}

// messagesParamCheck accepts the top-level Messages parameters that have an
// OpenAI chat mapping (or carry their no-op value).
func messagesParamCheck(body []byte) func(key string, vs, ve int) error {
	return func(key string, vs, ve int) error {
		raw := body[vs:ve]
		switch key {
		case "model", "max_tokens", "system", "messages", "temperature", "top_p", "stop_sequences",
			"stream", "tools", "tool_choice", "metadata":
			return nil
		case "thinking":
			if isNull(raw) || bytes.Contains(raw, []byte(`"disabled"`)) {
				return nil
			}
			return unsupported("thinking", "thinking is not supported by an OpenAI-style backend (it has no thinking budget); omit it or send it to an Anthropic backend")
		}
		return unsupported(key, "%s is not supported by an OpenAI-style backend", key)
	}
}

func (m *messagesToOpenAI) buildRequest(req *msgRequest) (*chatOutRequest, error) {
	if req.MaxTokens == nil {
		return nil, invalid("max_tokens", "max_tokens is required")
	}
	if *req.MaxTokens < 1 {
		return nil, invalid("max_tokens", "max_tokens must be at least 1")
	}
	if len(req.Messages) == 0 {
		return nil, invalid("messages", "messages must not be empty")
	}
	out := &chatOutRequest{
		Model:               m.target.ResolveModel(req.Model),
		MaxCompletionTokens: req.MaxTokens,
		Temperature:         req.Temperature,
		TopP:                req.TopP,
		Stop:                req.StopSequences,
		Stream:              req.Stream,
	}
	if out.Model == "" {
		return nil, invalid("model", "model is required")
	}
	if len(out.Stop) > 4 {
		return nil, unsupported("stop_sequences", "an OpenAI-style backend takes at most 4 stop sequences, got %d", len(out.Stop))
	}
	if req.Stream {
		// Usage arrives in a last chunk only when asked for; the front door
		// needs it for message_delta and the gateway's accounting.
		out.StreamOptions = &chatStreamOptions{IncludeUsage: true}
	}
	if req.Metadata != nil {
		out.User = req.Metadata.UserID
	}
	if err := messagesSystem(req.System, out); err != nil {
		return nil, err
	}
	for i := range req.Messages {
		if err := messagesTurn(&req.Messages[i], i, out); err != nil {
			return nil, err
		}
	}
	if err := messagesTools(req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// messagesSystem turns the top-level system (a string or text blocks) into
// the first message.
func messagesSystem(raw rawJSON, out *chatOutRequest) error {
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	text, err := messagesText(raw, "system")
	if err != nil {
		return err
	}
	out.Messages = append(out.Messages, chatOutMessage{Role: "system", Content: text})
	return nil
}

// messagesText reads content that must be text: a string, or text blocks
// joined (a tool result, the system prompt).
func messagesText(raw rawJSON, param string) (string, error) {
	if s, ok := rawString(raw); ok {
		return strings.Clone(s), nil
	}
	if isNull(raw) || len(raw) == 0 {
		return "", nil
	}
	var blocks []msgBlock
	if err := jsonAPI.UnmarshalFromString(aliasString(raw), &blocks); err != nil {
		return "", invalid(param, "%s must be a string or an array of text blocks", param)
	}
	var sb strings.Builder
	for j := range blocks {
		if blocks[j].Type != "text" {
			return "", unsupported(param+"["+strconv.Itoa(j)+"]", "%s block of type %q is not supported by an OpenAI-style backend here (only text)", param, blocks[j].Type)
		}
		if j > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(blocks[j].Text)
	}
	return sb.String(), nil
}

// messagesTurn converts one Anthropic message: a user turn may become tool
// messages (its tool_result blocks, first, as OpenAI wants them right after
// the assistant's calls) and a user message; an assistant turn one message
// with text and tool calls.
func messagesTurn(msg *msgMessage, i int, out *chatOutRequest) error {
	loc := "messages[" + strconv.Itoa(i) + "]"
	if msg.Role != "user" && msg.Role != "assistant" {
		return invalid(loc+".role", "role must be user or assistant")
	}
	if s, ok := rawString(msg.Content); ok {
		out.Messages = append(out.Messages, chatOutMessage{Role: msg.Role, Content: strings.Clone(s)})
		return nil
	}
	var blocks []msgBlock
	if err := jsonAPI.UnmarshalFromString(aliasString(msg.Content), &blocks); err != nil {
		return invalid(loc+".content", "content must be a string or an array of content blocks")
	}
	var (
		parts []chatOutPart
		calls []chatResponseCall
	)
	for j := range blocks {
		b := &blocks[j]
		bl := loc + ".content[" + strconv.Itoa(j) + "]"
		switch {
		case b.Type == "text":
			parts = append(parts, chatOutPart{Type: "text", Text: strings.Clone(b.Text)})
		case b.Type == "image" && msg.Role == "user":
			u, err := messagesImage(b.Source, bl)
			if err != nil {
				return err
			}
			parts = append(parts, chatOutPart{Type: "image_url", ImageURL: &chatImageURL{URL: u}})
		case b.Type == "tool_result" && msg.Role == "user":
			text, err := messagesText(b.Content, bl+".content")
			if err != nil {
				return err
			}
			out.Messages = append(out.Messages, chatOutMessage{Role: "tool", ToolCallID: strings.Clone(b.ToolUseID), Content: text})
		case b.Type == "tool_use" && msg.Role == "assistant":
			call := chatResponseCall{ID: strings.Clone(b.ID), Type: "function"}
			call.Function.Name = strings.Clone(b.Name)
			call.Function.Arguments = string(bytes.TrimSpace(b.Input))
			if call.Function.Arguments == "" {
				call.Function.Arguments = "{}"
			}
			calls = append(calls, call)
		case (b.Type == "thinking" || b.Type == "redacted_thinking") && msg.Role == "assistant":
			// Earlier turns' thinking: no chat field, and Anthropic itself
			// does not read it back.
		default:
			return unsupported(bl, "a %s content block of type %q is not supported by an OpenAI-style backend", msg.Role, b.Type)
		}
	}
	switch {
	case len(parts) == 0 && len(calls) == 0:
		return nil // only tool results
	case len(parts) == 1 && parts[0].Type == "text":
		out.Messages = append(out.Messages, chatOutMessage{Role: msg.Role, Content: parts[0].Text, ToolCalls: calls})
	case msg.Role == "assistant":
		// Assistant content is text only in OpenAI's chat API.
		var sb strings.Builder
		for _, p := range parts {
			sb.WriteString(p.Text)
		}
		m := chatOutMessage{Role: msg.Role, ToolCalls: calls}
		if sb.Len() > 0 {
			m.Content = sb.String()
		}
		out.Messages = append(out.Messages, m)
	default:
		out.Messages = append(out.Messages, chatOutMessage{Role: msg.Role, Content: parts})
	}
	return nil
}

// messagesImage is the image_url for an Anthropic image source: base64 data
// becomes a data URI, a URL is passed on (OpenAI fetches it).
func messagesImage(src *anthImageSource, loc string) (string, error) {
	if src == nil {
		return "", invalid(loc+".source", "an image block needs a source")
	}
	switch src.Type {
	case "base64":
		if src.MediaType == "" || src.Data == "" {
			return "", invalid(loc+".source", "a base64 image source needs media_type and data")
		}
		return "data:" + src.MediaType + ";base64," + src.Data, nil
	case "url":
		if !strings.HasPrefix(src.URL, "https://") && !strings.HasPrefix(src.URL, "http://") {
			return "", invalid(loc+".source.url", "an image URL must be http or https")
		}
		return strings.Clone(src.URL), nil
	}
	return "", unsupported(loc+".source.type", "image source type %q is not supported by an OpenAI-style backend", src.Type)
}

// messagesTools converts tools and tool_choice.
func messagesTools(req *msgRequest, out *chatOutRequest) error {
	for i := range req.Tools {
		t := &req.Tools[i]
		if t.Type != "" && t.Type != "custom" {
			return unsupported("tools["+strconv.Itoa(i)+"]", "tool type %q (an Anthropic server tool) is not supported by an OpenAI-style backend", t.Type)
		}
		if t.Name == "" {
			return invalid("tools["+strconv.Itoa(i)+"].name", "a tool needs a name")
		}
		out.Tools = append(out.Tools, chatOutTool{Type: "function", Function: chatOutFunction{
			Name: strings.Clone(t.Name), Description: strings.Clone(t.Description), Parameters: json.RawMessage(t.InputSchema),
		}})
	}
	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	switch tc.Type {
	case "auto":
		out.ToolChoice = "auto"
	case "any":
		out.ToolChoice = "required"
	case "none":
		out.ToolChoice = "none"
	case "tool":
		if tc.Name == "" {
			return invalid("tool_choice.name", "tool_choice of type tool needs a name")
		}
		var named chatNamedToolChoice
		named.Type = "function"
		named.Function.Name = strings.Clone(tc.Name)
		out.ToolChoice = named
	default:
		return invalid("tool_choice.type", "tool_choice.type must be auto, any, tool or none")
	}
	if tc.DisableParallelToolUse && len(out.Tools) > 0 {
		f := false
		out.ParallelToolCalls = &f
	}
	return nil
}
