package upstream

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strings"
	"testing"
)

func gz(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// Responses the gateway cannot translate are a 502 OpenAI error while the
// headers are still held, never the provider's 200 with an empty body or an
// error object inside.
func TestUntranslatableResponsesAre502(t *testing.T) {
	const oaiStream = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[]}\n\ndata: [DONE]\n\n"
	bomb := gz(t, strings.Repeat("\x00", 3<<20)) // over max_decoded_response_bytes below
	cases := []struct {
		name    string
		backend string
		body    string
		headers fakeHeaders
		chunks  []string
	}{
		{"anthropic 200 truncated", "claude", chatBody,
			fakeHeaders{":status": "200", "content-type": "application/json"}, []string{`{"id":"msg_1","type":"message","content":[{"type":"te`}},
		{"anthropic 200 html", "claude", chatBody,
			fakeHeaders{":status": "200", "content-type": "text/html"}, []string{"<html><body>", "upstream gone</body></html>"}},
		{"anthropic 200 number out of range", "claude", chatBody,
			fakeHeaders{":status": "200", "content-type": "application/json"}, []string{`{"id":"m","type":"message","content":[],"usage":{"input_tokens":1e999}}`}},
		{"openai gzip stream that is not gzip", "oai", `{"model":"m","stream":true}`,
			fakeHeaders{":status": "200", "content-type": "text/event-stream", "content-encoding": "gzip"}, []string{"data: {}\n\n", "data: [DONE]\n\n"}},
		{"openai gzip stream truncated", "oai", `{"model":"m","stream":true}`,
			fakeHeaders{":status": "200", "content-type": "text/event-stream", "content-encoding": "gzip"}, []string{gz(t, oaiStream)[:12]}},
		{"openai gzip bomb", "oai", chatBody,
			fakeHeaders{":status": "200", "content-type": "application/json", "content-encoding": "gzip"}, []string{bomb}},
		{"anthropic gzip stream that is not gzip", "claude", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			fakeHeaders{":status": "200", "content-type": "text/event-stream", "content-encoding": "gzip"}, []string{"event: ping\n", "data: {}\n\n"}},
		{"anthropic gzip error body that is not gzip", "claude", chatBody,
			fakeHeaders{":status": "529", "content-type": "application/json", "content-encoding": "gzip"}, []string{`{"type":"error"}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := clientRequest(tc.backend, "/v1/chat/completions", tc.body)
			f := NewFilter(limitedConfig(t), a)
			sendRequest(t, f)
			hs, _, out := respond(f, a, tc.headers, tc.chunks, false)
			if hs != HeadersStopIteration {
				t.Fatalf("headers not held: %v", hs)
			}
			var e openAIError
			if a.respH[":status"] != "502" || json.Unmarshal([]byte(out), &e) != nil || e.Error.Message == "" ||
				a.respH["content-type"] != "application/json" || a.respH["content-length"] != itoa(len(out)) {
				t.Fatalf("status %s headers %v body %q", a.respH[":status"], a.respH, out)
			}
			if _, ok := a.respH["content-encoding"]; ok {
				t.Fatal("content-encoding kept")
			}
			if !a.logged(LogError, "cannot be translated") {
				t.Fatalf("not logged: %v", a.logs)
			}
		})
	}
}

// limitedConfig is pipelineConfig's backends with a 2 MiB decode limit.
func limitedConfig(t *testing.T) *Config {
	t.Helper()
	t.Setenv("AIGW_TEST_OPENAI_KEY", "sk-openai-secret")
	t.Setenv("AIGW_TEST_ANTHROPIC_KEY", "anthropic-secret")
	return mustConfig(t, `{"max_decoded_response_bytes": 2097152, "backends": [
    {"name": "oai", "auth": {"type": "bearer", "key_env": "AIGW_TEST_OPENAI_KEY"}},
    {"name": "claude", "schema": "anthropic", "model_override": "claude-3-5-haiku-latest",
     "auth": {"type": "anthropic_api_key", "key_env": "AIGW_TEST_ANTHROPIC_KEY"}}]}`)
}

// A gzip stream is held only until its first decoded bytes, then flows
// chunk by chunk.
func TestGzipStreamReleasedWithFirstOutput(t *testing.T) {
	ev := []string{
		"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
		"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
		"data: [DONE]\n\n",
	}
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	var chunks []string
	// The gzip header alone first: nothing to send yet.
	w.Flush()
	chunks = append(chunks, buf.String()[:10])
	rest := buf.String()[10:]
	buf.Reset()
	for i, e := range ev {
		w.Write([]byte(e))
		if i == len(ev)-1 {
			w.Close()
		} else {
			w.Flush()
		}
		chunks = append(chunks, rest+buf.String())
		rest = ""
		buf.Reset()
	}
	a := clientRequest("oai", "/v1/chat/completions", `{"model":"m","stream":true}`)
	f := NewFilter(pipelineConfig(t), a)
	sendRequest(t, f)
	hs, st, out := respond(f, a, fakeHeaders{":status": "200", "content-type": "text/event-stream", "content-encoding": "gzip"}, chunks, false)
	if hs != HeadersStopIteration || st[0] != BodyStopIterationNoBuffer {
		t.Fatalf("statuses %v %v", hs, st)
	}
	for i, s := range st[1:] {
		if s != BodyContinue {
			t.Fatalf("chunk %d: %v after the first output", i+1, s)
		}
	}
	if out != strings.Join(ev, "") || a.respH[":status"] != "200" {
		t.Fatalf("status %s out %q", a.respH[":status"], out)
	}
	if _, ok := a.respH["content-encoding"]; ok {
		t.Fatal("content-encoding kept")
	}
	if a.dynMD[MetadataNamespace+"/"+MetadataTotalToken] != float64(4) {
		t.Fatalf("tokens %v", a.dynMD)
	}
}

// Negative usage never reaches dynamic metadata or the counters.
func TestNegativeUsageNotRecorded(t *testing.T) {
	a := clientRequest("oai", "/v1/chat/completions", chatBody)
	f := NewFilter(pipelineConfig(t), a)
	sendRequest(t, f)
	resp := `{"id":"x","choices":[],"usage":{"prompt_tokens":-11,"completion_tokens":7,"total_tokens":-4}}`
	respond(f, a, fakeHeaders{":status": "200", "content-type": "application/json"}, []string{resp}, true)
	if a.dynMD[MetadataNamespace+"/"+MetadataInputToken] != float64(0) || a.dynMD[MetadataNamespace+"/"+MetadataTotalToken] != float64(7) {
		t.Fatalf("metadata %v", a.dynMD)
	}
}
