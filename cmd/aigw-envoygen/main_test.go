package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	in := filepath.Join("..", "..", "deploy", "demo", "deployment.yaml")
	out := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := run(in, "bootstrap", out, ""); err != nil {
		t.Fatal(err)
	}
	if err := run(in, "bootstrap", "", out); err != nil {
		t.Errorf("-check of a fresh output: %v", err)
	}
	b, _ := os.ReadFile(out)
	if err := os.WriteFile(out, append(b, '#'), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(in, "bootstrap", "", out); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("-check of an edited output: %v, want a difference", err)
	}
	for _, kind := range []string{"envoy-gateway", "istio"} {
		if err := run(in, kind, filepath.Join(t.TempDir(), kind+".yaml"), ""); err != nil {
			t.Errorf("-kind %s: %v", kind, err)
		}
	}
	if err := run(in, "helm", "-", ""); err == nil {
		t.Error("-kind helm accepted")
	}
	if err := run("", "bootstrap", "-", ""); err == nil {
		t.Error("no -in accepted")
	}
}
