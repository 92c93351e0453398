// Package translate converts OpenAI-style client requests into the schema a
// chosen upstream provider speaks, and converts the provider's responses
// (plain JSON or server-sent event streams) back into OpenAI's schema.
//
// The package is pure Go and knows nothing about Envoy or the gateway's
// config: the upstream filter builds a Target from the endpoint it was given,
// calls New once per upstream attempt, and drives the returned Translator
// with the request body, the response headers and the response body chunks.
//
// Per attempt, the caller:
//
//  1. New(target, originalPath). An *Error (KindUnsupported) is answered
//     locally with its OpenAI() error.
//  2. RequestBody(wholeBody), also for an empty body. An *Error
//     (KindUnsupported or KindInvalid) is answered locally with OpenAI().
//     Otherwise: set :path to Path; if Body is non-nil, replace the body and
//     set content-length to len(Body); set Headers; remove RemoveHeaders.
//  3. ResponseHeaders(status, content-type, content-encoding). Apply
//     ContentType; remove content-encoding if RemoveContentEncoding; remove
//     content-length if ModifiesBody. An error (*Error, KindProvider) replaces
//     the response with its OpenAI() error.
//  4. ResponseBody: with BufferBody, once with the whole body and
//     endOfStream=true; with Stream, for every chunk as it arrives,
//     replacing the chunk with the output (possibly empty). Without
//     ModifiesBody the output is the input and the body can be left alone.
//     The last Usage returned is the attempt's token count. A ResponseBody
//     error (*Error, KindProvider, from badResponse) means the upstream body could not be
//     decoded or translated (corrupt or oversized gzip, an unparsable 2xx
//     body, an SSE event over the cap): with BufferBody (the headers are
//     still held) answer 502 with an OpenAI error; for a stream forward
//     the output returned with the error (it ends with an OpenAI error
//     event, which the SDKs raise) and stop.
//
// Each provider lives in its own file and registers itself with register, so
// adding a provider is adding a file.
package translate

import (
	"github.com/aigw/aigw/internal/bodyscan"

	"fmt"
	"sort"
	"strings"
)

// Schema names accepted in Target.Schema; they match the config's "schema" values.
const (
	SchemaOpenAI      = "openai"
	SchemaAzureOpenAI = "azure_openai"
	SchemaAnthropic   = "anthropic"
	// Google Vertex AI (vertex.go): Gemini and Claude.
	SchemaVertexGemini    = "gcp_vertex_gemini"
	SchemaVertexAnthropic = "gcp_vertex_anthropic"
	// SchemaAWSBedrockAnthropic is Claude on Amazon Bedrock (InvokeModel,
	// InvokeModelWithResponseStream): bedrock_anthropic.go.
	SchemaAWSBedrockAnthropic = "aws_bedrock_anthropic"
)

// Target describes the upstream an attempt goes to.
type Target struct {
	// Schema is the provider API the upstream speaks; empty means "openai".
	Schema string
	// ModelOverride maps a client model name to the upstream model name.
	ModelOverride map[string]string
	// DefaultModel, when set, replaces any model not found in ModelOverride.
	DefaultModel string
	// PathPrefix replaces the provider's default path prefix ("/v1" for
	// OpenAI and Anthropic, "/openai" for Azure OpenAI).
	PathPrefix string
	// APIVersion is Azure's api-version query value, or Anthropic's
	// anthropic-version header value.
	APIVersion string
	// Project and Region address cloud targets: Google Cloud (Vertex AI)
	// path segments of every Vertex URL; Region is also the AWS region of
	// a Bedrock backend (its signing region and default host, resolved in
	// config).
	Project, Region string
	// Limits bound what the provider's responses may make the gateway hold.
	Limits Limits
}

// Default response limits (the config's defaults).
const (
	DefaultMaxEventBytes   = 4 << 20
	DefaultMaxDecodedBytes = 64 << 20
)

// Limits bound the memory a provider response can make a translator hold.
// Zero values mean the defaults.
type Limits struct {
	// MaxEventBytes caps one SSE line and one event's joined data lines.
	// Past it, a passthrough stream stops reading usage and passes bytes on;
	// a translated stream ends for the client with an error event.
	MaxEventBytes int
	// MaxDecodedBytes caps what a gzip-encoded response may decode to (the
	// whole body, or the whole stream).
	MaxDecodedBytes int64
}

func (l Limits) eventBytes() int {
	if l.MaxEventBytes > 0 {
		return l.MaxEventBytes
	}
	return DefaultMaxEventBytes
}

func (l Limits) decodedBytes() int64 {
	if l.MaxDecodedBytes > 0 {
		return l.MaxDecodedBytes
	}
	return DefaultMaxDecodedBytes
}

// ResolveModel returns the model name to send upstream for a client model:
// a ModelOverride entry wins, then DefaultModel, else the client's name.
func (t *Target) ResolveModel(requested string) string {
	if m, ok := t.ModelOverride[requested]; ok && m != "" {
		return m
	}
	if t.DefaultModel != "" {
		return t.DefaultModel
	}
	return requested
}

// overrides reports whether ResolveModel could change a model name at all, so
// passthrough translators can skip looking at the body when it cannot.
func (t *Target) overrides() bool {
	return t.DefaultModel != "" || len(t.ModelOverride) > 0
}

// Header is one header name and value: a request header a translator sets
// upstream, and the one header type of the upstream phase (upstream.Header,
// the adapter's local responses) so lists pass along without copies.
type Header struct {
	Key   string
	Value string
}

// RequestResult is what a Translator decided for the request.
type RequestResult struct {
	// Path is the new :path (including any query string).
	Path string
	// Body is the new request body; nil means the body is unchanged (or,
	// from EditedRequest, that Edits describe the new one).
	Body []byte
	// BodyBuffer, when set, owns the pooled memory Body lives in: the
	// holder releases it once done with Body (Release; body_buffer.go).
	BodyBuffer BodyBuffer
	// Edits, set only by EditedRequest.RequestEditsScanned and then instead
	// of Body, describe the new body as edits of the one the translator
	// read (ApplyEdits).
	Edits []Edit
	// Headers are set (replacing existing values) on the upstream request.
	Headers []Header
	// RemoveHeaders are removed from the upstream request.
	RemoveHeaders []string
	// Model is the model name the upstream will see (after overrides); empty
	// when the body carries none.
	Model string
	// RequestModel is the model the client's request named (before
	// overrides; gen_ai.request.model); empty when it named none.
	RequestModel string
	// Stream reports whether the client asked for a streamed response.
	Stream bool
}

// providerHeaders are the request headers translators set that only their
// own provider's API reads. Envoy shares one request header map between the
// attempts of a request, so a header set for one attempt's provider is still
// there when the next attempt goes to another provider: callers remove all of
// them before applying an attempt's RequestResult. A translator that sets a
// new header (other than content-type) must list it here.
var providerHeaders = []string{"anthropic-version"}

// ProviderHeaders returns the provider-specific request headers translators
// may set (a copy; call it once, at config time).
func ProviderHeaders() []string { return append([]string(nil), providerHeaders...) }

// ResponseMode tells the caller how to treat the response once headers arrived.
type ResponseMode struct {
	// Stream is true for server-sent event responses: call ResponseBody with
	// every chunk as it arrives and forward each output immediately.
	Stream bool
	// Error is true when the upstream status is not 2xx; the body is (or is
	// translated into) an OpenAI error object and the status is kept.
	Error bool
	// BufferBody asks the caller to buffer the whole response body and call
	// ResponseBody once with endOfStream=true (the translator needs the
	// complete document). Calling it with pieces still works, at the cost of
	// an internal copy.
	BufferBody bool
	// ModifiesBody is false when ResponseBody returns its input unchanged
	// (usage is only observed); the caller can then leave the body alone.
	// When true, the caller replaces the body with ResponseBody's output and
	// must remove content-length.
	ModifiesBody bool
	// ContentType, when non-empty, replaces the content-type header.
	ContentType string
	// RemoveContentEncoding is true when the translator decodes the provider's
	// content-encoding: the caller must remove content-encoding (and
	// content-length, as ModifiesBody is then true as well).
	RemoveContentEncoding bool
}

// Usage is the token accounting extracted from a response. Values are
// cumulative for the attempt: the latest value returned wins.
type Usage struct {
	InputTokens       int64
	OutputTokens      int64
	TotalTokens       int64
	CachedInputTokens int64
	// CacheCreationInputTokens are input tokens written to the provider's
	// cache (Anthropic's cache_creation_input_tokens), ReasoningTokens
	// output tokens spent reasoning (OpenAI's
	// completion_tokens_details.reasoning_tokens): subsets of InputTokens
	// and OutputTokens.
	CacheCreationInputTokens int64
	ReasoningTokens          int64
	// Model is the model the provider says answered ("" until it said).
	Model string
}

// Translator converts one upstream attempt. It is not safe for concurrent use
// and must not be reused across attempts.
type Translator interface {
	// RequestBody translates the complete client request body.
	RequestBody(body []byte) (RequestResult, error)
	// ResponseHeaders inspects the upstream response headers and decides how
	// the body is handled.
	ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error)
	// ResponseBody translates a chunk of the response body. For streams it
	// works incrementally: output may be empty until a complete event has
	// arrived. The returned slice is only valid until the next call.
	ResponseBody(chunk []byte, endOfStream bool) (out []byte, usage Usage, err error)
}

// StreamEnder is a streaming Translator that knows when the stream it
// returns is complete: it has returned the client's terminal event (OpenAI's
// "data: [DONE]", Anthropic's message_stop). A client may hang up as soon as
// it reads that event, before the provider's end of stream reaches Envoy,
// and Envoy then destroys the attempt without its end of stream: the
// response was delivered whole all the same.
type StreamEnder interface {
	StreamEnded() bool
}

// StreamEnded reports whether tr is a StreamEnder whose stream is complete.
// A translator that cannot tell (a stream format without a terminal event)
// never is: only its end of stream completes its attempt.
func StreamEnded(tr Translator) bool {
	e, ok := tr.(StreamEnder)
	return ok && e.StreamEnded()
}

// Releaser is a Translator whose memory a later attempt may reuse once its
// own attempt is over (Release). Release must be the last call on it, made
// when nothing it returned (a body, edits, a chunk) is still in use.
type Releaser interface {
	Release()
}

// Release releases tr when it is a Releaser; any other translator is left
// to the garbage collector.
func Release(tr Translator) {
	if r, ok := tr.(Releaser); ok {
		r.Release()
	}
}

// factory builds a Translator for a target and a classified request path.
type factory func(t Target, ep endpoint) (Translator, error)

var registry = map[string]factory{}

// register is called from each provider file's init.
func register(schema string, f factory) {
	if _, dup := registry[schema]; dup {
		panic("translate: schema registered twice: " + schema)
	}
	registry[schema] = f
}

// New returns the Translator for one attempt at target t of a client request
// sent to requestPath (the original :path, query included). It fails with
// a KindUnsupported *Error when the target cannot serve that endpoint, and with
// a plain error when the schema is unknown or the target is incomplete.
func New(t Target, requestPath string) (Translator, error) {
	schema := t.Schema
	if schema == "" {
		schema = SchemaOpenAI
	}
	f, ok := registry[schema]
	if !ok {
		return nil, fmt.Errorf("translate: unknown schema %q", t.Schema)
	}
	return f(t, parseEndpoint(requestPath))
}

// Schemas lists the registered schemas, sorted: the values a backend's
// `schema` may take. Adding a provider is a new file that registers itself;
// config validation follows from this list.
func Schemas() []string {
	out := make([]string, 0, len(registry))
	for s := range registry {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Check reports whether t is a complete target: a registered schema and
// whatever that provider's translator requires (Azure's api_version), so a
// config is rejected at load rather than on the first request.
func Check(t Target) error {
	_, err := New(t, "/v1/chat/completions")
	if _, ok := AsError(err, KindUnsupported); ok {
		return nil // the target is fine; it just does not serve that endpoint
	}
	return err
}

// endpointKind classifies the client's API call.
type endpointKind int

const (
	endpointOther endpointKind = iota
	endpointChatCompletions
	endpointCompletions
	endpointEmbeddings
	endpointMessages // Anthropic-native client request
)

// endpoint is the client request path split into the API suffix (after the
// "/v1" version prefix) and the raw query string.
type endpoint struct {
	kind   endpointKind
	suffix string // e.g. "/chat/completions"
	query  string // without '?'
	// v1Path is the whole client path when it is "/v1" + suffix (+ "?" +
	// query): the upstream path for the default prefix, without building
	// it again ("" when the path had another prefix).
	v1Path string
}

func parseEndpoint(p string) endpoint {
	var ep endpoint
	whole := p // the path with its query, without a bare '?'
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p, ep.query = p[:i], p[i+1:]
		if ep.query == "" {
			whole = p
		}
	}
	if strings.HasPrefix(p, "/v1/") {
		ep.v1Path = whole
		p = p[len("/v1"):] // "/rest": a substring, no allocation
	} else if p == "/v1" {
		p = "/"
	}
	ep.suffix = p
	switch strings.TrimSuffix(p, "/") {
	case "/chat/completions":
		ep.kind = endpointChatCompletions
	case "/completions":
		ep.kind = endpointCompletions
	case "/embeddings":
		ep.kind = endpointEmbeddings
	case "/messages":
		ep.kind = endpointMessages
	}
	return ep
}

// joinPath joins a configured prefix and an API suffix with exactly one '/'.
func joinPath(prefix, suffix string) string {
	prefix = strings.TrimSuffix(prefix, "/")
	if suffix == "" || suffix[0] != '/' {
		suffix = "/" + suffix
	}
	return prefix + suffix
}

// checkPathSegment rejects a name that is to become one segment of the
// upstream path (an Azure deployment; Bedrock and Vertex model ids next)
// unless it is exactly one segment whatever the upstream or a proxy in
// between decodes or normalizes: not empty, not "." or "..", no '/', '\\',
// '?', '#' or '%' (no percent-encoded tricks either), no control bytes
// (other bytes are percent-encoded by the caller). The error is a 400 naming param; it never echoes the value.
func checkPathSegment(param, v string) error {
	_, err := pathSegment(param, v, false)
	return err
}

// escapedPathSegment is checkPathSegment for a name the provider expects
// percent-encoded as one segment, '/' and ':' included (a Bedrock model id or
// inference-profile ARN): the same rules, except that '/', '?' and '#' are
// allowed, and it returns v with every byte outside RFC 3986's unreserved set
// percent-encoded, as the AWS SDKs encode a path label.
func escapedPathSegment(param, v string) (string, error) {
	return pathSegment(param, v, true)
}

// pathSegment is the one path-segment validator: with escapeAll, '/', '?'
// and '#' are allowed and the result is v percent-encoded byte by byte
// outside the unreserved set; without, they are refused and v is returned
// as is.
func pathSegment(param, v string, escapeAll bool) (string, error) {
	switch v {
	case "":
		return "", invalid(param, "%s must not be empty", param)
	case ".", "..":
		return "", invalid(param, "%s must not be a dot segment (%q): it becomes an upstream path segment", param, v)
	}
	forbidden := "/\\?#%"
	if escapeAll {
		forbidden = "\\%"
	}
	clean := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < ' ' || c == 0x7f || strings.IndexByte(forbidden, c) >= 0 {
			if escapeAll {
				return "", invalid(param, "%s must not contain '\\', '%%' or control bytes", param)
			}
			return "", invalid(param, "%s must be a single path segment: it must not contain '/', '\\', '?', '#', '%%' or control bytes", param)
		}
		clean = clean && isUnreserved(c)
	}
	if !escapeAll || clean {
		return v, nil
	}
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(v)+16)
	for i := 0; i < len(v); i++ {
		if c := v[i]; isUnreserved(c) {
			out = append(out, c)
		} else {
			out = append(out, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(out), nil
}

// isUnreserved reports RFC 3986's unreserved characters.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// isSuccess reports whether an HTTP status is 2xx.
func isSuccess(status int) bool { return status >= 200 && status < 300 }

// isEventStream reports whether a content-type is text/event-stream.
func isEventStream(contentType string) bool {
	return isMediaType(contentType, "text/event-stream")
}

// isMediaType reports whether a content-type is the media type want
// (parameters ignored).
func isMediaType(contentType, want string) bool {
	ct := strings.TrimSpace(contentType)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	return strings.EqualFold(ct, want)
}

// ResponseHeaderReader is implemented by translators that read response
// headers beyond the status, content-type and content-encoding (Bedrock's
// token counts: bedrock_embeddings.go). The caller calls
// ReadResponseHeaders with the response headers right before
// ResponseHeaders.
type ResponseHeaderReader interface {
	ReadResponseHeaders(h HeaderGetter)
}

// HeaderGetter reads a header (names lowercase, as Envoy keeps them).
type HeaderGetter interface {
	Get(name string) (value string, ok bool)
}

// ScannedRequest is implemented by translators that can take the router
// phase's findings on the body (bodyscan.Recall) instead of scanning it
// again. RequestBodyScanned(body, f) must return what RequestBody(body)
// would, for a body whose findings f are.
type ScannedRequest interface {
	RequestBodyScanned(body []byte, f bodyscan.Findings) (RequestResult, error)
}

// EditedRequest is implemented by translators whose request rewrite can be
// a few edits of the client's body (the OpenAI passthrough's model override
// and include_usage). RequestEditsScanned is RequestBodyScanned, except that
// such a rewrite comes back as res.Edits with res.Body nil: a caller whose
// body lives in a buffer that can append from itself (Envoy's, see
// internal/dynmod) then builds the new body without a body-sized copy in
// Go. Any other rewrite comes back in res.Body as from RequestBodyScanned.
// A type embedding such a translator that rewrites the request itself must
// define its own RequestEditsScanned (TestScannedRequestMatchesRequestBody).
type EditedRequest interface {
	RequestEditsScanned(body []byte, f bodyscan.Findings) (RequestResult, error)
}

// Edit replaces body[Start:End] of the body a translator read with Text.
type Edit struct {
	Start, End int
	Text       []byte
}

// EditedLen is the length of a body of n bytes after edits.
func EditedLen(n int, edits []Edit) int {
	for _, e := range edits {
		n += len(e.Text) - (e.End - e.Start)
	}
	return n
}

// ApplyEdits returns body with edits (sorted by Start, non-overlapping, as
// RequestEditsScanned returns them) applied, in one new buffer.
func ApplyEdits(body []byte, edits []Edit) []byte {
	return AppendEdits(make([]byte, 0, EditedLen(len(body), edits)), body, edits)
}

// AppendEdits appends body with edits applied to dst (which must not
// overlap body) and returns the extended slice.
func AppendEdits(dst, body []byte, edits []Edit) []byte {
	at := 0
	for _, e := range edits {
		dst = append(dst, body[at:e.Start]...)
		dst = append(dst, e.Text...)
		at = e.End
	}
	return append(dst, body[at:]...)
}
