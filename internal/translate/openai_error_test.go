package translate

import (
	"encoding/json"
	"testing"
)

// Provider error bodies that already have an "error" object: complete ones pass byte for
// byte, incomplete ones (Azure's front door) get OpenAI's four members.
func TestCompleteErrorObject(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string // "" means unchanged
	}{
		{"openai error kept", 401,
			`{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, ""},
		{"azure content filter kept with innererror", 400,
			`{"error":{"message":"filtered","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}`, ""},
		{"azure front door 429", 429,
			`{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit."}}`,
			`{"error":{"message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit.","type":"invalid_request_error","param":null,"code":"429"}}`},
		{"azure 401", 401,
			`{"error":{"code":"401","message":"Access denied due to invalid subscription key."}}`,
			`{"error":{"message":"Access denied due to invalid subscription key.","type":"invalid_request_error","param":null,"code":"401"}}`},
		{"numeric code and 5xx", 503,
			`{"error":{"code":503,"message":"busy"}}`,
			`{"error":{"message":"busy","type":"api_error","param":null,"code":"503"}}`},
		{"empty error object", 500, `{"error":{}}`,
			`{"error":{"message":"the backend returned HTTP 500","type":"api_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(openAIErrorJSON(tt.status, []byte(tt.body)))
			want := tt.want
			if want == "" {
				want = tt.body
			}
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			var doc struct {
				Error map[string]any `json:"error"`
			}
			if err := json.Unmarshal([]byte(got), &doc); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := doc.Error[k]; !ok {
					t.Errorf("member %s missing", k)
				}
			}
		})
	}
}
