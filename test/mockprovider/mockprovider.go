// Package mockprovider implements in-process mock LLM providers (OpenAI-compatible,
// Azure OpenAI and Anthropic Messages) for aigw's tests and docker compose demo.
//
// The mocks are deliberately strict: like the real APIs they reject unknown top-level
// request members, missing required members and bad credentials with the provider's own
// error format, so a gateway bug that leaks a client-only member (for example `backend`)
// or forgets a header fails loudly in tests instead of passing against a lenient stub.
//
// Every response carries `x-mock-backend: <Options.Name>` and the generated text names the
// backend, so a test (or a human with curl) can tell which backend answered.
//
// Token usage is deterministic: prompt tokens are the number of whitespace-separated words in
// the request's text (plus the length of token arrays for embeddings), completion tokens the
// number of words in the reply. Tests of token accounting can compute the expected numbers.
package mockprovider

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Schema selects which provider API the mock imitates.
type Schema string

// Schema values match the `schema` field of aigw's backend configuration.
const (
	SchemaOpenAI    Schema = "openai"
	SchemaAzure     Schema = "azure_openai"
	SchemaAnthropic Schema = "anthropic"
)

// BackendHeader is the response header naming the mock that answered.
const BackendHeader = "X-Mock-Backend"

// maxRecorded bounds the request history so a long-running compose mock does not grow
// without limit; tests only ever look at the last few requests.
const maxRecorded = 64

// maxBody bounds request bodies read by the mock (aigw's default max_request_body_bytes is
// 32 MiB; the mock accepts a little more so the gateway's own limit is what tests observe).
const maxBody = 64 << 20

// Options configures a mock provider.
type Options struct {
	// Name identifies the mock; it is sent back in the X-Mock-Backend header and in the
	// generated reply text ("Hello from <Name>."). Default "mock".
	Name string
	// Schema is the imitated API. Default SchemaOpenAI.
	Schema Schema
	// APIKey is the credential the mock expects (Authorization: Bearer for OpenAI,
	// api-key for Azure, x-api-key for Anthropic). Empty disables the check.
	APIKey string
	// FailStatus, when non-zero, makes every request fail with this HTTP status in the
	// provider's error format (after it has been recorded). SetFailStatus changes it later.
	FailStatus int
	// Models restricts the accepted models (Azure: deployment names). Empty accepts any.
	// It is also the list served by GET /v1/models.
	Models []string
	// APIVersion is the required Azure api-version query value or the required Anthropic
	// anthropic-version header value. Empty accepts any non-empty value (both APIs always
	// require one).
	APIVersion string
	// PathPrefix is where the API is mounted. Defaults: "/v1" (OpenAI, Anthropic),
	// "/openai" (Azure).
	PathPrefix string
	// Reply overrides the generated assistant text (default "Hello from <Name>.").
	Reply string
	// ToolArguments, when set (a JSON object), makes the mock answer a chat or messages
	// request that offers tools with a call of the first tool (or of the one tool_choice
	// names) with these arguments, unless tool_choice is "none".
	ToolArguments string
	// Project and Region are the Vertex AI path's (SchemaVertex*).
	Project, Region string
	// TokenCheck, when set, accepts a Vertex AI bearer token (one its fake
	// token endpoint issued); nil accepts any non-empty bearer. For Azure it
	// switches the mock from api-key to Microsoft Entra ID: an accepted
	// "Authorization: Bearer" token and no api-key.
	TokenCheck func(token string) bool
	// Gzip makes the mock gzip every response body and send content-encoding: gzip,
	// whatever the request's accept-encoding says (a misbehaving provider or proxy).
	Gzip bool
}

// Request is one recorded request, exactly as it arrived.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Host     string
	Header   http.Header
	Body     []byte
}

// Server is a mock provider; it implements http.Handler.
type Server struct {
	opts   Options
	reply  string
	models map[string]bool
	fail   atomic.Int64
	seq    atomic.Uint64

	mu   sync.Mutex
	reqs []Request
}

// New returns a mock provider configured by opts.
func New(opts Options) *Server {
	if opts.Name == "" {
		opts.Name = "mock"
	}
	if opts.Schema == "" {
		opts.Schema = SchemaOpenAI
	}
	if opts.PathPrefix == "" {
		if opts.Schema == SchemaAzure {
			opts.PathPrefix = "/openai"
		} else {
			opts.PathPrefix = "/v1"
		}
	}
	opts.PathPrefix = "/" + strings.Trim(opts.PathPrefix, "/")
	if opts.PathPrefix == "/" {
		opts.PathPrefix = ""
	}
	s := &Server{opts: opts, reply: opts.Reply}
	if s.reply == "" {
		s.reply = "Hello from " + opts.Name + "."
	}
	if len(opts.Models) > 0 {
		s.models = make(map[string]bool, len(opts.Models))
		for _, m := range opts.Models {
			s.models[m] = true
		}
	}
	s.fail.Store(int64(opts.FailStatus))
	return s
}

// Name returns the mock's name.
func (s *Server) Name() string { return s.opts.Name }

// SetFailStatus makes every following request fail with status (0 restores normal answers).
func (s *Server) SetFailStatus(status int) { s.fail.Store(int64(status)) }

// FailStatus returns the current forced failure status (0 when answering normally).
func (s *Server) FailStatus() int { return int(s.fail.Load()) }

// LastRequest returns the most recent request, if any.
func (s *Server) LastRequest() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return Request{}, false
	}
	return cloneRequest(s.reqs[len(s.reqs)-1]), true
}

// Requests returns the recorded requests, oldest first (at most the last 64).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	for i, r := range s.reqs {
		out[i] = cloneRequest(r)
	}
	return out
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

func cloneRequest(r Request) Request {
	r.Header = r.Header.Clone()
	r.Body = bytes.Clone(r.Body)
	return r
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == maxRecorded {
		copy(s.reqs, s.reqs[1:])
		s.reqs = s.reqs[:maxRecorded-1]
	}
	s.reqs = append(s.reqs, r)
}

// ServeHTTP records the request and answers it the way the configured provider would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	s.record(Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Host:     r.Host,
		Header:   r.Header.Clone(),
		Body:     body,
	})
	if s.opts.Gzip {
		gz := newGzipWriter(w)
		defer gz.close()
		w = gz
	}
	w.Header().Set(BackendHeader, s.opts.Name)
	id := s.seq.Add(1)
	switch s.opts.Schema {
	case SchemaAnthropic:
		w.Header().Set("Request-Id", "req_mock_"+strconv.FormatUint(id, 10))
	default:
		w.Header().Set("X-Request-Id", "req_mock_"+strconv.FormatUint(id, 10))
	}
	if err != nil {
		s.writeError(w, http.StatusRequestEntityTooLarge, "request body too large", "", "")
		return
	}
	if st := s.FailStatus(); st != 0 {
		s.writeFailure(w, st)
		return
	}
	c := &call{s: s, w: w, r: r, body: body, id: id}
	switch s.opts.Schema {
	case SchemaAnthropic:
		c.serveAnthropic()
	case SchemaAzure:
		c.serveAzure()
	case SchemaVertexGemini, SchemaVertexAnthropic:
		c.serveVertex()
	default:
		c.serveOpenAI()
	}
}

// call is the per-request state shared by the provider handlers.
type call struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	body []byte
	id   uint64
}

// keyMatches compares in constant time so the mock does not model a timing side channel
// that real providers do not have.
func (s *Server) keyMatches(got string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.APIKey)) == 1
}

func (s *Server) modelAllowed(m string) bool {
	return s.models == nil || s.models[m]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only mock-built values are marshalled; this cannot happen with them.
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeObject parses body as a JSON object, keeping members raw so each handler can apply
// the provider's own strictness rules.
func decodeObject(body []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// unknownMember returns the first member of m (in sorted order, for stable errors) that is
// not in allowed.
func unknownMember(m map[string]json.RawMessage, allowed map[string]bool) string {
	var bad string
	for k := range m {
		if !allowed[k] && (bad == "" || k < bad) {
			bad = k
		}
	}
	return bad
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// countWords is the mock's deterministic "tokenizer".
func countWords(s string) int { return len(strings.Fields(s)) }

// replyPieces splits text into stream deltas that concatenate back to text.
func replyPieces(text string) []string {
	var out []string
	start := 0
	for i := 1; i < len(text); i++ {
		if text[i] == ' ' {
			out = append(out, text[start:i])
			start = i
		}
	}
	return append(out, text[start:])
}

// truncateWords returns the first n words of text when a max-tokens limit is smaller than
// the reply, and whether it cut anything.
func truncateWords(text string, n int) (string, bool) {
	if n <= 0 || countWords(text) <= n {
		return text, false
	}
	return strings.Join(strings.Fields(text)[:n], " "), true
}

// rawInt reads an optional integer member; ok is false when present but not an integer.
func rawInt(m map[string]json.RawMessage, key string) (n int, present, ok bool) {
	raw, present := m[key]
	if !present || string(raw) == "null" {
		return 0, false, true
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, true, false
	}
	return n, true, true
}

// rawBool reads an optional boolean member.
func rawBool(m map[string]json.RawMessage, key string) (b, ok bool) {
	raw, present := m[key]
	if !present || string(raw) == "null" {
		return false, true
	}
	return b, json.Unmarshal(raw, &b) == nil
}

// rawString reads an optional string member.
func rawString(m map[string]json.RawMessage, key string) (s string, present, ok bool) {
	raw, present := m[key]
	if !present || string(raw) == "null" {
		return "", false, true
	}
	return s, true, json.Unmarshal(raw, &s) == nil
}

// sseWriter writes server-sent events and flushes each one, like the real APIs do.
type sseWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func startSSE(w http.ResponseWriter) *sseWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	return &sseWriter{w: w, f: f}
}

func (s *sseWriter) event(name string, data []byte) {
	var b bytes.Buffer
	if name != "" {
		b.WriteString("event: ")
		b.WriteString(name)
		b.WriteByte('\n')
	}
	b.WriteString("data: ")
	b.Write(data)
	b.WriteString("\n\n")
	_, _ = s.w.Write(b.Bytes())
	if s.f != nil {
		s.f.Flush()
	}
}

func (s *sseWriter) json(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	s.event(name, b)
}

func itoa(i int) string { return strconv.Itoa(i) }
