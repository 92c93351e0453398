package mockprovider

import (
	"encoding/json"
	"net/http"
	"regexp"
)

// Tool calling. Both APIs are validated as strictly as the rest of the mock (a gateway that
// sends OpenAI's tool shape to Anthropic, or drops a tool_call_id, gets the provider's 400),
// and, when Options.ToolArguments is set, a request that offers tools is answered with a call
// of one of them, so a test can check tool calls end to end, streamed or not.

// toolNameRE is the function-name rule both providers document.
var toolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// toolCall is the call the mock makes.
type toolCall struct {
	id, name, args string
}

// openAITools validates OpenAI's `tools` and `tool_choice` and returns the tool to call
// ("" when no tool is offered, tool_choice is "none" or ToolArguments is unset).
func (c *call) openAITools(m map[string]json.RawMessage) (string, bool) {
	bad := func(param, msg string) (string, bool) {
		openAIError(c.w, http.StatusBadRequest, msg, "", param, "invalid_value")
		return "", false
	}
	raw, has := m["tools"]
	if !has || string(raw) == "null" {
		if tc, ok := m["tool_choice"]; ok && string(tc) != "null" {
			return bad("tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
		}
		return "", true
	}
	var tools []struct {
		Type     string `json:"type"`
		Function *struct {
			Name       string          `json:"name"`
			Parameters json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &tools); err != nil {
		return bad("tools", "Invalid type for 'tools': expected an array of objects.")
	}
	names := map[string]bool{}
	for i, t := range tools {
		p := "tools[" + itoa(i) + "]"
		if t.Type != "function" {
			return bad(p+".type", "Invalid value: '"+t.Type+"'. Supported values are: 'function' and 'custom'.")
		}
		if t.Function == nil {
			return bad(p+".function", "Missing required parameter: '"+p+".function'.")
		}
		if !toolNameRE.MatchString(t.Function.Name) {
			return bad(p+".function.name", "Invalid '"+p+".function.name': string does not match pattern.")
		}
		if len(t.Function.Parameters) > 0 && t.Function.Parameters[0] != '{' && string(t.Function.Parameters) != "null" {
			return bad(p+".function.parameters", "Invalid type for '"+p+".function.parameters': expected an object.")
		}
		names[t.Function.Name] = true
	}
	choice := ""
	if tc, ok := m["tool_choice"]; ok && string(tc) != "null" {
		var s string
		var named struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		switch {
		case json.Unmarshal(tc, &s) == nil:
			if s != "none" && s != "auto" && s != "required" {
				return bad("tool_choice", "Invalid value: '"+s+"'. Supported values are: 'none', 'auto', and 'required'.")
			}
			if s == "none" {
				return "", true
			}
		case json.Unmarshal(tc, &named) == nil && named.Type == "function" && names[named.Function.Name]:
			choice = named.Function.Name
		default:
			return bad("tool_choice", "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a function of 'tools'.")
		}
	}
	if c.s.opts.ToolArguments == "" || len(tools) == 0 {
		return "", true
	}
	if choice == "" {
		choice = tools[0].Function.Name
	}
	return choice, true
}

// openAIToolMessages checks the tool-related members of chat messages: a tool message must
// answer a call id, and an assistant's tool_calls must be complete function calls.
func (c *call) openAIToolMessages(raw json.RawMessage) bool {
	var msgs []struct {
		Role       string `json:"role"`
		ToolCallID string `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	}
	if json.Unmarshal(raw, &msgs) != nil {
		return true // the caller already reported the type error
	}
	for i, msg := range msgs {
		p := "messages[" + itoa(i) + "]"
		if msg.Role == "tool" && msg.ToolCallID == "" {
			openAIError(c.w, http.StatusBadRequest, "Missing required parameter: '"+p+".tool_call_id'.", "", p+".tool_call_id", "missing_required_parameter")
			return false
		}
		for j, tc := range msg.ToolCalls {
			q := p + ".tool_calls[" + itoa(j) + "]"
			if tc.ID == "" || tc.Type != "function" || tc.Function.Name == "" {
				openAIError(c.w, http.StatusBadRequest, "Invalid '"+q+"': expected a function call with an id.", "", q, "invalid_value")
				return false
			}
		}
	}
	return true
}

// anthropicTools validates Anthropic's `tools` and `tool_choice` and returns the tool to call.
func (c *call) anthropicTools(m map[string]json.RawMessage) (string, bool) {
	bad := func(msg string) (string, bool) {
		anthropicError(c.w, http.StatusBadRequest, "", msg)
		return "", false
	}
	raw, has := m["tools"]
	if !has || string(raw) == "null" {
		return "", true
	}
	var tools []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &tools); err != nil {
		return bad("tools: Input should be a valid list")
	}
	allowed := setOf("name", "description", "input_schema", "type", "cache_control")
	names := map[string]bool{}
	first := ""
	for i, t := range tools {
		p := "tools." + itoa(i)
		if k := unknownMember(t, allowed); k != "" {
			return bad(p + "." + k + ": Extra inputs are not permitted")
		}
		name, _, ok := rawString(t, "name")
		if !ok || !toolNameRE.MatchString(name) {
			return bad(p + ".name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'")
		}
		var schema map[string]json.RawMessage
		if s, has := t["input_schema"]; !has || json.Unmarshal(s, &schema) != nil || schema == nil {
			return bad(p + ".input_schema: Field required")
		}
		if typ, _, _ := rawString(schema, "type"); typ != "object" {
			return bad(p + ".input_schema.type: Input should be 'object'")
		}
		names[name] = true
		if first == "" {
			first = name
		}
	}
	choice := first
	if tc, ok := m["tool_choice"]; ok && string(tc) != "null" {
		var ch struct {
			Type                   string `json:"type"`
			Name                   string `json:"name"`
			DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
		}
		if json.Unmarshal(tc, &ch) != nil {
			return bad("tool_choice: Input should be a valid dictionary")
		}
		switch ch.Type {
		case "auto", "any":
		case "none":
			choice = ""
		case "tool":
			if !names[ch.Name] {
				return bad("tool_choice.name: Tool '" + ch.Name + "' not found in tools")
			}
			choice = ch.Name
		default:
			return bad("tool_choice.type: Input tag '" + ch.Type + "' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")
		}
	}
	if c.s.opts.ToolArguments == "" {
		return "", true
	}
	return choice, true
}

// anthropicBlocks validates the content blocks of Anthropic messages (a string content is
// always valid): known types with their required members.
func (c *call) anthropicBlocks(i int, raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return true
	}
	var blocks []map[string]json.RawMessage
	if json.Unmarshal(raw, &blocks) != nil {
		anthropicError(c.w, http.StatusBadRequest, "", "messages."+itoa(i)+".content: Input should be a valid list")
		return false
	}
	for j, b := range blocks {
		p := "messages." + itoa(i) + ".content." + itoa(j)
		typ, _, _ := rawString(b, "type")
		missing := ""
		switch typ {
		case "text":
			if _, ok := b["text"]; !ok {
				missing = "text"
			}
		case "image", "document":
			if _, ok := b["source"]; !ok {
				missing = "source"
			}
		case "tool_use":
			for _, k := range []string{"id", "name", "input"} {
				if _, ok := b[k]; !ok && missing == "" {
					missing = k
				}
			}
			if in, ok := b["input"]; ok && (len(in) == 0 || in[0] != '{') {
				anthropicError(c.w, http.StatusBadRequest, "", p+".tool_use.input: Input should be a valid dictionary")
				return false
			}
		case "tool_result":
			if _, ok := b["tool_use_id"]; !ok {
				missing = "tool_use_id"
			}
		default:
			anthropicError(c.w, http.StatusBadRequest, "", p+": Input tag '"+typ+"' found using 'type' does not match any of the expected tags")
			return false
		}
		if missing != "" {
			anthropicError(c.w, http.StatusBadRequest, "", p+"."+typ+"."+missing+": Field required")
			return false
		}
	}
	return true
}

// pieces splits tool-call arguments into stream deltas the way the APIs do: a few
// characters at a time, so a client must concatenate them.
func argPieces(args string) []string {
	const n = 7
	var out []string
	for len(args) > n {
		out = append(out, args[:n])
		args = args[n:]
	}
	return append(out, args)
}
