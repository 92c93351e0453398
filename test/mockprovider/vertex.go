package mockprovider

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// Google Vertex AI: Gemini (generateContent, streamGenerateContent?alt=sse,
// :predict for text-embedding models) and Claude (rawPredict,
// streamRawPredict), each under
// /v1/projects/{project}/locations/{region}/publishers/{google|anthropic}/models/{model}:{method}.
// The mock checks the exact path (project, region, publisher, method), the
// bearer against Options.TokenCheck (tokens its fake token endpoint issued),
// and the body as the service does: unknown members are refused.

const (
	SchemaVertexGemini    Schema = "gcp_vertex_gemini"
	SchemaVertexAnthropic Schema = "gcp_vertex_anthropic"
)

// googleError writes Google's error envelope.
func googleError(w http.ResponseWriter, status int, gstatus, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": message, "status": gstatus}})
}

func googleStatus(status int) string {
	switch status {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 503:
		return "UNAVAILABLE"
	}
	return "INTERNAL"
}

var geminiMembers = setOf("contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings", "labels", "cachedContent")

// serveVertex checks the credential and the path, then answers the method.
func (c *call) serveVertex() {
	auth, ok := strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer ")
	if !ok || auth == "" || c.s.opts.TokenCheck != nil && !c.s.opts.TokenCheck(auth) {
		googleError(c.w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token.")
		return
	}
	publisher := "google"
	if c.s.opts.Schema == SchemaVertexAnthropic {
		publisher = "anthropic"
	}
	base := c.s.opts.PathPrefix + "/projects/" + c.s.opts.Project + "/locations/" + c.s.opts.Region + "/publishers/" + publisher + "/models/"
	rest, ok := strings.CutPrefix(c.r.URL.Path, base)
	model, method, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || model == "" || strings.Contains(model, "/") || c.r.Method != http.MethodPost {
		googleError(c.w, http.StatusNotFound, "NOT_FOUND", "The requested URL was not found on this server.")
		return
	}
	if !c.s.modelAllowed(model) {
		googleError(c.w, http.StatusNotFound, "NOT_FOUND", "Publisher Model `"+model+"` was not found or your project does not have access to it.")
		return
	}
	switch {
	case publisher == "anthropic" && (method == "rawPredict" || method == "streamRawPredict"):
		c.vertexClaude(model, method == "streamRawPredict")
	case publisher == "google" && method == "generateContent" && c.r.URL.RawQuery == "":
		c.gemini(model, false)
	case publisher == "google" && method == "streamGenerateContent" && c.r.URL.RawQuery == "alt=sse":
		c.gemini(model, true)
	case publisher == "google" && method == "predict" && strings.HasPrefix(model, "text-embedding") && c.r.URL.RawQuery == "":
		c.vertexEmbed(model)
	default:
		googleError(c.w, http.StatusNotFound, "NOT_FOUND", "The requested URL was not found on this server.")
	}
}

// vertexClaude: the Messages body with anthropic_version and without model;
// answered by the Anthropic mock's messages handler.
func (c *call) vertexClaude(model string, stream bool) {
	m, ok := decodeObject(c.body)
	if !ok {
		anthropicError(c.w, http.StatusBadRequest, "", "There was an error parsing the body of your request.")
		return
	}
	if v, _, _ := rawString(m, "anthropic_version"); v != "vertex-2023-10-16" {
		anthropicError(c.w, http.StatusBadRequest, "", "anthropic_version: Input should be 'vertex-2023-10-16'")
		return
	}
	if _, has := m["model"]; has {
		anthropicError(c.w, http.StatusBadRequest, "", "model: Extra inputs are not permitted")
		return
	}
	if s, _ := rawBool(m, "stream"); s != stream {
		anthropicError(c.w, http.StatusBadRequest, "", "stream does not match the method")
		return
	}
	delete(m, "anthropic_version")
	m["model"], _ = json.Marshal(model)
	c.body, _ = json.Marshal(m)
	c.messages()
}

type geminiContent struct {
	Role  string `json:"role"`
	Parts []struct {
		Text             string          `json:"text"`
		InlineData       json.RawMessage `json:"inlineData"`
		FunctionCall     json.RawMessage `json:"functionCall"`
		FunctionResponse json.RawMessage `json:"functionResponse"`
	} `json:"parts"`
}

func (c *call) gemini(model string, stream bool) {
	bad := func(msg string) { googleError(c.w, http.StatusBadRequest, "INVALID_ARGUMENT", msg) }
	m, ok := decodeObject(c.body)
	if !ok {
		bad("Invalid JSON payload received.")
		return
	}
	for k := range m {
		if !geminiMembers[k] {
			bad(`Invalid JSON payload received. Unknown name "` + k + `": Cannot find field.`)
			return
		}
	}
	var contents []geminiContent
	if err := json.Unmarshal(m["contents"], &contents); err != nil || len(contents) == 0 {
		bad("Unable to submit request because it must include at least one parts field.")
		return
	}
	prompt := 0
	for i, ct := range contents {
		if ct.Role != "user" && ct.Role != "model" {
			bad("Please use a valid role: user, model. (contents[" + itoa(i) + "])")
			return
		}
		if len(ct.Parts) == 0 {
			bad("Unable to submit request because it has an empty contents field.")
			return
		}
		for _, p := range ct.Parts {
			prompt += countWords(p.Text)
		}
	}
	thinking, msg := geminiThinking(m["generationConfig"])
	if msg != "" {
		bad(msg)
		return
	}
	reply := c.s.reply
	completion := countWords(reply)
	usage := map[string]any{"promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion}
	// With includeThoughts the model's thought summary comes first, in
	// parts marked "thought": true, and its tokens are reported apart
	// (thoughtsTokenCount, part of totalTokenCount).
	var thought string
	if thinking {
		thought = "Thinking about: " + reply
		usage["thoughtsTokenCount"] = countWords(thought)
		usage["totalTokenCount"] = prompt + completion + countWords(thought)
	}
	if !stream {
		parts := []any{map[string]any{"text": reply}}
		if thinking {
			parts = append([]any{map[string]any{"text": thought, "thought": true}}, parts...)
		}
		writeJSON(c.w, http.StatusOK, map[string]any{
			"candidates":    []any{map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}},
			"usageMetadata": usage, "modelVersion": model, "responseId": "vertex-" + itoa(int(c.id)),
		})
		return
	}
	w := startSSE(c.w)
	if thinking {
		ev := map[string]any{"candidates": []any{map[string]any{"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": thought, "thought": true}}}}},
			"modelVersion": model, "responseId": "vertex-" + itoa(int(c.id))}
		b, _ := json.Marshal(ev)
		_, _ = w.w.Write(append(append([]byte("data: "), b...), "\r\n\r\n"...))
	}
	pieces := replyPieces(reply)
	for i, p := range pieces {
		ev := map[string]any{"candidates": []any{map[string]any{"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": p}}}}},
			"modelVersion": model, "responseId": "vertex-" + itoa(int(c.id))}
		if i == len(pieces)-1 {
			ev["candidates"].([]any)[0].(map[string]any)["finishReason"] = "STOP"
			ev["usageMetadata"] = usage
		}
		b, _ := json.Marshal(ev)
		// Vertex ends SSE lines with CRLF.
		_, _ = w.w.Write(append(append([]byte("data: "), b...), "\r\n\r\n"...))
		if w.f != nil {
			w.f.Flush()
		}
	}
}

func (c *call) vertexEmbed(model string) {
	var req struct {
		Instances []struct {
			Content string `json:"content"`
		} `json:"instances"`
		Parameters *struct {
			OutputDimensionality int `json:"outputDimensionality"`
		} `json:"parameters"`
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.Instances) == 0 {
		googleError(c.w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	dims := 3
	if req.Parameters != nil && req.Parameters.OutputDimensionality > 0 {
		dims = req.Parameters.OutputDimensionality
	}
	preds := make([]any, len(req.Instances))
	for i, in := range req.Instances {
		values := make([]float64, dims)
		for j := range values {
			values[j] = float64(i+1) / float64(j+2)
		}
		preds[i] = map[string]any{"embeddings": map[string]any{"values": values, "statistics": map[string]any{"token_count": countWords(in.Content), "truncated": false}}}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"predictions": preds, "metadata": map[string]any{"billableCharacterCount": len(c.body)}})
}

// geminiThinking checks generationConfig's structured output members and
// reads generationConfig.thinkingConfig as Vertex does
// (unknown members refused, thinkingBudget an integer, includeThoughts a
// boolean) and reports whether thought summaries were asked for; msg is
// the INVALID_ARGUMENT message of a bad one.
func geminiThinking(raw json.RawMessage) (include bool, msg string) {
	if len(raw) == 0 {
		return false, ""
	}
	var gc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &gc); err != nil {
		return false, "Invalid JSON payload received. generationConfig must be an object."
	}
	// responseJsonSchema needs responseMimeType and excludes responseSchema
	// (GenerationConfig.responseJsonSchema, aiplatform v1).
	if _, ok := gc["responseJsonSchema"]; ok {
		if _, both := gc["responseSchema"]; both {
			return false, "responseSchema and responseJsonSchema cannot both be set."
		}
		if mt, _ := json.Marshal("application/json"); string(gc["responseMimeType"]) != string(mt) {
			return false, "responseMimeType must be application/json when responseJsonSchema is set."
		}
	}
	tc, ok := gc["thinkingConfig"]
	if !ok {
		return false, ""
	}
	var cfg struct {
		ThinkingBudget  *int32 `json:"thinkingBudget"`
		IncludeThoughts *bool  `json:"includeThoughts"`
		ThinkingLevel   string `json:"thinkingLevel"`
	}
	dec := json.NewDecoder(bytes.NewReader(tc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return false, "Invalid JSON payload received. Unknown name or bad value in generationConfig.thinkingConfig: " + err.Error()
	}
	return cfg.IncludeThoughts != nil && *cfg.IncludeThoughts, ""
}
