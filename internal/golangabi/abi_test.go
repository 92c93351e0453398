package golangabi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/aigw/aigw/internal/envoysrc"
)

// envoyDir is the Envoy module go.mod requires: the tests read api.h,
// libgolang.h and dso.cc from there, never from a copy, so bumping Envoy
// re-checks the adapter against the new sources.
func envoyDir(t *testing.T) string {
	t.Helper()
	d, err := envoysrc.Dir()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// cgoPreamble is the C preamble of a Go file of this package, #cgo lines removed.
func cgoPreamble(t *testing.T, file string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)/\*\n(.*?)\*/\nimport "C"`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("%s: no cgo preamble", file)
	}
	var lines []string
	for _, l := range strings.Split(string(m[1]), "\n") {
		if !strings.HasPrefix(l, "#cgo ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// runC builds a C program against the real api.h with gcc -Werror and
// returns what it prints: files are written to a temporary directory (on
// the include path with the package directory and api.h's), main.c among
// them; srcs are further sources, args further gcc arguments. what names
// the program in a failure.
func runC(t *testing.T, what string, files map[string]string, args []string, srcs ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatal("gcc is required (make test installs it via .ci/run)")
	}
	apiDir := filepath.Join(envoyDir(t), "contrib", "golang", "common", "go", "api")
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "prog")
	gcc := append([]string{"-std=gnu11", "-Wall", "-Werror", "-I", dir, "-I", ".", "-I", apiDir}, args...)
	gcc = append(append(gcc, "-o", bin, filepath.Join(dir, "main.c")), srcs...)
	if out, err := exec.Command("gcc", gcc...).CombinedOutput(); err != nil {
		t.Fatalf("%s does not compile against %s/api.h: %v\n%s", what, apiDir, err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return out
}

// The prototypes abi.go restates are compiled after the real api.h: a
// parameter or return type that differs is a "conflicting types" error. The
// same program prints the layouts and enum values the Go side hard-codes.
func TestDeclarationsMatchAPIHeader(t *testing.T) {
	prog := `#include <stddef.h>
#include <stdio.h>
#include "api.h"
#define AIGW_HAVE_ENVOY_API_H
#include "entry.h"
` + cgoPreamble(t, "abi.go") + `
int main(void) {
  printf("enums %d %d %d %d\n", CAPIOK, CAPIValueNotFound, Set, HeaderSet);
  printf("httpRequest %zu %zu %zu %zu %zu %zu\n", sizeof(httpRequest), offsetof(httpRequest, plugin_name.data),
         offsetof(httpRequest, plugin_name.len), offsetof(httpRequest, configId), offsetof(httpRequest, worker_id),
         offsetof(httpRequest, is_golang_processing_log));
  printf("processState %zu %zu %zu %zu\n", sizeof(processState), offsetof(processState, req),
         offsetof(processState, is_encoding), offsetof(processState, state));
  printf("aigw_process_state %zu %zu %zu %zu\n", sizeof(aigw_process_state), offsetof(aigw_process_state, req),
         offsetof(aigw_process_state, is_encoding), offsetof(aigw_process_state, state));
  printf("entry %d %d\n", AIGW_STATE_PROCESSING_HEADER, AIGW_GOLANG_CONTINUE);
  printf("httpConfig %zu %zu %zu %zu %zu %zu %zu\n", sizeof(httpConfig), offsetof(httpConfig, plugin_name_ptr),
         offsetof(httpConfig, plugin_name_len), offsetof(httpConfig, config_ptr), offsetof(httpConfig, config_len),
         offsetof(httpConfig, is_route_config), offsetof(httpConfig, concurrency));
  printf("sizes %zu %zu %zu\n", sizeof(CAPIStatus), sizeof(bufferAction), sizeof(headerAction));
  return 0;
}
`
	out := runC(t, "abi.go's declarations", map[string]string{"main.c": prog}, nil)
	var req cHTTPRequest
	var ps cProcessState
	var hc cHTTPConfig
	want := strings.Join([]string{
		sprint("enums", capiOK, capiValueNotFound, bufferSet, headerSet),
		sprint("httpRequest", unsafe.Sizeof(req), unsafe.Offsetof(req.pluginNameData), unsafe.Offsetof(req.pluginNameLen),
			unsafe.Offsetof(req.configID), unsafe.Offsetof(req.workerID), unsafe.Offsetof(req.isProcessing)),
		sprint("processState", unsafe.Sizeof(ps), unsafe.Offsetof(ps.req), unsafe.Offsetof(ps.isEncoding), unsafe.Offsetof(ps.state)),
		// entry.h's restatement, for entry.c: the same layout and values.
		sprint("aigw_process_state", unsafe.Sizeof(ps), unsafe.Offsetof(ps.req), unsafe.Offsetof(ps.isEncoding), unsafe.Offsetof(ps.state)),
		sprint("entry", stateProcessingHeader, int(api.Continue)),
		sprint("httpConfig", unsafe.Sizeof(hc), unsafe.Offsetof(hc.pluginNamePtr), unsafe.Offsetof(hc.pluginNameLen),
			unsafe.Offsetof(hc.configPtr), unsafe.Offsetof(hc.configLen), unsafe.Offsetof(hc.isRouteConfig), unsafe.Offsetof(hc.concurrency)),
		// The stand-in typedefs (int) must be what api.h's enums are in size.
		sprint("sizes", 4, 4, 4),
	}, "\n") + "\n"
	if string(out) != want {
		t.Fatalf("api.h says:\n%s\nthe Go side assumes:\n%s", out, want)
	}
}

func sprint(name string, vs ...any) string {
	var b strings.Builder
	b.WriteString(name)
	for _, v := range vs {
		b.WriteString(" ")
		switch x := v.(type) {
		case uintptr:
			b.WriteString(itoa(int(x)))
		case int:
			b.WriteString(itoa(x))
		}
	}
	return b.String()
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// Envoy's loader looks up ten entry points by name (dso.cc,
// HttpFilterDsoImpl) and calls them through libgolang.h's prototypes: each
// must be exported here (in Go by exports.go, or in C by entry.c) with as
// many parameters and a result of the same kind.
func TestEntryPointsMatchEnvoyLoader(t *testing.T) {
	dso := filepath.Join(envoyDir(t), "contrib", "golang", "common", "dso")
	src, err := os.ReadFile(filepath.Join(dso, "dso.cc"))
	if err != nil {
		t.Fatal(err)
	}
	ctor := regexp.MustCompile(`(?s)HttpFilterDsoImpl::HttpFilterDsoImpl\(.*?\n}`).Find(src)
	var names []string
	for _, m := range regexp.MustCompile(`"(envoyGo\w+)"`).FindAllSubmatch(ctor, -1) {
		names = append(names, string(m[1]))
	}
	if len(names) != 10 {
		t.Fatalf("dso.cc's HTTP loader looks up %d symbols, want 10: %v", len(names), names)
	}
	hdr, err := os.ReadFile(filepath.Join(dso, "libgolang.h"))
	if err != nil {
		t.Fatal(err)
	}
	hdr = regexp.MustCompile(`//[^\n]*`).ReplaceAll(hdr, nil)

	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "exports.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]*ast.FuncDecl{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Doc == nil {
			continue
		}
		for _, c := range fn.Doc.List {
			if c.Text == "//export "+fn.Name.Name {
				exported[fn.Name.Name] = fn
			}
		}
	}
	// The C ones: the functions entry.c defines, void or uint64_t (GoUint64).
	csrc, err := os.ReadFile("entry.c")
	if err != nil {
		t.Fatal(err)
	}
	type cFunc struct {
		params int
		void   bool
	}
	cDefined := map[string]cFunc{}
	for _, m := range regexp.MustCompile(`(?m)^(void|uint64_t) (envoyGo\w+)\(([^)]*)\)\s*\{`).FindAllSubmatch(csrc, -1) {
		n := 0
		if p := strings.TrimSpace(string(m[3])); p != "" && p != "void" {
			n = strings.Count(p, ",") + 1
		}
		cDefined[string(m[2])] = cFunc{n, string(m[1]) == "void"}
	}
	// entry.c's functions that enter Go call an export of exports.go with
	// their own parameters.
	for _, m := range regexp.MustCompile(`return (aigw\w+)\(([^)]*)\);`).FindAllSubmatch(csrc, -1) {
		fn := exported[string(m[1])]
		if fn == nil {
			t.Errorf("entry.c calls %s, which exports.go does not export", m[1])
			continue
		}
		goParams := 0
		for _, p := range fn.Type.Params.List {
			goParams += max(len(p.Names), 1)
		}
		if args := strings.Count(string(m[2]), ",") + 1; args != goParams {
			t.Errorf("entry.c calls %s with %d arguments; it has %d parameters", m[1], args, goParams)
		}
	}
	var got []string
	for n := range exported {
		if strings.HasPrefix(n, "envoyGo") {
			got = append(got, n)
		}
	}
	for n := range cDefined {
		if exported[n] != nil {
			t.Errorf("%s is defined both in exports.go and in entry.c", n)
		}
		got = append(got, n)
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Fatalf("exports.go exports %v; Envoy looks up %v", got, names)
	}
	for _, n := range names {
		m := regexp.MustCompile(`extern\s+(\w+)\s+` + n + `\(([^)]*)\);`).FindSubmatch(hdr)
		if m == nil {
			t.Fatalf("libgolang.h has no prototype for %s", n)
		}
		cParams := 0
		if p := strings.TrimSpace(string(m[2])); p != "" && p != "void" {
			cParams = strings.Count(p, ",") + 1
		}
		cVoid := string(m[1]) == "void"
		if k, ok := cDefined[n]; ok {
			if k.params != cParams || k.void != cVoid {
				t.Errorf("%s: libgolang.h has %d parameters (void result %v), entry.c %d (void result %v)", n, cParams, cVoid, k.params, k.void)
			}
			continue
		}
		fn := exported[n]
		goParams := 0
		for _, p := range fn.Type.Params.List {
			goParams += max(len(p.Names), 1)
		}
		goVoid := fn.Type.Results == nil || len(fn.Type.Results.List) == 0
		if cParams != goParams || cVoid != goVoid {
			t.Errorf("%s: libgolang.h has %d parameters (void result %v), exports.go %d (void result %v)", n, cParams, cVoid, goParams, goVoid)
		}
	}
}

// The golang filter's FilterState values the adapter tests (abi.go's
// constants, entry.h's) are processor_state.h's: the enum's order.
func TestFilterStatesMatchProcessorState(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(envoyDir(t), "contrib", "golang", "filters", "http", "source", "processor_state.h"))
	if err != nil {
		t.Fatal(err)
	}
	body := regexp.MustCompile(`(?s)enum class FilterState \{(.*?)\};`).FindSubmatch(src)
	if body == nil {
		t.Fatal("processor_state.h has no enum class FilterState")
	}
	body[1] = regexp.MustCompile(`//[^\n]*`).ReplaceAll(body[1], nil)
	index := map[string]int{}
	for i, name := range regexp.MustCompile(`\w+`).FindAll(body[1], -1) {
		index[string(name)] = i
	}
	for name, v := range map[string]int{"ProcessingHeader": stateProcessingHeader, "ProcessingData": stateProcessingData,
		"ProcessingTrailer": stateProcessingTrailer} {
		if got, ok := index[name]; !ok || got != v {
			t.Errorf("FilterState::%s is %d (found %v) in processor_state.h; the adapter uses %d", name, got, ok, v)
		}
	}
}

// entry.c's header and data hooks, compiled with stand-ins for the Go side
// and called with api.h's own processState: the request's headers and body
// reach Go with their arguments and its answer; the response's headers and
// chunks and either direction's trailers are answered Continue without it.
func TestEntryDispatch(t *testing.T) {
	// entry.c includes cgo's _cgo_export.h for the Go side's prototypes.
	export := `#include <stdint.h>
uint64_t aigwOnHttpHeader(void* s, uint64_t end_stream, uint64_t header_num, uint64_t header_bytes);
uint64_t aigwOnHttpData(void* s, uint64_t end_stream, uint64_t buffer, uint64_t length);
`
	prog := `#include <stdio.h>
#include "api.h"
#include "_cgo_export.h"
uint64_t envoyGoFilterOnHttpHeader(void* s, uint64_t end_stream, uint64_t header_num, uint64_t header_bytes);
uint64_t envoyGoFilterOnHttpData(void* s, uint64_t end_stream, uint64_t buffer, uint64_t length);
static const char* went = "none";
static void* got_s;
static uint64_t got[3];
uint64_t aigwOnHttpHeader(void* s, uint64_t a, uint64_t b, uint64_t c) {
  went = "header", got_s = s, got[0] = a, got[1] = b, got[2] = c;
  return 77;
}
uint64_t aigwOnHttpData(void* s, uint64_t a, uint64_t b, uint64_t c) {
  went = "data", got_s = s, got[0] = a, got[1] = b, got[2] = c;
  return 78;
}
static void run(const char* name, int data, int encoding, int state) {
  processState ps = {0};
  ps.is_encoding = encoding;
  ps.state = state;
  went = "none", got_s = NULL, got[0] = got[1] = got[2] = 0;
  uint64_t r = data ? envoyGoFilterOnHttpData(&ps, 1, 2, 3) : envoyGoFilterOnHttpHeader(&ps, 1, 2, 3);
  printf("%s %llu %s %d %llu %llu %llu\n", name, (unsigned long long)r, went, got_s == &ps,
         (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)got[2]);
}
int main(void) {
  run("request-headers", 0, 0, PH);
  run("request-trailers", 0, 0, PT);
  run("response-headers", 0, 1, PH);
  run("response-trailers", 0, 1, PT);
  run("request-data", 1, 0, PD);
  run("response-data", 1, 1, PD);
  return 0;
}
`
	src, err := filepath.Abs("entry.c")
	if err != nil {
		t.Fatal(err)
	}
	out := runC(t, "entry.c", map[string]string{"_cgo_export.h": export, "main.c": prog},
		[]string{"-DPH=" + itoa(stateProcessingHeader), "-DPD=" + itoa(stateProcessingData), "-DPT=" + itoa(stateProcessingTrailer)}, src)
	cont := itoa(int(api.Continue))
	want := strings.Join([]string{
		"request-headers 77 header 1 1 2 3",
		"request-trailers " + cont + " none 0 0 0 0",
		"response-headers " + cont + " none 0 0 0 0",
		"response-trailers " + cont + " none 0 0 0 0",
		"request-data 78 data 1 1 2 3",
		"response-data " + cont + " none 0 0 0 0",
	}, "\n") + "\n"
	if string(out) != want {
		t.Fatalf("entry.c answered:\n%s\nwant:\n%s", out, want)
	}
}
