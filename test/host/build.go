// Package host drives the aigw test host: a C program (csrc/) that plays Envoy's side of the
// golang HTTP filter ABI and of the dynamic-modules ABI for build/libaigw.so, with a real
// HTTP/1.1 listener, a route table, clusters with priorities, retries and upstream HTTP/1.1.
// No Envoy binary is available to the tests, so this host is the evidence that the shipped
// shared object works through both ABIs. See test/README.md for what it does and does not do.
package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/aigw/aigw/internal/envoysrc"
)

// SOEnv overrides the shared object under test (for example a copy built elsewhere). When it
// is unset, BuildSO builds build/libaigw.so from the repository root if it is missing or stale.
const SOEnv = "AIGW_SO"

// RepoRoot is the module root (two directories above this file).
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("host: cannot locate the source file")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("host: %s is not the module root: %w", root, err)
	}
	return root, nil
}

// EnvoyDir is the Envoy module directory, whose real headers the host is compiled against:
// contrib/golang/common/go/api/api.h and source/extensions/dynamic_modules/abi.h.
func EnvoyDir() (string, error) { return envoysrc.Dir() }

// buildEnv drops GOFLAGS so that `go test -race` settings never leak into the c-shared build:
// the .so is never race-built, only the test process is.
func buildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GOFLAGS=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "CGO_ENABLED=1")
}

// lockFile serializes builds across test processes (go test runs packages in parallel).
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// newestSource is the newest modification time among the files the .so is built from (Go
// sources and assembly, go.mod, go.sum), with the same selection as the Makefile's rule for
// build/libaigw.so.
func newestSource(root string) (time.Time, error) {
	var newest time.Time
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "test" || rel == "bench" || rel == "build" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		goSource := strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
		asm := strings.HasSuffix(name, ".s") || strings.HasSuffix(name, ".h") // and the headers it includes
		if !goSource && !asm && rel != "go.mod" && rel != "go.sum" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.ModTime().After(newest) {
			newest = info.ModTime()
		}
		return nil
	})
	return newest, err
}

// BuildSO returns the path of the shared object under test: $AIGW_SO if set, else
// build/libaigw.so, rebuilt with `go build -buildmode=c-shared -o build/libaigw.so .` from the
// repository root when it is missing or older than a source file.
func BuildSO(ctx context.Context) (string, error) {
	if p := os.Getenv(SOEnv); p != "" {
		return filepath.Abs(p)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	so := filepath.Join(root, "build", "libaigw.so")
	unlock, err := lockFile(filepath.Join(root, "build", ".libaigw.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	newest, err := newestSource(root)
	if err != nil {
		return "", err
	}
	if info, err := os.Stat(so); err == nil && !info.ModTime().Before(newest) {
		return so, nil
	}
	tmp := fmt.Sprintf("%s.tmp.%d", so, os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-o", tmp, ".")
	cmd.Dir = root
	cmd.Env = buildEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		os.Remove(strings.TrimSuffix(tmp, ".so") + ".h")
		return "", fmt.Errorf("host: building %s: %w\n%s", so, err, out)
	}
	os.Remove(tmp[:len(tmp)-len(filepath.Ext(tmp))] + ".h")
	if err := os.Rename(tmp, so); err != nil {
		return "", err
	}
	return so, nil
}

// Sources of the C host.
func hostSources(root string) ([]string, error) {
	return filepath.Glob(filepath.Join(root, "test", "host", "csrc", "*.[ch]"))
}

// CompileCommand is the exact cc command line used for the host binary.
func CompileCommand(out string) ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	envoy, err := EnvoyDir()
	if err != nil {
		return nil, err
	}
	srcs, err := hostSources(root)
	if err != nil {
		return nil, err
	}
	opt := []string{"-O2"}
	switch {
	case sanitize():
		opt = []string{"-O1", "-fsanitize=address,undefined", "-fno-omit-frame-pointer"}
	case framePointers():
		opt = []string{"-O2", "-fno-omit-frame-pointer"}
	}
	args := append([]string{"cc", "-std=gnu11", "-D_GNU_SOURCE"}, opt...)
	args = append(args, "-g", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror", "-rdynamic", "-pthread",
		"-I"+envoy, "-o", out)
	for _, s := range srcs {
		if strings.HasSuffix(s, ".c") {
			args = append(args, s)
		}
	}
	return append(args, "-ldl"), nil
}

// SanitizeEnv set to 1 builds and runs the host with AddressSanitizer and UBSan (the .so is
// unchanged); any sanitizer report is a Problems() line.
const SanitizeEnv = "AIGW_HOST_SANITIZE"

func sanitize() bool { return os.Getenv(SanitizeEnv) == "1" }

// FramePointersEnv set to 1 builds the host with frame pointers (same -O2),
// as build/host/aigw-host-fp, so that perf's frame-pointer unwinding walks
// from the host's C through the .so's Go and back (bench/perf.sh); the
// default binary omits them, as Envoy's release build does.
const FramePointersEnv = "AIGW_HOST_FRAME_POINTERS"

func framePointers() bool { return os.Getenv(FramePointersEnv) == "1" }

func hostBinaryName() string {
	switch {
	case sanitize():
		return "aigw-host-asan"
	case framePointers():
		return "aigw-host-fp"
	}
	return "aigw-host"
}

// BuildHost compiles the C host (if its sources, the Envoy headers or the command changed)
// into build/host/aigw-host and returns its path.
func BuildHost(ctx context.Context) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "build", "host")
	bin := filepath.Join(dir, hostBinaryName())
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	tmp := fmt.Sprintf("%s.tmp.%d", bin, os.Getpid())
	args, err := CompileCommand(tmp)
	if err != nil {
		return "", err
	}
	// The stamp records the command as if it wrote the final binary directly.
	stampArgs, err := CompileCommand(bin)
	if err != nil {
		return "", err
	}
	stamp := []byte(strings.Join(stampArgs, " "))
	if fresh(bin, root, stamp) {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("host: compiling the C host: %w\n%s\n%s", err, strings.Join(args, " "), out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	if err := os.WriteFile(bin+".cmd", stamp, 0o644); err != nil {
		return "", err
	}
	return bin, nil
}

func fresh(bin, root string, stamp []byte) bool {
	info, err := os.Stat(bin)
	if err != nil {
		return false
	}
	old, err := os.ReadFile(bin + ".cmd")
	if err != nil || !bytes.Equal(old, stamp) {
		return false
	}
	srcs, err := hostSources(root)
	if err != nil {
		return false
	}
	envoy, err := EnvoyDir()
	if err != nil {
		return false
	}
	srcs = append(srcs,
		filepath.Join(envoy, "contrib/golang/common/go/api/api.h"),
		filepath.Join(envoy, "source/extensions/dynamic_modules/abi.h"),
		filepath.Join(envoy, "source/extensions/dynamic_modules/abi_version.h"))
	for _, s := range srcs {
		si, err := os.Stat(s)
		if err != nil || si.ModTime().After(info.ModTime()) {
			return false
		}
	}
	return true
}
