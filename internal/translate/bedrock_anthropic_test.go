package translate

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

var bedrockTarget = Target{Schema: SchemaAWSBedrockAnthropic, DefaultModel: "anthropic.claude-3-5-sonnet-20240620-v1:0"}

func newBedrockT(t testing.TB, target Target) Translator {
	t.Helper()
	tr, err := New(target, "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestBedrockAnthropicRequestGolden translates the Anthropic request inputs
// for Bedrock: the same Messages body without model and stream, with
// anthropic_version, the model in the path.
func TestBedrockAnthropicRequestGolden(t *testing.T) {
	for _, in := range inputs(t, "anthropic/request", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := newBedrockT(t, bedrockTarget).RequestBody(body)
			if err != nil {
				t.Fatalf("RequestBody: %v", err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(res.Body, &m); err != nil {
				t.Fatalf("translated body is not a JSON object: %s", res.Body)
			}
			if _, ok := m["model"]; ok {
				t.Errorf("body carries model: %s", res.Body)
			}
			if _, ok := m["stream"]; ok {
				t.Errorf("body carries stream: %s", res.Body)
			}
			if string(m["anthropic_version"]) != `"bedrock-2023-05-31"` {
				t.Errorf("anthropic_version = %s", m["anthropic_version"])
			}
			view := struct {
				Path          string          `json:"path"`
				Headers       []Header        `json:"headers"`
				RemoveHeaders []string        `json:"remove_headers"`
				Model         string          `json:"model"`
				Stream        bool            `json:"stream"`
				Body          json.RawMessage `json:"body"`
			}{res.Path, res.Headers, res.RemoveHeaders, res.Model, res.Stream, res.Body}
			got, err := json.Marshal(view)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "bedrock_anthropic", "request", filepath.Base(goldenPath(in))), indentJSON(t, got))
		})
	}
}

func TestBedrockAnthropicPath(t *testing.T) {
	const arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0"
	tests := []struct {
		name, model, prefix string
		stream              bool
		want                string
		bad                 bool
	}{
		{name: "model id", model: "anthropic.claude-3-haiku-20240307-v1:0", want: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"},
		{name: "streamed", model: "anthropic.claude-3-haiku-20240307-v1:0", stream: true, want: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream"},
		{name: "inference profile ARN is one segment", model: arn, want: "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke"},
		{name: "query and fragment escaped", model: "a?b#c", want: "/model/a%3Fb%23c/invoke"},
		{name: "space and unicode escaped", model: "a b\u00e9", want: "/model/a%20b%C3%A9/invoke"},
		{name: "prefix", model: "m", prefix: "/bedrock", want: "/bedrock/model/m/invoke"},
		{name: "dot dot", model: "..", bad: true},
		{name: "percent", model: "a%2Fb", bad: true},
		{name: "backslash", model: `a\b`, bad: true},
		{name: "control byte", model: "a\x01b", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"model": tt.model, "stream": tt.stream, "messages": []map[string]string{{"role": "user", "content": "hi"}}})
			res, err := newBedrockT(t, Target{Schema: SchemaAWSBedrockAnthropic, PathPrefix: tt.prefix}).RequestBody(body)
			if tt.bad {
				e, ok := AsError(err, KindInvalid)
				if !ok || e.Status != http.StatusBadRequest || e.Param != "model" || len(tt.model) > 2 && strings.Contains(e.Message, tt.model) {
					t.Fatalf("err = %#v, want a 400 naming model without its value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Path != tt.want || res.Model != tt.model || res.Stream != tt.stream {
				t.Errorf("path %q model %q stream %v, want %q %q %v", res.Path, res.Model, res.Stream, tt.want, tt.model, tt.stream)
			}
		})
	}
}

func TestBedrockAnthropicConfigChecks(t *testing.T) {
	if err := Check(Target{Schema: SchemaAWSBedrockAnthropic, DefaultModel: "a%2e%2e"}); err == nil {
		t.Error("a model_override with '%' was accepted")
	}
	if err := Check(Target{Schema: SchemaAWSBedrockAnthropic, ModelOverride: map[string]string{"x": ".."}}); err == nil {
		t.Error("a model_override '..' was accepted")
	}
	if err := Check(bedrockTarget); err != nil {
		t.Error(err)
	}
	if _, err := New(bedrockTarget, "/v1/embeddings"); err == nil {
		t.Error("embeddings accepted by aws_bedrock_anthropic")
	}
	if EndpointError(SchemaAWSBedrockAnthropic, http.MethodPost, "/v1/chat/completions") != nil {
		t.Error("chat completions not an endpoint of aws_bedrock_anthropic")
	}
	if ProviderName(SchemaAWSBedrockAnthropic) != "aws.bedrock" {
		t.Error(ProviderName(SchemaAWSBedrockAnthropic))
	}
}

// encodeFrame is one event stream message built with the SDK's encoder.
func encodeFrame(t testing.TB, headers map[string]string, payload []byte) []byte {
	t.Helper()
	var m eventstream.Message
	for k, v := range headers {
		m.Headers.Set(k, eventstream.StringValue(v))
	}
	m.Payload = payload
	var buf bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// chunkFrame is Bedrock's "chunk" event carrying one Anthropic stream event.
func chunkFrame(t testing.TB, event []byte) []byte {
	payload, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString(event), "p": "abcdefgh"})
	return encodeFrame(t, map[string]string{":message-type": "event", ":event-type": "chunk", ":content-type": "application/json"}, payload)
}

// bedrockStreamOf re-frames a recorded Anthropic SSE stream the way Bedrock
// sends it: every event's data in a chunk frame.
func bedrockStreamOf(t testing.TB, sse []byte) []byte {
	t.Helper()
	var p sseParser
	var out []byte
	if err := p.feed(sse, true, func(_, data []byte) error {
		out = append(out, chunkFrame(t, data)...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func bedrockStreamTranslator(t testing.TB, includeUsage bool) Translator {
	t.Helper()
	tr := newBedrockT(t, bedrockTarget)
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]`
	if includeUsage {
		body += `,"stream_options":{"include_usage":true}`
	}
	if _, err := tr.RequestBody([]byte(body + "}")); err != nil {
		t.Fatal(err)
	}
	return tr
}

func translateBedrockStream(t testing.TB, pieces ...[]byte) ([]byte, Usage, error) {
	t.Helper()
	tr := bedrockStreamTranslator(t, true)
	mode, err := tr.ResponseHeaders(200, "application/vnd.amazon.eventstream", "")
	if err != nil || !mode.Stream || mode.BufferBody || !mode.ModifiesBody || mode.ContentType != "text/event-stream" {
		t.Fatalf("mode %+v, %v", mode, err)
	}
	return responsePieces(tr, pieces)
}

// TestBedrockAnthropicStream: Bedrock's frames of a recorded Anthropic
// stream translate exactly as the SSE stream does (same chunks, usage,
// errors), whole, split at every byte into two pieces, byte by byte, and
// with every frame in its own chunk.
func TestBedrockAnthropicStream(t *testing.T) {
	for _, in := range inputs(t, "anthropic/stream", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			sse, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			want, wantUsage := translateStream(t, true, sse)
			frames := bedrockStreamOf(t, sse)
			got, usage, err := translateBedrockStream(t, frames)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) || usage != wantUsage {
				t.Fatalf("whole:\n%s\nwant\n%s\nusage %+v want %+v", got, want, usage, wantUsage)
			}
			checkGolden(t, filepath.Join("testdata", "bedrock_anthropic", "stream", strings.TrimSuffix(filepath.Base(in), ".sse")+".golden.sse"), got)
			for i := 0; i <= len(frames); i++ {
				got, usage, err := translateBedrockStream(t, frames[:i], frames[i:])
				if err != nil || !bytes.Equal(got, want) || usage != wantUsage {
					t.Fatalf("split at %d: %v\n%s", i, err, got)
				}
			}
			bytewise := make([][]byte, len(frames))
			for i := range frames {
				bytewise[i] = frames[i : i+1]
			}
			if got, _, err := translateBedrockStream(t, bytewise...); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("byte by byte: %v\n%s", err, got)
			}
		})
	}
}

func TestBedrockAnthropicStreamFailures(t *testing.T) {
	start := chunkFrame(t, []byte(`{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":3,"output_tokens":1}}}`))
	text := chunkFrame(t, []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`))
	throttled := encodeFrame(t, map[string]string{":message-type": "exception", ":exception-type": "throttlingException"}, []byte(`{"message":"Too many requests, please wait before trying again."}`))
	corrupt := append([]byte(nil), text...)
	corrupt[len(corrupt)-6] ^= 0xff // payload byte: the message CRC fails
	tests := []struct {
		name      string
		stream    []byte
		wantErr   bool // a badResponse for the log
		wantInOut string
	}{
		{"exception frame", cat(start, text, throttled), false, `"message":"Too many requests, please wait before trying again.","type":"rate_limit_error"`},
		{"crc mismatch", cat(start, corrupt), true, `"the bedrock backend sent a malformed event stream"`},
		{"truncated", cat(start, text[:len(text)-3]), true, `"the bedrock backend sent a malformed event stream"`},
		{"length out of range", cat(start, []byte{0xff, 0xff, 0xff, 0xff}), true, `malformed event stream`},
		{"ends before message_stop", cat(start, text), false, `"the anthropic stream ended before the message was complete"`},
		{"chunk not base64", cat(start, encodeFrame(t, map[string]string{":message-type": "event", ":event-type": "chunk"}, []byte(`{"bytes":"!!"}`))), false, `malformed stream chunk`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := translateBedrockStream(t, tt.stream)
			if tt.wantErr != isBadResponse(err) || !tt.wantErr && err != nil {
				t.Fatalf("err = %v, want bad response %v", err, tt.wantErr)
			}
			payloads := checkSSEOutput(t, out)
			if len(payloads) == 0 || !bytes.Contains(payloads[len(payloads)-1], []byte(tt.wantInOut)) {
				t.Fatalf("output %s lacks %s", out, tt.wantInOut)
			}
			if bytes.Contains(out, []byte("[DONE]")) {
				t.Errorf("a failed stream ended with [DONE]: %s", out)
			}
		})
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestBedrockAnthropicResponses(t *testing.T) {
	t.Run("message", func(t *testing.T) {
		tr := newBedrockT(t, bedrockTarget)
		if _, err := tr.RequestBody([]byte(`{"model":"x","messages":[{"role":"user","content":"hi"}]}`)); err != nil {
			t.Fatal(err)
		}
		mode, err := tr.ResponseHeaders(200, "application/json", "")
		if err != nil || !mode.BufferBody {
			t.Fatal(mode, err)
		}
		out, u, err := tr.ResponseBody([]byte(`{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"hello"}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2,"cache_read_input_tokens":1}}`), true)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte(`"model":"anthropic.claude-3-5-sonnet-20240620-v1:0"`)) || !bytes.Contains(out, []byte(`"content":"hello"`)) || u.InputTokens != 6 || u.OutputTokens != 2 {
			t.Fatalf("%s %+v", out, u)
		}
	})
	for _, tt := range []struct {
		status      int
		body, want  string
		contentType string
	}{
		{400, `{"message":"Malformed input request: #: extraneous key [foo] is not permitted"}`, `{"error":{"message":"Malformed input request: #: extraneous key [foo] is not permitted","type":"api_error","param":null,"code":null}}`, "application/json"},
		{403, `{"message":"The security token included in the request is invalid."}`, `"The security token included in the request is invalid."`, "application/json"},
		{429, `{"message":"Too many requests"}`, `"Too many requests"`, "application/json"},
		{502, `<html>bad gateway</html>`, `"the backend returned HTTP 502"`, "text/html"},
	} {
		tr := newBedrockT(t, bedrockTarget)
		if _, err := tr.RequestBody([]byte(`{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}`)); err != nil {
			t.Fatal(err)
		}
		mode, err := tr.ResponseHeaders(tt.status, tt.contentType, "")
		if err != nil || !mode.Error || !mode.BufferBody {
			t.Fatal(mode, err)
		}
		out, _, err := tr.ResponseBody([]byte(tt.body), true)
		if err != nil || !bytes.Contains(out, []byte(tt.want)) {
			t.Errorf("%d: %s, %v; want %s", tt.status, out, err, tt.want)
		}
	}
}
