package credentials

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const secret = "sk-test-SECRET-0123456789"

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(secret)
	j, _ := json.Marshal(struct{ K Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), string(j), fmt.Sprintf("%v", struct{ K Secret }{s})} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if s.Reveal() != secret {
		t.Fatal("Reveal lost the key")
	}
}

func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte(" first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var reloads []error
	f, err := FromFile(path, func(p string, err error) { reloads = append(reloads, err) })
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	f.now = func() time.Time { return clock }
	if got := f.Key().Reveal(); got != "first" {
		t.Fatalf("key %q", got)
	}

	// Rotate by replacing the file (new inode), as secret mounts do.
	tmp := filepath.Join(dir, "key.new")
	if err := os.WriteFile(tmp, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if got := f.Key().Reveal(); got != "first" {
		t.Fatalf("re-read before the interval: %q", got)
	}
	clock = clock.Add(RecheckInterval)
	if got := f.Key().Reveal(); got != "second" {
		t.Fatalf("after rotation %q", got)
	}

	// An emptied file keeps the last good key and reports the failure.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(RecheckInterval)
	if got := f.Key().Reveal(); got != "second" {
		t.Fatalf("after emptying %q", got)
	}
	if len(reloads) != 2 || reloads[0] != nil || !errors.Is(reloads[1], ErrEmptyKey) {
		t.Fatalf("reloads %v", reloads)
	}
}

func TestFromFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("  \n"), 0o600)
	if _, err := FromFile(empty, nil); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := FromFile(filepath.Join(dir, "missing"), nil); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("AIGW_TEST_KEY", secret)
	s, err := FromEnv("AIGW_TEST_KEY")
	if err != nil || s.Key().Reveal() != secret {
		t.Fatalf("%v", err)
	}
	t.Setenv("AIGW_TEST_KEY", "")
	if _, err := FromEnv("AIGW_TEST_KEY"); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("%v", err)
	}
}

// A rotation landing between opening the key file and identifying it must
// not pair the old key with the new file's identity: the key stored is the
// opened file's, so the next check sees the change and loads the new key.
// (Before, the path was read and then stat'ed again, so the stale key was
// kept for good.)
func TestRotationDuringRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := FromFile(path, func(string, error) {})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	f.now = func() time.Time { return clock }
	rotate := func(key string) {
		tmp := filepath.Join(dir, "key.new")
		if err := os.WriteFile(tmp, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	rotate("second")
	afterOpen = func() { afterOpen = nil; rotate("third") }
	t.Cleanup(func() { afterOpen = nil })
	clock = clock.Add(RecheckInterval)
	if got := f.Key().Reveal(); got != "second" {
		t.Fatalf("key read from the opened file: %q", got)
	}
	clock = clock.Add(RecheckInterval)
	if got := f.Key().Reveal(); got != "third" {
		t.Fatalf("rotation during the read was lost: %q", got)
	}
}

// The same race without a hook: a writer rotating while requests re-check.
// Whatever interleaving, once the writer stops the key is the file's.
func TestRotationRaceSettles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte("k0"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := FromFile(path, func(string, error) {})
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	f.now = func() time.Time { return time.Unix(0, clock.Add(int64(RecheckInterval))) }
	for trial := range 300 {
		want := fmt.Sprintf("k%d", trial+1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			tmp := filepath.Join(dir, "key.new")
			os.WriteFile(tmp, []byte(want), 0o600)
			os.Rename(tmp, path)
		}()
		for range 3 {
			f.Key()
		}
		<-done
		if got := f.Key().Reveal(); got != want {
			t.Fatalf("trial %d: stale key %q kept after rotation to %q", trial, got, want)
		}
	}
}

func TestKeyValidation(t *testing.T) {
	cases := []struct {
		name    string
		content []byte
		want    error
	}{
		{"CR inside", []byte("sk-abc\rX-Injected: 1"), ErrKeyControlByte},
		{"LF inside", []byte("sk-abc\nsk-def"), ErrKeyControlByte},
		{"NUL inside", []byte("sk-abc\x00def"), ErrKeyControlByte},
		{"DEL inside", []byte("sk-abc\x7fdef"), ErrKeyControlByte},
		{"over the size cap", bytes.Repeat([]byte("a"), MaxKeyFileBytes+1), ErrKeyTooLarge},
		{"only whitespace", []byte("  \n"), ErrEmptyKey},
		{"trailing newline is trimmed", []byte("sk-abc\r\n"), nil},
		{"at the size cap", bytes.Repeat([]byte("a"), MaxKeyFileBytes), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "key")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := FromFile(path, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("load: %v, want %v", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "sk-") || !strings.Contains(err.Error(), path)) {
				t.Fatalf("error must name the path and not the key: %v", err)
			}
			if tc.want == nil {
				return
			}
			// On rotation: the last good key stays, the failure is logged
			// (by default: reload failures were silent) once with the path
			// and reason, never the content.
			if err := os.WriteFile(path, []byte("good-key"), 0o600); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			reloadLog = &log
			t.Cleanup(func() { reloadLog = os.Stderr })
			f, err := FromFile(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			clock := time.Now()
			f.now = func() time.Time { return clock }
			tmp := filepath.Join(dir, "key.new")
			if err := os.WriteFile(tmp, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				clock = clock.Add(RecheckInterval)
				if got := f.Key().Reveal(); got != "good-key" {
					t.Fatalf("bad rotation replaced the key")
				}
			}
			out := log.String()
			if strings.Count(out, "\n") != 1 || !strings.Contains(out, path) || !strings.Contains(out, tc.want.Error()) || strings.Contains(out, "sk-") || strings.Contains(out, "aaaa") {
				t.Fatalf("reload log: %q", out)
			}
		})
	}
}

func TestFromEnvControlByte(t *testing.T) {
	t.Setenv("AIGW_TEST_KEY", "sk-abc\r\nX: y")
	if _, err := FromEnv("AIGW_TEST_KEY"); !errors.Is(err, ErrKeyControlByte) || strings.Contains(err.Error(), "sk-") {
		t.Fatalf("%v", err)
	}
}
func TestIsCredentialHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"authorization": true, "Authorization": true, "api-key": true, "x-api-key": true, "cookie": true,
		"proxy-authorization": true, "x-goog-api-key": true, "x-amz-security-token": true, "x-my-key": true,
		"x-session-id": true, "x-auth-request-user": true, "x-client-secret": true,
		"x-api-key-id": false, "x-team": false, "x-ai-eg-model": false, "x-aim-service-id": false, "user-agent": false,
	} {
		if got := IsCredentialHeader(name); got != want {
			t.Errorf("IsCredentialHeader(%q) = %v, want %v", name, got, want)
		}
	}
}
