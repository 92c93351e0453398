package translate

import "net/http"

// schemaEndpoints are the client API endpoints each schema defines: the only
// requests an upstream attempt to a backend of that schema may carry the
// backend's credentials to. A new schema lists its endpoints here, next to
// registering its translator.
var schemaEndpoints = map[string][]endpointKind{
	SchemaOpenAI:      {endpointChatCompletions, endpointCompletions, endpointEmbeddings, endpointMessages},
	SchemaAzureOpenAI: {endpointChatCompletions, endpointCompletions, endpointEmbeddings, endpointMessages},
	SchemaAnthropic:   {endpointChatCompletions, endpointMessages},
	// Vertex AI (vertex.go).
	SchemaVertexGemini:    {endpointChatCompletions, endpointEmbeddings},
	SchemaVertexAnthropic: {endpointChatCompletions, endpointMessages},
	// Amazon Bedrock (bedrock_embeddings.go, bedrock_anthropic.go).
	SchemaAWSBedrock:          {endpointChatCompletions, endpointEmbeddings},
	SchemaAWSBedrockAnthropic: {endpointChatCompletions, endpointMessages},
}

// EndpointError reports whether a backend of schema defines the client's
// request (method, original :path with any query), and if not, the client's
// 404 as a KindUnsupported *Error (code "unknown_endpoint"). Every endpoint the
// gateway serves is a POST.
func EndpointError(schema, method, requestPath string) *Error {
	if schema == "" {
		schema = SchemaOpenAI
	}
	ep := parseEndpoint(requestPath)
	if method == http.MethodPost {
		for _, k := range schemaEndpoints[schema] {
			if k == ep.kind {
				return nil
			}
		}
	}
	return &Error{
		Kind:    KindUnsupported,
		Status:  http.StatusNotFound,
		Code:    "unknown_endpoint",
		Message: "the gateway does not serve " + method + " " + ep.suffix + " for a " + schema + " backend",
	}
}
