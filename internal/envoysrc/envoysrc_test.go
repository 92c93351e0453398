package envoysrc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirIsThePinnedEnvoy(t *testing.T) {
	d, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "envoy@v1.36.2") {
		t.Fatalf("envoy module at %s; go.mod pins v1.36.2", d)
	}
	if _, err := os.Stat(filepath.Join(d, "contrib", "golang", "common", "go", "api", "api.h")); err != nil {
		t.Fatal(err)
	}
	if p, err := Path("source", "extensions", "dynamic_modules", "abi.h"); err != nil || !strings.HasPrefix(p, d) {
		t.Fatalf("%q %v", p, err)
	}
	if _, err := Path("no", "such", "file"); err == nil {
		t.Fatal("a missing path was found")
	}
}
