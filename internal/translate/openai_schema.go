package translate

// OpenAI chat completions wire types: the request the gateway reads and the
// response it writes. Only the fields the translation uses are declared.

type chatRequest struct {
	Model               string             `json:"model"`
	Messages            []chatMessage      `json:"messages"`
	MaxTokens           *int64             `json:"max_tokens"`
	MaxCompletionTokens *int64             `json:"max_completion_tokens"`
	Temperature         *float64           `json:"temperature"`
	TopP                *float64           `json:"top_p"`
	TopK                *int64             `json:"top_k"`
	Stop                rawJSON            `json:"stop"`
	Stream              bool               `json:"stream"`
	StreamOptions       *chatStreamOptions `json:"stream_options"`
	Tools               []chatTool         `json:"tools"`
	ToolChoice          rawJSON            `json:"tool_choice"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls"`
	User                string             `json:"user"`
}

type chatStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role         string         `json:"role"`
	Content      rawJSON        `json:"content"`
	ToolCalls    []chatToolCall `json:"tool_calls"`
	ToolCallID   string         `json:"tool_call_id"`
	FunctionCall rawJSON        `json:"function_call"`
	Audio        rawJSON        `json:"audio"`
}

type chatPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string  `json:"name"`
		Description string  `json:"description"`
		Parameters  rawJSON `json:"parameters"`
	} `json:"function"`
}

type chatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   chatUsage    `json:"usage"`
}

type chatChoice struct {
	Index        int                 `json:"index"`
	Message      chatResponseMessage `json:"message"`
	Logprobs     *struct{}           `json:"logprobs"`
	FinishReason string              `json:"finish_reason"`
}

type chatResponseMessage struct {
	Role    string  `json:"role"`
	Content *string `json:"content"`
	// ReasoningContent is the model's reasoning text (Claude's thinking:
	// anthropic_thinking.go), the member DeepSeek, vLLM and LiteLLM use.
	ReasoningContent string             `json:"reasoning_content,omitempty"`
	Refusal          *string            `json:"refusal"`
	ToolCalls        []chatResponseCall `json:"tool_calls,omitempty"`
}

type chatResponseCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	// CompletionTokensDetails is set when reasoning tokens were reported.
	CompletionTokensDetails *chatCompletionDetails `json:"completion_tokens_details,omitempty"`
}

type chatCompletionDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

// finishReason maps an Anthropic stop_reason to an OpenAI finish_reason.

// oaiUsage is OpenAI's usage object (chat, completions and embeddings).
type oaiUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}
