package translate

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/oaierr"
)

// Claude on Vertex AI (gcp_vertex_anthropic): Anthropic's Messages body
// without "model", with "anthropic_version": "vertex-2023-10-16", sent to
// {model}:rawPredict, or {model}:streamRawPredict for a stream. Responses
// and stream events are Anthropic's own. OpenAI chat requests are
// translated by the Anthropic translator; Anthropic clients (/v1/messages)
// pass through with only these host rewrites.

const defaultVertexAnthropicVersion = "vertex-2023-10-16"

func init() {
	register(SchemaVertexAnthropic, newVertexAnthropic)
}

func newVertexAnthropic(t Target, ep endpoint) (Translator, error) {
	base, err := newVertexBase(t, "anthropic")
	if err != nil {
		return nil, err
	}
	version := t.APIVersion
	if version == "" {
		version = defaultVertexAnthropicVersion
	}
	host := &claudeHost{version: version, modelPath: func(model string, stream bool) (string, error) {
		if stream {
			return base.modelURL(model, "streamRawPredict")
		}
		return base.modelURL(model, "rawPredict")
	}}
	switch ep.kind {
	case endpointChatCompletions:
		return &anthropicTranslator{target: t, host: host}, nil
	case endpointMessages:
		return &claudeHostMessages{passthrough: passthrough{target: t, usage: &anthropicUsageScanner{}, errorJSON: vertexClaudeErrorJSON}, host: host}, nil
	}
	return nil, &Error{
		Kind:    KindUnsupported,
		Status:  http.StatusBadRequest,
		Code:    "unsupported_endpoint",
		Message: "endpoint " + ep.suffix + " is not supported by a " + t.Schema + " backend; use /v1/chat/completions or /v1/messages",
	}
}

// claudeHostMessages passes an Anthropic Messages request to a Claude host:
// the model (after overrides) moves from the body into the path, the host's
// anthropic_version goes into the body unless the client set one; every
// other byte is unchanged. Responses pass through (usage is read).
type claudeHostMessages struct {
	passthrough
	host *claudeHost
}

// RequestBodyScanned is RequestBody: the embedded passthrough's scanned
// path builds an OpenAI-style path (nil here), and a Claude host's body
// edits differ from it.
func (h *claudeHostMessages) RequestBodyScanned(body []byte, _ bodyscan.Findings) (RequestResult, error) {
	return h.RequestBody(body)
}

func (h *claudeHostMessages) RequestEditsScanned(body []byte, _ bodyscan.Findings) (RequestResult, error) {
	return h.RequestBody(body)
}

// RequestEditsSliced leaves the request to RequestEditsScanned, which needs
// the body in one piece (the embedded passthrough's would decide it as an
// OpenAI request).
func (h *claudeHostMessages) RequestEditsSliced([][]byte, bodyscan.Findings) (RequestResult, bool, error) {
	return RequestResult{}, false, nil
}

func (h *claudeHostMessages) RequestBody(body []byte) (RequestResult, error) {
	r, err := bodyscan.Scan(body, "anthropic_version")
	if err != nil {
		return RequestResult{}, invalid("", "%s", err.Error())
	}
	model := h.target.ResolveModel(r.Model.Value)
	if r.Model.Present && r.Model.Type != bodyscan.TypeString || model == "" {
		return RequestResult{}, invalid("model", "model is required and must be a string")
	}
	stream := false
	if vs, ve, found, _ := findMember(body, "stream"); found {
		stream = string(body[vs:ve]) == "true"
	}
	path, err := h.host.modelPath(model, stream)
	if err != nil {
		return RequestResult{}, err
	}
	// The original body is every attempt's: edit a (pooled) copy.
	buf := bodyBuffer(len(body) + len(h.host.version) + 32)
	out := bodyscan.RemoveMember(append(*buf, body...), r.Model)
	if !r.Backend.Present {
		i := bytes.IndexByte(out, '{') + 1
		ins := append(appendJSONString([]byte(`"anthropic_version":`), h.host.version), ',')
		if len(bytes.TrimSpace(out[i:])) == 1 { // "{}" once the model is gone
			ins = ins[:len(ins)-1]
		}
		// Insert in place: grow, move the rest up, write ins in the gap.
		n := len(out)
		out = append(out, ins...)
		copy(out[i+len(ins):], out[i:n])
		copy(out[i:], ins)
	}
	res := RequestResult{
		Path:          path,
		Headers:       []Header{{Key: "content-type", Value: "application/json"}},
		RemoveHeaders: []string{"accept-encoding"},
		Model:         strings.Clone(model),
		RequestModel:  strings.Clone(r.Model.Value), // may alias body
		Stream:        stream,
	}
	res.setBody(buf, out)
	return res, nil
}

// vertexClaudeErrorJSON is the Anthropic client's error body for a Vertex
// error on /v1/messages: Claude's own errors are Anthropic's already; Vertex
// answers the rest in Google's format ({"error":{"code","message","status"}}:
// an unknown model, quota, credentials), converted with its message; anything
// else as every Anthropic passthrough error is.
func vertexClaudeErrorJSON(status int, body []byte) []byte {
	if e, ok := parseGoogleError(body); ok {
		return oaierr.AppendAnthropicErrorJSON(nil, oaierr.AnthropicType(status, ""), firstLine(e.Error.Message))
	}
	return anthropicClientErrorJSON(status, body)
}
