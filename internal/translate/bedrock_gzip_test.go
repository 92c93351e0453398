package translate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// bedrockGzipCase drives one Bedrock translator (a client endpoint of a
// target) with a response, plain or gzip-encoded, in pieces.
type bedrockGzipCase struct {
	name        string
	target      Target
	path        string
	request     string
	contentType string
	status      int
	body        []byte
}

func (c *bedrockGzipCase) run(t *testing.T, encoding string, pieces ...[]byte) ([]byte, Usage, ResponseMode, error) {
	t.Helper()
	tr, err := New(c.target, c.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.RequestBody([]byte(c.request)); err != nil {
		t.Fatal(err)
	}
	mode, err := tr.ResponseHeaders(c.status, c.contentType, encoding)
	if err != nil {
		t.Fatal(err)
	}
	all, u, err := responsePieces(tr, pieces)
	return all, u, mode, err
}

// TestBedrockGzip: every Bedrock chat translator (the /v1/messages front
// door to aws_bedrock_anthropic, its chat completions translation, and
// Converse) decodes a gzip-encoded response, plain, error or event stream,
// to exactly what the identity response gives, at every split point of the
// compressed bytes; a corrupt one is a badResponse (a 502 when buffered, an
// error event when streamed); an encoding it cannot decode is a 502 at the
// headers.
func TestBedrockGzip(t *testing.T) {
	sse, err := os.ReadFile(filepath.Join("testdata", "anthropic", "stream", "thinking_max_tokens.sse"))
	if err != nil {
		t.Fatal(err)
	}
	claudeFrames := bedrockStreamOf(t, sse)
	claudeMsg := []byte(`{"id":"msg_1","type":"message","model":"claude","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":4,"output_tokens":9}}`)
	bedrockErr := []byte(`{"message":"Too many requests, please wait before trying again."}`)
	const chatReq = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	const chatStreamReq = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	const msgReq = `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	const msgStreamReq = `{"model":"m","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	claude := Target{Schema: SchemaAWSBedrockAnthropic, DefaultModel: "anthropic.claude-3-haiku-20240307-v1:0"}
	cases := []bedrockGzipCase{
		{"messages plain", claude, "/v1/messages", msgReq, "application/json", 200, claudeMsg},
		{"messages error", claude, "/v1/messages", msgReq, "application/json", 429, bedrockErr},
		{"messages stream", claude, "/v1/messages", msgStreamReq, "application/vnd.amazon.eventstream", 200, claudeFrames},
		{"claude chat plain", claude, "/v1/chat/completions", chatReq, "application/json", 200, claudeMsg},
		{"claude chat error", claude, "/v1/chat/completions", chatReq, "application/json", 429, bedrockErr},
		{"claude chat stream", claude, "/v1/chat/completions", chatStreamReq, "application/vnd.amazon.eventstream", 200, claudeFrames},
		{"converse plain", converseTarget, "/v1/chat/completions", chatReq, "application/json", 200,
			[]byte(`{"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"hmm","signature":"s"}}},{"text":"hi"}]}},"stopReason":"guardrail_intervened","usage":{"inputTokens":4,"outputTokens":9}}`)},
		{"converse error", converseTarget, "/v1/chat/completions", chatReq, "application/json", 429, bedrockErr},
		{"converse stream", converseTarget, "/v1/chat/completions", chatStreamReq, "application/vnd.amazon.eventstream", 200, converseStream(t)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, wantUsage, _, err := c.run(t, "", c.body)
			if err != nil || len(want) == 0 {
				t.Fatalf("identity: %v %q", err, want)
			}
			gz := gzipBytes(t, c.body)
			got, u, mode, err := c.run(t, "gzip", gz)
			if err != nil || !bytes.Equal(got, want) || u != wantUsage || !mode.RemoveContentEncoding || !mode.ModifiesBody {
				t.Fatalf("gzip: %v %+v\n%s\nwant\n%s", err, mode, got, want)
			}
			for i := 0; i <= len(gz); i++ {
				got, u, _, err := c.run(t, "gzip", gz[:i], gz[i:])
				if err != nil || !bytes.Equal(got, want) || u != wantUsage {
					t.Fatalf("split at %d: %v\n%s", i, err, got)
				}
			}
			// Corrupt: the compressed bytes cut in the middle.
			got, _, mode, err = c.run(t, "gzip", gz[:len(gz)/2])
			if !isBadResponse(err) {
				t.Fatalf("truncated gzip: %v %s", err, got)
			}
			if mode.Stream && !bytes.Contains(got, []byte(`"error"`)) {
				t.Fatalf("truncated gzip stream ends without an error event: %s", got)
			}
			tr, _ := New(c.target, c.path)
			tr.RequestBody([]byte(c.request))
			if _, err := tr.ResponseHeaders(c.status, c.contentType, "br"); err == nil {
				t.Fatal("br accepted")
			}
		})
	}
}

// FuzzBedrockGzipStream: any bytes as a Bedrock event stream give the same
// output, usage and error-ness whether they arrive gzip-encoded (split
// anywhere) or not, on the /v1/messages front door, the Claude chat
// translation and Converse.
func FuzzBedrockGzipStream(f *testing.F) {
	f.Add(converseStream(f), uint16(100), uint8(2))
	f.Add(chunkFrame(f, []byte(`{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":1}}}`)), uint16(7), uint8(0))
	claude := Target{Schema: SchemaAWSBedrockAnthropic, DefaultModel: "anthropic.claude-3-haiku-20240307-v1:0"}
	cases := []bedrockGzipCase{
		{"messages stream", claude, "/v1/messages", `{"model":"m","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "application/vnd.amazon.eventstream", 200, nil},
		{"claude chat stream", claude, "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "application/vnd.amazon.eventstream", 200, nil},
		{"converse stream", converseTarget, "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "application/vnd.amazon.eventstream", 200, nil},
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16, which uint8) {
		c := &cases[int(which)%len(cases)]
		want, wu, _, werr := c.run(t, "", in)
		gz := gzipBytes(t, in)
		i := int(cut) % (len(gz) + 1)
		got, u, _, err := c.run(t, "gzip", gz[:i], gz[i:])
		if !bytes.Equal(got, want) || u != wu || (err == nil) != (werr == nil) {
			t.Fatalf("gzip split at %d differs: %v / %v\n%s\nwant\n%s", i, err, werr, got, want)
		}
	})
}
