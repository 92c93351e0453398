package host_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A Go panic in either phase fails only its own request: that request gets
// the gateway's OpenAI 500 (nothing reaches a provider), the panic is logged
// once, and the next request on the same host is served. The host provokes
// each panic through a test-only fault a request header asks for
// (host_fault in test/host/csrc): the router phase's adapter gets an error
// status from GetHeader, the upstream phase's a body slice without memory.
func TestPanicFailsOnlyItsRequest(t *testing.T) {
	cases := []struct {
		name, fault string
		logLine     string // the one log line of the panic
		attempts    int    // upstream attempts of the failed request
		stats       map[string]int64
	}{
		{name: "router phase", fault: "golang-get-header",
			logLine: "[go][error] aigw: recovered panic while routing a request: envoy C API GetHeader failed",
			stats:   map[string]int64{"golang.aigw_internal_errors_total": 1}},
		{name: "upstream phase", fault: "dynmod-body-vector", attempts: 1,
			logLine: "[dynmod][critical] aigw-upstream: panic in request body hook: runtime error: unsafe.Slice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{expectProblems: []string{tc.logLine}})
			send := func(fault string) (int, []byte, string) {
				t.Helper()
				id := newRequestID(t)
				req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, e.h.URL()+"/v1/chat/completions",
					strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("content-type", "application/json")
				req.Header.Set("authorization", "Bearer sk-client-key-must-not-reach-upstream")
				req.Header.Set("x-request-id", id)
				if fault != "" {
					req.Header.Set("x-aigw-host-fault", fault)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, body, id
			}

			status, body, id := send(tc.fault)
			if status != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500: %s", status, body)
			}
			var doc struct {
				Error struct {
					Type string  `json:"type"`
					Code *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &doc); err != nil || doc.Error.Type != "server_error" ||
				doc.Error.Code == nil || *doc.Error.Code != "internal_error" {
				t.Fatalf("body %s (%v), want the OpenAI internal_error", body, err)
			}
			if a := e.access(id); a.Attempts != tc.attempts {
				t.Errorf("%d upstream attempts, want %d", a.Attempts, tc.attempts)
			}
			for name, m := range e.mocks {
				if n := m.count.Load(); n != 0 {
					t.Errorf("%s got %d requests from the failed one", name, n)
				}
			}
			if !e.h.WaitStderr(tc.logLine, 5*time.Second) {
				t.Errorf("the panic was not logged (%q)", tc.logLine)
			}
			if tc.stats != nil {
				waitStats(t, e.h, tc.stats)
			}

			// The next request is served.
			if status, body, _ := send(""); status != http.StatusOK {
				t.Fatalf("next request: status %d: %s", status, body)
			}
			n := 0
			for _, l := range e.h.Stderr() {
				if strings.Contains(l, tc.logLine) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("the panic was logged %d times, want once (%q)", n, tc.logLine)
			}
		})
	}
}
