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
