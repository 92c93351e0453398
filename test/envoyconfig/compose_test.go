package envoyconfig

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"go.yaml.in/yaml/v4"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/envoysrc"
)

// composeFile mirrors the parts of docker/compose.yaml the demo relies on.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func loadCompose(t *testing.T, root string) composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "docker", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("compose.yaml has no services")
	}
	return c
}

// envDefault expands compose's ${VAR:-default} to its default, as with an empty environment.
func envDefault(s string) string {
	return regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(s, "$1")
}

// mainConfig decodes envoy.yaml and parses its aigw document with the config package.
func mainConfig(t *testing.T, root string) *config.Config {
	t.Helper()
	b, err := LoadFile(filepath.Join(root, "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return parseAigw(t, root, b)
}

// parseAigw parses the aigw document of a bootstrap's golang filter as the router phase does.
func parseAigw(t tb, root string, b *bootstrapv3.Bootstrap) *config.Config {
	t.Helper()
	for _, h := range hcms(t, b) {
		for _, f := range h.GetHttpFilters() {
			if g, ok := unpack(t, f.GetName(), f.GetTypedConfig()).(*golangv3alpha.Config); ok && g.GetPluginName() == goPluginName {
				// Keys live under /etc/aigw/keys, absent here: parse with the repo's copies.
				js := localizeKeys(t, root, configJSON(t, "plugin_config", g.GetPluginConfig()))
				cfg, err := config.FromAny(repack(t, g.GetPluginConfig(), js))
				if err != nil {
					t.Fatalf("golang plugin_config: %v", err)
				}
				return cfg
			}
		}
	}
	t.Fatalf("no aigw golang filter")
	return nil
}

func TestCompose(t *testing.T) {
	root := repoRoot(t)
	dockerDir := filepath.Join(root, "docker")
	c := loadCompose(t, root)
	keysVolume := "./keys:" + keysMount + ":ro"
	if filepath.Join(dockerDir, "keys") != filepath.Join(root, keysDir) {
		t.Fatalf("keysDir %s is not docker/keys", keysDir)
	}

	// Every service: build inputs exist, host volume sources exist, published control ports
	// stay on loopback.
	for name, s := range c.Services {
		if s.Build != nil {
			ctx := filepath.Join(dockerDir, s.Build.Context)
			if st, err := os.Stat(ctx); err != nil || !st.IsDir() {
				t.Errorf("%s: build context %s missing", name, s.Build.Context)
			}
			if _, err := os.Stat(filepath.Join(ctx, s.Build.Dockerfile)); err != nil {
				t.Errorf("%s: dockerfile %s missing", name, s.Build.Dockerfile)
			}
		} else if s.Image == "" {
			t.Errorf("%s: neither build nor image", name)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(dockerDir, src)); err != nil {
					t.Errorf("%s: volume source %s missing", name, src)
				}
			}
		}
		for _, p := range s.Ports {
			if name != "envoy" && !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %q is published on every interface; mocks' control APIs stay on 127.0.0.1", name, p)
			}
		}
	}

	envoy, ok := c.Services["envoy"]
	if !ok {
		t.Fatal("no envoy service")
	}
	if envoy.Build == nil || filepath.Join(dockerDir, envoy.Build.Context) != root || envoy.Build.Dockerfile != "docker/Dockerfile" {
		t.Errorf("envoy must build from the repo root with docker/Dockerfile: %+v", envoy.Build)
	}
	if !slices.Contains(envoy.Ports, "10000:10000") {
		t.Errorf("envoy ports %v lack 10000:10000", envoy.Ports)
	}
	if !slices.Contains(envoy.Volumes, keysVolume) {
		t.Errorf("envoy volumes %v lack %s (envoy.yaml's key files)", envoy.Volumes, keysVolume)
	}

	// Every endpoint of envoy.yaml is a mock service that really is that backend: same name
	// (x-mock-backend), schema, key file, API version, and it serves the model aigw sends.
	cfg := mainConfig(t, root)
	b, err := LoadFile(filepath.Join(root, "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	used, checked := map[string]bool{}, map[string]bool{}
	for _, cl := range b.GetStaticResources().GetClusters() {
		for _, loc := range cl.GetLoadAssignment().GetEndpoints() {
			for _, ep := range loc.GetLbEndpoints() {
				sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
				backend := ep.GetMetadata().GetFilterMetadata()[cfg.EndpointMetadataNamespace].GetFields()[cfg.EndpointMetadataKey].GetStringValue()
				svc, ok := c.Services[sa.GetAddress()]
				if !ok {
					t.Errorf("cluster %s: endpoint %s is not a compose service", cl.GetName(), sa.GetAddress())
					continue
				}
				used[sa.GetAddress()] = true
				if _, ok := envoy.DependsOn[sa.GetAddress()]; !ok {
					t.Errorf("envoy does not depend on %s", sa.GetAddress())
				}
				if key := sa.GetAddress() + "|" + backend; !checked[key] {
					checked[key] = true
					checkMock(t, sa.GetAddress(), svc, int(sa.GetPortValue()), backend, cfg, keysVolume)
				}
			}
		}
	}
	for name := range c.Services {
		if name != "envoy" && !used[name] {
			t.Errorf("service %s is not an endpoint of envoy.yaml", name)
		}
	}
}

func checkMock(t *testing.T, name string, s composeService, port int, backend string, cfg *config.Config, keysVolume string) {
	env := map[string]string{}
	for k, v := range s.Environment {
		env[k] = envDefault(v)
	}
	be, ok := cfg.Backend(backend)
	if !ok {
		t.Errorf("%s: endpoint backend %q not configured", name, backend)
		return
	}
	if s.Build == nil || s.Build.Dockerfile != "docker/Dockerfile.mockprovider" {
		t.Errorf("%s: not built from docker/Dockerfile.mockprovider", name)
	}
	if s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test, []string{"CMD", "/mockprovider", "-healthcheck"}) {
		t.Errorf("%s: healthcheck must run /mockprovider -healthcheck", name)
	}
	listen := env["MOCK_LISTEN"]
	if listen == "" {
		listen = ":8080" // cmd/mockprovider's default
	}
	if !strings.HasSuffix(listen, ":"+strconv.Itoa(port)) {
		t.Errorf("%s: listens on %s but envoy.yaml sends to port %d", name, listen, port)
	}
	if env["MOCK_NAME"] != backend {
		t.Errorf("%s: MOCK_NAME %q, want backend name %q", name, env["MOCK_NAME"], backend)
	}
	if env["MOCK_SCHEMA"] != be.Schema {
		t.Errorf("%s: MOCK_SCHEMA %q, backend schema %q", name, env["MOCK_SCHEMA"], be.Schema)
	}
	// The mock must expect the very key aigw injects: the same file, mounted the same way.
	wantKey := strings.Replace(be.Auth.KeyFile, filepath.Join(repoRoot(t), keysDir), keysMount, 1)
	if env["MOCK_KEY_FILE"] != wantKey {
		t.Errorf("%s: MOCK_KEY_FILE %q, backend key_file %q", name, env["MOCK_KEY_FILE"], wantKey)
	}
	if !slices.Contains(s.Volumes, keysVolume) {
		t.Errorf("%s: volumes %v lack %s", name, s.Volumes, keysVolume)
	}
	if v := env["MOCK_API_VERSION"]; v != "" && v != be.APIVersion {
		t.Errorf("%s: MOCK_API_VERSION %q, backend api_version %q", name, v, be.APIVersion)
	}
	if st := env["MOCK_FAIL_STATUS"]; st != "" && st != "0" {
		t.Errorf("%s: fails by default (MOCK_FAIL_STATUS=%s); failures are opt-in", name, st)
	}
	served := strings.Split(env["MOCK_MODELS"], ",")
	for _, m := range be.Models {
		if up := be.ModelOverride.Apply(m); !slices.Contains(served, up) {
			t.Errorf("%s: aigw sends model %q (for %q) but the mock serves %v", name, up, m, served)
		}
	}
}

// dockerfileLines returns the instructions of a Dockerfile with continuations joined.
func dockerfileLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func argDefault(lines []string, name string) string {
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "ARG "+name+"="); ok {
			return v
		}
	}
	return ""
}

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	lines := dockerfileLines(t, filepath.Join(root, "docker", "Dockerfile"))
	joined := strings.Join(lines, "\n")

	if got := argDefault(lines, "ENVOY_IMAGE"); got != "envoyproxy/envoy-contrib:v1.36.2" {
		t.Errorf("ENVOY_IMAGE = %q; the Go filter needs the contrib image of v1.36.2", got)
	}
	var froms []string
	for _, l := range lines {
		if strings.HasPrefix(l, "FROM ") {
			froms = append(froms, l)
		}
	}
	if len(froms) == 0 || froms[len(froms)-1] != "FROM ${ENVOY_IMAGE}" {
		t.Errorf("final stage %v is not FROM ${ENVOY_IMAGE}", froms)
	}
	// The dynamic module path and the Go filter's library_path must be the same file.
	var searchPath string
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "ENV ENVOY_DYNAMIC_MODULES_SEARCH_PATH="); ok {
			searchPath = v
		}
	}
	if got := filepath.Join(searchPath, "lib"+dynamicModule+".so"); got != libraryPath {
		t.Errorf("dynamic module file %s != golang library_path %s: two files load two Go runtimes", got, libraryPath)
	}
	if !strings.Contains(joined, "COPY --from=build /out/libaigw.so "+libraryPath) {
		t.Errorf("Dockerfile does not install the library at %s", libraryPath)
	}
	copies := 0
	for _, l := range lines {
		if (strings.HasPrefix(l, "COPY") || strings.HasPrefix(l, "ADD")) && strings.Contains(l, ".so") {
			copies++
		}
	}
	if copies != 1 {
		t.Errorf("%d COPY/ADD of a .so; the library must be installed exactly once", copies)
	}
	for _, want := range []string{"-buildmode=c-shared", "CGO_ENABLED=1", "COPY envoy.yaml /etc/envoy/envoy.yaml", "EXPOSE 10000"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}

	// The .so is built on the exact base image of Envoy v1.36.2's images, so it cannot need a
	// newer glibc than Envoy's: read that base from the Envoy source.
	envoyDockerfile, err := envoysrc.Path("distribution", "docker", "Dockerfile-envoy")
	if err != nil {
		t.Fatal(err)
	}
	envoyDF := dockerfileLines(t, envoyDockerfile)
	want := argDefault(envoyDF, "BUILD_OS") + ":" + argDefault(envoyDF, "BUILD_TAG") + "@sha256:" + argDefault(envoyDF, "BUILD_SHA")
	if got := argDefault(lines, "BUILD_BASE"); got != want {
		t.Errorf("BUILD_BASE = %q; Envoy v1.36.2 images are built on %q", got, want)
	}
	if !strings.Contains(joined, "FROM ${BUILD_BASE} AS build") {
		t.Error("the build stage must be FROM ${BUILD_BASE}")
	}

	mock := strings.Join(dockerfileLines(t, filepath.Join(root, "docker", "Dockerfile.mockprovider")), "\n")
	for _, want := range []string{"./test/mockprovider/cmd/mockprovider", "CGO_ENABLED=0", `ENTRYPOINT ["/mockprovider"]`, "EXPOSE 8080"} {
		if !strings.Contains(mock, want) {
			t.Errorf("Dockerfile.mockprovider lacks %q", want)
		}
	}
}

func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimSuffix(strings.TrimPrefix(l, "**/"), "/"))
		}
	}
	ignored := func(p string) bool {
		for _, pat := range patterns {
			for q := p; q != "."; q = filepath.Dir(q) {
				if ok, _ := filepath.Match(pat, q); ok {
					return true
				}
				if ok, _ := filepath.Match(pat, filepath.Base(q)); ok && !strings.Contains(pat, "/") {
					return true
				}
			}
		}
		return false
	}
	tests := []struct {
		path    string
		ignored bool
	}{
		{"go.mod", false},
		{"go.sum", false},
		{"envoy.yaml", false},
		{"plugin.go", false},
		{"test/mockprovider/cmd/mockprovider/main.go", false},
		{"docker/keys/deploy-a", true}, // keys are mounted, never baked into an image
		{".git/HEAD", true},
		{"build/libaigw.so", true},
	}
	for _, tc := range tests {
		if got := ignored(tc.path); got != tc.ignored {
			t.Errorf("%s: ignored = %v, want %v", tc.path, got, tc.ignored)
		}
	}
}
