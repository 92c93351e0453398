package translate

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestUsageSanity(t *testing.T) {
	const maxI = "9223372036854775807"
	big := strconv.FormatInt(MaxPlausibleTokens+1, 10)
	cases := []struct {
		name string
		read func(t *testing.T) Usage
		want Usage
	}{
		{"openai negative counts clamp at zero", func(t *testing.T) Usage {
			var u Usage
			readOpenAIUsage([]byte(`{"prompt_tokens":-5,"completion_tokens":-7,"total_tokens":-12,"prompt_tokens_details":{"cached_tokens":-1}}`), &u)
			return u
		}, Usage{}},
		{"openai implausible count not counted", func(t *testing.T) Usage {
			var u Usage
			readOpenAIUsage([]byte(`{"prompt_tokens":`+big+`,"completion_tokens":3,"total_tokens":`+maxI+`}`), &u)
			return u
		}, Usage{OutputTokens: 3, TotalTokens: 3}},
		{"openai total smaller than its parts", func(t *testing.T) Usage {
			var u Usage
			readOpenAIUsage([]byte(`{"prompt_tokens":10,"completion_tokens":3,"total_tokens":1}`), &u)
			return u
		}, Usage{InputTokens: 10, OutputTokens: 3, TotalTokens: 13}},
		{"openai cached over input", func(t *testing.T) Usage {
			var u Usage
			readOpenAIUsage([]byte(`{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":50}}`), &u)
			return u
		}, Usage{InputTokens: 10, OutputTokens: 3, TotalTokens: 13, CachedInputTokens: 10}},
		{"openai stream event negative", func(t *testing.T) Usage {
			var u Usage
			openaiUsageScanner{}.event([]byte(`{"choices":[],"usage":{"prompt_tokens":-9,"completion_tokens":4,"total_tokens":-5}}`), &u)
			return u
		}, Usage{OutputTokens: 4, TotalTokens: 4}},
		{"openai plausible counts kept", func(t *testing.T) Usage {
			var u Usage
			readOpenAIUsage([]byte(`{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}`), &u)
			return u
		}, Usage{InputTokens: 9, OutputTokens: 3, TotalTokens: 12, CachedInputTokens: 4}},
		{"openai reasoning kept, capped at output", func(t *testing.T) Usage {
			var u, v Usage
			readOpenAIUsage([]byte(`{"prompt_tokens":9,"completion_tokens":30,"total_tokens":39,"completion_tokens_details":{"reasoning_tokens":12}}`), &u)
			readOpenAIUsage([]byte(`{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"completion_tokens_details":{"reasoning_tokens":12}}`), &v)
			u.ReasoningTokens += 100 * v.ReasoningTokens
			return u
		}, Usage{InputTokens: 9, OutputTokens: 30, TotalTokens: 39, ReasoningTokens: 12 + 300}},
		{"openai response model read once", func(t *testing.T) Usage {
			var u Usage
			openaiUsageScanner{}.body([]byte(`{"model":"gpt-4o-2024-08-06","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`), &u)
			return u
		}, Usage{InputTokens: 1, OutputTokens: 1, TotalTokens: 2, Model: "gpt-4o-2024-08-06"}},
		{"anthropic cache creation", func(t *testing.T) Usage {
			s := &anthropicUsageScanner{}
			var u Usage
			s.body([]byte(`{"model":"claude-x","usage":{"input_tokens":3,"cache_creation_input_tokens":7,"output_tokens":2}}`), &u)
			return u
		}, Usage{InputTokens: 10, OutputTokens: 2, TotalTokens: 12, CacheCreationInputTokens: 7, Model: "claude-x"}},
		{"anthropic input + cache does not overflow", func(t *testing.T) Usage {
			s := &anthropicUsageScanner{}
			var u Usage
			s.body([]byte(`{"usage":{"input_tokens":`+maxI+`,"cache_read_input_tokens":`+maxI+`,"cache_creation_input_tokens":`+maxI+`,"output_tokens":2}}`), &u)
			return u
		}, Usage{OutputTokens: 2, TotalTokens: 2}},
		{"anthropic negative usage", func(t *testing.T) Usage {
			s := &anthropicUsageScanner{}
			var u Usage
			s.event([]byte(`{"type":"message_delta","usage":{"input_tokens":-3,"cache_read_input_tokens":5,"output_tokens":-1}}`), &u)
			return u
		}, Usage{InputTokens: 5, TotalTokens: 5, CachedInputTokens: 5}},
		{"anthropic sums", func(t *testing.T) Usage {
			tk := anthTokens{input: 10, cacheRead: 20, cacheCreation: 30, output: 4}
			return tk.usage()
		}, Usage{InputTokens: 60, OutputTokens: 4, TotalTokens: 64, CachedInputTokens: 20, CacheCreationInputTokens: 30}},
		{"anthropic translated response", func(t *testing.T) Usage {
			tr := anthropicResponseTranslator(t, false, false)
			tr.ResponseHeaders(200, "application/json", "")
			_, u, err := tr.ResponseBody([]byte(`{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"end_turn","usage":{"input_tokens":`+maxI+`,"cache_read_input_tokens":1,"output_tokens":-4}}`), true)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}, Usage{InputTokens: 1, TotalTokens: 1, CachedInputTokens: 1, Model: "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.read(t); got != tc.want {
				t.Fatalf("usage %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAddTokensSaturates(t *testing.T) {
	if got := addTokens(math.MaxInt64, 2); got != math.MaxInt64 {
		t.Fatalf("%d", got)
	}
	if got := addTokens(-5, 3); got != 3 {
		t.Fatalf("%d", got)
	}
}

// The client's usage chunk carries the sane numbers too.
func TestAnthropicStreamUsageChunkSane(t *testing.T) {
	in := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":9223372036854775807,\"cache_read_input_tokens\":9223372036854775807,\"output_tokens\":1}}}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":-7}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	out, u := translateStream(t, true, []byte(in))
	if u != (Usage{Model: "c"}) {
		t.Fatalf("usage %+v", u)
	}
	payloads := checkSSEOutput(t, out)
	usageChunk := string(payloads[len(payloads)-2])
	want := `"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0}}`
	if !strings.Contains(usageChunk, want) {
		t.Fatalf("usage chunk %s", usageChunk)
	}
}

// An Anthropic 200 whose body cannot be parsed is an error the caller
// answers as 502, never a 200 carrying an error object.
func TestAnthropic200Unparsable(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":           `{"id":"msg_1","type":"message","content":[{"type":"text","text":"hel`,
		"html":                `<html><body>502 Bad Gateway</body></html>`,
		"number out of range": `{"id":"m","type":"message","content":[],"usage":{"input_tokens":1e400}}`,
		"integer overflow":    `{"id":"m","type":"message","content":[],"usage":{"input_tokens":92233720368547758070}}`,
		"empty":               ``,
	} {
		t.Run(name, func(t *testing.T) {
			tr := anthropicResponseTranslator(t, false, false)
			if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
				t.Fatal(err)
			}
			out, _, err := tr.ResponseBody([]byte(body), true)
			if !isBadResponse(err) {
				t.Fatalf("err %v, out %s: want a badResponse", err, out)
			}
		})
	}
}

// FuzzUsageReaders: whatever a provider reports, the usage read is plausible
// and consistent, through every reader.
func FuzzUsageReaders(f *testing.F) {
	f.Add([]byte(`{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}`))
	f.Add([]byte(`{"usage":{"input_tokens":9223372036854775807,"cache_read_input_tokens":9223372036854775807,"output_tokens":-1}}`))
	f.Add([]byte(`{"type":"message_start","message":{"usage":{"input_tokens":-5,"cache_creation_input_tokens":7}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var u Usage
		readOpenAIUsage(b, &u)
		checkUsage(t, u)
		u = Usage{}
		openaiUsageScanner{}.body(b, &u)
		checkUsage(t, u)
		s := &anthropicUsageScanner{}
		u = Usage{}
		s.body(b, &u)
		checkUsage(t, u)
		s.event(b, &u)
		checkUsage(t, u)
	})
}
