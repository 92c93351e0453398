package translate

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// translateStream feeds a whole stream through a fresh translator in the
// given pieces and returns the concatenated output and final usage.
func translateStream(t testing.TB, includeUsage bool, pieces ...[]byte) ([]byte, Usage) {
	t.Helper()
	tr := anthropicResponseTranslator(t, true, includeUsage)
	mode, err := tr.ResponseHeaders(200, "text/event-stream; charset=utf-8", "")
	if err != nil || !mode.Stream || mode.BufferBody || !mode.ModifiesBody {
		t.Fatalf("mode %+v, %v", mode, err)
	}
	all, usage, err := responsePieces(tr, pieces)
	if err != nil {
		t.Fatal(err)
	}
	return all, usage
}

func TestAnthropicStreamGolden(t *testing.T) {
	for _, in := range inputs(t, "anthropic/stream", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			stream, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := translateStream(t, true, stream)
			checkSSEOutput(t, out)
			checkGolden(t, goldenPath(in), out)
		})
	}
}

// TestAnthropicStreamEverySplit cuts each recorded stream at every byte
// offset (two pieces), and feeds it one byte at a time: the output must be
// identical to the single-piece translation.
func TestAnthropicStreamEverySplit(t *testing.T) {
	for _, in := range inputs(t, "anthropic/stream", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			stream, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			checkEverySplit(t, stream, func(pieces ...[]byte) ([]byte, Usage) { return translateStream(t, true, pieces...) })
		})
	}
}

func TestAnthropicStreamUsage(t *testing.T) {
	tests := []struct {
		file string
		want Usage
	}{
		{"text.sse", Usage{InputTokens: 25, OutputTokens: 15, TotalTokens: 40, Model: "claude-3-5-haiku-20241022"}},
		{"tool_use_crlf.sse", Usage{InputTokens: 1496, OutputTokens: 89, TotalTokens: 1585, CachedInputTokens: 1024, Model: "claude-sonnet-4-5-20250929"}},
		{"thinking_max_tokens.sse", Usage{InputTokens: 42, OutputTokens: 20, TotalTokens: 62, CacheCreationInputTokens: 12, Model: "claude-sonnet-4-5-20250929"}},
		{"error_cr.sse", Usage{InputTokens: 8, OutputTokens: 1, TotalTokens: 9, Model: "claude-3-5-haiku-20241022"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			stream, err := os.ReadFile(filepath.Join("testdata/anthropic/stream", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			// Usage is counted even when the client did not ask for the chunk.
			out, usage := translateStream(t, false, stream)
			if usage != tc.want {
				t.Errorf("usage %+v, want %+v", usage, tc.want)
			}
			if bytes.Contains(out, []byte(`"usage"`)) {
				t.Errorf("usage chunk emitted without include_usage:\n%s", out)
			}
		})
	}
}

// openAIStream decodes a translated stream with the official SDK's SSE
// decoder and accumulator.
func openAIStream(t *testing.T, out []byte) (openai.ChatCompletionAccumulator, []openai.ChatCompletionChunk, error) {
	t.Helper()
	res := &http.Response{
		StatusCode: 200,
		Header:     http.Header{"Content-Type": []string{"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(out)),
	}
	stream := ssestream.NewStream[openai.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	var acc openai.ChatCompletionAccumulator
	var chunks []openai.ChatCompletionChunk
	for stream.Next() {
		c := stream.Current()
		chunks = append(chunks, c)
		acc.AddChunk(c)
	}
	return acc, chunks, stream.Err()
}

func TestAnthropicStreamWithOpenAISDK(t *testing.T) {
	t.Run("tool calls", func(t *testing.T) {
		stream, err := os.ReadFile("testdata/anthropic/stream/tool_use_crlf.sse")
		if err != nil {
			t.Fatal(err)
		}
		out, _ := translateStream(t, true, stream)
		acc, chunks, err := openAIStream(t, out)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			if c.Object != "chat.completion.chunk" || c.ID != "msg_014p7gG3wDgGV9EUtLvnow3U" || c.Model != "claude-sonnet-4-5-20250929" || c.Created != fixedNow {
				t.Fatalf("chunk header: %+v", c)
			}
		}
		if len(acc.Choices) != 1 {
			t.Fatalf("choices: %+v", acc.Choices)
		}
		msg := acc.Choices[0].Message
		if msg.Content != "Let me check." || acc.Choices[0].FinishReason != "tool_calls" {
			t.Errorf("message %+v finish %q", msg, acc.Choices[0].FinishReason)
		}
		if len(msg.ToolCalls) != 2 {
			t.Fatalf("tool calls: %+v", msg.ToolCalls)
		}
		if c := msg.ToolCalls[0]; c.ID != "toolu_01T1x1fJ34qAmk2tNTrN7Up6" || c.Function.Name != "get_weather" || c.Function.Arguments != `{"location": "San Francisco, CA"}` {
			t.Errorf("tool call 0: %+v", c)
		}
		if c := msg.ToolCalls[1]; c.ID != "toolu_02" || c.Function.Name != "get_time" || c.Function.Arguments != `{}` {
			t.Errorf("tool call 1: %+v", c)
		}
		last := chunks[len(chunks)-1]
		if len(last.Choices) != 0 || last.Usage.PromptTokens != 1496 || last.Usage.CompletionTokens != 89 || last.Usage.PromptTokensDetails.CachedTokens != 1024 {
			t.Errorf("usage chunk: %+v", last)
		}
	})
	t.Run("text", func(t *testing.T) {
		stream, err := os.ReadFile("testdata/anthropic/stream/text.sse")
		if err != nil {
			t.Fatal(err)
		}
		out, _ := translateStream(t, false, stream)
		acc, chunks, err := openAIStream(t, out)
		if err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != "Hello! \"café\"\n" {
			t.Errorf("content %q", got)
		}
		if chunks[0].Choices[0].Delta.Role != "assistant" || acc.Choices[0].FinishReason != "stop" {
			t.Errorf("first chunk %+v, finish %q", chunks[0], acc.Choices[0].FinishReason)
		}
	})
	t.Run("error event", func(t *testing.T) {
		stream, err := os.ReadFile("testdata/anthropic/stream/error_cr.sse")
		if err != nil {
			t.Fatal(err)
		}
		out, _ := translateStream(t, true, stream)
		acc, _, err := openAIStream(t, out)
		if err == nil || !strings.Contains(err.Error(), "Overloaded") {
			t.Fatalf("SDK error = %v, want the provider's error", err)
		}
		if acc.Choices[0].Message.Content != "Partial" {
			t.Errorf("content before the error: %q", acc.Choices[0].Message.Content)
		}
		if bytes.Contains(out, []byte("ignored after error")) || bytes.Contains(out, []byte("[DONE]")) {
			t.Errorf("output continued after the error:\n%s", out)
		}
	})
}

func TestAnthropicStreamTruncated(t *testing.T) {
	stream, err := os.ReadFile("testdata/anthropic/stream/text.sse")
	if err != nil {
		t.Fatal(err)
	}
	cut := bytes.Index(stream, []byte("event: message_delta"))
	out, _ := translateStream(t, true, stream[:cut])
	payloads := checkSSEOutput(t, out)
	last := payloads[len(payloads)-1]
	if !bytes.HasPrefix(last, []byte(`{"error":`)) {
		t.Fatalf("truncated stream should end in an error chunk, got %s", last)
	}
	// Missing only message_stop: the message is complete, finish normally.
	cut = bytes.Index(stream, []byte("event: message_stop"))
	out, _ = translateStream(t, false, stream[:cut])
	if !bytes.HasSuffix(out, []byte("data: [DONE]\n\n")) {
		t.Fatalf("stream without message_stop should still end in [DONE]:\n%s", out)
	}
}
