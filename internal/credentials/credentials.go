// Package credentials holds provider API keys. A key is read when the config
// loads and read again when its file changes, so keys rotate without a
// restart. Keys are wrapped in Secret, whose every printable form is
// redacted, so a key cannot reach a log line, an error or a metric by
// accident; the one way out is Reveal, called where a header is set.
package credentials

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Secret is a credential value. fmt, %v, %#v and JSON all print "[redacted]".
type Secret struct{ v string }

// NewSecret wraps a value (tests and env-sourced keys).
func NewSecret(v string) Secret { return Secret{v: v} }

// Reveal returns the key for the one place it belongs: an upstream header.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether no key is set.
func (s Secret) Empty() bool { return s.v == "" }

func (Secret) String() string               { return "[redacted]" }
func (Secret) GoString() string             { return "[redacted]" }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Source yields the current key.
type Source interface {
	Key() Secret
}

// Static is a key that never changes (from an environment variable).
type Static struct{ s Secret }

// FromEnv reads the key from an environment variable now.
func FromEnv(name string) (*Static, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return nil, fmt.Errorf("environment variable %s is unset or empty", name)
	}
	return &Static{s: NewSecret(v)}, nil
}

func (s *Static) Key() Secret { return s.s }

// RecheckInterval bounds how often a file key is stat'ed on the request path.
const RecheckInterval = time.Second

// File is a key read from a file and re-read when the file changes
// (modification time, size or the file itself, as when Kubernetes swaps a
// secret's symlink). A rotation that leaves the file missing or empty keeps
// the last good key: failing every request because a writer is mid-rotation
// would be worse than sending the previous key for a second.
type File struct {
	path      string
	mu        sync.Mutex
	cur       atomic.Pointer[fileState]
	nextCheck atomic.Int64 // unix nanos
	now       func() time.Time
	onReload  func(path string, err error)
}

type fileState struct {
	key  Secret
	info os.FileInfo
}

// FromFile reads the key file now; a missing or empty file is an error.
// onReload, if not nil, is told about every re-read (err nil on success);
// it is given the path, never the key.
func FromFile(path string, onReload func(path string, err error)) (*File, error) {
	f := &File{path: path, now: time.Now, onReload: onReload}
	st, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	f.cur.Store(st)
	f.nextCheck.Store(f.now().Add(RecheckInterval).UnixNano())
	return f, nil
}

// Key returns the current key, re-reading the file at most once per
// RecheckInterval when it changed. The fast path is two atomic loads.
func (f *File) Key() Secret {
	if f.now().UnixNano() >= f.nextCheck.Load() {
		f.recheck()
	}
	return f.cur.Load().key
}

func (f *File) recheck() {
	if !f.mu.TryLock() {
		return // another request is already checking
	}
	defer f.mu.Unlock()
	f.nextCheck.Store(f.now().Add(RecheckInterval).UnixNano())
	info, err := os.Stat(f.path)
	old := f.cur.Load()
	if err == nil && sameFile(old.info, info) {
		return
	}
	st, err := readKeyFile(f.path)
	if err == nil {
		f.cur.Store(st)
	}
	if f.onReload != nil {
		f.onReload(f.path, err)
	}
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// ErrEmptyKey is returned for a key file with nothing but whitespace.
var ErrEmptyKey = errors.New("key file is empty")

func readKeyFile(path string) (*fileState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The path is configuration, not a secret; the OS error never holds file content.
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return nil, fmt.Errorf("%s: %w", path, ErrEmptyKey)
	}
	return &fileState{key: NewSecret(v), info: info}, nil
}

// credentialHeaders carry credentials in requests (client keys, session
// cookies, cloud tokens); their values must never become metric labels.
var credentialHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "api-key": true, "x-api-key": true,
	"cookie": true, "set-cookie": true, "x-goog-api-key": true, "x-amz-security-token": true,
	"ocp-apim-subscription-key": true,
}

// IsCredentialHeader reports whether a (lower-case) request header may carry
// a credential: a known credential header, or a name that says so (…key,
// …token…, …secret…, …password…, …auth…, …cookie…). "x-api-key-id", the
// identity Envoy's API-key auth sets, is not one.
func IsCredentialHeader(name string) bool {
	name = strings.ToLower(name)
	if credentialHeaders[name] || strings.HasSuffix(name, "key") {
		return true
	}
	for _, w := range [...]string{"token", "secret", "password", "auth", "cookie", "credential", "session"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}
