package translate

// Names the OpenTelemetry GenAI semantic conventions give what a request
// does and whom it goes to (gen_ai.operation.name, gen_ai.provider.name).
// They live here, with the schemas and endpoints they describe, so the
// metrics package needs no translator and a new schema names its provider
// where it registers its endpoints.

// Operation names (gen_ai.operation.name).
const (
	OperationChat           = "chat"
	OperationTextCompletion = "text_completion"
	OperationEmbeddings     = "embeddings"
)

// providerNames are the conventions' well-known gen_ai.provider.name values.
var providerNames = map[string]string{
	SchemaOpenAI:      "openai",
	SchemaAzureOpenAI: "azure.ai.openai",
	SchemaAnthropic:   "anthropic",
	// Vertex AI, whichever publisher's model it serves.
	SchemaVertexGemini:    "gcp.vertex_ai",
	SchemaVertexAnthropic: "gcp.vertex_ai",
	// Amazon Bedrock, Converse and InvokeModel alike.
	SchemaAWSBedrock:          "aws.bedrock",
	SchemaAWSBedrockAnthropic: "aws.bedrock",
}

// ProviderName is gen_ai.provider.name for a backend schema; a schema the
// conventions do not name is its own name.
func ProviderName(schema string) string {
	if schema == "" {
		schema = SchemaOpenAI
	}
	if n, ok := providerNames[schema]; ok {
		return n
	}
	return schema
}

// OperationName is gen_ai.operation.name for the client's request path
// (query ignored), from the same endpoint parsing the translators use: chat
// for chat completions and Anthropic messages, text_completion, embeddings;
// "" for anything else.
func OperationName(requestPath string) string {
	switch parseEndpoint(requestPath).kind {
	case endpointChatCompletions, endpointMessages:
		return OperationChat
	case endpointCompletions:
		return OperationTextCompletion
	case endpointEmbeddings:
		return OperationEmbeddings
	}
	return ""
}
