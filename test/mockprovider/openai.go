package mockprovider

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"
)

// created is a fixed timestamp so responses are byte-for-byte reproducible in golden tests.
const created = 1700000000

// Top-level members accepted by OpenAI's endpoints (https://platform.openai.com/docs/api-reference).
// Anything else is rejected the way OpenAI does: 400 "Unrecognized request argument supplied".
var (
	chatMembers = setOf("model", "messages", "audio", "frequency_penalty", "function_call",
		"functions", "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "metadata",
		"modalities", "n", "parallel_tool_calls", "prediction", "presence_penalty",
		"prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed",
		"service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice",
		"tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options")
	// Azure OpenAI accepts its "On Your Data" extension on chat completions.
	azureChatMembers  = union(chatMembers, setOf("data_sources"))
	completionMembers = setOf("model", "prompt", "best_of", "echo", "frequency_penalty",
		"logit_bias", "logprobs", "max_tokens", "n", "presence_penalty", "seed", "stop", "stream",
		"stream_options", "suffix", "temperature", "top_p", "user")
	embeddingMembers = setOf("model", "input", "dimensions", "encoding_format", "user")
	chatRoles        = setOf("system", "developer", "user", "assistant", "tool", "function")
)

func union(a, b map[string]bool) map[string]bool {
	m := make(map[string]bool, len(a)+len(b))
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func (c *call) serveOpenAI() {
	if c.s.opts.APIKey != "" {
		auth := c.r.Header.Get("Authorization")
		key, isBearer := strings.CutPrefix(auth, "Bearer ")
		if auth == "" || !isBearer {
			openAIError(c.w, http.StatusUnauthorized, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "", "", "")
			return
		}
		if !c.s.keyMatches(key) {
			// Real OpenAI echoes a masked key; the mock never echoes any part of it.
			openAIError(c.w, http.StatusUnauthorized, "Incorrect API key provided.", "", "", "invalid_api_key")
			return
		}
	}
	p := c.s.opts.PathPrefix
	switch {
	case c.r.Method == http.MethodPost && c.r.URL.Path == p+"/chat/completions":
		c.chat("", chatMembers)
	case c.r.Method == http.MethodPost && c.r.URL.Path == p+"/completions":
		c.completions("")
	case c.r.Method == http.MethodPost && c.r.URL.Path == p+"/embeddings":
		c.embeddings("")
	case c.r.Method == http.MethodGet && c.r.URL.Path == p+"/models":
		c.listModels()
	default:
		openAIError(c.w, http.StatusNotFound, "Invalid URL ("+c.r.Method+" "+c.r.URL.Path+")", "", "", "")
	}
}

func (c *call) serveAzure() {
	if c.s.opts.TokenCheck != nil {
		// Microsoft Entra ID: Azure OpenAI takes the token instead of a key.
		tok, ok := strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer ")
		if !ok || !c.s.opts.TokenCheck(tok) || c.r.Header.Get("Api-Key") != "" {
			azureError(c.w, http.StatusUnauthorized, "401", "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.")
			return
		}
	} else if c.s.opts.APIKey != "" {
		key := c.r.Header.Get("Api-Key")
		if key == "" {
			azureError(c.w, http.StatusUnauthorized, "401", "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.")
			return
		}
		if !c.s.keyMatches(key) {
			azureError(c.w, http.StatusUnauthorized, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.")
			return
		}
	}
	rest, ok := strings.CutPrefix(c.r.URL.Path, c.s.opts.PathPrefix+"/deployments/")
	deployment, op, _ := strings.Cut(rest, "/")
	if !ok || deployment == "" || c.r.Method != http.MethodPost ||
		(op != "chat/completions" && op != "completions" && op != "embeddings") {
		azureError(c.w, http.StatusNotFound, "404", "Resource not found")
		return
	}
	version := c.r.URL.Query().Get("api-version")
	if version == "" {
		azureError(c.w, http.StatusNotFound, "404", "Resource not found")
		return
	}
	if c.s.opts.APIVersion != "" && version != c.s.opts.APIVersion {
		azureError(c.w, http.StatusBadRequest, "BadRequest", "API version not supported")
		return
	}
	if !c.s.modelAllowed(deployment) {
		azureError(c.w, http.StatusNotFound, "DeploymentNotFound", "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.")
		return
	}
	switch op {
	case "chat/completions":
		c.chat(deployment, azureChatMembers)
	case "completions":
		c.completions(deployment)
	default:
		c.embeddings(deployment)
	}
}

// parseOpenAIBody decodes the body and applies the checks every OpenAI endpoint shares.
// deployment is the Azure deployment ("" for OpenAI, where `model` is then required).
// It returns the model to report in the response.
func (c *call) parseOpenAIBody(allowed map[string]bool, deployment string) (map[string]json.RawMessage, string, bool) {
	m, ok := decodeObject(c.body)
	if !ok {
		openAIError(c.w, http.StatusBadRequest, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", "", "", "")
		return nil, "", false
	}
	if bad := unknownMember(m, allowed); bad != "" {
		openAIError(c.w, http.StatusBadRequest, "Unrecognized request argument supplied: "+bad, "", "", "")
		return nil, "", false
	}
	model, present, ok := rawString(m, "model")
	if !ok {
		openAIError(c.w, http.StatusBadRequest, "Invalid type for 'model': expected a string.", "", "model", "invalid_type")
		return nil, "", false
	}
	if deployment != "" {
		// Azure routes by deployment; a body model is accepted and ignored.
		return m, deployment, true
	}
	if !present || model == "" {
		openAIError(c.w, http.StatusBadRequest, "you must provide a model parameter", "", "", "")
		return nil, "", false
	}
	if !c.s.modelAllowed(model) {
		openAIError(c.w, http.StatusNotFound, "The model `"+model+"` does not exist or you do not have access to it.", "", "", "model_not_found")
		return nil, "", false
	}
	return m, model, true
}

// streamFlags validates `stream` and `stream_options` and reports whether usage was asked for.
func (c *call) streamFlags(m map[string]json.RawMessage) (stream, includeUsage, ok bool) {
	stream, ok = rawBool(m, "stream")
	if !ok {
		openAIError(c.w, http.StatusBadRequest, "Invalid type for 'stream': expected a boolean.", "", "stream", "invalid_type")
		return false, false, false
	}
	raw, has := m["stream_options"]
	if !has || string(raw) == "null" {
		return stream, false, true
	}
	if !stream {
		openAIError(c.w, http.StatusBadRequest, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "", "stream_options", "invalid_value")
		return false, false, false
	}
	var so struct {
		IncludeUsage bool `json:"include_usage"`
	}
	if err := json.Unmarshal(raw, &so); err != nil {
		openAIError(c.w, http.StatusBadRequest, "Invalid type for 'stream_options': expected an object.", "", "stream_options", "invalid_type")
		return false, false, false
	}
	return true, so.IncludeUsage, true
}

// maxTokens returns the output limit and whether it was valid.
func (c *call) maxTokens(m map[string]json.RawMessage, keys ...string) (int, bool) {
	limit := 0
	for _, k := range keys {
		n, present, ok := rawInt(m, k)
		if !ok || (present && n < 1) {
			openAIError(c.w, http.StatusBadRequest, "Invalid '"+k+"': expected a positive integer.", "", k, "invalid_value")
			return 0, false
		}
		if present {
			limit = n
		}
	}
	return limit, true
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// textWords counts words of an OpenAI/Anthropic content value: a string or an array of parts
// whose text parts carry `text`.
func textWords(raw json.RawMessage) int {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return countWords(s)
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return 0
	}
	n := 0
	for _, p := range parts {
		n += countWords(p.Text)
	}
	return n
}

func (c *call) chat(deployment string, allowed map[string]bool) {
	m, model, ok := c.parseOpenAIBody(allowed, deployment)
	if !ok {
		return
	}
	raw, has := m["messages"]
	if !has || string(raw) == "null" {
		openAIError(c.w, http.StatusBadRequest, "Missing required parameter: 'messages'.", "", "messages", "missing_required_parameter")
		return
	}
	var msgs []chatMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		openAIError(c.w, http.StatusBadRequest, "Invalid type for 'messages': expected an array of objects.", "", "messages", "invalid_type")
		return
	}
	if len(msgs) == 0 {
		openAIError(c.w, http.StatusBadRequest, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "", "messages", "empty_array")
		return
	}
	prompt := 0
	for i, msg := range msgs {
		if !chatRoles[msg.Role] {
			openAIError(c.w, http.StatusBadRequest, "Invalid value: '"+msg.Role+"'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", "", "messages["+itoa(i)+"].role", "invalid_value")
			return
		}
		prompt += textWords(msg.Content)
	}
	if !c.openAIToolMessages(raw) {
		return
	}
	tool, ok := c.openAITools(m)
	if !ok {
		return
	}
	stream, includeUsage, ok := c.streamFlags(m)
	if !ok {
		return
	}
	limit, ok := c.maxTokens(m, "max_tokens", "max_completion_tokens")
	if !ok {
		return
	}
	if tool != "" {
		c.openAIToolCall(model, prompt, toolCall{id: "call_mock_" + itoa(int(c.id)), name: tool, args: c.s.opts.ToolArguments}, stream, includeUsage)
		return
	}
	text, cut := truncateWords(c.s.reply, limit)
	finish := "stop"
	if cut {
		finish = "length"
	}
	completion := countWords(text)
	usage := map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
	id := "chatcmpl-mock-" + itoa(int(c.id))
	if !stream {
		writeJSON(c.w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model,
			"choices": []any{map[string]any{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": text, "refusal": nil},
				"logprobs":      nil,
				"finish_reason": finish,
			}},
			"usage":              usage,
			"system_fingerprint": "fp_mock_" + c.s.opts.Name,
		})
		return
	}
	sse := startSSE(c.w)
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"system_fingerprint": "fp_mock_" + c.s.opts.Name,
			"choices":            []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
	}
	sse.json("", chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil))
	for _, p := range replyPieces(text) {
		sse.json("", chunk(map[string]any{"content": p}, nil))
	}
	sse.json("", chunk(map[string]any{}, finish))
	if includeUsage {
		sse.json("", map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"system_fingerprint": "fp_mock_" + c.s.opts.Name,
			"choices":            []any{}, "usage": usage,
		})
	}
	sse.event("", []byte("[DONE]"))
}

func (c *call) completions(deployment string) {
	m, model, ok := c.parseOpenAIBody(completionMembers, deployment)
	if !ok {
		return
	}
	raw, has := m["prompt"]
	if !has || string(raw) == "null" {
		openAIError(c.w, http.StatusBadRequest, "Missing required parameter: 'prompt'.", "", "prompt", "missing_required_parameter")
		return
	}
	prompt, ok := inputTokens(raw)
	if !ok {
		openAIError(c.w, http.StatusBadRequest, "Invalid type for 'prompt': expected a string, an array of strings or an array of tokens.", "", "prompt", "invalid_type")
		return
	}
	stream, includeUsage, ok := c.streamFlags(m)
	if !ok {
		return
	}
	limit, ok := c.maxTokens(m, "max_tokens")
	if !ok {
		return
	}
	text, cut := truncateWords(c.s.reply, limit)
	finish := "stop"
	if cut {
		finish = "length"
	}
	completion := countWords(text)
	usage := map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
	id := "cmpl-mock-" + itoa(int(c.id))
	resp := func(text string, finish any) map[string]any {
		return map[string]any{
			"id": id, "object": "text_completion", "created": created, "model": model,
			"choices": []any{map[string]any{"text": text, "index": 0, "logprobs": nil, "finish_reason": finish}},
		}
	}
	if !stream {
		r := resp(text, finish)
		r["usage"] = usage
		writeJSON(c.w, http.StatusOK, r)
		return
	}
	sse := startSSE(c.w)
	pieces := replyPieces(text)
	for i, p := range pieces {
		var f any
		if i == len(pieces)-1 {
			f = finish
		}
		sse.json("", resp(p, f))
	}
	if includeUsage {
		sse.json("", map[string]any{
			"id": id, "object": "text_completion", "created": created, "model": model,
			"choices": []any{}, "usage": usage,
		})
	}
	sse.event("", []byte("[DONE]"))
}

// inputTokens counts an embeddings `input` / completions `prompt`: a string, an array of
// strings, an array of token ids or an array of token-id arrays.
func inputTokens(raw json.RawMessage) (int, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return countWords(s), true
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil && len(ss) > 0 {
		n := 0
		for _, x := range ss {
			n += countWords(x)
		}
		return n, true
	}
	var toks []int
	if json.Unmarshal(raw, &toks) == nil && len(toks) > 0 {
		return len(toks), true
	}
	var nested [][]int
	if json.Unmarshal(raw, &nested) == nil && len(nested) > 0 {
		n := 0
		for _, t := range nested {
			n += len(t)
		}
		return n, true
	}
	return 0, false
}

// inputCount is the number of embeddings to return for `input`.
func inputCount(raw json.RawMessage) int {
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) != nil {
		return 1
	}
	var tok int
	if len(arr) > 0 && json.Unmarshal(arr[0], &tok) == nil {
		return 1 // one array of token ids is one input
	}
	return len(arr)
}

func (c *call) embeddings(deployment string) {
	m, model, ok := c.parseOpenAIBody(embeddingMembers, deployment)
	if !ok {
		return
	}
	raw, has := m["input"]
	if !has || string(raw) == "null" {
		openAIError(c.w, http.StatusBadRequest, "Missing required parameter: 'input'.", "", "input", "missing_required_parameter")
		return
	}
	prompt, ok := inputTokens(raw)
	if !ok {
		openAIError(c.w, http.StatusBadRequest, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "", "", "")
		return
	}
	format, _, ok := rawString(m, "encoding_format")
	if !ok || (format != "" && format != "float" && format != "base64") {
		openAIError(c.w, http.StatusBadRequest, "Invalid value for 'encoding_format': expected 'float' or 'base64'.", "", "encoding_format", "invalid_value")
		return
	}
	dims, present, ok := rawInt(m, "dimensions")
	if !ok || (present && dims < 1) {
		openAIError(c.w, http.StatusBadRequest, "Invalid 'dimensions': expected a positive integer.", "", "dimensions", "invalid_value")
		return
	}
	if !present {
		dims = 8
	}
	n := inputCount(raw)
	data := make([]any, n)
	for i := range n {
		vec := make([]float32, dims)
		for j := range vec {
			vec[j] = float32((i+1)*(j+1)) / 100
		}
		var emb any = vec
		if format == "base64" {
			b := make([]byte, 4*dims)
			for j, v := range vec {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
			}
			emb = base64.StdEncoding.EncodeToString(b)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"object": "list", "data": data, "model": model,
		"usage": map[string]any{"prompt_tokens": prompt, "total_tokens": prompt},
	})
}

func (c *call) listModels() {
	data := make([]any, 0, len(c.s.opts.Models))
	for _, id := range c.s.opts.Models {
		data = append(data, map[string]any{"id": id, "object": "model", "created": created, "owned_by": c.s.opts.Name})
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// openAIToolCall answers a chat request with a call of tool, in OpenAI's shapes: one
// message with tool_calls and finish_reason "tool_calls", or a stream whose first tool delta
// carries the id, type and name and whose later deltas carry pieces of the arguments.
func (c *call) openAIToolCall(model string, prompt int, tc toolCall, stream, includeUsage bool) {
	completion := max(countWords(tc.args), 1)
	usage := map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
	id := "chatcmpl-mock-" + itoa(int(c.id))
	if !stream {
		writeJSON(c.w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model,
			"choices": []any{map[string]any{
				"index": 0,
				"message": map[string]any{"role": "assistant", "content": nil, "refusal": nil, "tool_calls": []any{
					map[string]any{"id": tc.id, "type": "function", "function": map[string]any{"name": tc.name, "arguments": tc.args}},
				}},
				"logprobs":      nil,
				"finish_reason": "tool_calls",
			}},
			"usage":              usage,
			"system_fingerprint": "fp_mock_" + c.s.opts.Name,
		})
		return
	}
	sse := startSSE(c.w)
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"system_fingerprint": "fp_mock_" + c.s.opts.Name,
			"choices":            []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
	}
	sse.json("", chunk(map[string]any{"role": "assistant", "content": nil, "refusal": nil, "tool_calls": []any{
		map[string]any{"index": 0, "id": tc.id, "type": "function", "function": map[string]any{"name": tc.name, "arguments": ""}},
	}}, nil))
	for _, p := range argPieces(tc.args) {
		sse.json("", chunk(map[string]any{"tool_calls": []any{
			map[string]any{"index": 0, "function": map[string]any{"arguments": p}},
		}}, nil))
	}
	sse.json("", chunk(map[string]any{}, "tool_calls"))
	if includeUsage {
		sse.json("", map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"system_fingerprint": "fp_mock_" + c.s.opts.Name,
			"choices":            []any{}, "usage": usage,
		})
	}
	sse.event("", []byte("[DONE]"))
}
