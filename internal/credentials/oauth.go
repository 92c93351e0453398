package credentials

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// TokenCache is a bearer token (GCP OAuth2, Microsoft Entra ID) fetched and
// refreshed by its own goroutine, ahead of expiry, never on the request
// path: Key is two atomic loads and never touches the network. A request
// that finds no valid token (the first fetch has not succeeded yet, or
// every refresh failed until the token expired) gets the empty Secret; its
// attempt waits for the next stored token (Await, wake.go) or is failed
// over by Envoy's per-try timeout (docs/attempts.md).
//
// Failed refreshes keep the current token while it is valid and are retried
// with backoff (1 s doubling to 30 s); each failure is logged with the
// cache's name and the reason, never a token, a key or a provider's error
// description. A source whose key material changes (a service-account file,
// a client-secret file replaced) is noticed within PollInterval and
// refreshed at once, so a rotated key is used without a restart.
type TokenCache struct {
	name    string
	fetcher TokenFetcher

	cur     atomic.Pointer[cachedToken]
	ready   chan struct{}
	readyMu sync.Once
	now     func() time.Time
	poll    time.Duration
	logf    func(format string, args ...any)
	// waiters are held requests to wake when a token is stored.
	waiters wakeList
}

// TokenFetcher is one credential kind: how to get a fresh token (network,
// called only from the cache's goroutine) and whether its key material
// changed since the last fetch.
type TokenFetcher interface {
	Fetch(ctx context.Context) (*oauth2.Token, error)
	// Changed reports a rotation of the key material (checked every
	// PollInterval); sources without files return false.
	Changed() bool
}

type cachedToken struct {
	value Secret
	// validUntil is the token's expiry less a skew, so a token is never
	// sent in its last seconds.
	validUntil time.Time
	refreshAt  time.Time
}

// Timings of every TokenCache (variables so tests can shorten them).
var (
	// PollInterval is how often the cache checks for a rotated key and a
	// due refresh.
	PollInterval = time.Second
	// FetchTimeout bounds one token request.
	FetchTimeout = 30 * time.Second
	// maxBackoff caps the wait between failed refreshes.
	maxBackoff = 30 * time.Second
)

// refreshMargin is how long before expiry a token is replaced: half its
// lifetime, at most 5 minutes (GCP and Entra tokens live about an hour).
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(lifetime/2, 5*time.Minute)
}

// expirySkew is how long before expiry a token stops being sent: a tenth
// of its lifetime, at most 10 s.
func expirySkew(lifetime time.Duration) time.Duration {
	return min(lifetime/10, 10*time.Second)
}

// NewTokenCache starts the cache's goroutine, which fetches the first token
// at once. name appears in logs (a path or a client id, never a secret).
// The goroutine lives as long as the process: caches are shared per
// credential (Shared), so reloading a config does not add one.
func NewTokenCache(name string, f TokenFetcher) *TokenCache {
	c := &TokenCache{name: name, fetcher: f, ready: make(chan struct{}), now: time.Now, poll: PollInterval, logf: logToStderr}
	c.start()
	return c
}

// start runs the refresh loop; newTokenCache leaves it to the caller
// (tests set fields first).
func (c *TokenCache) start() {
	go c.run()
}

func logToStderr(format string, args ...any) { fmt.Fprintf(reloadLog, format+"\n", args...) }

// Key returns the current token, or the empty Secret when none is valid.
func (c *TokenCache) Key() Secret {
	t := c.cur.Load()
	if t == nil || !c.now().Before(t.validUntil) {
		return Secret{}
	}
	return t.value
}

// Valid reports whether a valid token is cached (Awaitable).
func (c *TokenCache) Valid() bool { return !c.Key().Empty() }

// Await registers wake for the next stored token (Awaitable).
func (c *TokenCache) Await(wake func()) (cancel func()) { return c.waiters.add(wake) }

// Ready is closed once the first token was fetched (tests and readiness).
func (c *TokenCache) Ready() <-chan struct{} { return c.ready }

func (c *TokenCache) run() {
	backoff := time.Second
	var retryAt time.Time
	for {
		t := c.cur.Load()
		now := c.now()
		changed := t != nil && c.fetcher.Changed()
		due := t == nil || !now.Before(t.refreshAt) || changed
		if due && !now.Before(retryAt) {
			if err := c.refresh(); err != nil {
				c.logf("aigw: %s: token refresh failed, keeping the current token while it is valid: %s", c.name, describeFetchError(err))
				retryAt = c.now().Add(backoff)
				backoff = min(backoff*2, maxBackoff)
			} else {
				backoff, retryAt = time.Second, time.Time{}
			}
		}
		time.Sleep(c.poll)
	}
}

func (c *TokenCache) refresh() error {
	ctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, tokenHTTPClient)
	tok, err := c.fetcher.Fetch(ctx)
	if err != nil {
		return err
	}
	if tok == nil || tok.AccessToken == "" {
		return errors.New("the token endpoint returned no access_token")
	}
	if err := checkKey(tok.AccessToken); err != nil {
		return errors.New("the token endpoint returned an access_token with a control byte")
	}
	now := c.now()
	expiry := tok.Expiry
	if expiry.IsZero() {
		expiry = now.Add(time.Hour) // no expires_in: assume the usual hour
	}
	lifetime := expiry.Sub(now)
	if lifetime <= 0 {
		return errors.New("the token endpoint returned an expired token")
	}
	value := tok.AccessToken
	if typ := tok.Type(); typ != "Bearer" {
		return fmt.Errorf("the token endpoint returned token_type %q, not Bearer", typ)
	}
	c.cur.Store(&cachedToken{
		value:      NewSecret(value),
		validUntil: expiry.Add(-expirySkew(lifetime)),
		refreshAt:  expiry.Add(-refreshMargin(lifetime)),
	})
	c.readyMu.Do(func() { close(c.ready) })
	c.waiters.wake()
	return nil
}

// tokenHTTPClient makes the token requests (its own timeouts; the
// process's proxy settings apply).
var tokenHTTPClient = &http.Client{Timeout: FetchTimeout}

// describeFetchError is what the logs say about a failed fetch: an OAuth2
// error's status and RFC 6749 code, never its body or description (which
// may quote the request); other errors (network, file) carry no secret.
func describeFetchError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		s := "the token endpoint answered"
		if re.Response != nil {
			s += fmt.Sprintf(" HTTP %d", re.Response.StatusCode)
		}
		if re.ErrorCode != "" {
			s += " (" + re.ErrorCode + ")"
		}
		return s
	}
	return err.Error()
}

// shared holds one cache per credential for the life of the process, so a
// config reload (a new upstream config for the same backends) reuses the
// running caches and their tokens instead of starting new goroutines.
var shared struct {
	sync.Mutex
	m map[string]*TokenCache
}

// Shared returns the process's cache for id (a description of every input
// of the credential: kind, file, tenant, client id, scopes, token URL),
// creating it with mk the first time.
func Shared(id string, mk func() (*TokenCache, error)) (*TokenCache, error) {
	shared.Lock()
	defer shared.Unlock()
	if c, ok := shared.m[id]; ok {
		return c, nil
	}
	c, err := mk()
	if err != nil {
		return nil, err
	}
	if shared.m == nil {
		shared.m = map[string]*TokenCache{}
	}
	shared.m[id] = c
	return c, nil
}

// fileWatch notices a replaced file (identity, mtime, size), as File does
// for keys. Only the cache's goroutine uses it.
type fileWatch struct {
	path string
	last os.FileInfo
}

// read reads the file (readLimited) and remembers the version read.
func (w *fileWatch) read() ([]byte, error) {
	b, info, err := readLimited(w.path)
	if err != nil {
		return nil, err
	}
	w.last = info
	return b, nil
}

// changed reports whether the file differs from the version last read.
func (w *fileWatch) changed() bool {
	info, err := os.Stat(w.path)
	return err == nil && (w.last == nil || !sameFile(w.last, info))
}
