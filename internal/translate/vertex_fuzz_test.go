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

// FuzzGeminiResponseSchema: any JSON as a response_format schema is either
// sent unchanged or refused with a 400 (never a panic, never another error).
func FuzzGeminiResponseSchema(f *testing.F) {
	for _, s := range []string{`true`, `{"type":"object","properties":{"a":{"$ref":"#/$defs/A"}},"$defs":{"A":{"enum":["x",1]}}}`,
		`{"anyOf":[{"pattern":"x"}]}`, `{"items":[{}]}`, `{"prefixItems":[{"items":{"items":{}}}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, schema []byte) {
		if !json.Valid(schema) {
			return
		}
		body := []byte(`{"model":"g","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":` + string(schema) + `}}}`)
		res, err := newVertexT(t, SchemaVertexGemini, "/v1/chat/completions").RequestBody(body)
		if err != nil {
			if e, ok := AsError(err, KindInvalid); ok && e.Status == 400 {
				return
			}
			if e, ok := AsError(err, KindUnsupported); ok && e.Status == 400 {
				return
			}
			t.Fatalf("schema %s: %v", schema, err)
		}
		if !json.Valid(res.Body) {
			t.Fatalf("invalid body %s", res.Body)
		}
	})
}
