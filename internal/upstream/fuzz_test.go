package upstream

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/oaierr/oaierrtest"
)

// A fuzzRoute is one client request to one backend: the translators
// internal/translate fuzzes one at a time, here behind the whole upstream
// phase (held headers, gzip, status mapping, local answers, accounting).
type fuzzRoute struct {
	backend, path, body string
	// translated: the client gets the gateway's own bytes, never the
	// provider's passed through, so they must be well formed.
	translated bool
	// messages: the client speaks Anthropic Messages, so errors are Anthropic's.
	messages bool
}

const (
	streamChatBody     = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	streamMessagesBody = `{"model":"gpt-4o-mini","max_tokens":32,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	embeddingsBody     = `{"model":"text-embedding-3-small","input":"hi"}`
)

var fuzzRoutes = []fuzzRoute{
	{backend: "oai", path: "/v1/chat/completions", body: chatBody},
	{backend: "oai", path: "/v1/chat/completions", body: streamChatBody},
	{backend: "az", path: "/v1/chat/completions", body: streamChatBody},
	{backend: "oai", path: "/v1/embeddings", body: embeddingsBody},
	{backend: "claude", path: "/v1/chat/completions", body: chatBody, translated: true},
	{backend: "claude", path: "/v1/chat/completions", body: streamChatBody, translated: true},
	{backend: "claude", path: "/v1/messages", body: messagesBody, messages: true},
	{backend: "claude", path: "/v1/messages", body: streamMessagesBody, messages: true},
	{backend: "oai", path: "/v1/messages", body: messagesBody, translated: true, messages: true},
	{backend: "oai", path: "/v1/messages", body: streamMessagesBody, translated: true, messages: true},
	{backend: "bedrock", path: "/v1/chat/completions", body: chatBody, translated: true},
	{backend: "bedrock", path: "/v1/chat/completions", body: streamChatBody, translated: true},
}

var (
	fuzzStatuses     = []int{200, 201, 204, 400, 401, 404, 413, 429, 500, 502, 503, 529}
	fuzzContentTypes = []string{"application/json", "text/event-stream", "application/vnd.amazon.eventstream",
		"text/html", "", "application/json; charset=utf-8", "text/event-stream; charset=utf-8"}
	// Encodings: the bytes as they are, gzip-compressed (whole and valid),
	// labelled gzip without being gzip, and an encoding nothing decodes.
	fuzzEncodings = []string{"", "gzip", "gzip!", "br"}
)

var createdStamp = regexp.MustCompile(`"created":[0-9]+`)

// fuzzConfig is one upstream config holding every fuzzRoute backend.
func fuzzConfig(t testing.TB) *Config {
	t.Helper()
	awsEnv(t)
	t.Setenv("AIGW_TEST_OPENAI_KEY", "sk-openai-secret")
	t.Setenv("AIGW_TEST_AZURE_KEY", "azure-secret")
	t.Setenv("AIGW_TEST_ANTHROPIC_KEY", "anthropic-secret")
	cfg := mustConfig(t, `{"max_decoded_response_bytes": 1048576, "backends": [
    {"name": "oai", "model_override": {"gpt-4o-mini": "gpt-4o-mini-2024-07-18"},
     "auth": {"type": "bearer", "key_env": "AIGW_TEST_OPENAI_KEY"}},
    {"name": "az", "schema": "azure_openai", "api_version": "2024-10-21",
     "auth": {"type": "azure_api_key", "key_env": "AIGW_TEST_AZURE_KEY"}},
    {"name": "claude", "schema": "anthropic", "model_override": "claude-3-5-haiku-latest",
     "auth": {"type": "anthropic_api_key", "key_env": "AIGW_TEST_ANTHROPIC_KEY"}},
    {"name": "bedrock", "schema": "aws_bedrock_anthropic", "region": "us-west-2",
     "model_override": "anthropic.claude-3-5-haiku-20241022-v1:0", "auth": {"type": "aws_sigv4"}}]}`)
	waitAWSCredentials(t, cfg, "bedrock")
	return cfg
}

// fuzzOutcome is what the client and Envoy see of one attempt's response.
type fuzzOutcome struct {
	Released bool              // the response headers went on to the router
	Headers  map[string]string // as they went on
	Out      string            // the body the client got, hook by hook
	Answers  []response        // local answers (SendResponse)
	Ended    bool              // a hook passed the end of stream on
	Tokens   map[string]any    // dynamic metadata written
	Counters [NumCounters]uint64
}

// deliverResponse runs one response through a fresh attempt as Envoy's
// upstream filter chain does: headers, then the body chunks; a body hook
// that holds keeps its bytes, and the next hook sees them with the new
// chunk (Envoy's buffered body); a local answer ends the stream.
func deliverResponse(t *testing.T, cfg *Config, rt fuzzRoute, headers fakeHeaders, chunks [][]byte) fuzzOutcome {
	t.Helper()
	a := clientRequest(rt.backend, rt.path, rt.body)
	f := NewFilter(cfg, a)
	if _, _, last := sendRequest(t, f); last != Continue {
		t.Fatalf("%s %s: request not sent: %v %v", rt.backend, rt.path, last, a.responses)
	}
	o := fuzzOutcome{}
	a.respH = fakeHeaders{}
	for k, v := range headers {
		a.respH[k] = v
	}
	release := func() {
		if !o.Released {
			o.Released = true
			o.Headers = map[string]string{}
			for k, v := range a.respH {
				o.Headers[k] = v
			}
		}
	}
	hs := f.OnResponseHeaders(false)
	switch hs {
	case Continue:
		release()
	case Hold:
	case Answered:
		chunks = nil
	default:
		t.Fatalf("response headers answered %v", hs)
	}
	var held []byte
body:
	for i, c := range chunks {
		eos := i == len(chunks)-1
		a.respB.b = append(held[:len(held):len(held)], c...)
		held = nil
		switch st := f.OnResponseBody(eos); st {
		case Continue:
			release()
			o.Out += string(a.respB.b)
			o.Ended = eos
		case Hold:
			if eos {
				t.Fatalf("the end of the response held: nothing would ever release it")
			}
			held = bytes.Clone(a.respB.b)
		case Answered:
			break body
		default:
			t.Fatalf("response body answered %v", st)
		}
	}
	o.Answers = a.responses
	o.Tokens = a.dynMD
	o.Counters = a.counters
	noSecretsLogged(t, a)
	return o
}

// FuzzResponse: any provider response (status, content type, encoding,
// bytes, split anywhere) through the whole upstream phase, for every client
// endpoint and schema: no panic; either the response goes on or the attempt
// is answered once with an error in the client's own format; what the
// gateway writes itself is well formed (JSON where it says JSON, SSE where it
// says event stream); no credential reaches the client or the log; and the
// outcome is the same wherever the body was split.
func FuzzResponse(f *testing.F) {
	seed := func(route uint8, status, ct, enc uint8, body []byte) {
		f.Add(route, status, ct, enc, body, uint16(len(body)/2))
	}
	for i, rt := range fuzzRoutes {
		r := uint8(i)
		stream := strings.Contains(rt.body, `"stream":true`)
		seed(r, 0, 0, 0, []byte(`{"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`))
		seed(r, 8, 3, 0, []byte("<html>bad gateway</html>"))
		seed(r, 7, 0, 1, []byte(`{"error":{"message":"slow down","type":"rate_limit_error"}}`))
		seed(r, 0, 1, 2, []byte("data: {}\n\n"))
		if stream {
			seed(r, 0, 1, 1, []byte("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n"))
		}
	}
	for _, g := range []struct {
		glob  string
		route uint8
		ct    uint8
	}{
		{"../translate/testdata/anthropic/response/*.json", 4, 0},
		{"../translate/testdata/anthropic/stream/*.sse", 5, 1},
		{"../translate/testdata/anthropic/stream/*.sse", 7, 1},
		{"../translate/testdata/messages/response/*.json", 8, 0},
		{"../translate/testdata/messages/stream/*.sse", 9, 1},
	} {
		files, _ := filepath.Glob(g.glob)
		if len(files) == 0 {
			f.Fatalf("no seeds in %s", g.glob)
		}
		for _, file := range files {
			if strings.Contains(file, ".golden.") {
				continue
			}
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			seed(g.route, 0, g.ct, 0, b)
			seed(g.route, 0, g.ct, 1, b)
		}
	}
	cfg := fuzzConfig(f)
	f.Fuzz(func(t *testing.T, route, status, ct, enc uint8, body []byte, cut uint16) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		headers := fakeHeaders{":status": fmt.Sprint(fuzzStatuses[int(status)%len(fuzzStatuses)])}
		if c := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]; c != "" {
			headers["content-type"] = c
		}
		switch e := fuzzEncodings[int(enc)%len(fuzzEncodings)]; e {
		case "":
		case "gzip":
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(body)
			w.Close()
			body = b.Bytes()
			headers["content-encoding"] = e
		default:
			headers["content-encoding"] = strings.TrimSuffix(e, "!")
		}
		i := int(cut) % (len(body) + 1)
		whole := deliverResponse(t, cfg, rt, headers, [][]byte{body})
		checkFuzzOutcome(t, rt, whole)
		split := deliverResponse(t, cfg, rt, headers, [][]byte{body[:i], body[i:]})
		// The translators stamp "created" with the clock: two runs may
		// straddle a second.
		whole.Out = createdStamp.ReplaceAllString(whole.Out, `"created":0`)
		split.Out = createdStamp.ReplaceAllString(split.Out, `"created":0`)
		if !reflect.DeepEqual(whole, split) {
			t.Fatalf("%s %s: the outcome depends on where the body was split (at %d of %d):\nwhole %+v\nsplit %+v",
				rt.backend, rt.path, i, len(body), whole, split)
		}
	})
}

// checkFuzzOutcome checks one outcome against what the client may get.
func checkFuzzOutcome(t *testing.T, rt fuzzRoute, o fuzzOutcome) {
	t.Helper()
	all := o.Out + fmt.Sprint(o.Headers)
	for _, r := range o.Answers {
		all += r.body + fmt.Sprint(r.headers)
	}
	if secretIn(all) != "" {
		t.Fatalf("a credential reaches the client: %q", all)
	}
	for _, v := range o.Tokens {
		if n, ok := v.(float64); ok && n < 0 {
			t.Fatalf("negative usage in metadata: %v", o.Tokens)
		}
	}
	switch {
	case len(o.Answers) > 1:
		t.Fatalf("answered %d times: %+v", len(o.Answers), o.Answers)
	case len(o.Answers) == 1:
		r := o.Answers[0]
		if r.status < 400 || r.status > 599 {
			t.Fatalf("answered with status %d", r.status)
		}
		if o.Out != "" && o.Released && !strings.Contains(o.Headers["content-type"], "event-stream") {
			t.Fatalf("answered after %q went on", o.Out)
		}
		oaierrtest.Check(t, oaierr.FormatFor(rt.path), []byte(r.body))
		return
	case !o.Ended:
		t.Fatalf("neither answered nor ended: %+v", o)
	}
	if !rt.translated {
		return
	}
	// What the gateway wrote is what its headers say it is.
	ct := o.Headers["content-type"]
	switch {
	case strings.HasPrefix(ct, "application/json"):
		if !json.Valid([]byte(o.Out)) {
			t.Fatalf("%s %s: content-type %q, body not JSON: %q", rt.backend, rt.path, ct, o.Out)
		}
	case strings.HasPrefix(ct, "text/event-stream"):
		checkClientSSE(t, rt, o.Out)
	default:
		t.Fatalf("%s %s: translated response with content-type %q: %q", rt.backend, rt.path, ct, o.Out)
	}
	if _, ok := o.Headers["content-encoding"]; ok {
		t.Fatalf("translated response still labelled with content-encoding: %v", o.Headers)
	}
}

// checkClientSSE: every event is whole and its data is JSON (or OpenAI's
// [DONE]); Messages events name their type.
func checkClientSSE(t *testing.T, rt fuzzRoute, out string) {
	t.Helper()
	if out != "" && !strings.HasSuffix(out, "\n\n") {
		t.Fatalf("event stream does not end with a blank line: %q", out)
	}
	for _, ev := range strings.Split(strings.TrimSuffix(out, "\n\n"), "\n\n") {
		if ev == "" {
			continue
		}
		lines := strings.Split(ev, "\n")
		if rt.messages {
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") {
				t.Fatalf("malformed Messages event %q", ev)
			}
			lines = lines[1:]
		}
		data, ok := strings.CutPrefix(lines[0], "data: ")
		if !ok || len(lines) != 1 {
			t.Fatalf("malformed event %q", ev)
		}
		if !(data == "[DONE]" && !rt.messages) && !json.Valid([]byte(data)) {
			t.Fatalf("event data is not JSON: %q", ev)
		}
	}
}

// FuzzRequest: any client body on any route, as the upstream phase gets it
// when no router phase validated it (a route without aigw's golang filter,
// or a body changed after it): no panic; the attempt either goes on with a
// request body that is JSON, or is answered once with a 4xx or 5xx error in
// the client's own format, and no credential reaches the client or the log.
func FuzzRequest(f *testing.F) {
	for i, rt := range fuzzRoutes {
		f.Add(uint8(i), []byte(rt.body))
		f.Add(uint8(i), []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:x"}}]}]}`))
		f.Add(uint8(i), []byte(`{"model":"gpt-4o-mini","messages":"hi","backend":"claude"}`))
		f.Add(uint8(i), []byte(`{"model":"\ud800","max_tokens":-1,"messages":[]}`))
	}
	cfg := fuzzConfig(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		a := clientRequest(rt.backend, rt.path, string(body))
		fl := NewFilter(cfg, a)
		h, _, last := sendRequest(t, fl)
		noSecretsLogged(t, a)
		if h == Answered || last == Answered {
			if len(a.responses) != 1 {
				t.Fatalf("answered %d times", len(a.responses))
			}
			r := a.responses[0]
			if r.status < 400 || r.status > 599 {
				t.Fatalf("answered with status %d", r.status)
			}
			if secretIn(r.body) != "" {
				t.Fatalf("a credential reaches the client: %q", r.body)
			}
			oaierrtest.Check(t, oaierr.FormatFor(rt.path), []byte(r.body))
			return
		}
		if last != Continue || len(a.responses) != 0 {
			t.Fatalf("request hooks %v %v, answers %v", h, last, a.responses)
		}
		if !rt.translated && len(bytes.TrimSpace(body)) == 0 && bytes.Equal(a.reqB.b, body) {
			return // no body, as a request without one: the provider answers it
		}
		if !json.Valid(a.reqB.b) {
			t.Fatalf("%s %s: upstream body not JSON: %q from %q", rt.backend, rt.path, a.reqB.b, body)
		}
	})
}
