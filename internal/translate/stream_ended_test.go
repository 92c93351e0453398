package translate

import (
	"os"
	"path/filepath"
	"testing"
)

// A streaming translator's StreamEnded is true exactly when the output it
// returned so far holds the client's complete terminal event (its blank
// line too: a client acts on no event before it), wherever the provider's
// stream is cut, before its end of stream and after: every recorded stream
// of every streaming translator, cut in two at every byte.
func TestStreamEnded(t *testing.T) {
	// The client's terminal events, as an SSE client reads the output.
	openAIEnd := func(_, data []byte) bool { return string(data) == "[DONE]" }
	anthropicEnd := func(event, _ []byte) bool { return string(event) == "message_stop" }
	holds := func(out []byte, end func(event, data []byte) bool) bool {
		var p sseParser
		found := false
		p.feed(out, false, func(event, data []byte) error {
			found = found || end(event, data)
			return nil
		})
		return found
	}
	chatStream := func(t testing.TB, target Target) Translator {
		tr, err := New(target, "/v1/chat/completions")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.RequestBody([]byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	messagesStream := func(t testing.TB, target Target) Translator {
		tr, err := New(target, "/v1/messages")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.RequestBody([]byte(`{"model":"m","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	same := func(_ testing.TB, b []byte) []byte { return b }
	tests := []struct {
		name        string
		dir         string // recorded provider streams (testdata/<dir>/*.sse); none: frames makes one
		contentType string
		frames      func(testing.TB, []byte) []byte // the recording as the provider sends it
		tr          func(testing.TB) Translator
		end         func(event, data []byte) bool // the client's terminal event
		ends        bool                          // some recording's output holds it
	}{
		{"openai passthrough", "messages/stream", "text/event-stream", same,
			func(t testing.TB) Translator { return chatStream(t, Target{Schema: SchemaOpenAI}) }, openAIEnd, true},
		{"anthropic messages passthrough", "anthropic/stream", "text/event-stream", same,
			func(t testing.TB) Translator {
				return messagesStream(t, Target{Schema: SchemaAnthropic, DefaultModel: "claude-x", APIVersion: "2024-01-01"})
			}, anthropicEnd, true},
		{"openai to anthropic", "anthropic/stream", "text/event-stream", same,
			func(t testing.TB) Translator { return anthropicResponseTranslator(t, true, true) }, openAIEnd, true},
		{"openai to bedrock anthropic", "anthropic/stream", "application/vnd.amazon.eventstream", bedrockStreamOf,
			func(t testing.TB) Translator { return bedrockStreamTranslator(t, true) }, openAIEnd, true},
		{"anthropic messages to bedrock", "anthropic/stream", "application/vnd.amazon.eventstream", bedrockStreamOf,
			func(t testing.TB) Translator { return messagesStream(t, bedrockTarget) }, anthropicEnd, true},
		{"openai to bedrock converse", "", "application/vnd.amazon.eventstream", func(t testing.TB, _ []byte) []byte { return converseStream(t) },
			func(t testing.TB) Translator { return chatStream(t, converseTarget) }, openAIEnd, true},
		{"anthropic messages to openai", "messages/stream", "text/event-stream", same,
			func(t testing.TB) Translator { return messagesResponseTranslator(t, true) }, anthropicEnd, true},
		// Gemini's stream has no terminal event: its [DONE] comes at the
		// provider's end of stream, never before.
		{"openai to gemini", "gemini/stream", "text/event-stream", same,
			func(t testing.TB) Translator {
				return &geminiTranslator{target: vertexTarget, model: "gemini-2.5-flash", includeUsage: true}
			}, openAIEnd, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ended := false
			recordings := []string{"(made)"}
			if tt.dir != "" {
				recordings = inputs(t, tt.dir, ".sse")
			}
			for _, in := range recordings {
				var rec []byte
				if tt.dir != "" {
					var err error
					if rec, err = os.ReadFile(in); err != nil {
						t.Fatal(err)
					}
				}
				stream := tt.frames(t, rec)
				for cut := 0; cut <= len(stream); cut++ {
					tr := tt.tr(t)
					if mode, err := tr.ResponseHeaders(200, tt.contentType, ""); err != nil || !mode.Stream {
						t.Fatalf("mode %+v, %v", mode, err)
					}
					var out []byte
					check := func(step string) {
						t.Helper()
						if got, want := StreamEnded(tr), holds(out, tt.end); got != want {
							t.Fatalf("%s cut at %d, %s: StreamEnded %v with output\n%s", filepath.Base(in), cut, step, got, out)
						}
					}
					check("before any input")
					for _, p := range []struct {
						b   []byte
						eos bool
					}{{stream[:cut], false}, {stream[cut:], false}, {nil, true}} {
						o, _, _ := tr.ResponseBody(p.b, p.eos)
						out = append(out, o...)
						if !p.eos {
							ended = ended || StreamEnded(tr)
						}
						check("after a piece")
					}
				}
			}
			if ended != tt.ends {
				t.Errorf("some stream ended before the provider's end of stream: %v, want %v", ended, tt.ends)
			}
		})
	}
}
