package translate

import (
	"net/http"
	"testing"
)

func TestEndpointError(t *testing.T) {
	tests := []struct {
		schema, method, path string
		ok                   bool
	}{
		{SchemaOpenAI, "POST", "/v1/chat/completions", true},
		{"", "POST", "/v1/completions", true},
		{SchemaOpenAI, "POST", "/v1/embeddings?x=1", true},
		{SchemaOpenAI, "POST", "/v1/chat/completions/", true},
		{SchemaOpenAI, "POST", "/v1/messages", true}, // the Anthropic Messages front door
		{SchemaOpenAI, "POST", "/v1/files", false},
		{SchemaOpenAI, "GET", "/v1/models", false},
		{SchemaOpenAI, "GET", "/v1/chat/completions", false},
		{SchemaOpenAI, "DELETE", "/v1/chat/completions", false},
		{SchemaOpenAI, "POST", "/admin", false},
		{SchemaAzureOpenAI, "POST", "/v1/chat/completions", true},
		{SchemaAzureOpenAI, "POST", "/v1/messages", true},
		{SchemaOpenAI, "POST", "/v1/messages/count_tokens", false},
		{SchemaAnthropic, "POST", "/v1/chat/completions", true},
		{SchemaAnthropic, "POST", "/v1/messages", true},
		{SchemaAnthropic, "POST", "/v1/embeddings", false},
		{SchemaAnthropic, "PUT", "/v1/messages", false},
		{"nosuch", "POST", "/v1/chat/completions", false},
	}
	for _, tt := range tests {
		e := EndpointError(tt.schema, tt.method, tt.path)
		if (e == nil) != tt.ok {
			t.Errorf("%s %s %s: error %v, want ok=%v", tt.schema, tt.method, tt.path, e, tt.ok)
			continue
		}
		if e != nil && (e.Status != http.StatusNotFound || e.Code != "unknown_endpoint" || e.Param != "") {
			t.Errorf("%s %s %s: %+v, want a 404 unknown_endpoint", tt.schema, tt.method, tt.path, e)
		}
	}
	// Every registered schema lists its endpoints.
	for _, s := range Schemas() {
		if len(schemaEndpoints[s]) == 0 {
			t.Errorf("schema %s defines no endpoints", s)
		}
	}
}
