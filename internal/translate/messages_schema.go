package translate

import "encoding/json"

// Wire types of the Anthropic Messages front door to OpenAI-style backends
// (messages_openai*.go): the Anthropic request a client sends, the OpenAI
// chat request the gateway writes from it, and the OpenAI stream chunk it
// reads back. Only the fields the translation uses are declared.

// msgRequest is a client's Anthropic Messages request.
type msgRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int64          `json:"max_tokens"`
	System        rawJSON         `json:"system"`
	Messages      []msgMessage    `json:"messages"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	StopSequences []string        `json:"stop_sequences"`
	Stream        bool            `json:"stream"`
	Tools         []msgTool       `json:"tools"`
	ToolChoice    *anthToolChoice `json:"tool_choice"`
	Metadata      *anthMetadata   `json:"metadata"`
}

type msgMessage struct {
	Role    string  `json:"role"`
	Content rawJSON `json:"content"` // a string or an array of blocks
}

type msgBlock struct {
	Type      string           `json:"type"`
	Text      string           `json:"text"`
	Source    *anthImageSource `json:"source"`
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Input     rawJSON          `json:"input"`
	ToolUseID string           `json:"tool_use_id"`
	Content   rawJSON          `json:"content"` // tool_result: a string or text blocks
}

type msgTool struct {
	Type        string  `json:"type"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	InputSchema rawJSON `json:"input_schema"`
}

// chatOutRequest is the OpenAI chat request the front door sends.
type chatOutRequest struct {
	Model               string             `json:"model"`
	Messages            []chatOutMessage   `json:"messages"`
	MaxCompletionTokens *int64             `json:"max_completion_tokens,omitempty"`
	Temperature         *float64           `json:"temperature,omitempty"`
	TopP                *float64           `json:"top_p,omitempty"`
	Stop                []string           `json:"stop,omitempty"`
	Stream              bool               `json:"stream,omitempty"`
	StreamOptions       *chatStreamOptions `json:"stream_options,omitempty"`
	Tools               []chatOutTool      `json:"tools,omitempty"`
	ToolChoice          any                `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls,omitempty"`
	User                string             `json:"user,omitempty"`
}

type chatOutMessage struct {
	Role       string             `json:"role"`
	Content    any                `json:"content,omitempty"` // string or []chatOutPart
	ToolCalls  []chatResponseCall `json:"tool_calls,omitempty"`
	ToolCallID string             `json:"tool_call_id,omitempty"`
}

type chatOutPart struct {
	Type     string        `json:"type"`
	Text     string        `json:"text,omitempty"`
	ImageURL *chatImageURL `json:"image_url,omitempty"`
}

type chatImageURL struct {
	URL string `json:"url"`
}

type chatOutTool struct {
	Type     string          `json:"type"`
	Function chatOutFunction `json:"function"`
}

type chatOutFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"` // aliases the client's input_schema
}

type chatNamedToolChoice struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// chatInResponse is the OpenAI chat.completion the front door reads.
type chatInResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content   *string            `json:"content"`
			Refusal   *string            `json:"refusal"`
			ToolCalls []chatResponseCall `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaiUsage `json:"usage"`
}

// chatChunk is one OpenAI chat.completion.chunk event.
type chatChunk struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Content   *string `json:"content"`
			Refusal   *string `json:"refusal"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaiUsage `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}
