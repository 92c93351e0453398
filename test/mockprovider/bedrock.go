package mockprovider

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// BedrockOptions configure a mock Amazon Bedrock runtime (Claude through
// InvokeModel and InvokeModelWithResponseStream).
type BedrockOptions struct {
	Name    string // in X-Mock-Backend and the reply text; default "bedrock"
	Region  string // the signing region the mock expects; default us-east-1
	Service string // the signing service; default "bedrock"
	// Keys are the credentials the mock accepts (by access key id); every
	// request must be signed with one of them.
	Keys map[string]AWSKey
	// KeysFrom, when set, is asked for the accepted credentials on every
	// request instead of Keys (credentials a mock STS issues over time).
	KeysFrom func() map[string]AWSKey
	// Models are the accepted model ids or ARNs (decoded); empty accepts any.
	Models []string
	// Now is the clock for x-amz-date checks; default time.Now.
	Now func() time.Time
}

// Bedrock is the mock. It checks what the real service checks before
// answering: the exact path (/model/{one percent-encoded segment}/invoke or
// /invoke-with-response-stream), the SigV4 signature recomputed from Keys
// (403 InvalidSignatureException / UnrecognizedClientException otherwise),
// and the body (Anthropic Messages with anthropic_version
// bedrock-2023-05-31, no model and no stream: 400 ValidationException).
type Bedrock struct {
	o    BedrockOptions
	fail atomic.Int64 // SetFailStatus
	mu   sync.Mutex
	// signedWith lists the access key id of each accepted request.
	signedWith []string
	paths      []string
	bodies     [][]byte
}

// NewBedrock returns the mock; serve it with httptest.NewServer.
func NewBedrock(o BedrockOptions) *Bedrock {
	if o.Name == "" {
		o.Name = "bedrock"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Service == "" {
		o.Service = "bedrock"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Bedrock{o: o}
}

// SetFailStatus makes every correctly signed request fail with status in
// Bedrock's error format (0 restores normal answers).
func (b *Bedrock) SetFailStatus(status int) { b.fail.Store(int64(status)) }

// ControlHandler serves POST /fail?status=N (see Server.ControlHandler).
func (b *Bedrock) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /fail", failHandler(b.o.Name, b.SetFailStatus))
	return mux
}

// SetKeys replaces the accepted credentials (a rotation at the provider).
func (b *Bedrock) SetKeys(keys map[string]AWSKey) {
	b.mu.Lock()
	b.o.Keys = keys
	b.mu.Unlock()
}

// SignedWith returns the access key ids of the accepted requests, in order.
func (b *Bedrock) SignedWith() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.signedWith...)
}

// Paths returns the raw paths of the accepted requests.
func (b *Bedrock) Paths() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.paths...)
}

func bedrockError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (b *Bedrock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(BackendHeader, b.o.Name)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "unreadable body")
		return
	}
	parts := strings.Split(r.URL.EscapedPath(), "/")
	if r.Method != http.MethodPost || len(parts) != 4 || parts[0] != "" || parts[1] != "model" ||
		(parts[3] != "invoke" && parts[3] != "invoke-with-response-stream" && parts[3] != "converse" && parts[3] != "converse-stream") {
		bedrockError(w, http.StatusNotFound, "UnknownOperationException", "unknown operation")
		return
	}
	model, err := url.PathUnescape(parts[2])
	if err != nil || model == "" {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "malformed model identifier")
		return
	}
	b.mu.Lock()
	keys, models := b.o.Keys, b.o.Models
	b.mu.Unlock()
	if b.o.KeysFrom != nil {
		keys = b.o.KeysFrom()
	}
	akid, err := VerifySigV4(r, body, keys, b.o.Region, b.o.Service, b.o.Now())
	if err != nil {
		typ := "InvalidSignatureException"
		if _, known := keys[akid]; !known {
			typ = "UnrecognizedClientException"
		}
		bedrockError(w, http.StatusForbidden, typ, err.Error())
		return
	}
	if st := int(b.fail.Load()); st != 0 {
		bedrockError(w, st, "ServiceUnavailableException", "mock "+b.o.Name+" is failing on purpose")
		return
	}
	if len(models) > 0 && !contains(models, model) {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "The provided model identifier is invalid.")
		return
	}
	if strings.HasPrefix(parts[3], "converse") {
		b.converse(w, r, parts[3] == "converse-stream", model, akid, body)
		return
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request, please reformat your input and try again.")
		return
	}
	for k := range req {
		switch k {
		case "anthropic_version", "max_tokens", "messages", "system", "temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice", "metadata", "thinking", "anthropic_beta":
		default:
			bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: #: extraneous key ["+k+"] is not permitted, please reformat your input and try again.")
			return
		}
	}
	if string(req["anthropic_version"]) != `"bedrock-2023-05-31"` || req["max_tokens"] == nil || req["messages"] == nil {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: anthropic_version, max_tokens and messages are required")
		return
	}
	b.mu.Lock()
	b.signedWith = append(b.signedWith, akid)
	b.paths = append(b.paths, r.URL.EscapedPath())
	b.bodies = append(b.bodies, body)
	b.mu.Unlock()
	text := "Hello from " + b.o.Name + "."
	words := int64(len(strings.Fields(string(req["messages"]))))
	out := int64(len(strings.Fields(text)))
	if parts[3] == "invoke" {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "msg_bdrk_1", "type": "message", "role": "assistant", "model": model,
			"content":     []map[string]string{{"type": "text", "text": text}},
			"stop_reason": "end_turn", "stop_sequence": nil,
			"usage": map[string]int64{"input_tokens": words, "output_tokens": out},
		})
		return
	}
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	events := []string{
		fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_bdrk_1","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"usage":{"input_tokens":%d,"output_tokens":1}}}`, model, words),
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
	}
	for i, word := range strings.Fields(text) {
		if i > 0 {
			word = " " + word
		}
		d, _ := json.Marshal(word)
		events = append(events, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(d)+`}}`)
	}
	events = append(events,
		`{"type":"content_block_stop","index":0}`,
		fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}`, out),
		fmt.Sprintf(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":%d,"outputTokenCount":%d,"invocationLatency":1,"firstByteLatency":1}}`, words, out),
	)
	flusher, _ := w.(http.Flusher)
	for _, ev := range events {
		w.Write(BedrockChunkFrame([]byte(ev)))
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// BedrockChunkFrame is one event stream message as Bedrock streams it: a
// "chunk" event whose JSON payload carries an Anthropic stream event in
// base64, encoded with the AWS SDK's encoder.
func BedrockChunkFrame(event []byte) []byte {
	payload, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString(event), "p": "abcd"})
	var m eventstream.Message
	m.Headers.Set(":event-type", eventstream.StringValue("chunk"))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Headers.Set(":message-type", eventstream.StringValue("event"))
	m.Payload = payload
	var buf bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&buf, m); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// converse answers Converse / ConverseStream: the body must have messages
// and only Converse's members.
func (b *Bedrock) converse(w http.ResponseWriter, r *http.Request, stream bool, model, akid string, body []byte) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil || req["messages"] == nil {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: messages is required")
		return
	}
	for k := range req {
		switch k {
		case "messages", "system", "inferenceConfig", "toolConfig", "additionalModelRequestFields", "guardrailConfig", "performanceConfig":
		default:
			bedrockError(w, http.StatusBadRequest, "ValidationException", "1 validation error detected: Value at '"+k+"' failed to satisfy constraint: unknown member")
			return
		}
	}
	b.mu.Lock()
	b.signedWith = append(b.signedWith, akid)
	b.paths = append(b.paths, r.URL.EscapedPath())
	b.bodies = append(b.bodies, body)
	b.mu.Unlock()
	text := "Hello from " + b.o.Name + "."
	in := int64(len(strings.Fields(string(req["messages"]))))
	out := int64(len(strings.Fields(text)))
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": []map[string]string{{"text": text}}}},
			"stopReason": "end_turn",
			"usage":      map[string]int64{"inputTokens": in, "outputTokens": out, "totalTokens": in + out},
			"metrics":    map[string]int64{"latencyMs": 1},
		})
		return
	}
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	frame := func(event string, payload any) {
		p, _ := json.Marshal(payload)
		var m eventstream.Message
		m.Headers.Set(":event-type", eventstream.StringValue(event))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Payload = p
		eventstream.NewEncoder().Encode(w, m)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	frame("messageStart", map[string]string{"role": "assistant"})
	for i, word := range strings.Fields(text) {
		if i > 0 {
			word = " " + word
		}
		frame("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]string{"text": word}})
	}
	frame("contentBlockStop", map[string]any{"contentBlockIndex": 0})
	frame("messageStop", map[string]string{"stopReason": "end_turn"})
	frame("metadata", map[string]any{"usage": map[string]int64{"inputTokens": in, "outputTokens": out, "totalTokens": in + out}, "metrics": map[string]int64{"latencyMs": 1}})
}
