package translate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzBedrockEventStream: any upstream bytes as a Bedrock event stream,
// split anywhere, give the same output and the same error, and the output is
// always well-formed SSE with JSON payloads (frames with bad CRCs, lengths or
// payloads end the stream with an error event, never a panic).
func FuzzBedrockEventStream(f *testing.F) {
	files, _ := filepath.Glob("testdata/anthropic/stream/*.sse")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil && !bytes.Contains(b, []byte("data: {\"id\"")) {
			frames := bedrockStreamOf(f, b)
			f.Add(frames, uint16(len(frames)/2))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		whole, wholeUsage, wholeErr := translateBedrockStream(t, in)
		checkSSEOutput(t, whole)
		if wholeErr != nil && !isBadResponse(wholeErr) {
			t.Fatalf("error %v is not a bad response", wholeErr)
		}
		i := int(cut) % (len(in) + 1)
		split, splitUsage, splitErr := translateBedrockStream(t, in[:i], in[i:])
		if !bytes.Equal(whole, split) || wholeUsage != splitUsage || (wholeErr == nil) != (splitErr == nil) {
			t.Fatalf("split at %d changed the output:\n%s (%v)\nvs\n%s (%v)", i, split, splitErr, whole, wholeErr)
		}
	})
}

// FuzzBedrockAnthropicResponse: any non-streamed Bedrock body under any
// status is valid JSON (a chat.completion or an OpenAI error) or a 2xx
// badResponse.
func FuzzBedrockAnthropicResponse(f *testing.F) {
	addFiles(f, "testdata/anthropic/response/*.json", func(b []byte) {
		f.Add(b, uint16(200))
		f.Add(b, uint16(400))
	})
	f.Add([]byte(`{"message":"Too many requests"}`), uint16(429))
	f.Fuzz(func(t *testing.T, body []byte, status uint16) {
		tr := newBedrockT(t, bedrockTarget)
		if _, err := tr.RequestBody([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.ResponseHeaders(int(status), "application/json", ""); err != nil {
			t.Fatal(err)
		}
		out, u, err := tr.ResponseBody(body, true)
		if err != nil {
			if !isBadResponse(err) || !isSuccess(int(status)) {
				t.Fatalf("status %d: unexpected error %v", status, err)
			}
			return
		}
		if !json.Valid(out) || u.InputTokens < 0 || u.OutputTokens < 0 {
			t.Fatalf("status %d: output %q usage %+v", status, out, u)
		}
	})
}
