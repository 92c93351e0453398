package translate

import "encoding/json"

// Gemini (Vertex AI generateContent) wire types: the request the gateway
// sends and the response and stream events it reads. Only the fields the
// translation uses are declared.

type gemRequest struct {
	Contents          []gemContent      `json:"contents"`
	SystemInstruction *gemContent       `json:"systemInstruction,omitempty"`
	Tools             []gemTool         `json:"tools,omitempty"`
	ToolConfig        *gemToolConfig    `json:"toolConfig,omitempty"`
	GenerationConfig  *gemGenConfig     `json:"generationConfig,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
}

type gemContent struct {
	Role  string    `json:"role,omitempty"`
	Parts []gemPart `json:"parts"`
}

type gemPart struct {
	Text             string               `json:"text,omitempty"`
	Thought          bool                 `json:"thought,omitempty"`
	InlineData       *gemBlob             `json:"inlineData,omitempty"`
	FileData         *gemFileData         `json:"fileData,omitempty"`
	FunctionCall     *gemFunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *gemFunctionResponse `json:"functionResponse,omitempty"`
}

type gemBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type gemFileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type gemFunctionCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type gemFunctionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type gemTool struct {
	FunctionDeclarations []gemFunctionDecl `json:"functionDeclarations"`
}

type gemFunctionDecl struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// ParametersJSONSchema takes the client's JSON Schema as is (Vertex's
	// parametersJsonSchema; "parameters" is an OpenAPI subset).
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type gemToolConfig struct {
	FunctionCallingConfig gemFunctionCallingConfig `json:"functionCallingConfig"`
}

type gemFunctionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type gemGenConfig struct {
	Temperature        *float64           `json:"temperature,omitempty"`
	TopP               *float64           `json:"topP,omitempty"`
	TopK               *int64             `json:"topK,omitempty"`
	CandidateCount     *int64             `json:"candidateCount,omitempty"`
	MaxOutputTokens    *int64             `json:"maxOutputTokens,omitempty"`
	StopSequences      []string           `json:"stopSequences,omitempty"`
	PresencePenalty    *float64           `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64           `json:"frequencyPenalty,omitempty"`
	Seed               *int64             `json:"seed,omitempty"`
	ResponseMimeType   string             `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage    `json:"responseJsonSchema,omitempty"`
	ThinkingConfig     *gemThinkingConfig `json:"thinkingConfig,omitempty"`
}

func (g *gemGenConfig) empty() bool {
	return g.Temperature == nil && g.TopP == nil && g.TopK == nil && g.CandidateCount == nil && g.MaxOutputTokens == nil &&
		g.StopSequences == nil && g.PresencePenalty == nil && g.FrequencyPenalty == nil && g.Seed == nil &&
		g.ResponseMimeType == "" && g.ResponseJSONSchema == nil && g.ThinkingConfig == nil
}

// gemThinkingConfig is generationConfig.thinkingConfig, Vertex AI v1
// GenerationConfig.ThinkingConfig
// (https://docs.cloud.google.com/ruby/docs/reference/google-cloud-ai_platform-v1/latest/Google-Cloud-AIPlatform-V1-GenerationConfig-ThinkingConfig):
// thinkingBudget "the thinking budget in tokens" (0 turns thinking off where
// the model allows it, per Google's Firebase AI Logic reference of the same
// field, https://firebase.google.com/docs/reference/js/ai.thinkingconfig);
// includeThoughts "whether to include thoughts in the response. If true,
// thoughts are returned only when available" (parts marked "thought": true).
type gemThinkingConfig struct {
	ThinkingBudget  *int64 `json:"thinkingBudget,omitempty"`
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
}

// gemResponse is a GenerateContentResponse: a whole response, or one
// streamed event.
type gemResponse struct {
	Candidates     []gemCandidate `json:"candidates"`
	UsageMetadata  *gemUsage      `json:"usageMetadata"`
	ModelVersion   string         `json:"modelVersion"`
	ResponseID     string         `json:"responseId"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
}

type gemCandidate struct {
	Index        int        `json:"index"`
	Content      gemContent `json:"content"`
	FinishReason string     `json:"finishReason"`
}

type gemUsage struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	TotalTokenCount         int64 `json:"totalTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
}

// googleError is Google's error body, {"error":{"code","message","status"}}
// (a stream's may come as a one-element array).
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}
