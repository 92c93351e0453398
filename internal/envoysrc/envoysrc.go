// Package envoysrc locates the source of the Envoy module go.mod pins
// (github.com/envoyproxy/envoy), so that tests and the test host read Envoy's
// own headers and files (api.h, abi.h, dso.cc, Dockerfiles), never copies:
// bumping Envoy re-checks everything against the new sources.
package envoysrc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

const module = "github.com/envoyproxy/envoy"

var dir = sync.OnceValues(func() (string, error) {
	// This toolchain's go command, whatever PATH says; GOFLAGS (-race, ...)
	// means nothing to `go list -m`.
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	// Run inside this module whatever the caller's working directory (the
	// bench binary, the test host's driver): this file's directory is in it.
	if _, file, _, ok := runtime.Caller(0); ok {
		cmd.Dir = filepath.Dir(file)
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("locating %s (go list -m; run it inside this repository after go mod download): %w", module, err)
	}
	d := strings.TrimSpace(string(out))
	if d == "" {
		return "", fmt.Errorf("%s has no directory in the module cache (go mod download?)", module)
	}
	return d, nil
})

// Dir is the Envoy module's directory in the module cache.
func Dir() (string, error) { return dir() }

// Path is a path inside the Envoy module, checked to exist.
func Path(elem ...string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(append([]string{d}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s: %w", module, err)
	}
	return p, nil
}
