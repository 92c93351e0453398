package translate

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/bufpool"
)

// OpenAI chat completions -> Amazon Bedrock Converse / ConverseStream
// (POST {prefix}/model/{model}/converse or /converse-stream, the model id or
// inference-profile ARN one percent-encoded segment). The request goes
// through the Anthropic translator's parameter policy and conversion (the
// two APIs express the same things: system, turns, tools and tool_choice,
// tool calls and results, base64 images, stop sequences, temperature, top_p,
// max tokens), then into Converse's shapes. The response and the stream's
// events are turned into Anthropic's shapes and translated by the Anthropic
// response and stream translators. Not expressible in Converse: top_k and
// user (400 naming them), image URLs (400 naming the content part).

// convert writes Converse's request for out into a pooled body buffer
// (encodeBody): hand both results to setBody.
func (b *bedrockConverse) convert(out *anthRequest, sizeHint int) (*[]byte, []byte, error) {
	c := converseRequest{InferenceConfig: converseInference{MaxTokens: out.MaxTokens, Temperature: out.Temperature, TopP: out.TopP, StopSequences: out.StopSequences}}
	if out.TopK != nil {
		return nil, nil, unsupported("top_k", "top_k is not supported by an aws_bedrock backend (Converse)")
	}
	if out.Metadata != nil {
		return nil, nil, unsupported("user", "user is not supported by an aws_bedrock backend (Converse)")
	}
	if out.Thinking != nil {
		// Claude's thinking goes to the model as is (AWS: "Extended
		// thinking" in the Bedrock user guide, additionalModelRequestFields);
		// other model families name reasoning differently.
		if !converseClaude(b.model) {
			return nil, nil, unsupported("reasoning_effort", "reasoning_effort and thinking are supported by an aws_bedrock backend (Converse) only for Claude models (anthropic.claude-*), not %s", b.model)
		}
		c.AdditionalModelRequestFields = &converseAdditional{Thinking: out.Thinking}
	}
	if out.System != "" {
		c.System = []converseBlock{{Text: &out.System}}
	}
	for i := range out.Messages {
		m := &out.Messages[i]
		cm := converseMessage{Role: m.Role}
		for j := range m.Content {
			blk, err := converseBlockOf(&m.Content[j], i)
			if err != nil {
				return nil, nil, err
			}
			cm.Content = append(cm.Content, blk)
		}
		c.Messages = append(c.Messages, cm)
	}
	if len(out.Tools) > 0 {
		tc := &converseToolConfig{}
		for _, t := range out.Tools {
			var ct converseTool
			ct.ToolSpec.Name, ct.ToolSpec.Description, ct.ToolSpec.InputSchema.JSON = t.Name, t.Description, t.InputSchema
			tc.Tools = append(tc.Tools, ct)
		}
		if ch := out.ToolChoice; ch != nil {
			switch ch.Type {
			case "auto":
				tc.ToolChoice = &converseToolChoice{Auto: &struct{}{}}
			case "any":
				tc.ToolChoice = &converseToolChoice{Any: &struct{}{}}
			case "tool":
				tc.ToolChoice = &converseToolChoice{Tool: &converseNamedTool{Name: ch.Name}}
			case "none":
				// Converse has no "none": the tools are not offered.
				tc = nil
			}
			if ch.DisableParallelToolUse {
				return nil, nil, unsupported("parallel_tool_calls", "parallel_tool_calls=false is not supported by an aws_bedrock backend (Converse)")
			}
		}
		c.ToolConfig = tc
	}
	return encodeBody(&c, sizeHint)
}

// converseClaude reports a Claude model id on Bedrock (a foundation model
// or a cross-region inference profile, "us.anthropic.claude-…"), or an ARN,
// which does not say what it serves (Bedrock checks the fields itself).
func converseClaude(model string) bool {
	return strings.Contains(model, "anthropic.claude") || strings.HasPrefix(model, "arn:")
}

func converseBlockOf(b *anthBlock, msg int) (converseBlock, error) {
	switch b.Type {
	case "text":
		t := b.Text
		return converseBlock{Text: &t}, nil
	case "image":
		if b.Source == nil || b.Source.Type != "base64" {
			return converseBlock{}, unsupported("messages["+itoa(msg)+"].content", "an image URL cannot be fetched by an aws_bedrock backend (Converse); send the image as a base64 data URI")
		}
		img := &converseImage{Format: strings.TrimPrefix(b.Source.MediaType, "image/")}
		img.Source.Bytes = b.Source.Data
		return converseBlock{Image: img}, nil
	case "tool_use":
		input := b.Input
		if len(input) == 0 {
			input = json.RawMessage("{}")
		}
		return converseBlock{ToolUse: &converseToolUse{ToolUseID: b.ID, Name: b.Name, Input: input}}, nil
	case "tool_result":
		r := &converseToolResult{ToolUseID: b.ToolUseID}
		for k := range b.Content {
			blk, err := converseBlockOf(&b.Content[k], msg)
			if err != nil {
				return converseBlock{}, err
			}
			r.Content = append(r.Content, blk)
		}
		if len(r.Content) == 0 {
			empty := ""
			r.Content = []converseBlock{{Text: &empty}}
		}
		return converseBlock{ToolResult: r}, nil
	}
	return converseBlock{}, unsupported("messages["+itoa(msg)+"].content", "content of type %s is not supported by an aws_bedrock backend (Converse)", b.Type)
}

// newResponseID names a completion whose provider gives none (Converse);
// tests pin it.
var newResponseID = func() string {
	var b [12]byte
	rand.Read(b[:])
	return "chatcmpl-" + hex.EncodeToString(b[:])
}

func itoa(i int) string { return string(appendInt(nil, int64(i))) }

// bedrockConverse is the chat translator of schema aws_bedrock.
type bedrockConverse struct {
	anthropicTranslator
	frames bedrockFrames
	ev     []byte // the current stream event in Anthropic's shape, reused
	id     string // the completion's id (Converse has none)
}

func (b *bedrockConverse) RequestBody(body []byte) (RequestResult, error) {
	return b.converseRequest(body, forEachMember, nil)
}

// RequestBodyScanned is RequestBody for a body the router phase validated
// (not the embedded Anthropic translator's: Converse has its own shape).
func (b *bedrockConverse) RequestBodyScanned(body []byte, f bodyscan.Findings) (RequestResult, error) {
	return b.converseRequest(body, knownMembers(f), &f)
}

// f: the router phase's findings for body (RequestBodyScanned), else nil.
func (b *bedrockConverse) converseRequest(body []byte, walk memberWalk, f *bodyscan.Findings) (RequestResult, error) {
	// The Anthropic translator's parameter policy and checks (parseChat),
	// and its conversion of the messages (appendAnthropicRequest, straight
	// from the bytes); the Anthropic body is then decoded into Converse's
	// shapes, so the two translations cannot disagree on what a message
	// means.
	var req anthChatRequest
	head, err := b.parseChat(body, &req, walk)
	if err != nil {
		return RequestResult{}, err
	}
	model := head.Model
	seg, err := escapedPathSegment("model", model)
	if err != nil {
		return RequestResult{}, err
	}
	head.Model, head.Stream = "", false
	// The Anthropic body is an intermediate: written into a pooled buffer,
	// decoded in place (out's strings alias it) and released when this
	// returns, once Converse's body is encoded from out. Nothing of out
	// outlives the call: errors and b's fields hold copies.
	abuf := bodyBuffer(len(body) + len(body)/8 + 256)
	defer bufpool.Put(abuf)
	anth, err := appendAnthropicRequest(*abuf, head, req.Messages, f != nil && f.RawStrings, messageStrings(body, req.Messages, f))
	if err != nil {
		return RequestResult{}, err
	}
	var out anthRequest
	if err := jsonAPI.UnmarshalFromString(aliasString(anth), &out); err != nil {
		return RequestResult{}, invalid("", "cannot convert the request for Converse: %s", firstLine(err.Error()))
	}
	b.model = strings.Clone(model)
	buf, encoded, err := b.convert(&out, len(anth)+256)
	if err != nil {
		return RequestResult{}, err
	}
	action := "/converse"
	if req.Stream {
		action = "/converse-stream"
	}
	b.id = newResponseID()
	b.includeUsage = req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	res := RequestResult{
		Path:          joinPath(b.target.PathPrefix, "/model/"+seg+action),
		Headers:       []Header{{Key: "content-type", Value: "application/json"}},
		RemoveHeaders: []string{"accept-encoding"},
		Model:         b.model,
		RequestModel:  strings.Clone(req.Model), // may alias body
		Stream:        req.Stream,
	}
	res.setBody(buf, encoded)
	return res, nil
}

func (b *bedrockConverse) ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error) {
	return b.bedrockResponseHeaders(&b.frames, status, contentType, contentEncoding)
}

func (b *bedrockConverse) ResponseBody(chunk []byte, eos bool) ([]byte, Usage, error) {
	switch {
	case b.mode.Error:
		return b.bedrockError(chunk, eos)
	case b.frames.on:
		return b.bedrockStream(&b.frames, chunk, eos, b.frame)
	case b.mode.BufferBody:
		whole, ok, err := b.bedrockWhole(chunk, eos)
		if !ok {
			return nil, Usage{}, err
		}
		var r converseResponse
		if err := jsonAPI.UnmarshalFromString(aliasString(whole), &r); err != nil {
			return nil, b.tokens.usage(), badResponse("the bedrock backend returned a malformed response" + decodeErrorAt(err))
		}
		a := converseAsAnthropic{ID: b.id, Model: b.model, StopReason: converseStopReason(r.StopReason), Usage: r.Usage.anth()}
		for _, c := range r.Output.Message.Content {
			switch {
			case c.Text != nil:
				a.Content = append(a.Content, converseAnthBlock{Type: "text", Text: *c.Text})
			case c.ReasoningContent != nil && c.ReasoningContent.ReasoningText != nil:
				r := c.ReasoningContent.ReasoningText
				a.Content = append(a.Content, converseAnthBlock{Type: "thinking", Thinking: r.Text, Signature: r.Signature})
			case c.ReasoningContent != nil:
				a.Content = append(a.Content, converseAnthBlock{Type: "redacted_thinking", Data: c.ReasoningContent.RedactedContent})
			case c.ToolUse != nil:
				a.Content = append(a.Content, converseAnthBlock{Type: "tool_use", ID: c.ToolUse.ToolUseID, Name: c.ToolUse.Name, Input: json.RawMessage(c.ToolUse.Input)})
			}
		}
		// Converse's message in Anthropic's shape, translated by the
		// Anthropic response translator.
		msg, err := encodeJSON(&a, len(whole)+256)
		if err != nil {
			return nil, b.tokens.usage(), badResponse("the bedrock backend returned a response the gateway cannot convert")
		}
		out, err := b.translateMessage(msg)
		return out, b.tokens.usage(), err
	}
	return b.anthropicTranslator.ResponseBody(chunk, eos)
}

// converseAsAnthropic is a Converse response in the shape of Anthropic's
// message (anthResponse, with the tool input encodable).
type converseAsAnthropic struct {
	ID         string              `json:"id"`
	Model      string              `json:"model"`
	Content    []converseAnthBlock `json:"content"`
	StopReason string              `json:"stop_reason"`
	Usage      anthUsage           `json:"usage"`
}

type converseAnthBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Thinking  string          `json:"thinking,omitempty"`
	Signature string          `json:"signature,omitempty"`
	Data      string          `json:"data,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

// converseStopReason is a Converse stopReason as the Anthropic stop reason
// that means the same, so finishReason (anthropic_response.go) is the one
// table to OpenAI's finish_reason. Converse's values (aws-sdk-go-v2
// service/bedrockruntime/types/enums.go, StopReason, generated from the
// Bedrock API model): end_turn, tool_use, max_tokens, stop_sequence and
// model_context_window_exceeded are Anthropic's own names (stop, tool_calls,
// length, stop, length); guardrail_intervened (a guardrail blocked the input
// or output) and content_filtered (the model's own filter) are Anthropic's
// refusal (content_filter); malformed_model_output and malformed_tool_use
// (the model produced output Bedrock could not parse) and unknown future
// values end the choice normally (stop).
func converseStopReason(stop string) string {
	switch stop {
	case "guardrail_intervened", "content_filtered":
		return "refusal"
	}
	return stop
}

func (u converseUsage) anth() anthUsage {
	return anthUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CacheReadInputTokens: u.CacheReadInputTokens, CacheCreationInputTokens: u.CacheWriteInputTkns}
}

// converseStreamEvent is one ConverseStream event's payload (the event type
// is the frame's :event-type header).
type converseStreamEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
	Start             struct {
		ToolUse *struct {
			ToolUseID string `json:"toolUseId"`
			Name      string `json:"name"`
		} `json:"toolUse"`
	} `json:"start"`
	Delta struct {
		Text    *string `json:"text"`
		ToolUse *struct {
			Input string `json:"input"`
		} `json:"toolUse"`
		// ReasoningContent: {"text"}, {"signature"} or {"redactedContent"}.
		ReasoningContent *struct {
			Text *string `json:"text"`
		} `json:"reasoningContent"`
	} `json:"delta"`
	StopReason string        `json:"stopReason"`
	Usage      converseUsage `json:"usage"`
}

// frame turns a ConverseStream event into the Anthropic stream event that
// means the same and hands it to the Anthropic stream translator.
func (b *bedrockConverse) frame(m *eventstream.Message) error {
	s := b.stream
	if s.done {
		return nil
	}
	switch messageHeader(m, ":message-type") {
	case "exception":
		s.fail(bedrockErrorType(messageHeader(m, ":exception-type")), bedrockExceptionMessage(m))
		return nil
	case "event":
	default:
		return nil
	}
	var e converseStreamEvent
	if err := jsonAPI.Unmarshal(m.Payload, &e); err != nil {
		s.fail("api_error", "the bedrock backend sent a malformed stream event")
		return nil
	}
	ev := b.ev[:0]
	switch messageHeader(m, ":event-type") {
	case "messageStart":
		ev = append(ev, `{"type":"message_start","message":{"id":`...)
		ev = appendJSONString(ev, b.id)
		ev = append(ev, `,"model":`...)
		ev = appendJSONString(ev, b.model)
		ev = append(ev, `}}`...)
	case "contentBlockStart":
		if e.Start.ToolUse == nil {
			return nil
		}
		ev = append(ev, `{"type":"content_block_start","index":`...)
		ev = appendInt(ev, int64(e.ContentBlockIndex))
		ev = append(ev, `,"content_block":{"type":"tool_use","id":`...)
		ev = appendJSONString(ev, e.Start.ToolUse.ToolUseID)
		ev = append(ev, `,"name":`...)
		ev = appendJSONString(ev, e.Start.ToolUse.Name)
		ev = append(ev, `}}`...)
	case "contentBlockDelta":
		ev = append(ev, `{"type":"content_block_delta","index":`...)
		ev = appendInt(ev, int64(e.ContentBlockIndex))
		switch {
		case e.Delta.Text != nil:
			ev = append(ev, `,"delta":{"type":"text_delta","text":`...)
			ev = appendJSONString(ev, *e.Delta.Text)
		case e.Delta.ToolUse != nil:
			ev = append(ev, `,"delta":{"type":"input_json_delta","partial_json":`...)
			ev = appendJSONString(ev, e.Delta.ToolUse.Input)
		case e.Delta.ReasoningContent != nil && e.Delta.ReasoningContent.Text != nil:
			ev = append(ev, `,"delta":{"type":"thinking_delta","thinking":`...)
			ev = appendJSONString(ev, *e.Delta.ReasoningContent.Text)
		default:
			return nil // signatures and redacted reasoning have no chat.completion.chunk field
		}
		ev = append(ev, `}}`...)
	case "messageStop":
		ev = append(ev, `{"type":"message_delta","delta":{"stop_reason":`...)
		ev = appendJSONString(ev, converseStopReason(e.StopReason))
		ev = append(ev, `}}`...)
	case "metadata":
		// The last event: usage, then the stream's end.
		u := e.Usage.anth()
		s.tokens.merge(&u)
		b.ev = ev
		return s.handle(nil, []byte(`{"type":"message_stop"}`))
	default:
		return nil
	}
	b.ev = ev
	return s.handle(nil, ev)
}
