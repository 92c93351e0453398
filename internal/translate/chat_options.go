package translate

import (
	"bytes"
	"strings"
)

// Chat completions options every translator to another schema reads the
// same way: which parameters carry their default (no-op) value, and the
// tool_choice forms.

// isDefaultParam reports whether a top-level chat completions parameter a
// translator has no mapping for carries its default (no-op) value, so it
// can be dropped without changing the request's meaning. Unknown
// parameters are default only when null.
func isDefaultParam(key string, raw []byte) bool {
	if isNull(raw) {
		return true
	}
	switch key {
	case "n":
		return numberIs(raw, 1)
	case "logprobs", "store":
		return string(raw) == "false"
	case "parallel_tool_calls":
		return string(raw) == "true"
	case "top_logprobs", "frequency_penalty", "presence_penalty":
		return numberIs(raw, 0)
	case "logit_bias", "metadata":
		return isEmptyObject(raw)
	case "response_format":
		var rf struct {
			Type string `json:"type"`
		}
		return jsonAPI.Unmarshal(raw, &rf) == nil && rf.Type == "text"
	case "modalities":
		var mods []string
		return jsonAPI.Unmarshal(raw, &mods) == nil && len(mods) == 1 && mods[0] == "text"
	case "service_tier":
		s, _ := rawString(raw)
		return s == "auto"
	}
	return false
}

// toolChoice is the client's tool_choice: mode "" (absent or null),
// "auto", "none", "required", or "function" with the function's name.
type toolChoice struct{ mode, name string }

// parseToolChoice reads tool_choice; who names the target in errors.
func parseToolChoice(raw rawJSON, who string) (toolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return toolChoice{}, nil
	}
	if raw[0] == '"' {
		s, _ := rawString(raw)
		switch s {
		case "auto", "none", "required":
			return toolChoice{mode: s}, nil
		}
		return toolChoice{}, invalid("tool_choice", "tool_choice %q is not one of none, auto, required", s)
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := jsonAPI.Unmarshal(raw, &named); err != nil {
		return toolChoice{}, invalid("tool_choice", "tool_choice must be a string or an object")
	}
	if named.Type != "function" {
		return toolChoice{}, unsupported("tool_choice", "tool_choice type %q is not supported by %s", named.Type, who)
	}
	if named.Function.Name == "" {
		return toolChoice{}, invalid("tool_choice.function.name", "tool_choice function name is required")
	}
	return toolChoice{mode: "function", name: named.Function.Name}, nil
}

// contentParts splits OpenAI message content into its string or
// content-part form (translators that decode messages: Gemini).
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
			return "", unsupported(loc.part(j, ""), "content part type %q is not supported here", p.Type)
		}
		sb.WriteString(p.Text)
	}
	return sb.String(), nil
}
