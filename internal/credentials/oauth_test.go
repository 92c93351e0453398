package credentials

import (
	"bytes"
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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGoogleToken is a token endpoint as Google's: it verifies the JWT
// bearer assertion's RS256 signature with the public key of the service
// account named in it, and issues short-lived tokens it remembers.
type fakeGoogleToken struct {
	srv      *httptest.Server
	mu       sync.Mutex
	keys     map[string]*rsa.PublicKey // client_email -> key
	issued   map[string]string         // token -> client_email
	n        atomic.Int64
	lifetime time.Duration
	fail     atomic.Bool
}

func newFakeGoogleToken(t *testing.T, lifetime time.Duration) *fakeGoogleToken {
	f := &fakeGoogleToken{keys: map[string]*rsa.PublicKey{}, issued: map[string]string{}, lifetime: lifetime}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGoogleToken) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("content-type", "application/json")
	if f.fail.Load() {
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
	if pub == nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) != nil || c.Scope != GCPScope || c.Aud != f.srv.URL+"/token" {
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
func (f *fakeGoogleToken) serviceAccount(t *testing.T, path, email string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	js, _ := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "kid", "private_key": string(pemKey),
		"client_email": email, "client_id": "1", "token_uri": f.srv.URL + "/token",
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

func fastPolling(t *testing.T) {
	old := PollInterval
	PollInterval = 20 * time.Millisecond
	t.Cleanup(func() { PollInterval = old })
}

func waitKey(t *testing.T, c *TokenCache, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if k := c.Key(); !k.Empty() && ok(k.Reveal()) {
			return k.Reveal()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no matching token in time (have %q)", c.Key().Reveal())
	return ""
}

func TestGCPServiceAccountFetchRefreshRotate(t *testing.T) {
	fastPolling(t)
	fake := newFakeGoogleToken(t, 3*time.Second)
	path := filepath.Join(t.TempDir(), "sa.json")
	fake.serviceAccount(t, path, "a@p.iam.gserviceaccount.com")
	c, err := GCPServiceAccount(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := waitKey(t, c, func(string) bool { return true })
	if !strings.HasPrefix(first, "ya29.a@") {
		t.Fatalf("token %q", first)
	}
	// Refreshed ahead of expiry (half of 3 s): a new token before the
	// old one expires, with no request asking.
	waitKey(t, c, func(k string) bool { return k != first })

	// The key is replaced while the cache runs: the next token is the new
	// service account's, fetched without waiting for expiry.
	fake.serviceAccount(t, path, "b@p.iam.gserviceaccount.com")
	waitKey(t, c, func(k string) bool { return strings.HasPrefix(k, "ya29.b@") })

	// Same file, same scopes: the same cache (a config reload adds none).
	again, err := GCPServiceAccount(path, nil)
	if err != nil || again != c {
		t.Fatalf("second load: %v, same=%v", err, again == c)
	}
}

func TestTokenCacheFailureKeepsTokenUntilExpiryAndNeverLogsBody(t *testing.T) {
	fastPolling(t)
	fake := newFakeGoogleToken(t, 2*time.Second)
	path := filepath.Join(t.TempDir(), "sa.json")
	fake.serviceAccount(t, path, "c@p.iam.gserviceaccount.com")
	var logs bytes.Buffer
	var logMu sync.Mutex
	c := &TokenCache{name: "test", fetcher: &gcpServiceAccount{file: fileWatch{path: path}, scopes: []string{GCPScope}}, ready: make(chan struct{}), now: time.Now, poll: PollInterval}
	c.logf = func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(&logs, format+"\n", args...)
	}
	c.start()
	tok := waitKey(t, c, func(string) bool { return true })
	fake.fail.Store(true)
	// The token stays in use while valid, then no token at all: requests
	// fail their attempt instead of sending an expired token.
	deadline := time.Now().Add(5 * time.Second)
	for !c.Key().Empty() && time.Now().Before(deadline) {
		if k := c.Key().Reveal(); k != tok {
			t.Fatalf("token changed to %q while the endpoint fails", k)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !c.Key().Empty() {
		t.Fatal("an expired token is still served")
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, "the token endpoint answered HTTP 400") || strings.Contains(out, "secret-looking") || strings.Contains(out, "ya29") {
		t.Fatalf("log: %s", out)
	}
	// Recovery: the next successful refresh serves again.
	fake.fail.Store(false)
	waitKey(t, c, func(k string) bool { return k != tok })
}

func TestGCPServiceAccountLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"notjson", "private_key: -----BEGIN", "not a JSON service-account key"},
		{"user", `{"type":"authorized_user","client_secret":"s3cr3t"}`, `key type "authorized_user" is not service_account`},
		{"nokey", `{"type":"service_account","client_email":"x@y","token_uri":"http://127.0.0.1/t"}`, "lacks client_email, private_key or token_uri"},
	} {
		p := filepath.Join(dir, tc.name)
		os.WriteFile(p, []byte(tc.content), 0o600)
		_, err := GCPServiceAccount(p, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := GCPServiceAccount(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("missing file accepted")
	}
}

// fakeEntra is the Microsoft identity platform's v2.0 token endpoint for
// the client-credentials grant.
func fakeEntra(t *testing.T, clientID string, secret *atomic.Value) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "application/json")
		if r.ParseForm() != nil || r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("client_id") != clientID ||
			r.Form.Get("client_secret") != secret.Load().(string) || r.Form.Get("scope") != EntraScope {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"entra-%d"}`, n.Add(1))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestAzureEntraClientCredentialsAndSecretRotation(t *testing.T) {
	fastPolling(t)
	var want atomic.Value
	want.Store("secret-1")
	srv, _ := fakeEntra(t, "app-1", &want)
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	os.WriteFile(path, []byte("secret-1\n"), 0o600)
	file, err := FromFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := AzureEntra("tenant", "app-1", srv.URL+"/tenant/oauth2/v2.0/token", nil, file, path)
	if err != nil {
		t.Fatal(err)
	}
	first := waitKey(t, c, func(string) bool { return true })
	// The secret rotates at Entra and in the file: the cache notices the
	// new secret and fetches with it, long before the hour is over.
	want.Store("secret-2")
	os.WriteFile(path+".new", []byte("secret-2\n"), 0o600)
	os.Rename(path+".new", path)
	waitKey(t, c, func(k string) bool { return k != first })
}

func TestEntraTokenURL(t *testing.T) {
	if got := EntraTokenURL("contoso.onmicrosoft.com"); got != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" {
		t.Fatal(got)
	}
}
