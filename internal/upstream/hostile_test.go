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

// Buffered responses the gateway cannot translate are a 502 OpenAI error,
// never the provider's 200 with an empty body or an error object inside. A
// held 2xx ends the request with one 502 (SendResponse: the held headers are
// never released, docs/attempts.md); a status the router may retry already
// went on, so its body becomes the OpenAI error under the provider's status.
func TestUntranslatableResponsesAre502(t *testing.T) {
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
		{"openai gzip bomb", "oai", chatBody,
			fakeHeaders{":status": "200", "content-type": "application/json", "content-encoding": "gzip"}, []string{bomb}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := clientRequest(tc.backend, "/v1/chat/completions", tc.body)
			f := NewFilter(limitedConfig(t), a)
			sendRequest(t, f)
			hs, st, _ := respond(f, a, tc.headers, tc.chunks, false)
			if hs != Hold || st[len(st)-1] != Answered {
				t.Fatalf("statuses %v %v: want held headers, then answered", hs, st)
			}
			if a.respH[":status"] != "200" {
				t.Fatalf("held headers rewritten to %s: they must never be released", a.respH[":status"])
			}
			var e openAIError
			if len(a.responses) != 1 || a.responses[0].status != 502 || json.Unmarshal([]byte(a.responses[0].body), &e) != nil || e.Error.Message == "" {
				t.Fatalf("responses %v, want one 502 OpenAI error", a.responses)
			}
			if !a.logged(LogError, "cannot be translated") {
				t.Fatalf("not logged: %v", a.logs)
			}
		})
	}
	t.Run("anthropic 529 gzip error body that is not gzip", func(t *testing.T) {
		a := clientRequest("claude", "/v1/chat/completions", chatBody)
		f := NewFilter(limitedConfig(t), a)
		sendRequest(t, f)
		hs, _, out := respond(f, a, fakeHeaders{":status": "529", "content-type": "application/json", "content-encoding": "gzip"}, []string{`{"type":"error"}`}, false)
		if hs != Continue {
			t.Fatalf("headers %v: a status the router may retry is never held", hs)
		}
		var e openAIError
		if a.respH[":status"] != "529" || json.Unmarshal([]byte(out), &e) != nil || e.Error.Message == "" || a.respH["content-type"] != "application/json" {
			t.Fatalf("status %s headers %v body %q", a.respH[":status"], a.respH, out)
		}
		for _, k := range []string{"content-encoding", "content-length"} {
			if _, ok := a.respH[k]; ok {
				t.Fatalf("%s kept on headers sent before the body changed", k)
			}
		}
		if len(a.responses) != 0 {
			t.Fatalf("answered locally: %v", a.responses)
		}
	})
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

// A gzip stream flows chunk by chunk as it decodes; one that does not
// decode ends with an OpenAI error event, never as an empty 200. (Its
// headers cannot be held until the first output in Envoy 1.36.2: see
// responseBody.)
func TestGzipStreams(t *testing.T) {
	ev := []string{
		"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
		"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
		"data: [DONE]\n\n",
	}
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	var chunks []string
	for i, e := range ev {
		w.Write([]byte(e))
		if i == len(ev)-1 {
			w.Close()
		} else {
			w.Flush()
		}
		chunks = append(chunks, buf.String())
		buf.Reset()
	}
	// The client asks for usage: the decoded stream reaches it whole.
	streamReq := `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	gzHeaders := func() fakeHeaders {
		return fakeHeaders{":status": "200", "content-type": "text/event-stream", "content-encoding": "gzip"}
	}
	t.Run("decoded as it arrives", func(t *testing.T) {
		a := clientRequest("oai", "/v1/chat/completions", streamReq)
		f := NewFilter(pipelineConfig(t), a)
		sendRequest(t, f)
		a.respH = gzHeaders()
		if hs := f.OnResponseHeaders(false); hs != Continue {
			t.Fatalf("headers %v", hs)
		}
		for i, c := range chunks {
			a.respB.b = []byte(c)
			if st := f.OnResponseBody(i == len(chunks)-1); st != Continue || string(a.respB.b) != ev[i] {
				t.Fatalf("chunk %d: %v %q", i, st, a.respB.b)
			}
		}
		if _, ok := a.respH["content-encoding"]; ok || a.dynMD[MetadataNamespace+"/"+MetadataTotalToken] != float64(4) {
			t.Fatalf("headers %v metadata %v", a.respH, a.dynMD)
		}
	})
	for _, tc := range []struct{ name, backend string }{{"openai", "oai"}, {"anthropic", "claude"}} {
		t.Run(tc.name+" not gzip ends with an error event", func(t *testing.T) {
			a := clientRequest(tc.backend, "/v1/chat/completions", streamReq)
			f := NewFilter(limitedConfig(t), a)
			sendRequest(t, f)
			_, st, out := respond(f, a, gzHeaders(), []string{"data: {}\n\n", "data: [DONE]\n\n"}, false)
			if st[0] != Continue || !strings.HasSuffix(out, "\n\n") {
				t.Fatalf("statuses %v out %q", st, out)
			}
			last := out[strings.LastIndex(strings.TrimSuffix(out, "\n\n"), "data: ")+len("data: ") : len(out)-2]
			var e openAIError
			if json.Unmarshal([]byte(last), &e) != nil || e.Error.Message == "" {
				t.Fatalf("stream does not end with an OpenAI error event: %q", out)
			}
			if !a.logged(LogError, "cannot be translated") {
				t.Fatalf("not logged: %v", a.logs)
			}
		})
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
