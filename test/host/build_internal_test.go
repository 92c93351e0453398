package host

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The .so is rebuilt when its assembly changes, not only its Go files
// (internal/bodyscan's stage 1 is assembly): newestSource counts .s files
// and the .h files they include, and still ignores tests and the test and
// bench trees.
func TestNewestSourceCountsAssembly(t *testing.T) {
	root := t.TempDir()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	files := []struct {
		path string
		age  time.Duration // before base
	}{
		{"go.mod", 5 * time.Hour},
		{"pkg/a.go", 4 * time.Hour},
		{"pkg/a_amd64.s", 3 * time.Hour},
		{"pkg/a_amd64.h", 2 * time.Hour},
		{"pkg/a_test.go", time.Hour},
		{"test/b.go", 0},
		{"bench/c.s", 0},
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, base.Add(-f.age), base.Add(-f.age)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := newestSource(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := base.Add(-2 * time.Hour); !got.Equal(want) {
		t.Fatalf("newest source %v, want the assembly header's %v", got, want)
	}
}

// The host's build variants: the default one as Envoy's release build
// (-O2, no frame pointers), the sanitized one, and the frame-pointer one
// bench/perf.sh profiles; each under its own name, so no variant's binary
// is mistaken for another's (BuildHost's freshness stamp is per binary).
func TestHostBuildVariants(t *testing.T) {
	for _, c := range []struct {
		sanitize, fp string
		bin          string
		want, not    []string
	}{
		{"", "", "aigw-host", []string{"-O2"}, []string{"-fno-omit-frame-pointer", "-fsanitize=address,undefined"}},
		{"1", "", "aigw-host-asan", []string{"-O1", "-fsanitize=address,undefined", "-fno-omit-frame-pointer"}, []string{"-O2"}},
		{"", "1", "aigw-host-fp", []string{"-O2", "-fno-omit-frame-pointer"}, []string{"-fsanitize=address,undefined"}},
		{"1", "1", "aigw-host-asan", []string{"-fsanitize=address,undefined"}, []string{"-O2"}}, // sanitizing wins
	} {
		t.Setenv(SanitizeEnv, c.sanitize)
		t.Setenv(FramePointersEnv, c.fp)
		if got := hostBinaryName(); got != c.bin {
			t.Errorf("sanitize=%q fp=%q: binary %s, want %s", c.sanitize, c.fp, got, c.bin)
		}
		args, err := CompileCommand("out")
		if err != nil {
			t.Fatal(err)
		}
		has := map[string]bool{}
		for _, a := range args {
			has[a] = true
		}
		for _, w := range c.want {
			if !has[w] {
				t.Errorf("sanitize=%q fp=%q: %v lacks %s", c.sanitize, c.fp, args, w)
			}
		}
		for _, n := range c.not {
			if has[n] {
				t.Errorf("sanitize=%q fp=%q: %v has %s", c.sanitize, c.fp, args, n)
			}
		}
	}
}
