package translate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
)

// TestClaudeThinkingRequest: reasoning_effort and the thinking object become
// Anthropic's thinking with Claude's rules, the same for every Claude host
// (Anthropic, Bedrock InvokeModel, Bedrock Converse's
// additionalModelRequestFields).
func TestClaudeThinkingRequest(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, tt := range []struct {
		name, extra string
		// want: the thinking member and max_tokens sent ("" for none), or
		// the param of the 400.
		thinking  string
		maxTokens int64
		param     string
	}{
		{"effort low", `,"reasoning_effort":"low"`, `{"type":"enabled","budget_tokens":1024}`, 1024 + 4096, ""},
		{"effort minimal", `,"reasoning_effort":"minimal"`, `{"type":"enabled","budget_tokens":1024}`, 1024 + 4096, ""},
		{"effort medium", `,"reasoning_effort":"medium"`, `{"type":"enabled","budget_tokens":8192}`, 8192 + 4096, ""},
		{"effort high", `,"reasoning_effort":"high"`, `{"type":"enabled","budget_tokens":24576}`, 24576 + 4096, ""},
		{"effort none", `,"reasoning_effort":"none"`, "", 4096, ""},
		{"effort within the client's max", `,"reasoning_effort":"high","max_completion_tokens":30000`, `{"type":"enabled","budget_tokens":24576}`, 30000, ""},
		{"effort shrunk to the client's max", `,"reasoning_effort":"high","max_tokens":5000`, `{"type":"enabled","budget_tokens":4999}`, 5000, ""},
		{"effort with temperature 1 and top_p 0.95", `,"reasoning_effort":"low","temperature":1,"top_p":0.95`, `{"type":"enabled","budget_tokens":1024}`, 5120, ""},
		{"effort with tool_choice auto", `,"reasoning_effort":"low","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto"`, `{"type":"enabled","budget_tokens":1024}`, 5120, ""},
		{"thinking object", `,"thinking":{"type":"enabled","budget_tokens":2000}`, `{"type":"enabled","budget_tokens":2000}`, 6096, ""},
		{"thinking object under the max", `,"thinking":{"type":"enabled","budget_tokens":2000},"max_completion_tokens":3000`, `{"type":"enabled","budget_tokens":2000}`, 3000, ""},
		{"thinking disabled", `,"thinking":{"type":"disabled"}`, "", 4096, ""},
		{"thinking null", `,"thinking":null`, "", 4096, ""},

		{"effort unknown", `,"reasoning_effort":"extreme"`, "", 0, "reasoning_effort"},
		{"effort max too small", `,"reasoning_effort":"low","max_completion_tokens":1024`, "", 0, "max_completion_tokens"},
		{"both", `,"reasoning_effort":"low","thinking":{"type":"enabled","budget_tokens":2000}`, "", 0, "thinking"},
		{"thinking not an object", `,"thinking":true`, "", 0, "thinking"},
		{"thinking type", `,"thinking":{"type":"sometimes"}`, "", 0, "thinking.type"},
		{"thinking budget small", `,"thinking":{"type":"enabled","budget_tokens":1023}`, "", 0, "thinking.budget_tokens"},
		{"thinking budget missing", `,"thinking":{"type":"enabled"}`, "", 0, "thinking.budget_tokens"},
		{"thinking budget over the max", `,"thinking":{"type":"enabled","budget_tokens":2000},"max_tokens":2000`, "", 0, "thinking.budget_tokens"},
		{"thinking with temperature", `,"reasoning_effort":"low","temperature":0.5`, "", 0, "temperature"},
		{"thinking with top_k", `,"reasoning_effort":"low","top_k":5`, "", 0, "top_k"},
		{"thinking with top_p", `,"reasoning_effort":"low","top_p":0.9`, "", 0, "top_p"},
		{"thinking with tool_choice required", `,"reasoning_effort":"low","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"`, "", 0, "tool_choice"},
		{"thinking with a named tool", `,"reasoning_effort":"low","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}}`, "", 0, "tool_choice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(`{"model":"m",` + msgs + tt.extra + `}`)
			for _, target := range []Target{
				{Schema: SchemaAnthropic},
				{Schema: SchemaAWSBedrockAnthropic, DefaultModel: "anthropic.claude-sonnet-4-5-20250929-v1:0"},
				converseTarget,
			} {
				tr, err := New(target, "/v1/chat/completions")
				if err != nil {
					t.Fatal(err)
				}
				res, err := tr.RequestBody(body)
				if tt.param != "" {
					e, ok := err.(*Error)
					if !ok || e.Status != http.StatusBadRequest || e.Param != tt.param {
						t.Fatalf("%s: err = %#v, want a 400 naming %s", target.Schema, err, tt.param)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", target.Schema, err)
				}
				var sent struct {
					Thinking  json.RawMessage `json:"thinking"`
					MaxTokens int64           `json:"max_tokens"`
					Inference struct {
						MaxTokens int64 `json:"maxTokens"`
					} `json:"inferenceConfig"`
					Additional struct {
						Thinking json.RawMessage `json:"thinking"`
					} `json:"additionalModelRequestFields"`
				}
				if err := json.Unmarshal(res.Body, &sent); err != nil {
					t.Fatal(err)
				}
				thinking, maxTokens := sent.Thinking, sent.MaxTokens
				if target.Schema == SchemaAWSBedrock {
					if sent.Thinking != nil {
						t.Fatalf("converse body has a top-level thinking: %s", res.Body)
					}
					thinking, maxTokens = sent.Additional.Thinking, sent.Inference.MaxTokens
				}
				if string(thinking) != tt.thinking || maxTokens != tt.maxTokens {
					t.Fatalf("%s: thinking %s max %d, want %s %d\n%s", target.Schema, thinking, maxTokens, tt.thinking, tt.maxTokens, res.Body)
				}
			}
		})
	}
}

// Converse's thinking is Claude's: another model family is a 400 naming
// reasoning_effort; an ARN cannot be classified and is sent as is.
func TestConverseThinkingModels(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"low"}`)
	for _, tt := range []struct {
		model string
		ok    bool
	}{
		{"anthropic.claude-3-7-sonnet-20250219-v1:0", true},
		{"us.anthropic.claude-sonnet-4-20250514-v1:0", true},
		{"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc", true},
		{"amazon.nova-pro-v1:0", false},
		{"meta.llama3-70b-instruct-v1:0", false},
	} {
		tr, _ := New(Target{Schema: SchemaAWSBedrock, DefaultModel: tt.model}, "/v1/chat/completions")
		res, err := tr.RequestBody(body)
		if tt.ok {
			if err != nil || !bytes.Contains(res.Body, []byte(`"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}`)) {
				t.Errorf("%s: %v %s", tt.model, err, res.Body)
			}
			continue
		}
		if e, ok := err.(*Error); !ok || e.Status != http.StatusBadRequest || e.Param != "reasoning_effort" {
			t.Errorf("%s: err = %#v", tt.model, err)
		}
	}
}

// TestConverseReasoningResponse: reasoningContent blocks become
// reasoning_content (text joined, signature and redacted content dropped),
// plain and streamed; every split point of the stream gives the same
// output.
func TestConverseReasoningResponse(t *testing.T) {
	tr, _ := New(converseTarget, "/v1/chat/completions")
	if _, err := tr.RequestBody([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"low"}`)); err != nil {
		t.Fatal(err)
	}
	tr.ResponseHeaders(200, "application/json", "")
	out, u, err := tr.ResponseBody([]byte(`{"output":{"message":{"role":"assistant","content":[`+
		`{"reasoningContent":{"reasoningText":{"text":"First \"7\",","signature":"sig1"}}},`+
		`{"reasoningContent":{"redactedContent":"ZW5jcnlwdGVk"}},`+
		`{"reasoningContent":{"reasoningText":{"text":" then 11.","signature":"sig2"}}},`+
		`{"text":"7 × 11 × 13"}]}},"stopReason":"end_turn","usage":{"inputTokens":10,"outputTokens":50,"totalTokens":60}}`), true)
	if err != nil {
		t.Fatal(err)
	}
	var c openai.ChatCompletion
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	msg := c.Choices[0].Message
	if msg.Content != "7 × 11 × 13" || msg.JSON.ExtraFields["reasoning_content"].Raw() != `"First \"7\", then 11."` ||
		bytes.Contains(out, []byte("sig1")) || bytes.Contains(out, []byte("ZW5jcnlwdGVk")) || u.OutputTokens != 50 {
		t.Fatalf("%s %+v", out, u)
	}

	frames := cat(
		converseFrame(t, "messageStart", `{"role":"assistant"}`),
		converseFrame(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"First 7,"}}}`),
		converseFrame(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":" then 11."}}}`),
		converseFrame(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"sig1"}}}`),
		converseFrame(t, "contentBlockStop", `{"contentBlockIndex":0}`),
		converseFrame(t, "contentBlockDelta", `{"contentBlockIndex":1,"delta":{"reasoningContent":{"redactedContent":"ZW5jcnlwdGVk"}}}`),
		converseFrame(t, "contentBlockDelta", `{"contentBlockIndex":2,"delta":{"text":"7 × 11 × 13"}}`),
		converseFrame(t, "messageStop", `{"stopReason":"end_turn"}`),
		converseFrame(t, "metadata", `{"usage":{"inputTokens":10,"outputTokens":50,"totalTokens":60}}`),
	)
	stream, su, err := translateConverseStream(t, frames)
	if err != nil {
		t.Fatal(err)
	}
	var reasoning, content string
	for _, ev := range checkSSEOutput(t, stream) {
		var ch openai.ChatCompletionChunk
		if string(ev) == "[DONE]" || json.Unmarshal(ev, &ch) != nil || len(ch.Choices) == 0 {
			continue
		}
		if r, ok := ch.Choices[0].Delta.JSON.ExtraFields["reasoning_content"]; ok {
			var s string
			json.Unmarshal([]byte(r.Raw()), &s)
			reasoning += s
		}
		content += ch.Choices[0].Delta.Content
	}
	if reasoning != "First 7, then 11." || content != "7 × 11 × 13" || bytes.Contains(stream, []byte("sig1")) || su.OutputTokens != 50 {
		t.Fatalf("reasoning %q content %q\n%s", reasoning, content, stream)
	}
	for i := 0; i <= len(frames); i++ {
		split, _, err := translateConverseStream(t, frames[:i], frames[i:])
		if err != nil || !bytes.Equal(split, stream) {
			t.Fatalf("split at %d: %v", i, err)
		}
	}
}
