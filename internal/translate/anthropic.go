package translate

import (
	"net/http"
	"sync"
	"time"
)

// OpenAI chat completions -> Anthropic Messages API (/v1/messages).
//
// The request is decoded into minimal OpenAI structs, checked parameter by
// parameter (anything Anthropic cannot express is a KindUnsupported Error naming
// it, never a silent drop) and re-encoded as an Anthropic request. Responses
// are translated back into chat.completion objects, or, for streams, event
// by event into chat.completion.chunk lines (anthropic_stream.go).
//
// A client already speaking Anthropic (/v1/messages) is passed through with
// only the model override and the anthropic-version header applied.

const (
	defaultAnthropicVersion   = "2023-06-01"
	defaultAnthropicMaxTokens = 4096
)

// now is the clock for "created"; tests pin it.
var now = time.Now

func init() {
	register(SchemaAnthropic, newAnthropic)
}

// defaultAnthropicPath is the Messages API path under the default prefix.
const defaultAnthropicPath = "/v1/messages"

func newAnthropic(t Target, ep endpoint) (Translator, error) {
	prefix := t.PathPrefix
	if prefix == "" {
		prefix = "/v1"
	}
	version := t.APIVersion
	if version == "" {
		version = defaultAnthropicVersion
	}
	path, headers := defaultAnthropicPath, defaultJSONHeaders[:1:1] // shared: no allocation per attempt
	if prefix != "/v1" {
		path = joinPath(prefix, "/messages")
	}
	if version != defaultAnthropicVersion {
		headers = []Header{{Key: "anthropic-version", Value: version}}
	}
	switch ep.kind {
	case endpointChatCompletions:
		// A pooled translator is new or Released: all zero but the memory
		// Release keeps, so only the attempt's fields are set (not the
		// whole struct cleared once more).
		a := anthropicTranslators.Get().(*anthropicTranslator)
		a.target, a.path, a.headers, a.pooled = t, path, headers, true
		return a, nil
	case endpointMessages:
		return &passthrough{target: t, usage: &anthropicUsageScanner{}, headers: headers, errorJSON: anthropicClientErrorJSON,
			path: func(string) string { return path }}, nil
	default:
		return nil, &Error{
			Kind:    KindUnsupported,
			Status:  http.StatusBadRequest,
			Code:    "unsupported_endpoint",
			Message: "endpoint " + ep.suffix + " is not supported by an anthropic backend; use /v1/chat/completions",
		}
	}
}

// anthropicTranslators holds the Anthropic translators of attempts that are
// over (Release), with the memory of their translated response: one
// attempt's translator and its response were two allocations per attempt
// otherwise (~2 KB for a short chat), collected by the GC.
var anthropicTranslators = sync.Pool{New: func() any { return new(anthropicTranslator) }}

// maxKeptResponse is the largest translated-response buffer a pooled
// translator keeps for the next attempt: bigger ones go to the GC.
const maxKeptResponse = 16 << 10

// Release is Releaser: a pooled translator goes back with nothing of its
// attempt but its response buffer's memory and its copies of the model
// names (modelNames), for the next one. Called only when nothing uses
// what it returned any more (upstream.Filter.Recycle).
func (a *anthropicTranslator) Release() {
	if !a.pooled {
		return
	}
	out := a.out[:0]
	if cap(out) > maxKeptResponse {
		out = nil
	}
	// Cleared in place, then what is kept set again: a literal with both
	// is built aside and copied over a (wbMove: a write barrier per
	// pointer word while the GC marks, not wbZero's).
	names := a.names
	*a = anthropicTranslator{}
	a.out, a.names = out, names
	anthropicTranslators.Put(a)
}

type anthropicTranslator struct {
	// pooled: the translator came from anthropicTranslators (Release).
	pooled bool
	// out is the memory of the translated (non-streamed) response, which
	// a pooled translator reuses from one attempt to the next.
	out []byte
	// names holds the copies of the last attempt's model names, which a
	// pooled translator keeps too (modelNames).
	names modelNames

	target  Target
	path    string
	headers []Header
	// host, when set, is a cloud host of Claude that takes the model in the
	// path and the version in the body (Vertex AI: vertex_anthropic.go;
	// Bedrock: bedrock_anthropic.go).
	host *claudeHost

	model        string // upstream model, reported when the provider omits it
	includeUsage bool
	mode         ResponseMode
	coding       contentCoding
	gz           *gzipDecoder
	acc          accumulator
	stream       *anthropicStream // a streamed response's state, made for one (most responses are not)
	tokens       anthTokens
	errStatus    int
}

// claudeHost is the one hook for a cloud host of Claude that takes the model
// in the path and the version in the body: Vertex AI (rawPredict /
// streamRawPredict, vertex_anthropic.go) and Amazon Bedrock (invoke /
// invoke-with-response-stream, bedrock_anthropic.go) are two values of it.
type claudeHost struct {
	// version is the body's anthropic_version.
	version string
	// modelPath is the upstream path for the model and streaming choice;
	// it validates the model as a path segment.
	modelPath func(model string, stream bool) (string, error)
	// streamInPath: the path alone chooses streaming and the body must not
	// carry "stream" (Bedrock refuses it; Vertex AI wants it).
	streamInPath bool
}
