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
	// Gzip makes the mock gzip every response body (content-encoding:
	// gzip), as a proxy that ignores the missing accept-encoding would.
	Gzip bool
	// StopReason is the Converse stopReason answered; default end_turn.
	StopReason string
}

// Bedrock is the mock. It checks what the real service checks before
// answering: the exact path (/model/{one percent-encoded segment}/invoke or
// /invoke-with-response-stream), the SigV4 signature recomputed from Keys
// (403 InvalidSignatureException / UnrecognizedClientException otherwise),
// and the body (Anthropic Messages with anthropic_version
// bedrock-2023-05-31, no model and no stream: 400 ValidationException).
// Thinking (Claude's thinking in InvokeModel, additionalModelRequestFields
// in Converse) is checked as Claude checks it (type enabled, budget_tokens
// at least 1024 and below the maximum) and answered with a reasoning block
// before the text. Titan and Cohere embedding models on InvokeModel answer
// in their formats, with x-amzn-bedrock-input-token-count.
type Bedrock struct {
	o    BedrockOptions
	fail atomic.Int64 // SetFailStatus
	mu   sync.Mutex
	// signedWith lists the access key id of each accepted request.
	signedWith []string
	verified   []string // every request whose signature verified (Verified)
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

// SetGzip switches gzip-encoded responses on or off (BedrockOptions.Gzip).
func (b *Bedrock) SetGzip(on bool) {
	b.mu.Lock()
	b.o.Gzip = on
	b.mu.Unlock()
}

// SetStopReason sets the Converse stopReason answered ("" is end_turn).
func (b *Bedrock) SetStopReason(reason string) {
	b.mu.Lock()
	b.o.StopReason = reason
	b.mu.Unlock()
}

// SignedWith returns the access key ids of the accepted requests, in order.
func (b *Bedrock) SignedWith() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.signedWith...)
}

// Verified returns the access key ids of every request whose signature
// verified, in order: the answered ones and those failed on purpose
// (SetFailStatus).
func (b *Bedrock) Verified() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.verified...)
}

// Paths returns the raw paths of the accepted requests.
func (b *Bedrock) Paths() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.paths...)
}

// accepted records a request the mock answers.
func (b *Bedrock) accepted(r *http.Request, akid string, body []byte) {
	b.mu.Lock()
	b.signedWith = append(b.signedWith, akid)
	b.paths = append(b.paths, r.URL.EscapedPath())
	b.bodies = append(b.bodies, body)
	b.mu.Unlock()
}

func bedrockError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (b *Bedrock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(BackendHeader, b.o.Name)
	b.mu.Lock()
	gzipped, stopReason := b.o.Gzip, b.o.StopReason
	b.mu.Unlock()
	if gzipped {
		gz := newGzipWriter(w)
		defer gz.close()
		w = gz
	}
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
	b.mu.Lock()
	b.verified = append(b.verified, akid)
	b.mu.Unlock()
	if st := int(b.fail.Load()); st != 0 {
		bedrockError(w, st, "ServiceUnavailableException", "mock "+b.o.Name+" is failing on purpose")
		return
	}
	if len(models) > 0 && !contains(models, model) {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "The provided model identifier is invalid.")
		return
	}
	if strings.HasPrefix(parts[3], "converse") {
		b.converse(w, r, parts[3] == "converse-stream", model, akid, body, stopReason)
		return
	}
	if strings.Contains(model, "titan-embed") || strings.Contains(model, "cohere.embed") {
		b.embed(w, r, parts[3], model, akid, body)
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
	var maxTokens int64
	json.Unmarshal(req["max_tokens"], &maxTokens)
	thinking, err := checkThinking(req["thinking"], maxTokens)
	if err != nil {
		bedrockError(w, http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	b.accepted(r, akid, body)
	text := "Hello from " + b.o.Name + "."
	words := int64(len(strings.Fields(string(req["messages"]))))
	out := int64(len(strings.Fields(text)))
	reasoning := "Reasoning from " + b.o.Name + "."
	if parts[3] == "invoke" {
		content := []map[string]string{{"type": "text", "text": text}}
		if thinking {
			content = append([]map[string]string{{"type": "thinking", "thinking": reasoning, "signature": "c2lnbmF0dXJl"}}, content...)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "msg_bdrk_1", "type": "message", "role": "assistant", "model": model,
			"content":     content,
			"stop_reason": "end_turn", "stop_sequence": nil,
			"usage": map[string]int64{"input_tokens": words, "output_tokens": out},
		})
		return
	}
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	events := []string{
		fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_bdrk_1","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"usage":{"input_tokens":%d,"output_tokens":1}}}`, model, words),
	}
	index := 0
	if thinking {
		events = append(events, `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`)
		for i, word := range strings.Fields(reasoning) {
			if i > 0 {
				word = " " + word
			}
			d, _ := json.Marshal(word)
			events = append(events, `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":`+string(d)+`}}`)
		}
		events = append(events, `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2lnbmF0dXJl"}}`,
			`{"type":"content_block_stop","index":0}`)
		index = 1
	}
	events = append(events, fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}`, index))
	for i, word := range strings.Fields(text) {
		if i > 0 {
			word = " " + word
		}
		d, _ := json.Marshal(word)
		events = append(events, fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%s}}`, index, d))
	}
	events = append(events,
		fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, index),
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
func (b *Bedrock) converse(w http.ResponseWriter, r *http.Request, stream bool, model, akid string, body []byte, stopReason string) {
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
	var inference struct {
		MaxTokens int64 `json:"maxTokens"`
	}
	var additional struct {
		Thinking json.RawMessage `json:"thinking"`
	}
	json.Unmarshal(req["inferenceConfig"], &inference)
	json.Unmarshal(req["additionalModelRequestFields"], &additional)
	thinking, err := checkThinking(additional.Thinking, inference.MaxTokens)
	if err != nil {
		bedrockError(w, http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	b.accepted(r, akid, body)
	text := "Hello from " + b.o.Name + "."
	reasoning := "Reasoning from " + b.o.Name + "."
	if stopReason == "" {
		stopReason = "end_turn"
	}
	in := int64(len(strings.Fields(string(req["messages"]))))
	out := int64(len(strings.Fields(text)))
	if !stream {
		content := []map[string]any{{"text": text}}
		if thinking {
			content = append([]map[string]any{{"reasoningContent": map[string]any{"reasoningText": map[string]string{"text": reasoning, "signature": "c2lnbmF0dXJl"}}}}, content...)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": content}},
			"stopReason": stopReason,
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
	index := 0
	if thinking {
		for i, word := range strings.Fields(reasoning) {
			if i > 0 {
				word = " " + word
			}
			frame("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"reasoningContent": map[string]string{"text": word}}})
		}
		frame("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"reasoningContent": map[string]string{"signature": "c2lnbmF0dXJl"}}})
		frame("contentBlockStop", map[string]any{"contentBlockIndex": 0})
		index = 1
	}
	for i, word := range strings.Fields(text) {
		if i > 0 {
			word = " " + word
		}
		frame("contentBlockDelta", map[string]any{"contentBlockIndex": index, "delta": map[string]string{"text": word}})
	}
	frame("contentBlockStop", map[string]any{"contentBlockIndex": index})
	frame("messageStop", map[string]string{"stopReason": stopReason})
	frame("metadata", map[string]any{"usage": map[string]int64{"inputTokens": in, "outputTokens": out, "totalTokens": in + out}, "metrics": map[string]int64{"latencyMs": 1}})
}

// checkThinking checks a Claude thinking member as Claude does (absent or
// null: no thinking; disabled; or enabled with budget_tokens at least 1024
// and below max_tokens) and reports whether thinking is on.
func checkThinking(raw json.RawMessage, maxTokens int64) (bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, nil
	}
	var t struct {
		Type         string `json:"type"`
		BudgetTokens int64  `json:"budget_tokens"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return false, fmt.Errorf("thinking: %v", err)
	}
	switch {
	case t.Type == "disabled":
		return false, nil
	case t.Type != "enabled":
		return false, fmt.Errorf("thinking.type: %q is not enabled or disabled", t.Type)
	case t.BudgetTokens < 1024:
		return false, fmt.Errorf("thinking.budget_tokens: Input should be greater than or equal to 1024")
	case t.BudgetTokens >= maxTokens:
		return false, fmt.Errorf("`max_tokens` must be greater than `thinking.budget_tokens`")
	}
	return true, nil
}

// embed answers InvokeModel for the Titan and Cohere embedding models: the
// body in the family's format (Titan {"inputText", "dimensions"?}, Cohere
// {"texts", "input_type"}), the answer in it (Titan with
// inputTextTokenCount in the body; Cohere without a count), both with
// x-amzn-bedrock-input-token-count (one token per word).
func (b *Bedrock) embed(w http.ResponseWriter, r *http.Request, action, model, akid string, body []byte) {
	if action != "invoke" {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "The model is unsupported for streaming.")
		return
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request, please reformat your input and try again.")
		return
	}
	var texts []string
	titan := strings.Contains(model, "titan-embed")
	for k, v := range req {
		switch {
		case titan && k == "inputText":
			var s string
			if json.Unmarshal(v, &s) != nil {
				bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: inputText must be a string")
				return
			}
			texts = []string{s}
		case titan && (k == "dimensions" || k == "normalize"):
		case !titan && k == "texts":
			if json.Unmarshal(v, &texts) != nil {
				bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: texts must be strings")
				return
			}
		case !titan && (k == "input_type" || k == "truncate" || k == "embedding_types"):
		default:
			bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: #: extraneous key ["+k+"] is not permitted, please reformat your input and try again.")
			return
		}
	}
	if len(texts) == 0 || (!titan && req["input_type"] == nil) {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: required key missing")
		return
	}
	b.accepted(r, akid, body)
	tokens := 0
	vectors := make([][]float64, len(texts))
	for i, s := range texts {
		tokens += len(strings.Fields(s))
		vectors[i] = []float64{float64(i) + 0.5, -0.25, float64(len(s))}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", fmt.Sprint(tokens))
	if titan {
		json.NewEncoder(w).Encode(map[string]any{"embedding": vectors[0], "inputTextTokenCount": tokens})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"embeddings": vectors, "id": "emb-1", "response_type": "embeddings_floats", "texts": texts})
}
