package upstream

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/credentials"
	"github.com/aigw/aigw/internal/credentials/credtest"
	"github.com/aigw/aigw/internal/metrics"
)

// entraBackend is an azure_entra backend whose token endpoint holds its
// first fetch (Block) until the test releases it.
// With measured, the config records metrics (served on loopback).
func entraBackend(t *testing.T, tenant string, measured bool) (*Config, *credtest.Entra) {
	t.Helper()
	e := credtest.NewEntraEndpoint(t, "app-id", credentials.EntraScope, func() string { return "entra-secret" })
	e.Block()
	t.Setenv("AIGW_TEST_ENTRA_SECRET", "entra-secret")
	ms := ""
	if measured {
		ms = `"metrics":{"listen_address":"127.0.0.1:0"},`
	}
	c, err := config.Parse([]byte(`{` + ms + `"backends":[{"name":"az","schema":"azure_openai","api_version":"2024-10-21",
		"auth":{"type":"azure_entra","tenant_id":"` + tenant + `","client_id":"app-id","key_env":"AIGW_TEST_ENTRA_SECRET","token_url":"` + e.TokenURL(tenant) + `"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	uc, err := NewConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if measured {
		rec, err := metrics.New(c.MetricsSpec())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rec.Close)
		uc.SetRecorder(rec)
	}
	return uc, e
}

// TestAwaitCredential: an attempt finding no valid token holds the complete
// request (Await) instead of answering: nothing is sent to the client, the
// headers keep no credential, and the filter names the credential to wait
// for. Woken before the token exists, Resume waits again; once the token
// is stored, Resume rewrites the request with it and continues. Before this
// change the attempt was answered 503 credential_unavailable and ended.
func TestAwaitCredential(t *testing.T) {
	cfg, e := entraBackend(t, "await-tenant", false)
	a := clientRequest("az", "/v1/chat/completions", chatBody)
	f := NewFilter(cfg, a)
	h, b1, b2 := sendRequest(t, f)
	if h != Hold || b1 != Hold || b2 != Await {
		t.Fatalf("request hooks %v %v %v, want Hold Hold Await", h, b1, b2)
	}
	if len(a.responses) != 0 {
		t.Fatalf("answered while waiting: %+v", a.responses)
	}
	if auth := a.reqH["authorization"]; auth != "Bearer client-key" || a.reqH[":path"] != "/v1/chat/completions" {
		t.Fatalf("request changed before the credential: authorization %q path %q", auth, a.reqH[":path"])
	}
	aw := f.AwaitCredential()
	if aw == nil || aw.Valid() {
		t.Fatalf("awaiting %v", aw)
	}
	if !a.logged(LogWarn, `backend "az" has no valid credential; holding the attempt`) {
		t.Errorf("logs %+v", a.logs)
	}
	// Later hooks (a host repeating them) keep holding and never answer.
	if f.OnRequestBody(true) != Hold || f.OnRequestTrailers() != Hold || f.requestHeadersAction() != Hold {
		t.Fatal("a repeated request hook does not hold")
	}

	// A spurious wake-up: still no token.
	if act := f.Resume(); act != Await || f.AwaitCredential() == nil || len(a.responses) != 0 {
		t.Fatalf("resume without a token: %v, responses %+v", act, a.responses)
	}
	if n := strings.Count(logText(a), "holding the attempt"); n != 1 {
		t.Errorf("the wait is logged %d times", n)
	}

	woken := make(chan struct{})
	aw.Await(func() { close(woken) })
	e.Unblock()
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken by the token")
	}
	if act := f.Resume(); act != Continue {
		t.Fatalf("resume with the token: %v (responses %+v)", act, a.responses)
	}
	tok, _ := strings.CutPrefix(a.reqH["authorization"], "Bearer ")
	if _, ok := e.Issued(tok); !ok {
		t.Fatalf("authorization %q is not the issued token", a.reqH["authorization"])
	}
	if a.reqH[":path"] != "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21" || a.reqH["api-key"] != "" {
		t.Fatalf("not rewritten for Azure: %v", a.reqH)
	}
	if f.AwaitCredential() != nil || f.Resume() != Hold || f.OnRequestBody(true) != Continue {
		t.Fatal("a resumed attempt still waits")
	}
	if strings.Contains(logText(a), tok) {
		t.Fatal("a log line holds the token")
	}
}

// TestAwaitCredentialDestroyed: an attempt destroyed while it waited (the
// per-try timeout reset it, or the client left) ends with the
// credential_unavailable error type in its metrics and never answers.
func TestAwaitCredentialDestroyed(t *testing.T) {
	cfg, _ := entraBackend(t, "destroyed-tenant", true)
	a := clientRequest("az", "/v1/chat/completions", chatBody)
	f := NewFilter(cfg, a)
	if _, _, act := sendRequest(t, f); act != Await {
		t.Fatalf("body hook %v", act)
	}
	f.OnDestroy()
	if !f.ms.done || f.ms.m.ErrorType != ErrorCredentialUnavailable || len(a.responses) != 0 {
		t.Fatalf("done=%v error type %q responses %+v", f.ms.done, f.ms.m.ErrorType, a.responses)
	}
}

// TestAwaitCredentialHeadersOnly: a request that ends with its headers
// waits from the headers hook and resumes without a body.
func TestAwaitCredentialHeadersOnly(t *testing.T) {
	cfg, e := entraBackend(t, "headers-tenant", false)
	a := clientRequest("az", "/v1/chat/completions", "")
	a.reqB.b = nil
	f := NewFilter(cfg, a)
	if act := f.OnRequestHeaders(true); act != Await {
		t.Fatalf("headers hook %v", act)
	}
	e.Unblock()
	deadline := time.Now().Add(10 * time.Second)
	for !f.AwaitCredential().Valid() {
		if time.Now().After(deadline) {
			t.Fatal("no token")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// An empty body is the translator's 400, not a wait.
	if act := f.Resume(); act != Answered || len(a.responses) != 1 || a.responses[0].status != http.StatusBadRequest {
		t.Fatalf("resume: %v %+v", act, a.responses)
	}
}

func logText(a *fakeAttempt) string {
	var b strings.Builder
	for _, l := range a.logs {
		b.WriteString(l.msg)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestAbandonWait: a held attempt the adapter cannot wake is answered with
// the failure it waited on (503 credential_unavailable, naming the
// backend), once.
func TestAbandonWait(t *testing.T) {
	cfg, _ := entraBackend(t, "abandon-tenant", false)
	a := clientRequest("az", "/v1/chat/completions", chatBody)
	f := NewFilter(cfg, a)
	if _, _, act := sendRequest(t, f); act != Await {
		t.Fatalf("body hook %v", act)
	}
	f.AbandonWait()
	f.AbandonWait()
	if len(a.responses) != 1 || a.responses[0].status != http.StatusServiceUnavailable ||
		!strings.Contains(a.responses[0].body, `"code":"credential_unavailable"`) || !strings.Contains(a.responses[0].body, `\"az\"`) {
		t.Fatalf("responses %+v", a.responses)
	}
	if f.AwaitCredential() != nil || f.Resume() != Hold || f.OnRequestBody(true) != Answered {
		t.Fatal("an abandoned attempt still waits or forwards")
	}
}
