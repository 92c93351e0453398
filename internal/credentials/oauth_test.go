package credentials

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigw/aigw/internal/credentials/credtest"
)

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
	fake := credtest.NewGoogle(t, 3*time.Second)
	path := filepath.Join(t.TempDir(), "sa.json")
	fake.ServiceAccount(t, path, "a@p.iam.gserviceaccount.com")
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
	fake.ServiceAccount(t, path, "b@p.iam.gserviceaccount.com")
	waitKey(t, c, func(k string) bool { return strings.HasPrefix(k, "ya29.b@") })

	// Same file, same scopes: the same cache (a config reload adds none).
	again, err := GCPServiceAccount(path, nil)
	if err != nil || again != c {
		t.Fatalf("second load: %v, same=%v", err, again == c)
	}
}

func TestTokenCacheFailureKeepsTokenUntilExpiryAndNeverLogsBody(t *testing.T) {
	fastPolling(t)
	fake := credtest.NewGoogle(t, 2*time.Second)
	path := filepath.Join(t.TempDir(), "sa.json")
	fake.ServiceAccount(t, path, "c@p.iam.gserviceaccount.com")
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
	fake.Fail.Store(true)
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
	fake.Fail.Store(false)
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

func TestAzureEntraClientCredentialsAndSecretRotation(t *testing.T) {
	fastPolling(t)
	var want atomic.Value
	want.Store("secret-1")
	srv := credtest.NewEntra(t, "app-1", EntraScope, &want)
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
