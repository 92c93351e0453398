package translate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// messagesStreamOut feeds an OpenAI chunk stream in the given pieces through
// a fresh front-door translator.
func messagesStreamOut(t testing.TB, pieces ...[]byte) ([]byte, Usage) {
	t.Helper()
	tr := messagesResponseTranslator(t, true)
	mode, err := tr.ResponseHeaders(200, "text/event-stream", "")
	if err != nil || !mode.Stream || mode.BufferBody || mode.ContentType != "text/event-stream" {
		t.Fatalf("mode %+v %v", mode, err)
	}
	var all []byte
	var usage Usage
	for i, p := range pieces {
		out, u, _ := tr.ResponseBody(p, i == len(pieces)-1)
		all = append(all, out...)
		usage = u
	}
	return all, usage
}

// checkAnthropicSSE asserts the output is Anthropic's event sequence: each
// event an "event:" line naming the JSON data's type, message_start first,
// then blocks opened, delta'd and closed in index order, and message_delta
// plus message_stop last, or one error event last.
func checkAnthropicSSE(t testing.TB, out []byte) []string {
	t.Helper()
	var types []string
	open, next := -1, 0
	for _, ev := range bytes.Split(out, []byte("\n\n")) {
		if len(ev) == 0 {
			continue
		}
		name, data, ok := bytes.Cut(ev, []byte("\n"))
		n, okName := bytes.CutPrefix(name, []byte("event: "))
		d, okData := bytes.CutPrefix(data, []byte("data: "))
		var v struct {
			Type  string `json:"type"`
			Index *int   `json:"index"`
		}
		if !ok || !okName || !okData || json.Unmarshal(d, &v) != nil || v.Type != string(n) {
			t.Fatalf("malformed event %q in\n%s", ev, out)
		}
		if len(types) > 0 && (types[len(types)-1] == "message_stop" || types[len(types)-1] == "error") {
			t.Fatalf("event after the end: %s", out)
		}
		switch v.Type {
		case "message_start":
			if len(types) != 0 {
				t.Fatalf("message_start not first: %s", out)
			}
		case "content_block_start":
			if open != -1 || v.Index == nil || *v.Index != next {
				t.Fatalf("block start out of order: %s", out)
			}
			open = next
		case "content_block_delta", "content_block_stop":
			if v.Index == nil || *v.Index != open {
				t.Fatalf("%s for a block not open: %s", v.Type, out)
			}
			if v.Type == "content_block_stop" {
				open, next = -1, next+1
			}
		case "message_delta":
			if open != -1 {
				t.Fatalf("message_delta with a block open: %s", out)
			}
		}
		types = append(types, v.Type)
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n")) {
		t.Fatalf("output does not end with a blank line: %q", out)
	}
	return types
}

func TestMessagesStreamGolden(t *testing.T) {
	for _, in := range inputs(t, "messages/stream", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			stream, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := messagesStreamOut(t, stream)
			types := checkAnthropicSSE(t, out)
			last := types[len(types)-1]
			if last != "message_stop" && last != "error" {
				t.Errorf("stream ends with %s", last)
			}
			checkGolden(t, goldenPath(in), out)
		})
	}
}

// Every split point, and byte by byte, give the single-piece output.
func TestMessagesStreamEverySplit(t *testing.T) {
	for _, in := range inputs(t, "messages/stream", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			stream, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			checkEverySplit(t, stream, func(pieces ...[]byte) ([]byte, Usage) { return messagesStreamOut(t, pieces...) })
		})
	}
}

func TestMessagesStreamUsage(t *testing.T) {
	stream, err := os.ReadFile("testdata/messages/stream/text.sse")
	if err != nil {
		t.Fatal(err)
	}
	out, u := messagesStreamOut(t, stream)
	if u != (Usage{InputTokens: 9, OutputTokens: 3, TotalTokens: 12, CachedInputTokens: 4, Model: "gpt-4o-mini"}) {
		t.Errorf("usage %+v", u)
	}
	if !bytes.Contains(out, []byte(`"usage":{"input_tokens":5,"output_tokens":3,"cache_read_input_tokens":4`)) {
		t.Errorf("message_delta usage missing: %s", out)
	}
}

// An event over max_stream_event_bytes ends the stream with an error event.
func TestMessagesStreamEventCap(t *testing.T) {
	tr, _ := New(Target{Schema: SchemaOpenAI, Limits: Limits{MaxEventBytes: 64}}, "/v1/messages")
	if _, err := tr.RequestBody([]byte(`{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"x"}]}`)); err != nil {
		t.Fatal(err)
	}
	_, _ = tr.ResponseHeaders(200, "text/event-stream", "")
	out, _, err := tr.ResponseBody(append([]byte("data: "), bytes.Repeat([]byte("x"), 200)...), false)
	if err == nil || !bytes.HasPrefix(out, []byte("event: error\n")) {
		t.Fatalf("out %q err %v", out, err)
	}
	checkAnthropicSSE(t, out)
}
