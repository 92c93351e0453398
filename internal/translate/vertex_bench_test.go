package translate

import (
	"encoding/json"
	"strings"
	"testing"
)

// geminiResponseOfSize builds a Gemini generateContent response of about size bytes.
func geminiResponseOfSize(tb testing.TB, size int) []byte {
	tb.Helper()
	text := strings.Repeat("All work and no play makes Jack a dull boy. ", size/44+1)[:size-260]
	body, err := json.Marshal(map[string]any{
		"candidates":    []any{map[string]any{"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": text}}}, "finishReason": "STOP"}},
		"usageMetadata": map[string]any{"promptTokenCount": 1200, "candidatesTokenCount": 900, "totalTokenCount": 2100},
		"modelVersion":  "gemini-2.5-flash", "responseId": "resp-1",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

func BenchmarkVertexRequest(b *testing.B) {
	for _, schema := range []string{SchemaVertexGemini, SchemaVertexAnthropic} {
		tg := vertexTarget
		tg.Schema = schema
		for _, s := range benchSizes {
			body := chatRequestOfSize(b, s.size)
			b.Run(schema+"/"+s.name, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					tr, _ := New(tg, "/v1/chat/completions")
					res, err := tr.RequestBody(body)
					if err != nil {
						b.Fatal(err)
					}
					res.Release() // as the upstream phase does once Envoy copied the body
				}
			})
		}
	}
}

func BenchmarkGeminiResponse(b *testing.B) {
	tg := vertexTarget
	tg.Schema = SchemaVertexGemini
	for _, s := range benchSizes {
		body := geminiResponseOfSize(b, s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(tg, "/v1/chat/completions")
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

// BenchmarkGeminiStreamChunk measures one Gemini SSE event in, one
// chat.completion.chunk out, on a long-lived stream: a text part, and a
// thought part (reasoning_content).
func BenchmarkGeminiStreamChunk(b *testing.B) {
	for _, tc := range []struct{ name, part string }{
		{"text", `{"text":" a few more words"}`},
		{"thought", `{"text":" a few more thoughts","thought":true}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tr := &geminiTranslator{target: vertexTarget, model: "gemini-2.5-flash", includeUsage: true}
			if _, err := tr.ResponseHeaders(200, "text/event-stream", ""); err != nil {
				b.Fatal(err)
			}
			ev := []byte(`data: {"candidates":[{"content":{"role":"model","parts":[` + tc.part + `]}}],"usageMetadata":{"promptTokenCount":25,"candidatesTokenCount":7,"totalTokenCount":32,"thoughtsTokenCount":12},"modelVersion":"gemini-2.5-flash","responseId":"r1"}` + "\r\n\r\n")
			b.SetBytes(int64(len(ev)))
			b.ReportAllocs()
			for b.Loop() {
				out, _, err := tr.ResponseBody(ev, false)
				if err != nil || len(out) == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVertexEmbeddingsResponse(b *testing.B) {
	tg := vertexTarget
	tg.Schema = SchemaVertexGemini
	vals := strings.TrimSuffix(strings.Repeat("0.0123456789,", 768), ",")
	body := []byte(`{"predictions":[{"embeddings":{"values":[` + vals + `],"statistics":{"token_count":8}}}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		tr, _ := New(tg, "/v1/embeddings")
		if _, err := tr.RequestBody([]byte(`{"model":"text-embedding-005","input":"x"}`)); err != nil {
			b.Fatal(err)
		}
		tr.ResponseHeaders(200, "application/json", "")
		if _, _, err := tr.ResponseBody(body, true); err != nil {
			b.Fatal(err)
		}
	}
}
