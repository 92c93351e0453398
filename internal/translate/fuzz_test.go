package translate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// addFiles seeds a fuzz corpus with every testdata input of a kind.
func addFiles(f *testing.F, pattern string, add func([]byte)) {
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s: %v", pattern, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// FuzzAnthropicStream: any upstream bytes, split anywhere, give the same
// output, and that output is always well-formed SSE with JSON payloads.
func FuzzAnthropicStream(f *testing.F) {
	addFiles(f, "testdata/anthropic/stream/*.sse", func(b []byte) {
		if !bytes.Contains(b, []byte("data: {\"id\"")) { // inputs only, not goldens
			f.Add(b, uint16(len(b)/2))
		}
	})
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		whole, wholeUsage := translateStream(t, true, in)
		checkSSEOutput(t, whole)
		i := int(cut) % (len(in) + 1)
		split, splitUsage := translateStream(t, true, in[:i], in[i:])
		if !bytes.Equal(whole, split) || wholeUsage != splitUsage {
			t.Fatalf("split at %d changed the output:\n%s\nvs\n%s", i, split, whole)
		}
	})
}

// FuzzAnthropicResponse: any non-streamed upstream body under any status
// becomes valid JSON (a chat.completion or an OpenAI error).
func FuzzAnthropicResponse(f *testing.F) {
	addFiles(f, "testdata/anthropic/response/*.json", func(b []byte) {
		f.Add(b, uint16(200))
		f.Add(b, uint16(529))
	})
	f.Fuzz(func(t *testing.T, body []byte, status uint16) {
		tr := anthropicResponseTranslator(t, false, false)
		if _, err := tr.ResponseHeaders(int(status), "application/json", ""); err != nil {
			t.Fatal(err)
		}
		out, _, err := tr.ResponseBody(body, true)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON output %q for %q", out, body)
		}
	})
}

// FuzzOpenAIResponse: the passthrough never changes bytes and never panics
// while reading usage from arbitrary bodies and streams.
func FuzzOpenAIResponse(f *testing.F) {
	f.Add([]byte(openAIChatResponse), false, uint16(10))
	f.Add([]byte(openAIStreamFixture), true, uint16(100))
	f.Fuzz(func(t *testing.T, body []byte, stream bool, cut uint16) {
		tr, err := New(Target{}, "/v1/chat/completions")
		if err != nil {
			t.Fatal(err)
		}
		ct := "application/json"
		if stream {
			ct = "text/event-stream"
		}
		if _, err := tr.ResponseHeaders(200, ct, ""); err != nil {
			t.Fatal(err)
		}
		i := int(cut) % (len(body) + 1)
		a, _, err := tr.ResponseBody(body[:i], false)
		if err != nil {
			t.Fatal(err)
		}
		out := bytes.Clone(a)
		b, _, err := tr.ResponseBody(body[i:], true)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
		if !bytes.Equal(out, body) {
			t.Fatalf("passthrough changed the body")
		}
	})
}

// FuzzAnthropicRequest: any client body either translates to valid JSON or
// fails with a typed error carrying a valid OpenAI error body.
func FuzzAnthropicRequest(f *testing.F) {
	addFiles(f, "testdata/anthropic/request/*.json", func(b []byte) {
		if !bytes.Contains(b, []byte(`"path"`)) {
			f.Add(b)
		}
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := newAnthropicT(t, Target{Schema: SchemaAnthropic}).RequestBody(body)
		ue, isUnsupported := AsError(err, KindUnsupported)
		ie, isInvalid := AsError(err, KindInvalid)
		switch {
		case err == nil:
			if !json.Valid(res.Body) {
				t.Fatalf("invalid JSON request %q from %q", res.Body, body)
			}
		case isUnsupported:
			if !json.Valid(ue.JSON()) {
				t.Fatalf("invalid error JSON %q", ue.JSON())
			}
		case isInvalid:
			if !json.Valid(ie.JSON()) {
				t.Fatalf("invalid error JSON %q", ie.JSON())
			}
		default:
			t.Fatalf("untyped error %v", err)
		}
	})
}
