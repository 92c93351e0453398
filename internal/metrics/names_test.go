package metrics

import "testing"

func TestNames(t *testing.T) {
	for in, want := range map[string]string{"openai": "openai", "azure_openai": "azure.ai.openai", "anthropic": "anthropic", "vertex": "vertex"} {
		if got := ProviderName(in); got != want {
			t.Errorf("ProviderName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"/v1/chat/completions": OpChat, "/v1/messages": OpChat, "/v1/completions": OpTextCompletion,
		"/v1/embeddings?x=1": OpEmbeddings, "/openai/deployments/d/chat/completions?api-version=1": OpChat, "/v1/models": "",
	} {
		if got := OperationName(in); got != want {
			t.Errorf("OperationName(%q) = %q, want %q", in, got, want)
		}
	}
}
