package dynmod

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aigw/aigw/internal/envoysrc"
	"github.com/aigw/aigw/internal/upstream"
)

// envoyABIDir is source/extensions/dynamic_modules of the Envoy module go.mod
// requires: the tests read the ABI from there, never from a copy, so bumping
// Envoy re-checks everything below against the new headers.
func envoyABIDir(t *testing.T) string {
	t.Helper()
	abi, err := envoysrc.Path("source", "extensions", "dynamic_modules", "abi.h")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(abi)
}

func goTool() string { return filepath.Join(runtime.GOROOT(), "bin", "go") }

var cComments = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)

// abiHeader is abi.h without comments.
func abiHeader(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(envoyABIDir(t), "abi.h"))
	if err != nil {
		t.Fatal(err)
	}
	return cComments.ReplaceAllString(string(b), "")
}

func TestABIVersionMatchesEnvoy(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(envoyABIDir(t), "abi_version.h"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`kAbiVersion\s*=\s*"([0-9a-f]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no kAbiVersion in abi_version.h:\n%s", b)
	}
	if string(m[1]) != abiVersion {
		t.Fatalf("abiVersion = %s, Envoy's kAbiVersion = %s: re-read abi.h for changed hooks and callbacks, then update abiVersion", abiVersion, m[1])
	}
}

// abiEnums maps every enum typedef name in abi.h to its members in order
// (none of them assigns explicit values, which the parser checks).
func abiEnums(t *testing.T) map[string][]string {
	t.Helper()
	enums := map[string][]string{}
	re := regexp.MustCompile(`typedef\s+enum\s*\{([^}]*)\}\s*(\w+)\s*;`)
	for _, m := range re.FindAllStringSubmatch(abiHeader(t), -1) {
		var members []string
		for _, part := range strings.Split(m[1], ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if strings.Contains(part, "=") {
				t.Fatalf("enum %s assigns a value (%q): extend the parser", m[2], part)
			}
			members = append(members, part)
		}
		enums[m[2]] = members
	}
	return enums
}

func TestEnumValuesMatchABI(t *testing.T) {
	enums := abiEnums(t)
	const p = "envoy_dynamic_module_type_"
	tests := []struct {
		enum, member string
		got          int
	}{
		{"on_http_filter_request_headers_status", "Continue", int(headersContinue)},
		{"on_http_filter_request_headers_status", "StopIteration", int(headersStopIteration)},
		{"on_http_filter_request_headers_status", "ContinueAndDontEndStream", int(headersContinueAndDontEndStream)},
		{"on_http_filter_request_headers_status", "StopAllIterationAndBuffer", int(headersStopAllIterationAndBuffer)},
		{"on_http_filter_request_headers_status", "StopAllIterationAndWatermark", int(headersStopAllIterationAndWatermark)},
		{"on_http_filter_response_headers_status", "Continue", int(headersContinue)},
		{"on_http_filter_response_headers_status", "StopIteration", int(headersStopIteration)},
		{"on_http_filter_response_headers_status", "ContinueAndDontEndStream", int(headersContinueAndDontEndStream)},
		{"on_http_filter_response_headers_status", "StopAllIterationAndBuffer", int(headersStopAllIterationAndBuffer)},
		{"on_http_filter_response_headers_status", "StopAllIterationAndWatermark", int(headersStopAllIterationAndWatermark)},
		{"on_http_filter_request_body_status", "Continue", int(bodyContinue)},
		{"on_http_filter_request_body_status", "StopIterationAndBuffer", int(bodyStopIterationAndBuffer)},
		{"on_http_filter_request_body_status", "StopIterationAndWatermark", int(bodyStopIterationAndWatermark)},
		{"on_http_filter_request_body_status", "StopIterationNoBuffer", int(bodyStopIterationNoBuffer)},
		{"on_http_filter_response_body_status", "Continue", int(bodyContinue)},
		{"on_http_filter_response_body_status", "StopIterationAndBuffer", int(bodyStopIterationAndBuffer)},
		{"on_http_filter_response_body_status", "StopIterationAndWatermark", int(bodyStopIterationAndWatermark)},
		{"on_http_filter_response_body_status", "StopIterationNoBuffer", int(bodyStopIterationNoBuffer)},
		{"on_http_filter_request_trailers_status", "Continue", int(trailersContinue)},
		{"on_http_filter_request_trailers_status", "StopIteration", int(trailersStopIteration)},
		{"on_http_filter_response_trailers_status", "Continue", int(trailersContinue)},
		{"on_http_filter_response_trailers_status", "StopIteration", int(trailersStopIteration)},
		{"log_level", "Trace", int(upstream.LogTrace)},
		{"log_level", "Debug", int(upstream.LogDebug)},
		{"log_level", "Info", int(upstream.LogInfo)},
		{"log_level", "Warn", int(upstream.LogWarn)},
		{"log_level", "Error", int(upstream.LogError)},
		{"log_level", "Critical", int(upstream.LogCritical)},
		{"metadata_source", "Host", metadataSourceHost},
		{"metadata_source", "Dynamic", metadataSourceDynamic},
	}
	for _, tt := range tests {
		members, ok := enums[p+tt.enum]
		if !ok {
			t.Errorf("abi.h has no enum %s%s", p, tt.enum)
			continue
		}
		want := -1
		for i, m := range members {
			if m == p+tt.enum+"_"+tt.member {
				want = i
			}
		}
		if want != tt.got {
			t.Errorf("%s_%s = %d in Go, %d in abi.h", tt.enum, tt.member, tt.got, want)
		}
	}
	// Statuses Envoy could return that the Go side does not know about
	// would be cast blindly (filter.cc static_casts them).
	for _, e := range []string{"request_headers", "response_headers"} {
		if n := len(enums[p+"on_http_filter_"+e+"_status"]); n != 5 {
			t.Errorf("%s status has %d members, Go knows 5", e, n)
		}
	}
}

var (
	soOnce sync.Once
	soPath string
	soErr  error
	soOut  []byte
)

// sharedLibrary builds testdata/sotest (just this package in a c-shared
// library) once per test run.
func sharedLibrary(t *testing.T) string {
	t.Helper()
	soOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dynmod-so-")
		if err != nil {
			soErr = err
			return
		}
		soPath = filepath.Join(dir, "libaigw_dynmod_test.so")
		cmd := exec.Command(goTool(), "build", "-buildmode=c-shared", "-o", soPath, "./testdata/sotest")
		soOut, soErr = cmd.CombinedOutput()
	})
	if soErr != nil {
		t.Fatalf("building the c-shared library: %v\n%s", soErr, soOut)
	}
	return soPath
}

// dynamicSymbols lists the library's dynamic symbols, defined or undefined.
func dynamicSymbols(t *testing.T, so string, defined bool) map[string]bool {
	t.Helper()
	flag := "--undefined-only"
	if defined {
		flag = "--defined-only"
	}
	out, err := exec.Command("nm", "-D", flag, so).Output()
	if err != nil {
		t.Fatalf("nm: %v", err)
	}
	syms := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			syms[f[len(f)-1]] = true
		}
	}
	return syms
}

func TestSharedLibrarySymbols(t *testing.T) {
	header := abiHeader(t)
	declared := func(prefix string) map[string]bool {
		m := map[string]bool{}
		for _, s := range regexp.MustCompile(`\b(`+prefix+`\w+)\s*\(`).FindAllStringSubmatch(header, -1) {
			m[s[1]] = true
		}
		return m
	}
	hooks := declared("envoy_dynamic_module_on_")
	callbacks := declared("envoy_dynamic_module_callback_")
	if len(hooks) < 15 || len(callbacks) < 30 {
		t.Fatalf("parsed %d hooks and %d callbacks from abi.h: parser broken?", len(hooks), len(callbacks))
	}

	so := sharedLibrary(t)
	defined := dynamicSymbols(t, so, true)
	for h := range hooks {
		if !defined[h] {
			t.Errorf("abi.h event hook %s is not exported", h)
		}
	}

	var used []string
	for s := range dynamicSymbols(t, so, false) {
		if !strings.HasPrefix(s, "envoy_") {
			continue
		}
		used = append(used, s)
		if !callbacks[s] {
			t.Errorf("the library references %s, which abi.h does not declare", s)
		}
	}
	// In an upstream filter chain there are no downstream callbacks:
	// clear_route_cache dereferences them and crashes Envoy.
	for _, s := range used {
		if s == "envoy_dynamic_module_callback_http_clear_route_cache" {
			t.Errorf("the library references %s", s)
		}
	}
	if len(used) == 0 {
		t.Fatal("the library references no Envoy callback: nm output not understood")
	}
	t.Logf("Envoy callbacks the module references (a host must define all under LD_BIND_NOW=1):\n%s", strings.Join(slices.Sorted(slices.Values(used)), "\n"))
}

// TestLoadLikeEnvoy dlopens the library from a C program the way Envoy's
// loader does (RTLD_LOCAL|RTLD_LAZY), checks on_program_init against
// kAbiVersion compiled from abi_version.h, and drives the config hooks.
func TestLoadLikeEnvoy(t *testing.T) {
	so := sharedLibrary(t)
	abiDir := envoyABIDir(t)
	driver := filepath.Join(t.TempDir(), "loadcheck")
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	out, err := exec.Command(cc, "-std=c11", "-Wall", "-Werror", "-I", abiDir, "-rdynamic",
		"-o", driver, "testdata/loadcheck.c", "-ldl").CombinedOutput()
	if err != nil {
		t.Fatalf("compiling testdata/loadcheck.c: %v\n%s", err, out)
	}
	// The same config as JSON and as a google.protobuf.Struct's bytes, the
	// two shapes Envoy hands filter_config_new.
	const doc = `{"backends": [{"name": "b1"}]}`
	st := &structpb.Struct{}
	if err := protojson.Unmarshal([]byte(doc), st); err != nil {
		t.Fatal(err)
	}
	pb, err := proto.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	structFile := filepath.Join(t.TempDir(), "config.pb")
	if err := os.WriteFile(structFile, pb, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(driver, so, doc, structFile).CombinedOutput()
	if err != nil {
		t.Fatalf("loadcheck: %v\n%s", err, out)
	}
	for _, want := range []string{
		"abi version ok",
		`filter_name "other" rejected`,
		"bad JSON rejected",
		"JSON config accepted",
		"Struct config accepted",
		"counter defined: aigw_input_tokens_total",
		"counter defined: aigw_output_tokens_total",
		"counter defined: aigw_cached_input_tokens_total",
		"filter created",
		"per-route config rejected",
		"done",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("loadcheck output lacks %q:\n%s", want, out)
		}
	}
	// The rejections must say why in Envoy's log.
	for _, want := range []string{
		`filter_name \"other\" is not served by this module (want \"aigw-upstream\")`,
		"rejecting dynamic module filter config",
	} {
		if !strings.Contains(string(out), strings.ReplaceAll(want, `\"`, `"`)) {
			t.Errorf("loadcheck log lacks %q:\n%s", want, out)
		}
	}
}
