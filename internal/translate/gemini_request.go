package translate

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/aigw/aigw/internal/bodyscan"
)

// OpenAI chat completions request -> Gemini generateContent request: the
// parameter policy and the conversion of messages, tools and options.

// geminiChatRequest is the chat request with the members only Gemini maps.
type geminiChatRequest struct {
	chatRequest
	N                *int64   `json:"n"`
	Seed             *int64   `json:"seed"`
	PresencePenalty  *float64 `json:"presence_penalty"`
	FrequencyPenalty *float64 `json:"frequency_penalty"`
	ResponseFormat   *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Schema rawJSON `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
	ReasoningEffort string `json:"reasoning_effort"`
}

// geminiThinkingBudgets maps reasoning_effort to a thinking budget in tokens.
var geminiThinkingBudgets = map[string]int64{"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}

func (g *geminiTranslator) RequestBody(body []byte) (RequestResult, error) {
	return g.request(body, forEachMember)
}

// RequestBodyScanned is RequestBody for a body the router phase validated
// (bodyscan.Recall vouched for these bytes): its parameters are walked,
// not validated again.
func (g *geminiTranslator) RequestBodyScanned(body []byte, _ bodyscan.Findings) (RequestResult, error) {
	return g.request(body, trustedMembers)
}

func (g *geminiTranslator) request(body []byte, walk memberWalk) (RequestResult, error) {
	if err := walk(body, geminiParamCheck(body)); err != nil {
		if err == errBadJSON {
			return RequestResult{}, invalid("", "%s", err.Error())
		}
		return RequestResult{}, err
	}
	var req geminiChatRequest
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &req); err != nil {
		return RequestResult{}, invalid("", "request body does not match the chat completions schema: %s", firstLine(err.Error()))
	}
	model := g.target.ResolveModel(req.Model)
	if model == "" {
		return RequestResult{}, invalid("model", "model is required")
	}
	method := "generateContent"
	if req.Stream {
		method = "streamGenerateContent"
	}
	path, err := g.base.modelURL(model, method)
	if err != nil {
		return RequestResult{}, err
	}
	if req.Stream {
		path += "?alt=sse"
	}
	out, err := buildGeminiRequest(&req)
	if err != nil {
		return RequestResult{}, err
	}
	buf, encoded, err := encodeBody(out, len(body)+len(body)/8+256)
	if err != nil {
		return RequestResult{}, invalid("", "cannot encode the gemini request: %s", firstLine(err.Error()))
	}
	g.model = strings.Clone(model)
	g.includeUsage = req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	res := RequestResult{
		Path:          path,
		Headers:       []Header{{Key: "content-type", Value: "application/json"}},
		RemoveHeaders: []string{"accept-encoding"},
		Model:         g.model,
		RequestModel:  strings.Clone(req.Model), // may alias body
		Stream:        req.Stream,
	}
	res.setBody(buf, encoded)
	return res, nil
}

// geminiParamCheck accepts a top-level chat completions parameter only if
// Gemini has a mapping for it or it carries its default value; anything
// else is a KindUnsupported Error naming it.
func geminiParamCheck(body []byte) func(key string, vs, ve int) error {
	return func(key string, vs, ve int) error {
		raw := body[vs:ve]
		switch key {
		case "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
			"stop", "stream", "stream_options", "tools", "tool_choice", "n", "seed", "presence_penalty",
			"frequency_penalty", "response_format", "reasoning_effort":
			return nil
		case "user":
			// An end-user id for the provider's abuse monitoring: Vertex has
			// no such field (its labels are for billing).
			return nil
		}
		ok := isDefaultParam(key, raw)
		if ok {
			return nil
		}
		return unsupported(key, "parameter %s is not supported by a gcp_vertex_gemini backend (value %s)", key, abbreviate(raw))
	}
}

func buildGeminiRequest(req *geminiChatRequest) (*gemRequest, error) {
	out := &gemRequest{}
	gc := &gemGenConfig{Temperature: req.Temperature, TopP: req.TopP, TopK: req.TopK, Seed: req.Seed,
		PresencePenalty: req.PresencePenalty, FrequencyPenalty: req.FrequencyPenalty}
	switch {
	case req.MaxCompletionTokens != nil:
		gc.MaxOutputTokens = req.MaxCompletionTokens
	case req.MaxTokens != nil:
		gc.MaxOutputTokens = req.MaxTokens
	}
	if m := gc.MaxOutputTokens; m != nil && *m < 1 {
		return nil, invalid("max_tokens", "max_tokens must be at least 1")
	}
	if t := req.Temperature; t != nil && (*t < 0 || *t > 2) {
		return nil, invalid("temperature", "temperature must be between 0 and 2")
	}
	if p := req.TopP; p != nil && (*p < 0 || *p > 1) {
		return nil, invalid("top_p", "top_p must be between 0 and 1")
	}
	if n := req.N; n != nil && *n != 1 {
		if *n < 1 {
			return nil, invalid("n", "n must be at least 1")
		}
		if req.Stream {
			return nil, unsupported("n", "n greater than 1 is not supported for streams by a gcp_vertex_gemini backend")
		}
		gc.CandidateCount = n
	}
	stop, err := parseStop(req.Stop)
	if err != nil {
		return nil, err
	}
	gc.StopSequences = stop
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			gc.ResponseMimeType = "application/json"
		case "json_schema":
			if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 || isNull(rf.JSONSchema.Schema) {
				return nil, invalid("response_format.json_schema.schema", "response_format json_schema needs a schema")
			}
			if err := checkGeminiSchema(rf.JSONSchema.Schema); err != nil {
				return nil, err
			}
			gc.ResponseMimeType = "application/json"
			gc.ResponseJSONSchema = json.RawMessage(rf.JSONSchema.Schema)
		default:
			return nil, unsupported("response_format", "response_format type %q is not supported by a gcp_vertex_gemini backend", rf.Type)
		}
	}
	if e := req.ReasoningEffort; e != "" {
		budget, ok := geminiThinkingBudgets[e]
		if !ok {
			return nil, invalid("reasoning_effort", "reasoning_effort %q is not one of none, minimal, low, medium, high", e)
		}
		// With a budget, the thought summaries are asked for too: they
		// come back as reasoning_content (gemini_response.go).
		gc.ThinkingConfig = &gemThinkingConfig{ThinkingBudget: &budget, IncludeThoughts: budget > 0}
	}
	if !gc.empty() {
		out.GenerationConfig = gc
	}
	if err := geminiTools(&req.chatRequest, out); err != nil {
		return nil, err
	}
	if err := geminiContents(req.Messages, out); err != nil {
		return nil, err
	}
	return out, nil
}

func geminiTools(req *chatRequest, out *gemRequest) error {
	if len(req.Tools) > 0 {
		decls := make([]gemFunctionDecl, 0, len(req.Tools))
		for i, t := range req.Tools {
			param := "tools[" + strconv.Itoa(i) + "]"
			if t.Type != "function" {
				return unsupported(param+".type", "tool type %q is not supported by a gcp_vertex_gemini backend", t.Type)
			}
			if t.Function == nil || t.Function.Name == "" {
				return invalid(param+".function.name", "tool function name is required")
			}
			d := gemFunctionDecl{Name: t.Function.Name, Description: t.Function.Description}
			if p := bytes.TrimSpace(t.Function.Parameters); len(p) > 0 && !isNull(p) {
				d.ParametersJSONSchema = json.RawMessage(p)
			}
			decls = append(decls, d)
		}
		out.Tools = []gemTool{{FunctionDeclarations: decls}}
	}
	tc, err := parseToolChoice(req.ToolChoice, "a gcp_vertex_gemini backend")
	if err != nil || tc.mode == "" {
		return err
	}
	fc := gemFunctionCallingConfig{Mode: strings.ToUpper(tc.mode)}
	switch tc.mode {
	case "required":
		fc.Mode = "ANY"
	case "function":
		fc = gemFunctionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{tc.name}}
	}
	out.ToolConfig = &gemToolConfig{FunctionCallingConfig: fc}
	return nil
}

// geminiContents converts the conversation: system and developer messages
// become systemInstruction; assistant turns are "model" turns with text and
// functionCall parts; tool results are functionResponse parts of a "user"
// turn, named after the call they answer. Consecutive turns of one role
// are merged (Gemini alternates roles).
func geminiContents(msgs []chatMessage, out *gemRequest) error {
	out.Contents = make([]gemContent, 0, len(msgs))
	callNames := map[string]string{} // tool_call id -> function name
	add := func(role string, parts ...gemPart) {
		if len(parts) == 0 {
			return
		}
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
			return
		}
		out.Contents = append(out.Contents, gemContent{Role: role, Parts: parts})
	}
	for i := range msgs {
		m := &msgs[i]
		loc := msgLoc(i)
		if len(m.FunctionCall) > 0 && !isNull(m.FunctionCall) {
			return unsupported(loc.at(".function_call"), "function_call is deprecated and not supported by a gcp_vertex_gemini backend; use tool_calls")
		}
		if len(m.Audio) > 0 && !isNull(m.Audio) {
			return unsupported(loc.at(".audio"), "assistant audio is not supported by a gcp_vertex_gemini backend")
		}
		switch m.Role {
		case "system", "developer":
			text, err := textContent(m.Content, loc)
			if err != nil {
				return err
			}
			if out.SystemInstruction == nil {
				out.SystemInstruction = &gemContent{}
			}
			out.SystemInstruction.Parts = append(out.SystemInstruction.Parts, gemPart{Text: text})
		case "user":
			parts, err := geminiUserParts(m.Content, loc)
			if err != nil {
				return err
			}
			add("user", parts...)
		case "assistant":
			parts, err := geminiModelParts(m, loc, callNames)
			if err != nil {
				return err
			}
			add("model", parts...)
		case "tool":
			name, ok := callNames[m.ToolCallID]
			if !ok {
				return invalid(loc.at(".tool_call_id"), "tool_call_id %q answers no earlier assistant tool call", m.ToolCallID)
			}
			text, err := textContent(m.Content, loc)
			if err != nil {
				return err
			}
			// Gemini's response is an object: the tool's output goes in
			// "output" as sent (its own JSON or plain text).
			resp := append(appendJSONString([]byte(`{"output":`), text), '}')
			add("user", gemPart{FunctionResponse: &gemFunctionResponse{Name: name, Response: resp}})
		default:
			return invalid(loc.at(".role"), "role %q is not one of system, developer, user, assistant, tool", m.Role)
		}
	}
	if len(out.Contents) == 0 {
		return invalid("messages", "messages must hold at least one user or assistant message")
	}
	return nil
}

func geminiUserParts(raw rawJSON, loc msgLoc) ([]gemPart, error) {
	text, parts, isText, err := contentParts(raw, loc)
	if err != nil {
		return nil, err
	}
	if isText {
		if text == "" {
			return nil, nil
		}
		return []gemPart{{Text: text}}, nil
	}
	out := make([]gemPart, 0, len(parts))
	for j := range parts {
		p := &parts[j]
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, gemPart{Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, invalid(loc.part(j, ".image_url.url"), "image_url.url is required")
			}
			part, err := geminiImage(p.ImageURL.URL, loc.part(j, ".image_url.url"))
			if err != nil {
				return nil, err
			}
			out = append(out, part)
		default:
			return nil, unsupported(loc.part(j, ""), "content part type %q is not supported by a gcp_vertex_gemini backend", p.Type)
		}
	}
	return out, nil
}

// geminiImage maps an image URL: a base64 data URI is sent inline, a
// Cloud Storage URI (gs://) by reference; Vertex AI does not fetch http(s)
// URLs for Gemini, so one is a 400 naming the part.
func geminiImage(u, param string) (gemPart, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, found := strings.Cut(rest, ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if !found || !isBase64 || !strings.HasPrefix(mediaType, "image/") {
			return gemPart{}, unsupported(param, "only base64 image data URIs are supported for images")
		}
		return gemPart{InlineData: &gemBlob{MimeType: mediaType, Data: data}}, nil
	}
	if strings.HasPrefix(u, "gs://") {
		return gemPart{FileData: &gemFileData{FileURI: u, MimeType: imageMimeFromName(u)}}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return gemPart{}, unsupported(param, "a gcp_vertex_gemini backend cannot fetch image URLs; send the image as a base64 data URI or a gs:// URI")
	}
	return gemPart{}, invalid(param, "image URL must be a base64 data URI or a gs:// URI")
}

// imageMimeFromName guesses a Cloud Storage object's image type from its
// extension (Vertex requires mimeType with fileData).
func imageMimeFromName(u string) string {
	switch strings.ToLower(u[strings.LastIndexByte(u, '.')+1:]) {
	case "png":
		return "image/png"
	case "gif":
		return "image/gif"
	case "webp":
		return "image/webp"
	default:
		return "image/jpeg"
	}
}

func geminiModelParts(m *chatMessage, loc msgLoc, callNames map[string]string) ([]gemPart, error) {
	text, parts, isText, err := contentParts(m.Content, loc)
	if err != nil {
		return nil, err
	}
	out := make([]gemPart, 0, 1+len(m.ToolCalls))
	if isText {
		if text != "" {
			out = append(out, gemPart{Text: text})
		}
	} else {
		for j := range parts {
			p := &parts[j]
			switch p.Type {
			case "text":
				if p.Text != "" {
					out = append(out, gemPart{Text: p.Text})
				}
			case "refusal":
				if p.Refusal != "" {
					out = append(out, gemPart{Text: p.Refusal})
				}
			default:
				return nil, unsupported(loc.part(j, ""), "assistant content part type %q is not supported by a gcp_vertex_gemini backend", p.Type)
			}
		}
	}
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		if tc.Type != "" && tc.Type != "function" {
			return nil, unsupported(loc.call(j, ".type"), "tool call type %q is not supported by a gcp_vertex_gemini backend", tc.Type)
		}
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, invalid(loc.call(j, ""), "tool calls need an id and a function name")
		}
		args := bytes.TrimSpace([]byte(tc.Function.Arguments))
		if len(args) == 0 {
			args = []byte("{}")
		}
		if args[0] != '{' || !json.Valid(args) {
			return nil, invalid(loc.call(j, ".function.arguments"), "tool call arguments must be a JSON object")
		}
		callNames[tc.ID] = tc.Function.Name
		out = append(out, gemPart{FunctionCall: &gemFunctionCall{Name: tc.Function.Name, Args: args}})
	}
	return out, nil
}
