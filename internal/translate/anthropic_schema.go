package translate

import (
	"encoding/json"
)

// Anthropic Messages API wire types: the request the gateway sends and the
// response and stream events it reads. Only the fields the translation
// uses are declared.

type anthRequest struct {
	// Model is empty (left out) for hosts that take it in the path.
	Model string `json:"model,omitempty"`
	// AnthropicVersion is the host's version in the body (Vertex AI,
	// Bedrock), where there is no anthropic-version header.
	AnthropicVersion string          `json:"anthropic_version,omitempty"`
	MaxTokens        int64           `json:"max_tokens"`
	System           string          `json:"system,omitempty"`
	Messages         []anthMessage   `json:"messages"`
	Temperature      *float64        `json:"temperature,omitempty"`
	TopP             *float64        `json:"top_p,omitempty"`
	TopK             *int64          `json:"top_k,omitempty"`
	StopSequences    []string        `json:"stop_sequences,omitempty"`
	Stream           bool            `json:"stream,omitempty"`
	Tools            []anthTool      `json:"tools,omitempty"`
	ToolChoice       *anthToolChoice `json:"tool_choice,omitempty"`
	Metadata         *anthMetadata   `json:"metadata,omitempty"`
	Thinking         *anthThinking   `json:"thinking,omitempty"`

	// temperatureLit and topPLit are the client's literals of Temperature
	// and TopP when the walk read them (appendFloatLit), else nil.
	temperatureLit, topPLit []byte
	// The values ToolChoice, Metadata and Thinking point to (fillRequest,
	// claudeThinking): a pooled request's head sets them without an
	// allocation per attempt.
	toolChoice anthToolChoice
	metadata   anthMetadata
	thinking   anthThinking
}

type anthMessage struct {
	Role    string      `json:"role"`
	Content []anthBlock `json:"content"`
}

type anthBlock struct {
	Type      string           `json:"type"`
	Text      string           `json:"text,omitempty"`
	Source    *anthImageSource `json:"source,omitempty"`
	ID        string           `json:"id,omitempty"`
	Name      string           `json:"name,omitempty"`
	Input     json.RawMessage  `json:"input,omitempty"`
	ToolUseID string           `json:"tool_use_id,omitempty"`
	Content   []anthBlock      `json:"content,omitempty"`
}

type anthImageSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anthTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type anthMetadata struct {
	UserID string `json:"user_id"`
}

type anthUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

type anthResponse struct {
	ID         string              `json:"id"`
	Model      string              `json:"model"`
	Content    []anthResponseBlock `json:"content"`
	StopReason string              `json:"stop_reason"`
	Usage      anthUsage           `json:"usage"`
}

type anthResponseBlock struct {
	Type  string  `json:"type"`
	Text  string  `json:"text"`
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Input rawJSON `json:"input"`
	// Thinking is a thinking block's text, kept raw (anthropic_thinking.go).
	Thinking rawJSON `json:"thinking"`
}

type anthErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// anthropicUsageScanner reads usage from Anthropic-native responses for the

// anthStreamEvent is what the translation reads of one Anthropic stream
// event (readAnthStreamEvent, anthropic_stream.go). Strings and raw
// literals alias the event's data and are only valid while it is handled;
// the texts stay raw JSON string literals (quotes included, nil when
// absent or null), copied into the output without being decoded.
type anthStreamEvent struct {
	Type    string
	Message struct {
		ID    string
		Model string
		Usage anthUsage
	}
	Index        int
	ContentBlock struct {
		Type string
		ID   string
		Name string
		Text []byte
	}
	Delta anthStreamDelta
	Usage anthUsage
	Error anthErrorBody
	// counts holds the numbers the Usage pointers point to: message.usage
	// in the first four, usage in the last four.
	counts [8]int64
}

// anthStreamDelta is an event's delta: a content block's (type and text)
// or the message's (stop_reason).
type anthStreamDelta struct {
	Type        string
	Text        []byte
	PartialJSON []byte
	Thinking    []byte
	StopReason  string
}
