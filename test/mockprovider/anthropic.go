package mockprovider

import (
	"encoding/json"
	"net/http"
)

// anthropicMembers are the top-level members of the Messages API
// (https://docs.anthropic.com/en/api/messages); others get "Extra inputs are not permitted".
var anthropicMembers = setOf("model", "messages", "max_tokens", "system", "metadata",
	"stop_sequences", "stream", "temperature", "top_k", "top_p", "tools", "tool_choice",
	"thinking", "service_tier", "container", "mcp_servers", "context_management")

func (c *call) serveAnthropic() {
	if c.s.opts.APIKey != "" {
		key := c.r.Header.Get("X-Api-Key")
		if key == "" {
			anthropicError(c.w, http.StatusUnauthorized, "", "x-api-key header is required")
			return
		}
		if !c.s.keyMatches(key) {
			anthropicError(c.w, http.StatusUnauthorized, "", "invalid x-api-key")
			return
		}
	}
	version := c.r.Header.Get("Anthropic-Version")
	if version == "" {
		anthropicError(c.w, http.StatusBadRequest, "", "anthropic-version: header is required")
		return
	}
	if c.s.opts.APIVersion != "" && version != c.s.opts.APIVersion {
		anthropicError(c.w, http.StatusBadRequest, "", "anthropic-version: invalid version "+version)
		return
	}
	p := c.s.opts.PathPrefix
	switch {
	case c.r.Method == http.MethodPost && c.r.URL.Path == p+"/messages":
		c.messages()
	case c.r.Method == http.MethodGet && c.r.URL.Path == p+"/models":
		c.anthropicModels()
	default:
		anthropicError(c.w, http.StatusNotFound, "", "Not Found")
	}
}

func (c *call) messages() {
	bad := func(msg string) { anthropicError(c.w, http.StatusBadRequest, "", msg) }
	m, ok := decodeObject(c.body)
	if !ok {
		bad("There was an error parsing the body of your request. Please make sure it is valid JSON.")
		return
	}
	if k := unknownMember(m, anthropicMembers); k != "" {
		bad(k + ": Extra inputs are not permitted")
		return
	}
	model, present, ok := rawString(m, "model")
	switch {
	case !ok:
		bad("model: Input should be a valid string")
		return
	case !present:
		bad("model: Field required")
		return
	case !c.s.modelAllowed(model):
		anthropicError(c.w, http.StatusNotFound, "", "model: "+model)
		return
	}
	maxTokens, present, ok := rawInt(m, "max_tokens")
	switch {
	case !ok:
		bad("max_tokens: Input should be a valid integer")
		return
	case !present:
		bad("max_tokens: Field required")
		return
	case maxTokens < 1:
		bad("max_tokens: Input should be greater than or equal to 1")
		return
	}
	raw, has := m["messages"]
	if !has || string(raw) == "null" {
		bad("messages: Field required")
		return
	}
	var msgs []chatMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		bad("messages: Input should be a valid list")
		return
	}
	if len(msgs) == 0 {
		bad("messages: at least one message is required")
		return
	}
	prompt := 0
	for i, msg := range msgs {
		switch msg.Role {
		case "user", "assistant":
		case "system":
			bad(`messages: Unexpected role "system". The Messages API accepts a top-level ` + "`system`" + ` parameter, not "system" as an input message role.`)
			return
		default:
			bad("messages." + itoa(i) + ".role: Input should be 'user' or 'assistant'")
			return
		}
		if len(msg.Content) == 0 || string(msg.Content) == "null" {
			bad("messages." + itoa(i) + ".content: Field required")
			return
		}
		if !c.anthropicBlocks(i, msg.Content) {
			return
		}
		prompt += textWords(msg.Content)
	}
	if sys, has := m["system"]; has {
		prompt += textWords(sys)
	}
	if raw, has := m["temperature"]; has && string(raw) != "null" {
		var t float64
		if json.Unmarshal(raw, &t) != nil || t < 0 || t > 1 {
			bad("temperature: Input should be less than or equal to 1")
			return
		}
	}
	stream, ok := rawBool(m, "stream")
	if !ok {
		bad("stream: Input should be a valid boolean")
		return
	}
	tool, ok := c.anthropicTools(m)
	if !ok {
		return
	}
	if tool != "" {
		c.anthropicToolUse(model, prompt, toolCall{id: "toolu_mock_" + itoa(int(c.id)), name: tool, args: c.s.opts.ToolArguments}, stream)
		return
	}
	text, cut := truncateWords(c.s.reply, maxTokens)
	stop := "end_turn"
	if cut {
		stop = "max_tokens"
	}
	output := countWords(text)
	id := "msg_mock_" + itoa(int(c.id))
	if !stream {
		writeJSON(c.w, http.StatusOK, map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": model,
			"content":       []any{map[string]any{"type": "text", "text": text}},
			"stop_reason":   stop,
			"stop_sequence": nil,
			"usage": map[string]any{
				"input_tokens": prompt, "output_tokens": output,
				"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
			},
		})
		return
	}
	// Event sequence and shapes follow https://docs.anthropic.com/en/docs/build-with-claude/streaming.
	sse := startSSE(c.w)
	sse.json("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{
			"input_tokens": prompt, "output_tokens": 1,
			"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
		},
	}})
	sse.json("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
		"content_block": map[string]any{"type": "text", "text": ""}})
	sse.json("ping", map[string]any{"type": "ping"})
	for _, p := range replyPieces(text) {
		sse.json("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": p}})
	}
	sse.json("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	sse.json("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": output}})
	sse.json("message_stop", map[string]any{"type": "message_stop"})
}

func (c *call) anthropicModels() {
	data := make([]any, 0, len(c.s.opts.Models))
	for _, id := range c.s.opts.Models {
		data = append(data, map[string]any{"type": "model", "id": id, "display_name": id, "created_at": "2024-10-22T00:00:00Z"})
	}
	resp := map[string]any{"data": data, "has_more": false, "first_id": nil, "last_id": nil}
	if len(c.s.opts.Models) > 0 {
		resp["first_id"] = c.s.opts.Models[0]
		resp["last_id"] = c.s.opts.Models[len(c.s.opts.Models)-1]
	}
	writeJSON(c.w, http.StatusOK, resp)
}

// anthropicToolUse answers a Messages request with a tool_use block (stop_reason
// "tool_use"), or streams it as content_block_start with an empty input followed by
// input_json_delta pieces of the arguments.
func (c *call) anthropicToolUse(model string, prompt int, tc toolCall, stream bool) {
	output := max(countWords(tc.args), 1)
	id := "msg_mock_" + itoa(int(c.id))
	usage := func(out int) map[string]any {
		return map[string]any{
			"input_tokens": prompt, "output_tokens": out,
			"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
		}
	}
	if !stream {
		writeJSON(c.w, http.StatusOK, map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": model,
			"content": []any{map[string]any{"type": "tool_use", "id": tc.id, "name": tc.name,
				"input": json.RawMessage(tc.args)}},
			"stop_reason":   "tool_use",
			"stop_sequence": nil,
			"usage":         usage(output),
		})
		return
	}
	sse := startSSE(c.w)
	sse.json("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": usage(1),
	}})
	sse.json("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
		"content_block": map[string]any{"type": "tool_use", "id": tc.id, "name": tc.name, "input": map[string]any{}}})
	for _, p := range argPieces(tc.args) {
		sse.json("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "input_json_delta", "partial_json": p}})
	}
	sse.json("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	sse.json("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": "tool_use", "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": output}})
	sse.json("message_stop", map[string]any{"type": "message_stop"})
}
