package filter

import (
	"encoding/json"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// A client speaking Anthropic's Messages API gets every router-phase error
// in Anthropic's shape, with the same status an OpenAI client gets.
func TestMessagesPathErrorsAreAnthropic(t *testing.T) {
	for _, tc := range []struct {
		name     string
		doc      string
		headers  *fakeHeaders
		body     string
		status   int
		wantType string
	}{
		{name: "not JSON", headers: post("/v1/messages"), body: `model=claude`, status: 400, wantType: "invalid_request_error"},
		{name: "missing model", headers: post("/v1/messages"), body: `{"max_tokens":8,"messages":[]}`, status: 400, wantType: "invalid_request_error"},
		{name: "query string", headers: post("/v1/messages?beta=true"), body: `{"model":7}`, status: 400, wantType: "invalid_request_error"},
		{name: "unknown backend", headers: post("/v1/messages", "x-ai-eg-backend", "nope"), body: `{"model":"m"}`, status: 404, wantType: "not_found_error"},
		{name: "too large", doc: `{"max_request_body_bytes":10}`, headers: post("/v1/messages", "content-length", "11"), body: `{"model":"m"}`, status: 413, wantType: "request_too_large"},
		{name: "panic", headers: func() *fakeHeaders { h := post("/v1/messages"); h.panicOn = "x-ai-eg-model"; return h }(), body: `{"model":"m"}`, status: 500, wantType: "api_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc
			if doc == "" {
				doc = testConfig
			}
			x := run(t, doc, tc.headers, tc.body)
			if x.status != api.LocalReply || x.cb.reply == nil || x.cb.reply.status != tc.status {
				t.Fatalf("status %v, reply %+v, want %d", x.status, x.cb.reply, tc.status)
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(x.cb.reply.body), &e); err != nil || e.Type != "error" || e.Error.Type != tc.wantType || e.Error.Message == "" {
				t.Fatalf("body %s: want Anthropic error of type %s", x.cb.reply.body, tc.wantType)
			}
		})
	}
}
