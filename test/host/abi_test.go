package host_test

import (
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aigw/aigw/test/host"
)

// kAbiVersion from the Envoy module's abi_version.h, the string Envoy compares the module's
// envoy_dynamic_module_on_program_init() result with.
func kAbiVersion(t *testing.T) string {
	t.Helper()
	dir, err := host.EnvoyDir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "source/extensions/dynamic_modules/abi_version.h"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`kAbiVersion = "([0-9a-f]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("kAbiVersion not found in abi_version.h")
	}
	return string(m[1])
}

func dynSymbols(t *testing.T, path string, undefined bool) map[string]bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, s := range syms {
		if (s.Section == elf.SHN_UNDEF) == undefined {
			out[s.Name] = true
		}
	}
	return out
}

// Every Envoy callback the .so references must be exported by the host: that is what lets
// the .so load under LD_BIND_NOW=1, and what Envoy (contrib image) provides.
func TestHostExportsEverySymbolTheSOUses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	so, err := host.BuildSO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := host.BuildHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	need := dynSymbols(t, so, true)
	have := dynSymbols(t, bin, false)
	n := 0
	for s := range need {
		if !strings.HasPrefix(s, "envoyGo") && !strings.HasPrefix(s, "envoy_dynamic_module_callback_") {
			continue
		}
		n++
		if !have[s] {
			t.Errorf("the .so references %s, which the host (and Envoy v1.36.2) does not provide", s)
		}
	}
	if n == 0 {
		t.Fatal("the .so references no Envoy callback: not built with the golang filter package?")
	}
	exported := dynSymbols(t, so, false)
	for _, s := range []string{"envoyGoFilterNewHttpPluginConfig", "envoyGoFilterOnHttpHeader", "envoyGoFilterOnHttpData",
		"envoy_dynamic_module_on_program_init", "envoy_dynamic_module_on_http_filter_config_new",
		"envoy_dynamic_module_on_http_filter_request_headers", "envoy_dynamic_module_on_http_filter_scheduled"} {
		if !exported[s] {
			t.Errorf("the .so does not export %s", s)
		}
	}
}

func minimalConfig(t *testing.T, so string) host.Config {
	t.Helper()
	cfg := aigwConfig(defaultBackends[:1])
	anyCfg, err := host.StringValueAny(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return host.Config{SO: so, Workers: 1, PluginConfig: anyCfg, UpstreamConfig: cfg,
		Routes: []host.Route{catchAll()}, Env: []string{keyEnv("deploy-a") + "=unused"}}
}

// Both loaders open the same file and get the same handle (one Go runtime), in either order;
// the dynamic-modules loader calls on_program_init only when its RTLD_NOLOAD probe misses,
// and the version must be Envoy's kAbiVersion.
func TestLoadOrdersShareOneHandle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	so, err := host.BuildSO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := kAbiVersion(t)
	symlinkDir := t.TempDir()
	if err := os.Symlink(so, filepath.Join(symlinkDir, "libaigw.so")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		golangFirst bool
		searchPath  string
		probe       string
	}{
		{name: "dynamic module first", probe: "noload_probe=miss program_init=called"},
		{name: "golang filter first", golangFirst: true, probe: "noload_probe=hit program_init=skipped"},
		{name: "search path is a symlink to the same file", golangFirst: true, searchPath: symlinkDir,
			probe: "noload_probe=hit program_init=skipped"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := minimalConfig(t, so)
			c.GolangFirst = tc.golangFirst
			c.DynmodSearchPath = tc.searchPath
			h := host.StartT(t, c)
			if v, _ := h.StdoutValue("HANDLES "); !strings.HasPrefix(v, "same=1") {
				t.Fatalf("HANDLES %q", v)
			}
			if v, _ := h.StdoutValue("DLOPEN dynmod "); !strings.Contains(v, tc.probe) {
				t.Errorf("dynamic module load %q, want %q", v, tc.probe)
			}
			if v, _ := h.StdoutValue("ABI_VERSION_EXPECTED "); v != want {
				t.Errorf("host compiled against kAbiVersion %q, abi_version.h says %q", v, want)
			}
			if v, _ := h.StdoutValue("ABI_VERSION_PROBE "); v != want {
				t.Errorf("envoy_dynamic_module_on_program_init() = %q, want kAbiVersion %q", v, want)
			}
			if !tc.golangFirst {
				if v, _ := h.StdoutValue("ABI_VERSION_MODULE "); v != want {
					t.Errorf("on_program_init at load = %q, want %q", v, want)
				}
			}
			if v, _ := h.StdoutValue("HOST "); !strings.Contains(v, "ld_bind_now=1") {
				t.Errorf("host not run with LD_BIND_NOW=1: %q", v)
			}
		})
	}
}
