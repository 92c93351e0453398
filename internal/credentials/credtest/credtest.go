// Package credtest has fake OAuth2 token endpoints on loopback for tests:
// Google's (service-account JWT bearer grant, signature checked) and the
// Microsoft identity platform's (client credentials).
package credtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// GCPScope is the scope Vertex AI tokens are asked for.
const GCPScope = "https://www.googleapis.com/auth/cloud-platform"

// Google is a token endpoint as Google's: it verifies the JWT
// bearer assertion's RS256 signature with the public key of the service
// account named in it, and issues short-lived tokens it remembers.
type Google struct {
	Srv      *httptest.Server
	mu       sync.Mutex
	keys     map[string]*rsa.PublicKey // client_email -> key
	issued   map[string]string         // token -> client_email
	n        atomic.Int64
	lifetime time.Duration
	Fail     atomic.Bool
}

func NewGoogle(t *testing.T, lifetime time.Duration) *Google {
	f := &Google{keys: map[string]*rsa.PublicKey{}, issued: map[string]string{}, lifetime: lifetime}
	f.Srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Srv.Close)
	return f
}

func (f *Google) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("content-type", "application/json")
	if f.Fail.Load() {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"secret-looking text"}`)
		return
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		http.Error(w, "bad grant", http.StatusBadRequest)
		return
	}
	parts := strings.Split(r.Form.Get("assertion"), ".")
	if len(parts) != 3 {
		http.Error(w, "bad assertion", http.StatusBadRequest)
		return
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
	}
	_ = json.Unmarshal(claims, &c)
	f.mu.Lock()
	pub := f.keys[c.Iss]
	f.mu.Unlock()
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if pub == nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) != nil || c.Scope != GCPScope || c.Aud != f.Srv.URL+"/token" {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	tok := fmt.Sprintf("ya29.%s.%d", c.Iss, f.n.Add(1))
	f.mu.Lock()
	f.issued[tok] = c.Iss
	f.mu.Unlock()
	w.Header().Set("content-type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d}`, tok, int(f.lifetime/time.Second))
}

// serviceAccount writes a new service-account key for email to path
// (atomically, as a secret mount swaps files) and registers its public key.
func (f *Google) ServiceAccount(t *testing.T, path, email string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	js, _ := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "kid", "private_key": string(pemKey),
		"client_email": email, "client_id": "1", "token_uri": f.Srv.URL + "/token",
	}, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, js, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.keys[email] = &k.PublicKey
	f.mu.Unlock()
}

// Issued reports whether tok is a token this endpoint issued, and to whom.
func (f *Google) Issued(tok string) (email string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	email, ok = f.issued[tok]
	return
}

// Count is how many tokens were issued.
func (f *Google) Count() int64 { return f.n.Load() }

// Entra is the Microsoft identity platform's v2.0 token endpoint for the
// client-credentials grant: it checks the client id, the client secret and
// the scope, and issues tokens it remembers with the secret they were
// issued for (so a test can tell a token fetched after a secret rotation).
type Entra struct {
	Srv      *httptest.Server
	clientID string
	scope    string
	secret   func() string
	n        atomic.Int64
	mu       sync.Mutex
	issued   map[string]string // token -> client secret
	// Fail makes every token request fail (400 invalid_client).
	Fail atomic.Bool
	// gate, while set, holds every token request until it is closed.
	gate atomic.Pointer[chan struct{}]
}

// NewEntraEndpoint starts an Entra endpoint for clientID and scope that
// accepts the client secret secret() returns at the time of each request.
func NewEntraEndpoint(t *testing.T, clientID, scope string, secret func() string) *Entra {
	e := &Entra{clientID: clientID, scope: scope, secret: secret, issued: map[string]string{}}
	e.Srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(func() {
		e.Unblock()
		e.Srv.Close()
	})
	return e
}

// NewEntra is NewEntraEndpoint with the accepted secret in an atomic.Value
// (a string).
func NewEntra(t *testing.T, clientID, scope string, secret *atomic.Value) *httptest.Server {
	return NewEntraEndpoint(t, clientID, scope, func() string { return secret.Load().(string) }).Srv
}

func (e *Entra) serve(w http.ResponseWriter, r *http.Request) {
	if g := e.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("content-type", "application/json")
	sent := ""
	if r.ParseForm() == nil {
		sent = r.Form.Get("client_secret")
	}
	if e.Fail.Load() || r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("client_id") != e.clientID ||
		sent != e.secret() || r.Form.Get("scope") != e.scope {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: secret-looking text"}`)
		return
	}
	tok := fmt.Sprintf("entra-%d", e.n.Add(1))
	e.mu.Lock()
	e.issued[tok] = sent
	e.mu.Unlock()
	fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3600,"access_token":%q}`, tok)
}

// TokenURL is the endpoint's token URL for tenant.
func (e *Entra) TokenURL(tenant string) string {
	return e.Srv.URL + "/" + tenant + "/oauth2/v2.0/token"
}

// Issued reports whether tok is a token this endpoint issued, and for which
// client secret.
func (e *Entra) Issued(tok string) (secret string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	secret, ok = e.issued[tok]
	return
}

// Count is how many tokens were issued.
func (e *Entra) Count() int64 { return e.n.Load() }

// Block holds every token request (a first fetch that has not answered
// yet) until Unblock.
func (e *Entra) Block() {
	g := make(chan struct{})
	e.gate.Store(&g)
}

// Unblock releases the held token requests and lets later ones through.
func (e *Entra) Unblock() {
	if g := e.gate.Swap(nil); g != nil {
		close(*g)
	}
}
