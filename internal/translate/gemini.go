package translate

import "net/http"

// OpenAI chat completions -> Gemini on Vertex AI (gcp_vertex_gemini):
// {model}:generateContent, or {model}:streamGenerateContent?alt=sse for a
// stream (gemini_request.go, gemini_response.go, gemini_stream.go);
// embeddings -> {model}:predict (vertex_embeddings.go).

func init() {
	register(SchemaVertexGemini, newVertexGemini)
}

func newVertexGemini(t Target, ep endpoint) (Translator, error) {
	base, err := newVertexBase(t, "google")
	if err != nil {
		return nil, err
	}
	switch ep.kind {
	case endpointChatCompletions:
		return &geminiTranslator{target: t, base: base}, nil
	case endpointEmbeddings:
		return &vertexEmbeddings{target: t, base: base}, nil
	}
	return nil, &Error{
		Kind:    KindUnsupported,
		Status:  http.StatusBadRequest,
		Code:    "unsupported_endpoint",
		Message: "endpoint " + ep.suffix + " is not supported by a gcp_vertex_gemini backend; use /v1/chat/completions or /v1/embeddings",
	}
}

type geminiTranslator struct {
	target Target
	base   vertexBase

	model        string // upstream model, reported in responses
	includeUsage bool
	mode         ResponseMode
	coding       contentCoding
	gz           *gzipDecoder
	acc          accumulator
	stream       geminiStream
	tokens       anthTokens
	errStatus    int
}
