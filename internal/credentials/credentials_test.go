package credentials

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
