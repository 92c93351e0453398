package translate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/bufpool"
	"github.com/aigw/aigw/internal/testbodies"
)

// pooledCases are the translations that write a new request body, one per
// translator: each writes it into a pooled buffer the result owns.
var pooledCases = []struct {
	name   string
	target Target
	path   string
	body   func(size int) []byte
}{
	{"anthropic", anthTarget, "/v1/chat/completions", chatOfSize},
	{"vertex anthropic", Target{Schema: SchemaVertexAnthropic, Project: "p", Region: "us-east5"}, "/v1/chat/completions", chatOfSize},
	{"bedrock anthropic", Target{Schema: SchemaAWSBedrockAnthropic, Region: "us-east-1"}, "/v1/chat/completions", chatOfSize},
	{"bedrock converse", Target{Schema: SchemaAWSBedrock, Region: "us-east-1"}, "/v1/chat/completions", chatOfSize},
	{"gemini", Target{Schema: SchemaVertexGemini, Project: "p", Region: "us-central1"}, "/v1/chat/completions", chatOfSize},
	{"messages front door", Target{Schema: SchemaOpenAI}, "/v1/messages", messagesOfSize},
	{"vertex anthropic messages", Target{Schema: SchemaVertexAnthropic, Project: "p", Region: "us-east5"}, "/v1/messages", messagesOfSize},
	{"bedrock anthropic messages", Target{Schema: SchemaAWSBedrockAnthropic, Region: "us-east-1"}, "/v1/messages", messagesOfSize},
	{"vertex embeddings", Target{Schema: SchemaVertexGemini, Project: "p", Region: "us-central1"}, "/v1/embeddings", embeddingsOfSize("text-embedding-005")},
	{"bedrock embeddings", Target{Schema: SchemaAWSBedrock, Region: "us-east-1"}, "/v1/embeddings", embeddingsOfSize("amazon.titan-embed-text-v2:0")},
	{"openai override", Target{Schema: SchemaOpenAI, DefaultModel: "gpt-4o-2024-08-06"}, "/v1/chat/completions", chatOfSize},
}

func chatOfSize(size int) []byte { return testbodies.Chat(size, false) }

func messagesOfSize(size int) []byte {
	text := strings.Repeat("All work and no play makes Jack a dull boy. ", size/44+1)[:size]
	return []byte(`{"model":"claude-3-5-haiku-20241022","max_tokens":64,"messages":[{"role":"user","content":"` + text + `"}]}`)
}

func embeddingsOfSize(model string) func(int) []byte {
	return func(size int) []byte {
		text := strings.Repeat("All work and no play makes Jack a dull boy. ", size/44+1)[:size]
		return []byte(`{"model":"` + model + `","input":"` + text + `"}`)
	}
}

// Every translation that writes a request body hands it over in a pooled
// buffer the result owns (BodyBuffer), small and large; Release gives it
// back, clears Body and may be called again; and a slice of the body kept
// past Release reads poison (bufpool), so a holder that reads after release
// fails its tests instead of passing by luck. A result never released keeps
// a valid body.
func TestRequestBodyPooled(t *testing.T) {
	was := bufpool.SetPoison(true)
	defer bufpool.SetPoison(was)
	for _, c := range pooledCases {
		for _, size := range []int{1 << 10, 100 << 10} {
			tr, err := New(c.target, c.path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := tr.RequestBody(c.body(size))
			if err != nil {
				t.Fatalf("%s %d: %v", c.name, size, err)
			}
			if len(res.Body) == 0 || res.BodyBuffer == (BodyBuffer{}) {
				t.Fatalf("%s %d: body of %d bytes, pooled %v", c.name, size, len(res.Body), res.BodyBuffer != (BodyBuffer{}))
			}
			// Nothing of the result lives in memory released already
			// (Converse's intermediate Anthropic body, for one).
			poison := string([]byte{bufpool.PoisonByte})
			for _, v := range []string{string(res.Body), res.Path, res.Model, res.RequestModel} {
				if strings.Contains(v, poison) {
					t.Fatalf("%s %d: the result holds released memory: %.80q", c.name, size, v)
				}
			}
			if !json.Valid(res.Body) {
				t.Fatalf("%s %d: the body is not JSON: %.200s", c.name, size, res.Body)
			}
			want := string(res.Body)
			// Another translation of the same body, never released, is
			// not disturbed by this one's release.
			tr2, _ := New(c.target, c.path)
			kept, _ := tr2.RequestBody(c.body(size))
			view := res.Body
			res.Release()
			if res.Body != nil || res.BodyBuffer != (BodyBuffer{}) {
				t.Fatalf("%s %d: Release left the body", c.name, size)
			}
			res.Release()
			if bytes.Count(view, []byte{bufpool.PoisonByte}) != len(view) {
				t.Fatalf("%s %d: a slice kept past Release is not poisoned", c.name, size)
			}
			if string(kept.Body) != want {
				t.Fatalf("%s %d: an unreleased result changed", c.name, size)
			}
		}
	}
}

// A body that outgrew its pooled buffer (the translator's size guess was
// short) is memory of its own, not the pool's: the result owns no buffer
// and its body stays valid whatever the pool does.
func TestRequestBodyOutgrewItsBuffer(t *testing.T) {
	was := bufpool.SetPoison(true)
	defer bufpool.SetPoison(was)
	buf := bodyBuffer(10)
	body := append(*buf, bytes.Repeat([]byte("x"), 10<<10)...) // past the 4 KiB class
	var res RequestResult
	res.setBody(buf, body)
	if res.BodyBuffer != (BodyBuffer{}) {
		t.Fatal("a body outside the pooled buffer is owned as if pooled")
	}
	res.Release()
	if string(body) != strings.Repeat("x", 10<<10) {
		t.Fatal("the grown body changed")
	}
	// Within the buffer: owned.
	buf = bodyBuffer(10)
	res = RequestResult{}
	res.setBody(buf, append(*buf, "ok"...))
	if res.BodyBuffer == (BodyBuffer{}) || string(res.Body) != "ok" {
		t.Fatal("a body in its pooled buffer is not owned")
	}
	res.Release()
}
