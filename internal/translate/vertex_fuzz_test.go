package translate

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzGeminiStream: any upstream bytes, split anywhere, give the same
// output, always well-formed SSE with JSON payloads, and plausible usage.
func FuzzGeminiStream(f *testing.F) {
	addFiles(f, "testdata/gemini/stream/*.sse", func(b []byte) {
		if !bytes.Contains(b, []byte(`"object":"chat.completion.chunk"`)) { // inputs only
			f.Add(b, uint16(len(b)/2))
		}
	})
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		whole, wholeUsage := translateGeminiStream(t, true, in)
		checkSSEOutput(t, whole)
		checkUsage(t, wholeUsage)
		i := int(cut) % (len(in) + 1)
		split, splitUsage := translateGeminiStream(t, true, in[:i], in[i:])
		if !bytes.Equal(whole, split) || wholeUsage != splitUsage {
			t.Fatalf("split at %d changed the output:\n%s\nvs\n%s", i, split, whole)
		}
	})
}

// FuzzVertexResponse: any non-streamed body under any status, for chat and
// embeddings, becomes valid JSON (a chat.completion, an embeddings list or
// an OpenAI error), or, for a 2xx body that does not translate, the 502
// badResponse; usage is always plausible.
func FuzzVertexResponse(f *testing.F) {
	for _, dir := range []string{"gemini/response", "vertex_embeddings/response"} {
		addFiles(f, "testdata/"+dir+"/*.json", func(b []byte) {
			embeddings := bytes.Contains(b, []byte("predictions"))
			f.Add(b, uint16(200), embeddings)
			f.Add(b, uint16(429), embeddings)
		})
	}
	f.Fuzz(func(t *testing.T, body []byte, status uint16, embeddings bool) {
		path, req := "/v1/chat/completions", `{"model":"g","messages":[{"role":"user","content":"x"}]}`
		if embeddings {
			path, req = "/v1/embeddings", `{"model":"e","input":"x"}`
		}
		tr := newVertexT(t, SchemaVertexGemini, path)
		if _, err := tr.RequestBody([]byte(req)); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.ResponseHeaders(int(status), "application/json", ""); err != nil {
			t.Fatal(err)
		}
		out, u, err := tr.ResponseBody(body, true)
		checkUsage(t, u)
		if err != nil {
			if !isBadResponse(err) || !isSuccess(int(status)) {
				t.Fatalf("status %d: unexpected error %v", status, err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON output %q for %q", out, body)
		}
	})
}
