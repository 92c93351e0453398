package translate

import (
	"slices"
	"testing"
)

// Every header a translator sets, other than content-type, must be listed in
// ProviderHeaders: the upstream filter removes those from the header map that
// Envoy shares between attempts, so one provider's header never reaches the
// next attempt's provider.
func TestProviderHeadersCoverTranslators(t *testing.T) {
	bodies := map[string]string{
		"/v1/chat/completions": `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		"/v1/completions":      `{"model":"m","prompt":"hi"}`,
		"/v1/embeddings":       `{"model":"m","input":"hi"}`,
		"/v1/messages":         `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
	}
	targets := []Target{
		{Schema: SchemaOpenAI},
		{Schema: SchemaAzureOpenAI, APIVersion: "2024-10-21"},
		{Schema: SchemaAnthropic},
		{Schema: SchemaAnthropic, APIVersion: "2023-01-01"},
	}
	listed := ProviderHeaders()
	set := 0
	for _, target := range targets {
		for path, body := range bodies {
			tr, err := New(target, path)
			if err != nil {
				continue // the target does not offer this endpoint
			}
			res, err := tr.RequestBody([]byte(body))
			if err != nil {
				t.Fatalf("%s %s: %v", target.Schema, path, err)
			}
			for _, h := range res.Headers {
				set++
				if h.Key != "content-type" && !slices.Contains(listed, h.Key) {
					t.Errorf("%s %s sets %q, which ProviderHeaders does not list", target.Schema, path, h.Key)
				}
			}
		}
	}
	if set == 0 {
		t.Fatal("no translator set any header: the test checks nothing")
	}
}
