package host_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Both phases must run the same aigw document (issue 18): the router phase records
// config.Digest in dynamic metadata, the upstream phase compares it with its own before it
// touches the attempt. A difference that matters ends the request with a 500 OpenAI error and
// no provider call; a difference in a per-phase limit does not.
func TestConfigDigestE2E(t *testing.T) {
	const chat = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name     string
		upstream func([]byte) []byte // nil: the same document
		status   int
		code     string // error code when status is not 200
	}{
		{name: "same document", status: 200},
		{name: "upstream phase has another model header", upstream: func(doc []byte) []byte {
			return bytes.Replace(doc, []byte(`"client_backend_selection"`), []byte(`"model_header":"x-model-v2","client_backend_selection"`), 1)
		}, status: 500, code: "config_mismatch"},
		{name: "upstream phase maps deploy-a's model elsewhere", upstream: func(doc []byte) []byte {
			return bytes.Replace(doc, []byte(`"name":"deploy-a",`), []byte(`"name":"deploy-a","model_override":"gpt-4o",`), 1)
		}, status: 500, code: "config_mismatch"},
		{name: "only an upstream limit differs", upstream: func(doc []byte) []byte {
			return bytes.Replace(doc, []byte(`"client_backend_selection"`), []byte(`"max_stream_event_bytes":1048576,"client_backend_selection"`), 1)
		}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := envOptions{editUpstreamConfig: tt.upstream}
			if tt.status != 200 {
				opts.expectProblems = []string{"config digest"}
			}
			e := newEnv(t, opts)
			req, err := http.NewRequestWithContext(ctx10s(t), "POST", e.h.URL()+"/v1/chat/completions", strings.NewReader(chat))
			if err != nil {
				t.Fatal(err)
			}
			id := newRequestID(t)
			req.Header.Set("x-request-id", id)
			req.Header.Set("content-type", "application/json")
			resp, err := oneShot.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a := e.access(id)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if got := metaString(a, "config_digest"); len(got) != 24 {
				t.Errorf("router phase recorded config_digest %q, want 24 hex digits", got)
			}
			if tt.status == 200 {
				return
			}
			var doc struct {
				Error struct {
					Type string `json:"type"`
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &doc); err != nil || doc.Error.Code != tt.code || doc.Error.Type != "server_error" {
				t.Errorf("body %s, want an OpenAI server_error %s", body, tt.code)
			}
			if n := e.mockRequests(); n != 0 {
				t.Errorf("%d provider requests, want none", n)
			}
		})
	}
}
