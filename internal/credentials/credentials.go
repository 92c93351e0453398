// Package credentials holds provider API keys. A key is read when the config
// loads and read again when its file changes, so keys rotate without a
// restart. Keys are wrapped in Secret, whose every printable form is
// redacted, so a key cannot reach a log line, an error or a metric by
// accident; the one way out is Reveal, called where a header is set.
package credentials

import (
	"errors"
	"fmt"
	"io"
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
	if err := checkKey(v); err != nil {
		return nil, fmt.Errorf("environment variable %s: %w", name, err)
	}
	return &Static{s: NewSecret(v)}, nil
}

// MaxKeyFileBytes bounds a key file. Provider keys are well under 1 KiB; a
// larger file is a wrong path (a log, a bundle) and would be copied into
// every upstream request's headers.
const MaxKeyFileBytes = 64 << 10

// ErrKeyTooLarge is returned for a key file over MaxKeyFileBytes.
var ErrKeyTooLarge = fmt.Errorf("key file is larger than %d bytes", MaxKeyFileBytes)

// ErrKeyControlByte is returned for a key holding a control byte (CR, LF,
// NUL, ...) inside it: it becomes a header value, where CR/LF split the
// header and NUL is invalid.
var ErrKeyControlByte = errors.New("key contains a control byte (CR, LF, NUL or another byte below 0x20, or 0x7f)")

// checkKey validates a trimmed key. The error never includes the key.
func checkKey(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return ErrKeyControlByte
		}
	}
	return nil
}

func (s *Static) Key() Secret { return s.s }

// RecheckInterval bounds how often a file key is stat'ed on the request path.
const RecheckInterval = time.Second

// File is a key read from a file and re-read when the file changes
// (modification time, size or the file itself, as when Kubernetes swaps a
// secret's symlink). A rotation that leaves the file missing, empty,
// oversized or holding a key with a control byte keeps the last good key
// (and is reported once per broken version): failing every request because
// a writer is mid-rotation would be worse than sending the previous key.
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
	// bad is the identity of the last version that failed to load, so a
	// broken file is re-read (and logged) once, not every RecheckInterval.
	bad os.FileInfo
}

// FromFile reads the key file now; a missing, empty, oversized file or a key
// with a control byte is an error. onReload, if not nil, is told about every
// re-read (err nil on success); it is given the path, never the key. When nil,
// failed re-reads are logged to stderr (LogReloadFailure).
func FromFile(path string, onReload func(path string, err error)) (*File, error) {
	if onReload == nil {
		onReload = LogReloadFailure
	}
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
	if err == nil && (sameFile(old.info, info) || old.bad != nil && sameFile(old.bad, info)) {
		return
	}
	st, err := readKeyFile(f.path)
	if err == nil {
		f.cur.Store(st)
	} else if info != nil {
		f.cur.Store(&fileState{key: old.key, info: old.info, bad: info})
	}
	f.onReload(f.path, err)
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// reloadLog is where LogReloadFailure writes (Envoy's stderr); tests swap it.
var reloadLog io.Writer = os.Stderr

// LogReloadFailure is the default reload report: a failed re-read is logged
// with the path and the reason (never the content; the errors of this
// package never hold it), and the last good key stays in use.
func LogReloadFailure(path string, err error) {
	if err == nil {
		return
	}
	fmt.Fprintf(reloadLog, "aigw: key file %s could not be reloaded, keeping the last good key: %v\n", path, err)
}

// ErrEmptyKey is returned for a key file with nothing but whitespace.
var ErrEmptyKey = errors.New("key file is empty")

// afterOpen, when set by a test, runs between opening the key file and
// identifying it: the moment a rotation can land.
var afterOpen func()

// readKeyFile opens the file once and both identifies (fstat) and reads that
// open file, so the identity stored with a key is always the identity of the
// file the key came from. Reading the path and then stat'ing the path again
// could pair an old key with a rotated file's identity, and the rotation
// would never be noticed.
func readKeyFile(path string) (*fileState, error) {
	b, info, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return nil, fmt.Errorf("%s: %w", path, ErrEmptyKey)
	}
	if err := checkKey(v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &fileState{key: NewSecret(v), info: info}, nil
}

// readLimited opens path once and both identifies (fstat) and reads that
// open file, up to MaxKeyFileBytes: key files, service-account JSON files.
func readLimited(path string) ([]byte, os.FileInfo, error) {
	fh, err := os.Open(path)
	if err != nil {
		// The path is configuration, not a secret; the OS error never holds file content.
		return nil, nil, fmt.Errorf("reading key file: %w", err)
	}
	defer fh.Close()
	if afterOpen != nil {
		afterOpen()
	}
	info, err := fh.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("reading key file: %w", err)
	}
	if info.Size() > MaxKeyFileBytes {
		return nil, nil, fmt.Errorf("%s: %w", path, ErrKeyTooLarge)
	}
	// The limit also covers a file growing after the fstat (or a special
	// file whose size fstat does not know).
	b, err := io.ReadAll(io.LimitReader(fh, MaxKeyFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading key file: %w", err)
	}
	if len(b) > MaxKeyFileBytes {
		return nil, nil, fmt.Errorf("%s: %w", path, ErrKeyTooLarge)
	}
	return b, info, nil
}

// RequestCredentialHeaders are the request headers that carry a credential
// by their name (client keys, session cookies, cloud tokens): the upstream
// phase removes every one from each attempt, so a client's credential never
// reaches a provider whichever backend serves it, and none may be a metric
// label (IsCredentialHeader).
var RequestCredentialHeaders = [...]string{
	"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "x-goog-api-key",
	"x-amz-security-token", "ocp-apim-subscription-key",
}

// credentialHeaders are RequestCredentialHeaders and set-cookie (a
// response's); their values must never become metric labels.
var credentialHeaders = func() map[string]bool {
	m := map[string]bool{"set-cookie": true}
	for _, h := range RequestCredentialHeaders {
		m[h] = true
	}
	return m
}()

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
