package envoyconfig

import (
	"bufio"
	"encoding/json"
	"fmt"
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
	"github.com/aigw/aigw/internal/upstream"
)

// composeFile mirrors the parts of docker/compose.yaml the demo relies on.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

// keysService copies docker/keys into the keys volume, readable by any container user.
const (
	keysService = "keys"
	keysVolume  = "keys:" + keysMount + ":ro"
)

type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	PullPolicy  string            `yaml:"pull_policy"`
	User        string            `yaml:"user"`
	NetworkMode string            `yaml:"network_mode"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
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
				if cl.GetName() == ratelimitCluster {
					checkRatelimitService(t, c, sa.GetAddress(), svc, int(sa.GetPortValue()))
					continue
				}
				if key := sa.GetAddress() + "|" + backend; !checked[key] {
					checked[key] = true
					checkMock(t, c, sa.GetAddress(), svc, int(sa.GetPortValue()), backend, cfg)
				}
			}
		}
	}
	for name := range c.Services {
		if name != "envoy" && name != keysService && name != redisService && !used[name] {
			t.Errorf("service %s is not an endpoint of envoy.yaml", name)
		}
	}
}

func checkMock(t *testing.T, c composeFile, name string, s composeService, port int, backend string, cfg *config.Config) {
	env := map[string]string{}
	for k, v := range s.Environment {
		env[k] = envDefault(v)
	}
	be, ok := cfg.Backend(backend)
	if !ok {
		t.Errorf("%s: endpoint backend %q not configured", name, backend)
		return
	}
	if b := imageBuilder(c, s.Image); b == nil || b.Build.Dockerfile != "docker/Dockerfile.mockprovider" {
		t.Errorf("%s: image %s is not built from docker/Dockerfile.mockprovider", name, s.Image)
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
	if orig, ok := gcpKeyOrigin(be.Auth.KeyFile); ok {
		wantKey = orig // the service-account key (the mock serves its token endpoint)
	}
	if env["MOCK_KEY_FILE"] != wantKey {
		t.Errorf("%s: MOCK_KEY_FILE %q, backend key_file %q", name, env["MOCK_KEY_FILE"], wantKey)
	}
	if !slices.Contains(s.Volumes, keysVolume) {
		t.Errorf("%s: volumes %v lack %s", name, s.Volumes, keysVolume)
	}
	checkCloudMock(t, c, name, env, port, be)
	if v := env["MOCK_API_VERSION"]; v != "" && v != be.APIVersion {
		t.Errorf("%s: MOCK_API_VERSION %q, backend api_version %q", name, v, be.APIVersion)
	}
	if st := env["MOCK_FAIL_STATUS"]; st != "" && st != "0" {
		t.Errorf("%s: fails by default (MOCK_FAIL_STATUS=%s); failures are opt-in", name, st)
	}
	served := strings.Split(env["MOCK_MODELS"], ",")
	// The model aigw sends is the upstream phase's resolution of the override.
	uc, err := upstream.NewConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ub, _ := uc.Backend(backend)
	for _, m := range be.Models {
		if up := ub.Target.ResolveModel(m); !slices.Contains(served, up) {
			t.Errorf("%s: aigw sends model %q (for %q) but the mock serves %v", name, up, m, served)
		}
	}
}

// checkCloudMock: a Bedrock mock accepts exactly the AWS keys Envoy signs with (its default
// chain reads them from its environment, and must not look for instance metadata), in the
// backend's signing region; a Vertex AI mock serves the backend's project and region and is
// the token endpoint its service-account key names.
func checkCloudMock(t *testing.T, c composeFile, name string, env map[string]string, port int, be *config.Backend) {
	switch be.Auth.Type {
	case config.AuthAWSSigV4:
		envoy := map[string]string{}
		for k, v := range c.Services["envoy"].Environment {
			envoy[k] = envDefault(v)
		}
		if envoy["AWS_ACCESS_KEY_ID"] == "" || envoy["AWS_ACCESS_KEY_ID"] != env["MOCK_AWS_ACCESS_KEY_ID"] || envoy["AWS_SECRET_ACCESS_KEY"] != env["MOCK_AWS_SECRET_ACCESS_KEY"] {
			t.Errorf("%s: envoy signs with AWS keys (its AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) the mock does not accept (MOCK_AWS_*)", name)
		}
		if envoy["AWS_EC2_METADATA_DISABLED"] != "true" {
			t.Errorf("envoy: AWS_EC2_METADATA_DISABLED is not true: the AWS SDK's chain would query instance metadata")
		}
		region := be.Auth.Region
		if region == "" {
			region = be.Region
		}
		if env["MOCK_REGION"] != region {
			t.Errorf("%s: MOCK_REGION %q, backend signing region %q", name, env["MOCK_REGION"], region)
		}
	case config.AuthGCPServiceAccount:
		if env["MOCK_PROJECT"] != be.Project || env["MOCK_REGION"] != be.Region {
			t.Errorf("%s: MOCK_PROJECT/MOCK_REGION %q/%q, backend project/region %q/%q", name, env["MOCK_PROJECT"], env["MOCK_REGION"], be.Project, be.Region)
		}
		rest, _ := strings.CutPrefix(env["MOCK_KEY_FILE"], keysMount+"/")
		raw, err := os.ReadFile(filepath.Join(repoRoot(t), keysDir, rest))
		var sa struct {
			TokenURI string `json:"token_uri"`
		}
		if err != nil || json.Unmarshal(raw, &sa) != nil {
			t.Errorf("%s: service-account key %s unreadable", name, env["MOCK_KEY_FILE"])
			return
		}
		if want := "http://" + name + ":" + strconv.Itoa(port) + "/token"; sa.TokenURI != want {
			t.Errorf("%s: the service-account key's token_uri is %q, want the mock's %q", name, sa.TokenURI, want)
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
	for _, want := range []string{"-buildmode=c-shared", "CGO_ENABLED=1", "COPY --chmod=0444 envoy.yaml /etc/envoy/envoy.yaml", "EXPOSE 10000"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}

	// Files copied from the build context keep their checked-out mode (0600 under umask
	// 077); Envoy runs as the unprivileged user "envoy" (the image's entrypoint,
	// distribution/docker/docker-entrypoint.sh), so each must be made readable to others.
	entrypoint, err := envoysrc.Path("distribution", "docker", "docker-entrypoint.sh")
	if err != nil {
		t.Fatal(err)
	}
	if ep, err := os.ReadFile(entrypoint); err != nil || !strings.Contains(string(ep), `exec su-exec envoy "${@}"`) {
		t.Errorf("Envoy's docker-entrypoint.sh no longer drops to user envoy (%v): re-check the file modes this test demands", err)
	}
	final := false
	for _, l := range lines {
		if strings.HasPrefix(l, "FROM ") {
			final = l == froms[len(froms)-1]
			continue
		}
		if strings.HasPrefix(l, "USER ") && final {
			t.Errorf("final stage sets %q; the entrypoint already runs Envoy as user envoy", l)
		}
		if !final || !(strings.HasPrefix(l, "COPY ") || strings.HasPrefix(l, "ADD ")) || strings.Contains(l, "--from=") {
			continue
		}
		m := regexp.MustCompile(`--chmod=(0?[0-7]{3})\b`).FindStringSubmatch(l)
		if m == nil {
			t.Errorf("%q: a file from the build context keeps its host mode; add --chmod readable by others", l)
		} else if mode, _ := strconv.ParseUint(m[1], 8, 32); mode&0o004 == 0 {
			t.Errorf("%q: mode %s is not readable by user envoy", l, m[1])
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

// imageBuilder returns the service that builds image (nil if none does).
func imageBuilder(c composeFile, image string) *composeService {
	for _, s := range c.Services {
		if s.Build != nil && s.Image == image {
			return &s
		}
	}
	return nil
}

// checkComposeImages: one build per image tag (several services building one tag race each
// other); a service reusing a locally built tag never pulls it and, unless the builder
// depends on it, starts after the builder.
func checkComposeImages(t tb, c composeFile) {
	builders := map[string][]string{}
	for name, s := range c.Services {
		if s.Build != nil {
			if s.Image == "" {
				t.Errorf("%s: builds without an image tag", name)
			}
			builders[s.Image] = append(builders[s.Image], name)
		}
	}
	for image, names := range builders {
		if len(names) > 1 {
			slices.Sort(names)
			t.Errorf("image %s is built by %d services %v: build it once and reuse the tag", image, len(names), names)
		}
	}
	for name, s := range c.Services {
		b, local := builders[s.Image]
		if s.Build != nil || !local {
			continue
		}
		if s.PullPolicy != "never" {
			t.Errorf("%s: reuses the locally built %s but pull_policy is %q, want never", name, s.Image, s.PullPolicy)
		}
		builder := b[0]
		if _, ok := s.DependsOn[builder]; !ok {
			if _, cycle := c.Services[builder].DependsOn[name]; !cycle {
				t.Errorf("%s: reuses %s but does not depend on %s, which builds it", name, s.Image, builder)
			}
		}
	}
}

// checkComposeKeys: the key files reach every container readable by its (non-root) user,
// whatever the host's umask: copied by the keys service with a world-readable mode into a
// volume the others mount read-only, after the copy completed.
func checkComposeKeys(t tb, c composeFile) {
	ks, ok := c.Services[keysService]
	if !ok {
		t.Errorf("no %s service", keysService)
		return
	}
	if _, ok := c.Volumes["keys"]; !ok {
		t.Errorf("no top-level volume keys")
	}
	if !slices.Contains(ks.Volumes, "./keys:/src:ro") || !slices.Contains(ks.Volumes, "keys:/keys") {
		t.Errorf("%s: volumes %v; want ./keys:/src:ro and keys:/keys", keysService, ks.Volumes)
	}
	if ks.User != "0:0" || ks.NetworkMode != "none" || !slices.Equal(ks.Entrypoint, []string{"/bin/sh", "-c"}) {
		t.Errorf("%s: user %q network_mode %q entrypoint %v; want 0:0, none and /bin/sh -c (the image's entrypoint drops root)", keysService, ks.User, ks.NetworkMode, ks.Entrypoint)
	}
	cmd := strings.Join(ks.Command, " ")
	m := regexp.MustCompile(`install -m (0[0-7]{3}) /src/\* /keys/`).FindStringSubmatch(cmd)
	if m == nil {
		t.Errorf("%s: command %q does not install /src/* into /keys/ with a mode", keysService, cmd)
	} else if mode, _ := strconv.ParseUint(m[1], 8, 32); mode&0o004 == 0 || mode&0o222 != 0 {
		t.Errorf("%s: key files get mode %s: want readable by others (the containers' users) and read-only", keysService, m[1])
	}
	if !strings.Contains(cmd, "chmod 0555 /keys") {
		t.Errorf("%s: command %q leaves the volume's directory mode to chance", keysService, cmd)
	}
	for name, s := range c.Services {
		if name == keysService {
			continue
		}
		for _, v := range s.Volumes {
			if strings.HasPrefix(v, "./keys:") {
				t.Errorf("%s: bind-mounts %s: the host's file modes would apply; mount %s", name, v, keysVolume)
			}
		}
		if slices.Contains(s.Volumes, keysVolume) && s.DependsOn[keysService].Condition != "service_completed_successfully" {
			t.Errorf("%s: mounts the keys volume without depends_on %s: service_completed_successfully", name, keysService)
		}
	}
}

// checkComposeAdmin: the admin port is reachable from the host, on its loopback only, as
// docs/running.md says, and every port the demo publishes is documented there.
func checkComposeAdmin(t *testing.T, root string, c composeFile) {
	b, err := LoadFile(filepath.Join(root, composeEnvoyConfig))
	if err != nil {
		t.Fatal(err)
	}
	admin := b.GetAdmin().GetAddress().GetSocketAddress()
	if admin.GetAddress() != "0.0.0.0" {
		t.Errorf("%s: admin on %s: compose's port mapping reaches only an address on the container's interface (0.0.0.0)", composeEnvoyConfig, admin.GetAddress())
	}
	mapping := fmt.Sprintf("127.0.0.1:%d:%d", admin.GetPortValue(), admin.GetPortValue())
	if !slices.Contains(c.Services["envoy"].Ports, mapping) {
		t.Errorf("envoy ports %v lack %s (admin, host loopback only)", c.Services["envoy"].Ports, mapping)
	}
	raw, err := os.ReadFile(filepath.Join(root, "docs", "running.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for name, s := range c.Services {
		for _, p := range s.Ports {
			hostPart := p[:strings.LastIndexByte(p, ':')]
			want := hostPart
			if !strings.Contains(hostPart, ":") {
				want = "localhost:" + hostPart
			}
			if !strings.Contains(doc, want) {
				t.Errorf("%s: published port %s: docs/running.md never mentions %s", name, p, want)
			}
		}
	}
	if !strings.Contains(doc, fmt.Sprintf("127.0.0.1:%d/ready", admin.GetPortValue())) {
		t.Errorf("docs/running.md does not show the admin port from the host (127.0.0.1:%d/ready)", admin.GetPortValue())
	}
}

func TestComposeImagesKeysAdmin(t *testing.T) {
	root := repoRoot(t)
	c := loadCompose(t, root)
	checkComposeImages(t, c)
	checkComposeKeys(t, c)
	checkComposeAdmin(t, root, c)

	// The checks catch the faults they are for.
	broken := []struct {
		name   string
		mutate func(c *composeFile)
		want   string
	}{
		{"two services build one tag", func(c *composeFile) {
			s := c.Services["mock-deploy-b"]
			s.Build = c.Services["mock-deploy-a"].Build
			c.Services["mock-deploy-b"] = s
		}, "is built by 2 services"},
		{"reused tag may be pulled", func(c *composeFile) {
			s := c.Services["mock-azure-east"]
			s.PullPolicy = ""
			c.Services["mock-azure-east"] = s
		}, "pull_policy is \"\""},
		{"reused tag before its build", func(c *composeFile) {
			s := c.Services["mock-azure-east"]
			s.DependsOn = map[string]struct {
				Condition string `yaml:"condition"`
			}{keysService: {"service_completed_successfully"}}
			c.Services["mock-azure-east"] = s
		}, "does not depend on mock-deploy-a"},
		{"key files keep the host's modes", func(c *composeFile) {
			s := c.Services["envoy"]
			s.Volumes = []string{"./keys:" + keysMount + ":ro"}
			c.Services["envoy"] = s
		}, "the host's file modes would apply"},
		{"key files unreadable by others", func(c *composeFile) {
			s := c.Services[keysService]
			s.Command = []string{"install -m 0440 /src/* /keys/ && chmod 0555 /keys"}
			c.Services[keysService] = s
		}, "key files get mode 0440"},
		{"keys read before the copy", func(c *composeFile) {
			s := c.Services["mock-deploy-b"]
			s.DependsOn = map[string]struct {
				Condition string `yaml:"condition"`
			}{"mock-deploy-a": {"service_started"}}
			c.Services["mock-deploy-b"] = s
		}, "without depends_on keys"},
	}
	for _, tc := range broken {
		t.Run(tc.name, func(t *testing.T) {
			c := loadCompose(t, root)
			tc.mutate(&c)
			r := &recorder{T: t}
			checkComposeImages(r, c)
			checkComposeKeys(r, c)
			for _, e := range r.errs {
				if strings.Contains(e, tc.want) {
					return
				}
			}
			t.Fatalf("no reported error contains %q; got %q", tc.want, r.errs)
		})
	}
}
