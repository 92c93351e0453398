package translate

import "encoding/json"

// Amazon Bedrock Converse API wire types (POST /model/{id}/converse and
// /converse-stream): the request the gateway sends and the response it
// reads. Only the fields the translation uses are declared.

type converseRequest struct {
	Messages        []converseMessage   `json:"messages"`
	System          []converseBlock     `json:"system,omitempty"`
	InferenceConfig converseInference   `json:"inferenceConfig"`
	ToolConfig      *converseToolConfig `json:"toolConfig,omitempty"`
	// AdditionalModelRequestFields carries what the model takes beyond
	// Converse's own fields: Claude's thinking.
	AdditionalModelRequestFields *converseAdditional `json:"additionalModelRequestFields,omitempty"`
}

type converseAdditional struct {
	Thinking *anthThinking `json:"thinking,omitempty"`
}

type converseInference struct {
	MaxTokens     int64    `json:"maxTokens"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

type converseMessage struct {
	Role    string          `json:"role"`
	Content []converseBlock `json:"content"`
}

type converseBlock struct {
	Text       *string             `json:"text,omitempty"`
	Image      *converseImage      `json:"image,omitempty"`
	ToolUse    *converseToolUse    `json:"toolUse,omitempty"`
	ToolResult *converseToolResult `json:"toolResult,omitempty"`
}

type converseImage struct {
	Format string `json:"format"`
	Source struct {
		Bytes string `json:"bytes"` // base64
	} `json:"source"`
}

type converseToolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type converseToolResult struct {
	ToolUseID string          `json:"toolUseId"`
	Content   []converseBlock `json:"content"`
}

type converseToolConfig struct {
	Tools      []converseTool      `json:"tools"`
	ToolChoice *converseToolChoice `json:"toolChoice,omitempty"`
}

type converseTool struct {
	ToolSpec struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		InputSchema struct {
			JSON json.RawMessage `json:"json"`
		} `json:"inputSchema"`
	} `json:"toolSpec"`
}

type converseToolChoice struct {
	Auto *struct{}          `json:"auto,omitempty"`
	Any  *struct{}          `json:"any,omitempty"`
	Tool *converseNamedTool `json:"tool,omitempty"`
}

type converseNamedTool struct {
	Name string `json:"name"`
}

type converseResponse struct {
	Output struct {
		Message struct {
			Content []converseResponseBlock `json:"content"`
		} `json:"message"`
	} `json:"output"`
	StopReason string        `json:"stopReason"`
	Usage      converseUsage `json:"usage"`
}

type converseResponseBlock struct {
	Text             *string                   `json:"text"`
	ReasoningContent *converseReasoningContent `json:"reasoningContent"`
	ToolUse          *struct {
		ToolUseID string  `json:"toolUseId"`
		Name      string  `json:"name"`
		Input     rawJSON `json:"input"`
	} `json:"toolUse"`
}

// converseReasoningContent is a reasoning block: its text and signature,
// or the encrypted redactedContent.
type converseReasoningContent struct {
	ReasoningText *struct {
		Text      string `json:"text"`
		Signature string `json:"signature"`
	} `json:"reasoningText"`
	RedactedContent string `json:"redactedContent"`
}

type converseUsage struct {
	InputTokens          *int64 `json:"inputTokens"`
	OutputTokens         *int64 `json:"outputTokens"`
	CacheReadInputTokens *int64 `json:"cacheReadInputTokens"`
	CacheWriteInputTkns  *int64 `json:"cacheWriteInputTokens"`
}
