package host_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/host"
)

// Issue 12 through the built .so: a hostile provider on loopback answers
// according to the model it is asked for, behind an OpenAI-style, an
// Anthropic and an Azure backend.

const hostileLineMiB = 64 // one SSE line without a terminator, streamed in 64 KiB writes

func hostileProvider(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string `json:"model"`
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		flush := func() {
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		switch req.Model {
		case "unterminated", "claude-unterminated":
			w.Header().Set("content-type", "text/event-stream")
			w.WriteHeader(200)
			if req.Model == "claude-unterminated" {
				io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":3}}}\n\n")
			}
			io.WriteString(w, "data: ")
			flush()
			chunk := bytes.Repeat([]byte("a"), 64<<10)
			for range hostileLineMiB * 16 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "gzip-not-gzip":
			w.Header().Set("content-type", "text/event-stream")
			w.Header().Set("content-encoding", "gzip")
			w.WriteHeader(200)
			io.WriteString(w, "data: {\"choices\":[]}\n\n")
			flush()
			io.WriteString(w, "data: [DONE]\n\n")
		case "gzip-stream":
			// A well-behaved gzip stream: the header alone first, then
			// each event flushed in its own frame.
			w.Header().Set("content-type", "text/event-stream")
			w.Header().Set("content-encoding", "gzip")
			w.WriteHeader(200)
			zw := gzip.NewWriter(w)
			zw.Flush()
			flush()
			time.Sleep(20 * time.Millisecond)
			for _, ev := range []string{
				`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}`,
				`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}`,
				`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
				`[DONE]`,
			} {
				io.WriteString(zw, "data: "+ev+"\n\n")
				zw.Flush()
				flush()
				time.Sleep(20 * time.Millisecond)
			}
			zw.Close()
		case "gzip-json-not-gzip":
			w.Header().Set("content-type", "application/json")
			w.Header().Set("content-encoding", "gzip")
			w.WriteHeader(200)
			io.WriteString(w, `{"id":"x","choices":[]}`)
		case "gzip-bomb":
			w.Header().Set("content-type", "application/json")
			w.Header().Set("content-encoding", "gzip")
			w.WriteHeader(200)
			w.Write(gzipBomb())
		case "claude-html":
			w.Header().Set("content-type", "text/html")
			w.WriteHeader(200)
			io.WriteString(w, "<html><body>200 OK from a captive portal</body></html>")
		default:
			http.Error(w, "unexpected model "+req.Model, 500)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// gzipBomb decodes to 12 MiB of zeros, over the max_decoded_response_bytes
// TestHostileResponses502 configures: twelve gzip members of 1 MiB each
// (gzip readers go on across members, RFC 1952 2.2), about 12 KiB in all.
// One member is compressed once: compressing 12 MiB under -race on a loaded
// machine took 8 s.
var gzipBomb = sync.OnceValue(func() []byte {
	var member bytes.Buffer
	zw := gzip.NewWriter(&member)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	return bytes.Repeat(member.Bytes(), 12)
})

func startHostileHost(t *testing.T, extra string) (*host.Host, string) {
	t.Helper()
	srv := hostileProvider(t)
	addr := strings.TrimPrefix(srv.URL, "http://")
	cfg := []byte(`{"client_backend_selection":"configured",` + testMetricsJSON + extra + `,"backends":[
	  {"name":"oai","schema":"openai"},
	  {"name":"claude","schema":"anthropic"},
	  {"name":"az","schema":"azure_openai","api_version":"2024-10-21"}]}`)
	anyCfg, err := host.StringValueAny(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var clusters []host.Cluster
	for _, n := range []string{"oai", "claude", "az"} {
		clusters = append(clusters, host.Cluster{Name: n, Endpoints: []host.Endpoint{{Addr: addr,
			Metadata: map[string]map[string]string{"aigw": {"backend": n}}}}})
	}
	h := host.StartT(t, host.Config{Workers: 1, PluginConfig: anyCfg, UpstreamConfig: cfg, Clusters: clusters,
		Routes: append(backendRoutes("oai", "claude", "az"), catchAll())})
	return h, srv.URL
}

func hostileClient(h *host.Host) openai.Client {
	return openai.NewClient(option.WithBaseURL(h.URL()+"/v1"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
}

// One unterminated SSE line of 64 MiB: the host's RSS stays near where it
// was (before the cap: the line accumulator grew to hundreds of MiB and
// stayed), the passthrough client gets every byte, and the translated
// (Anthropic) client gets an error event.
func TestHostileStreamMemoryBounded(t *testing.T) {
	h, _ := startHostileHost(t, "")
	c := hostileClient(h)
	// Warm-up: the first request grows the runtime's and the host's pools
	// (its answer is TestHostileResponses502's business).
	c.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{Model: "claude-html",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, to("claude"))
	before, err := h.RSS()
	if err != nil {
		t.Fatal(err)
	}

	// Passthrough: the bytes flow through.
	req, _ := http.NewRequest(http.MethodPost, h.URL()+"/v1/chat/completions",
		strings.NewReader(`{"model":"unterminated","stream":true,"backend":"oai","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != int64(len("data: "))+hostileLineMiB<<20 {
		t.Fatalf("passthrough: status %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	afterPass, _ := h.RSS()
	t.Logf("host RSS: before %d MiB, after a %d MiB passthrough line %d MiB", before>>10, hostileLineMiB, afterPass>>10)

	// Translated: the client's SDK gets the error event and stops.
	s := c.Chat.Completions.NewStreaming(ctxT(t), openai.ChatCompletionNewParams{Model: "claude-unterminated",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, to("claude"))
	chunks := 0
	for s.Next() {
		chunks++
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "max_stream_event_bytes") || chunks != 1 {
		t.Fatalf("translated stream: %d chunks, err %v", chunks, s.Err())
	}
	s.Close()
	time.Sleep(200 * time.Millisecond)
	afterTr, _ := h.RSS()
	t.Logf("host RSS after the translated %d MiB line: %d MiB", hostileLineMiB, afterTr>>10)
	// The Go side holds at most the 4 MiB cap per stream in each of its
	// stream readers (the SSE parser, and the usage stripper when the
	// gateway asked for usage): a few caps of short-lived buffers, which the
	// runtime collects at its own pace, so RSS shows the heap goal rather
	// than what is kept. Without the caps one 64 MiB line took RSS up by
	// more than 240 MiB and kept it; allow for the host's frame buffers and
	// allocator noise. Measured growth on a 2-core machine: 12-20 MiB at
	// 8d25b13, 23-31 MiB with the block-wise escape scan (7ddb88f; its Go heap
	// peaks alike in gctrace, so RSS follows the runtime's pace), once 49 MiB
	// under make test's parallel load; 34-60 MiB run alone at b2c131d and at
	// c290bb2 alike (five runs each), once 67 MiB in CI. 128 MiB still fails
	// the uncapped reader by a factor of two.
	if grown := max(afterPass, afterTr) - before; grown > 128<<10 {
		t.Fatalf("host RSS grew %d MiB streaming one %d MiB line", grown>>10, hostileLineMiB)
	}
}

// Provider bodies the gateway cannot translate are a 502 OpenAI error.
func TestHostileResponses502(t *testing.T) {
	// An 8 MiB decode cap: the bomb is stopped by the cap whatever its size
	// (the default 64 MiB cap is the same code), and a small cap keeps the
	// host's decoding work short on a loaded machine.
	h, _ := startHostileHost(t, `,"max_decoded_response_bytes":8388608`)
	c := hostileClient(h)
	for _, tc := range []struct{ model, backend string }{
		{"claude-html", "claude"},
		{"gzip-json-not-gzip", "oai"},
		{"gzip-json-not-gzip", "claude"},
		{"gzip-bomb", "oai"},
	} {
		t.Run(tc.model+"/"+tc.backend, func(t *testing.T) {
			before, _ := h.RSS()
			_, err := c.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{Model: tc.model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, to(tc.backend))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Code != "bad_backend_response" {
				t.Fatalf("want a 502 bad_backend_response, got %v", err)
			}
			after, _ := h.RSS()
			t.Logf("host RSS %d -> %d MiB", before>>10, after>>10)
		})
	}
}

// A gzip stream that does not decode cannot be a 502 (its 200 headers are
// gone, see internal/upstream responseBody), but it is never an empty 200:
// it ends with an OpenAI error event the SDK raises.
func TestHostileGzipStreamUndecodable(t *testing.T) {
	h, _ := startHostileHost(t, "")
	c := hostileClient(h)
	for _, backend := range []string{"oai", "claude"} {
		t.Run(backend, func(t *testing.T) {
			s := c.Chat.Completions.NewStreaming(ctxT(t), openai.ChatCompletionNewParams{Model: "gzip-not-gzip",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, to(backend))
			for s.Next() {
			}
			if err := s.Err(); err == nil || !strings.Contains(err.Error(), "gzip") {
				t.Fatalf("stream error %v", err)
			}
			s.Close()
		})
	}
}

// Names that would become a header or a path segment are 400s naming the
// member, answered before any provider is called.
func TestHostileNames400(t *testing.T) {
	h, _ := startHostileHost(t, `,"max_name_bytes":64`)
	c := hostileClient(h)
	for _, tc := range []struct {
		name, model, backend, param string
	}{
		{"CRLF in model", "gpt\r\nx-injected: 1", "", "model"},
		{"NUL in model", "gpt\x00", "", "model"},
		{"model over max_name_bytes", strings.Repeat("m", 65), "", "model"},
		{"dot-dot azure deployment", "..", "az", "model"},
		{"slash in azure deployment", "a/../../admin", "az", "model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []option.RequestOption{}
			if tc.backend != "" {
				opts = append(opts, to(tc.backend))
			}
			_, err := c.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{Model: tc.model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, opts...)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != tc.param {
				t.Fatalf("want a 400 naming %q, got %v", tc.param, err)
			}
		})
	}
}

// A gzip stream flows to the client's SDK event by event as it decodes (the
// first frame, the gzip header alone, decodes to nothing), and its usage is
// accounted.
func TestHostileGzipStreamFlows(t *testing.T) {
	h, _ := startHostileHost(t, "")
	c := hostileClient(h)
	id := newRequestID(t)
	s := c.Chat.Completions.NewStreaming(ctxT(t), openai.ChatCompletionNewParams{Model: "gzip-stream",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, to("oai"), option.WithHeader("x-request-id", id))
	var text strings.Builder
	for s.Next() {
		for _, ch := range s.Current().Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	if err := s.Err(); err != nil || text.String() != "Hello" {
		t.Fatalf("stream %q, %v", text.String(), err)
	}
	s.Close()
	al, err := h.WaitAccess(id, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if al.Status != 200 || al.DynamicMetadata["io.envoy.ai_gateway"]["llm_total_token"] != float64(5) || al.UpstreamFrames < 3 {
		t.Fatalf("access log %+v", al)
	}
}
