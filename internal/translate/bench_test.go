package translate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aigw/aigw/bench"
	"github.com/aigw/aigw/internal/bodyscan"
)

// chatRequestOfSize builds a multi-turn chat completions request with tools
// of about size bytes: the fewest turns that reach size (found by doubling
// and bisection, so a 1 MiB body does not take thousands of encodings).
func chatRequestOfSize(tb testing.TB, size int) []byte {
	tb.Helper()
	turn := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 4)
	build := func(turns int) []byte {
		msgs := []map[string]any{{"role": "system", "content": "You are a helpful assistant."}}
		for i := 0; i < turns; i++ {
			role := "user"
			if i%2 == 1 {
				role = "assistant"
			}
			msgs = append(msgs, map[string]any{"role": role, "content": turn})
		}
		body, err := json.Marshal(map[string]any{
			"model":       "gpt-4o-mini",
			"messages":    append(msgs, map[string]any{"role": "user", "content": "Summarize."}),
			"max_tokens":  512,
			"temperature": 0.2,
			"stream":      true,
			"tools": []any{map[string]any{"type": "function", "function": map[string]any{
				"name": "lookup", "description": "Look something up",
				"parameters": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
			}}},
		})
		if err != nil {
			tb.Fatal(err)
		}
		return body
	}
	hi := 1
	for len(build(hi)) < size {
		hi *= 2
	}
	lo := hi / 2 // build(lo) is short of size, or lo is 0
	for lo+1 < hi {
		if mid := (lo + hi) / 2; len(build(mid)) >= size {
			hi = mid
		} else {
			lo = mid
		}
	}
	return build(hi)
}

// anthropicMessageOfSize builds an Anthropic response of about size bytes.
func anthropicMessageOfSize(tb testing.TB, size int) []byte {
	tb.Helper()
	text := strings.Repeat("All work and no play makes Jack a dull boy. ", size/44+1)[:size-260]
	body, err := json.Marshal(map[string]any{
		"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
		"model":       "claude-3-5-haiku-20241022",
		"content":     []any{map[string]any{"type": "text", "text": text}},
		"stop_reason": "end_turn", "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 1200, "output_tokens": 900, "cache_read_input_tokens": 0},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"100KiB", 100 << 10}}

func BenchmarkAnthropicRequest(b *testing.B) {
	for _, s := range benchSizes {
		body := chatRequestOfSize(b, s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(anthTarget, "/v1/chat/completions")
				res, err := tr.RequestBody(body)
				if err != nil {
					b.Fatal(err)
				}
				res.Release() // as the upstream phase does once Envoy copied the body
			}
		})
	}
}

// BenchmarkAnthropicRequestScanned is the translation of a body the router
// phase validated and remembered (RequestBodyScanned: walked, not validated
// again), up to 1 MiB: short turns (chatRequestOfSize), and the whole-path
// bench's body (turns of 200 B to 4 KiB dense in escapes, whose long
// strings' ends the findings hand over: Findings.MessageStrings).
func BenchmarkAnthropicRequestScanned(b *testing.B) {
	type body struct {
		name string
		b    []byte
	}
	var bodies []body
	for _, s := range append(benchSizes, struct {
		name string
		size int
	}{"1MiB", 1 << 20}) {
		bodies = append(bodies, body{s.name, chatRequestOfSize(b, s.size)})
	}
	// bench/1KiB is the whole-path bench's 1 KiB body as the attempt gets it
	// (pathBody: four turns at least; the backend member already cut).
	wholePath1KiB := bench.BodySpec{Size: 1 << 10, Model: bench.DefaultModel, MinMessages: 4}.Build()
	bodies = append(bodies, body{"bench/1KiB", wholePath1KiB}, body{"bench/100KiB", bench.ChatBodyNoBackend(100 << 10)}, body{"bench/1MiB", bench.ChatBodyNoBackend(1 << 20)})
	for _, s := range bodies {
		body := s.b
		scan, err := bodyscan.Scan(body, "backend")
		if err != nil {
			b.Fatal(err)
		}
		f := bodyscan.FindingsOf(scan, bodyscan.Member{})
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(anthTarget, "/v1/chat/completions")
				res, err := tr.(ScannedRequest).RequestBodyScanned(body, f)
				if err != nil {
					b.Fatal(err)
				}
				res.Release() // as the upstream phase does once Envoy copied the body
			}
		})
	}
}

func BenchmarkAnthropicResponse(b *testing.B) {
	// 300B: a short answer, the whole-path benchmark's size.
	for _, s := range append([]struct {
		name string
		size int
	}{{"300B", 300}}, benchSizes...) {
		body := anthropicMessageOfSize(b, s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(anthTarget, "/v1/chat/completions")
				if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
					b.Fatal(err)
				}
				if _, _, err := tr.ResponseBody(body, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAnthropicStreamChunk measures one text_delta event in, one
// chat.completion.chunk out, on a long-lived stream.
func BenchmarkAnthropicStreamChunk(b *testing.B) {
	tr := anthropicResponseTranslator(b, true, true)
	if _, err := tr.ResponseHeaders(200, "text/event-stream", ""); err != nil {
		b.Fatal(err)
	}
	start := []byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-3-5-haiku-20241022\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	if _, _, err := tr.ResponseBody(start, false); err != nil {
		b.Fatal(err)
	}
	delta := []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" a few more words\"}}\n\n")
	b.SetBytes(int64(len(delta)))
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := tr.ResponseBody(delta, false)
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenAIRequestOverride(b *testing.B) {
	target := Target{ModelOverride: map[string]string{"gpt-4o-mini": "gpt-4o-mini-2024-07-18"}}
	for _, s := range benchSizes {
		body := chatRequestOfSize(b, s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(target, "/v1/chat/completions")
				res, err := tr.RequestBody(body)
				if err != nil {
					b.Fatal(err)
				}
				res.Release() // as the upstream phase does once Envoy copied the body
			}
		})
	}
}

// BenchmarkOpenAIStreamChunk measures usage observation on a passthrough stream.
func BenchmarkOpenAIStreamChunk(b *testing.B) {
	tr, _ := New(Target{}, "/v1/chat/completions")
	if _, err := tr.ResponseHeaders(200, "text/event-stream", ""); err != nil {
		b.Fatal(err)
	}
	chunk := []byte("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" a few more words\"},\"finish_reason\":null}]}\n\n")
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tr.ResponseBody(chunk, false); err != nil {
			b.Fatal(err)
		}
	}
}

// messagesRequestOfSize builds a multi-turn Anthropic Messages request with
// a tool of about size bytes (the front door's input).
func messagesRequestOfSize(tb testing.TB, size int) []byte {
	tb.Helper()
	var msgs []map[string]any
	turn := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 4)
	for i := 0; ; i++ {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		msgs = append(msgs, map[string]any{"role": role, "content": []any{map[string]any{"type": "text", "text": turn}}})
		body, err := json.Marshal(map[string]any{
			"model": "claude-sonnet-4", "max_tokens": 512, "system": "You are a helpful assistant.",
			"messages":    append(msgs, map[string]any{"role": "user", "content": "Summarize."}),
			"temperature": 0.2, "stream": true,
			"tools": []any{map[string]any{"name": "lookup", "description": "Look something up",
				"input_schema": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}}},
		})
		if err != nil {
			tb.Fatal(err)
		}
		if len(body) >= size {
			return body
		}
	}
}

// chatCompletionOfSize builds an OpenAI chat.completion of about size bytes.
func chatCompletionOfSize(tb testing.TB, size int) []byte {
	tb.Helper()
	text := strings.Repeat("All work and no play makes Jack a dull boy. ", size/44+1)[:size-260]
	body, err := json.Marshal(map[string]any{
		"id": "chatcmpl-AbC123", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini-2024-07-18",
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}},
		"usage":   map[string]any{"prompt_tokens": 1200, "completion_tokens": 900, "total_tokens": 2100},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

func BenchmarkMessagesToOpenAIRequest(b *testing.B) {
	for _, s := range benchSizes {
		body := messagesRequestOfSize(b, s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(msgOpenAITarget, "/v1/messages")
				res, err := tr.RequestBody(body)
				if err != nil {
					b.Fatal(err)
				}
				res.Release() // as the upstream phase does once Envoy copied the body
			}
		})
	}
}

func BenchmarkMessagesFromOpenAIResponse(b *testing.B) {
	for _, s := range benchSizes {
		body := chatCompletionOfSize(b, s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr := messagesResponseTranslator(b, false)
				if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
					b.Fatal(err)
				}
				if _, _, err := tr.ResponseBody(body, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMessagesFromOpenAIStreamChunk measures one content chunk in, one
// content_block_delta event out, on a long-lived stream.
func BenchmarkMessagesFromOpenAIStreamChunk(b *testing.B) {
	tr := messagesResponseTranslator(b, true)
	if _, err := tr.ResponseHeaders(200, "text/event-stream", ""); err != nil {
		b.Fatal(err)
	}
	chunk := []byte("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" a few more words\"},\"finish_reason\":null}]}\n\n")
	if _, _, err := tr.ResponseBody(chunk, false); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := tr.ResponseBody(chunk, false)
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
	}
}

func BenchmarkBedrockAnthropicRequest(b *testing.B) {
	for _, s := range benchSizes {
		body := chatRequestOfSize(b, s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(bedrockTarget, "/v1/chat/completions")
				res, err := tr.RequestBody(body)
				if err != nil {
					b.Fatal(err)
				}
				res.Release() // as the upstream phase does once Envoy copied the body
			}
		})
	}
}

func BenchmarkBedrockAnthropicResponse(b *testing.B) {
	for _, s := range benchSizes {
		body := anthropicMessageOfSize(b, s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(bedrockTarget, "/v1/chat/completions")
				if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
					b.Fatal(err)
				}
				if _, _, err := tr.ResponseBody(body, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBedrockAnthropicStreamChunk measures one event stream frame (a
// chunk carrying a text_delta) in, one chat.completion.chunk out.
func BenchmarkBedrockAnthropicStreamChunk(b *testing.B) {
	tr := bedrockStreamTranslator(b, true)
	if _, err := tr.ResponseHeaders(200, "application/vnd.amazon.eventstream", ""); err != nil {
		b.Fatal(err)
	}
	start := append(chunkFrame(b, []byte(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","usage":{"input_tokens":25,"output_tokens":1}}}`)),
		chunkFrame(b, []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`))...)
	if _, _, err := tr.ResponseBody(start, false); err != nil {
		b.Fatal(err)
	}
	delta := chunkFrame(b, []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" a few more words"}}`))
	b.SetBytes(int64(len(delta)))
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := tr.ResponseBody(delta, false)
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
	}
}

func BenchmarkBedrockEmbeddings(b *testing.B) {
	for _, s := range benchSizes {
		text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", s.size/45+1)[:s.size]
		req, _ := json.Marshal(map[string]any{"model": "amazon.titan-embed-text-v2:0", "input": text})
		vec := make([]float64, 1024)
		for i := range vec {
			vec[i] = float64(i) / 3
		}
		resp, _ := json.Marshal(map[string]any{"embedding": vec, "inputTextTokenCount": 100})
		b.Run("request/"+s.name, func(b *testing.B) {
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(Target{Schema: SchemaAWSBedrock}, "/v1/embeddings")
				res, err := tr.RequestBody(req)
				if err != nil {
					b.Fatal(err)
				}
				res.Release() // as the upstream phase does once Envoy copied the body
			}
		})
		if s.size > 1<<10 {
			continue
		}
		b.Run("response/1024dims", func(b *testing.B) {
			b.SetBytes(int64(len(resp)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(Target{Schema: SchemaAWSBedrock}, "/v1/embeddings")
				tr.RequestBody(req)
				tr.ResponseHeaders(200, "application/json", "")
				if _, _, err := tr.ResponseBody(resp, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBedrockConverseRequest(b *testing.B) {
	for _, s := range benchSizes {
		body := chatRequestOfSize(b, s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(converseTarget, "/v1/chat/completions")
				res, err := tr.RequestBody(body)
				if err != nil {
					b.Fatal(err)
				}
				res.Release() // as the upstream phase does once Envoy copied the body
			}
		})
	}
}

func BenchmarkBedrockConverseResponse(b *testing.B) {
	for _, s := range benchSizes {
		text := strings.Repeat("All work and no play makes Jack a dull boy. ", s.size/44+1)[:s.size-200]
		body, _ := json.Marshal(map[string]any{
			"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": []any{map[string]any{"text": text}}}},
			"stopReason": "end_turn", "usage": map[string]any{"inputTokens": 1200, "outputTokens": 900, "totalTokens": 2100},
		})
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(converseTarget, "/v1/chat/completions")
				if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
					b.Fatal(err)
				}
				if _, _, err := tr.ResponseBody(body, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBedrockConverseStreamChunk: one contentBlockDelta frame in, one
// chat.completion.chunk out.
func BenchmarkBedrockConverseStreamChunk(b *testing.B) {
	tr, _ := New(converseTarget, "/v1/chat/completions")
	if _, err := tr.RequestBody([]byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)); err != nil {
		b.Fatal(err)
	}
	if _, err := tr.ResponseHeaders(200, "application/vnd.amazon.eventstream", ""); err != nil {
		b.Fatal(err)
	}
	if _, _, err := tr.ResponseBody(converseFrame(b, "messageStart", `{"role":"assistant"}`), false); err != nil {
		b.Fatal(err)
	}
	delta := converseFrame(b, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" a few more words"}}`)
	b.SetBytes(int64(len(delta)))
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := tr.ResponseBody(delta, false)
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
	}
}
