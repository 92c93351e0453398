package translate

import "testing"

func TestNames(t *testing.T) {
	for in, want := range map[string]string{"": "openai", "openai": "openai", "azure_openai": "azure.ai.openai", "anthropic": "anthropic", "vertex": "vertex"} {
		if got := ProviderName(in); got != want {
			t.Errorf("ProviderName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"/v1/chat/completions": OperationChat, "/v1/messages": OperationChat, "/v1/completions": OperationTextCompletion,
		"/v1/embeddings?x=1": OperationEmbeddings, "/v1/models": "",
	} {
		if got := OperationName(in); got != want {
			t.Errorf("OperationName(%q) = %q, want %q", in, got, want)
		}
	}
	// Every schema with endpoints has a provider name of the conventions.
	for s := range schemaEndpoints {
		if _, ok := providerNames[s]; !ok {
			t.Errorf("schema %q has no gen_ai.provider.name", s)
		}
	}
}
