package metrics

import (
	"strings"

	"github.com/aigw/aigw/internal/translate"
)

// ProviderName is gen_ai.provider.name for a backend schema (the
// conventions' well-known values); an unknown schema is its own name.
func ProviderName(schema string) string {
	switch schema {
	case translate.SchemaOpenAI:
		return "openai"
	case translate.SchemaAzureOpenAI:
		return "azure.ai.openai"
	case translate.SchemaAnthropic:
		return "anthropic"
	}
	return schema
}

// OperationName is gen_ai.operation.name for the client's request path
// (query ignored): chat for chat completions and Anthropic messages,
// text_completion, embeddings; "" for anything else.
func OperationName(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	switch {
	case strings.HasSuffix(path, "/chat/completions"), strings.HasSuffix(path, "/messages"):
		return OpChat
	case strings.HasSuffix(path, "/completions"):
		return OpTextCompletion
	case strings.HasSuffix(path, "/embeddings"):
		return OpEmbeddings
	}
	return ""
}
