package translate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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
// becomes valid JSON (a chat.completion or an OpenAI error), or, for a 2xx
// body that does not parse, a KindProvider badResponse the caller answers as 502;
// the usage read is always plausible; a 2xx body translates exactly as the
// struct-decoding oracle did.
func FuzzAnthropicResponse(f *testing.F) {
	addFiles(f, "testdata/anthropic/response/*.json", func(b []byte) {
		f.Add(b, uint16(200))
		f.Add(b, uint16(529))
	})
	for _, b := range responseOracleCases {
		f.Add([]byte(b), uint16(200))
	}
	f.Fuzz(func(t *testing.T, body []byte, status uint16) {
		checkResponseOracle(t, "fuzz", body)
		tr := anthropicResponseTranslator(t, false, false)
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

// checkUsage fails on a usage that breaks the plausibility rules (usage.go).
func checkUsage(t *testing.T, u Usage) {
	t.Helper()
	for _, n := range []int64{u.InputTokens, u.OutputTokens, u.CachedInputTokens} {
		if n < 0 || n > 3*MaxPlausibleTokens {
			t.Fatalf("implausible usage %+v", u)
		}
	}
	if u.TotalTokens < u.InputTokens+u.OutputTokens || u.CachedInputTokens > u.InputTokens {
		t.Fatalf("inconsistent usage %+v", u)
	}
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
// fails with a typed error carrying a valid OpenAI error body, and the
// translation is the struct-decoding oracle's, byte for byte.
func FuzzAnthropicRequest(f *testing.F) {
	addFiles(f, "testdata/anthropic/request/*.json", func(b []byte) {
		if !bytes.Contains(b, []byte(`"path"`)) {
			f.Add(b)
		}
	})
	for _, b := range oracleCases {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkOracle(t, "fuzz", body)
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

// FuzzGzipSSE: a gzip-encoded stream, split anywhere, decodes to exactly the
// identity stream's output (passthrough bytes, Anthropic translation and
// usage); arbitrary bytes claimed as gzip never panic and end, if they fail,
// in a KindProvider badResponse with an error event as the last output.
func FuzzGzipSSE(f *testing.F) {
	addFiles(f, "testdata/anthropic/stream/*.sse", func(b []byte) {
		if !bytes.Contains(b, []byte("data: {\"id\"")) {
			f.Add(b, uint16(len(b)/3))
		}
	})
	f.Add([]byte(openAIStreamFixture), uint16(50))
	f.Add([]byte("data: "+strings.Repeat("x", 300)+"\n\n"), uint16(7))
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		gz := gzipBytes(t, in)
		i := int(cut) % (len(gz) + 1)
		lim := Limits{MaxEventBytes: 256, MaxDecodedBytes: 1 << 20}

		// Passthrough: bytes unchanged, usage as for identity.
		run := func(enc string, pieces ...[]byte) ([]byte, Usage, error) {
			tr, _ := New(Target{Limits: lim}, "/v1/chat/completions")
			if _, err := tr.ResponseHeaders(200, "text/event-stream", enc); err != nil {
				t.Fatal(err)
			}
			var out []byte
			var u Usage
			var first error
			for j, p := range pieces {
				o, uu, err := tr.ResponseBody(p, j == len(pieces)-1)
				out, u = append(out, o...), uu
				if err != nil && first == nil {
					first = err
				}
			}
			checkUsage(t, u)
			return out, u, first
		}
		plainOut, plainUsage, err := run("", in)
		if err != nil {
			t.Fatal(err)
		}
		gzOut, gzUsage, err := run("gzip", gz[:i], gz[i:])
		if err != nil || !bytes.Equal(gzOut, plainOut) || gzUsage != plainUsage {
			t.Fatalf("gzip passthrough differs: %v", err)
		}

		// Anthropic: the same translation, gzip or not.
		anth := func(enc string, pieces ...[]byte) []byte {
			tr := newAnthropicT(t, Target{Schema: SchemaAnthropic, Limits: lim})
			tr.RequestBody([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`))
			if _, err := tr.ResponseHeaders(200, "text/event-stream", enc); err != nil {
				t.Fatal(err)
			}
			var out []byte
			for j, p := range pieces {
				o, u, _ := tr.ResponseBody(p, j == len(pieces)-1)
				checkUsage(t, u)
				out = append(out, o...)
			}
			checkSSEOutput(t, out)
			return out
		}
		if a, b := anth("", in), anth("gzip", gz[:i], gz[i:]); !bytes.Equal(a, b) {
			t.Fatalf("gzip anthropic stream differs:\n%s\nvs\n%s", b, a)
		}

		// Not gzip at all.
		j := int(cut) % (len(in) + 1)
		out, _, err := run("gzip", in[:j], in[j:])
		if err != nil && (!isBadResponse(err) || !bytes.HasSuffix(out, []byte("\n\n")) || !bytes.Contains(out, []byte(`"error"`))) {
			t.Fatalf("undecodable gzip: %v, output %q", err, out)
		}
		anth("gzip", in[:j], in[j:])
	})
}

// FuzzMessagesStream: any OpenAI-style stream bytes, split anywhere, give
// the same output, always Anthropic's well-formed event sequence.
func FuzzMessagesStream(f *testing.F) {
	addFiles(f, "testdata/messages/stream/*.sse", func(b []byte) {
		if !bytes.Contains(b, []byte("event: ")) { // inputs only, not goldens
			f.Add(b, uint16(len(b)/2))
		}
	})
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		whole, wholeUsage := messagesStreamOut(t, in)
		checkAnthropicSSE(t, whole)
		i := int(cut) % (len(in) + 1)
		split, splitUsage := messagesStreamOut(t, in[:i], in[i:])
		if !bytes.Equal(whole, split) || wholeUsage != splitUsage {
			t.Fatalf("split at %d changed the output:\n%s\nvs\n%s", i, split, whole)
		}
	})
}

// FuzzMessagesResponse: any OpenAI-style body under any status becomes
// valid JSON in Anthropic's shape (a message or an error), or a 2xx the
// gateway cannot read is a badResponse.
func FuzzMessagesResponse(f *testing.F) {
	addFiles(f, "testdata/messages/response/*.json", func(b []byte) {
		f.Add(b, uint16(200))
		f.Add(b, uint16(500))
	})
	f.Fuzz(func(t *testing.T, body []byte, status uint16) {
		tr := messagesResponseTranslator(t, false)
		if _, err := tr.ResponseHeaders(int(status), "application/json", ""); err != nil {
			t.Fatal(err)
		}
		out, u, err := tr.ResponseBody(body, true)
		if err != nil {
			if !isBadResponse(err) || !isSuccess(int(status)) {
				t.Fatalf("error %v for status %d", err, status)
			}
			return
		}
		var v struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(out, &v); err != nil || (v.Type != "message" && v.Type != "error") {
			t.Fatalf("output %s (%v)", out, err)
		}
		if u.InputTokens < 0 || u.OutputTokens < 0 || u.CachedInputTokens > u.InputTokens {
			t.Fatalf("usage %+v", u)
		}
	})
}

// FuzzMessagesRequest: any client body is translated into a valid JSON chat
// request or refused with a 400 *Error; never a panic.
func FuzzMessagesRequest(f *testing.F) {
	addFiles(f, "testdata/messages/request/*.json", func(b []byte) {
		if !bytes.Contains(b, []byte(`"max_completion_tokens"`)) {
			f.Add(b)
		}
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		tr, _ := New(msgOpenAITarget, "/v1/messages")
		res, err := tr.RequestBody(body)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Status != 400 || (e.Kind != KindInvalid && e.Kind != KindUnsupported) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if !json.Valid(res.Body) {
			t.Fatalf("invalid JSON %s", res.Body)
		}
	})
}
