// Package k8stest validates aigw's Kubernetes manifests: the Helm chart rendered by Helm's
// own engine, and the generated Envoy Gateway and Istio examples. Built-in kinds are decoded
// strictly with client-go's scheme (unknown fields and wrong types fail); custom resources
// are validated against the openAPIV3Schema of their CRDs, vendored under testdata/crds from
// the projects that publish them, with unknown fields rejected as kubectl
// --validate=strict does. It is its own module so its dependency tree (Helm, client-go)
// does not slow the main module's build; make test runs it.
package k8stest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

const root = "../.."

// object is one rendered manifest.
type object struct {
	source string
	kind   string
	raw    map[string]any
	typed  runtime.Object // built-in kinds only
}

var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// crdSchemas maps apiVersion/kind to the compiled schema of the CRD's served version.
func crdSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	files, err := filepath.Glob("testdata/crds/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs under testdata/crds: %v", err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd struct {
			Spec struct {
				Group    string                `json:"group"`
				Names    struct{ Kind string } `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			c := jsonschema.NewCompiler()
			c.DefaultDraft(jsonschema.Draft4)
			s := strictSchema(v.Schema.OpenAPIV3Schema)
			url := "file:///" + crd.Spec.Group + "/" + v.Name + "/" + crd.Spec.Names.Kind + ".json"
			if err := c.AddResource(url, toJSONValue(t, s)); err != nil {
				t.Fatalf("%s %s: %v", f, v.Name, err)
			}
			sch, err := c.Compile(url)
			if err != nil {
				t.Fatalf("%s %s: %v", f, v.Name, err)
			}
			out[crd.Spec.Group+"/"+v.Name+"/"+crd.Spec.Names.Kind] = sch
		}
	}
	return out
}

// strictSchema rejects fields a schema does not define, as the API server does with
// fieldValidation=Strict: every object schema with properties and neither
// additionalProperties nor x-kubernetes-preserve-unknown-fields gets
// additionalProperties: false. The root (apiVersion, kind, metadata) and metadata are the
// API server's, not the CRD's.
func strictSchema(s map[string]any) map[string]any {
	var walk func(m map[string]any, path string)
	walk = func(m map[string]any, path string) {
		props, hasProps := m["properties"].(map[string]any)
		_, hasAdditional := m["additionalProperties"]
		preserve, _ := m["x-kubernetes-preserve-unknown-fields"].(bool)
		if hasProps && !hasAdditional && !preserve && path != "" && path != ".metadata" {
			m["additionalProperties"] = false
		}
		for k, v := range props {
			if sub, ok := v.(map[string]any); ok {
				walk(sub, path+"."+k)
			}
		}
		for _, k := range []string{"items", "additionalProperties"} {
			if sub, ok := m[k].(map[string]any); ok {
				walk(sub, path+"[]")
			}
		}
		for _, k := range []string{"allOf", "anyOf", "oneOf"} {
			if list, ok := m[k].([]any); ok {
				for _, v := range list {
					if sub, ok := v.(map[string]any); ok {
						walk(sub, path)
					}
				}
			}
		}
	}
	walk(s, "")
	return s
}

func toJSONValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// splitDocs parses a multi-document YAML file into objects (empty documents skipped).
func splitDocs(t *testing.T, source, text string) []object {
	t.Helper()
	var out []object
	for i, doc := range strings.Split("\n"+text, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var raw map[string]any
		if err := yaml.UnmarshalStrict([]byte(doc), &raw); err != nil {
			t.Fatalf("%s document %d: %v", source, i, err)
		}
		o := object{source: source, raw: raw}
		o.kind, _ = raw["kind"].(string)
		out = append(out, o)
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// validate checks every object: built-in kinds by strict decoding, the others against
// their CRD. An object of a kind neither knows fails.
func validate(t *testing.T, schemas map[string]*jsonschema.Schema, objs []object) []object {
	t.Helper()
	for i := range objs {
		o := &objs[i]
		js, err := json.Marshal(o.raw)
		if err != nil {
			t.Fatal(err)
		}
		apiVersion, _ := o.raw["apiVersion"].(string)
		if sch, ok := schemas[apiVersion+"/"+o.kind]; ok {
			if err := sch.Validate(toJSONValue(t, o.raw)); err != nil {
				t.Errorf("%s: %s: %v", o.source, o.kind, err)
			}
			continue
		}
		typed, _, err := strictDecoder.Decode(js, nil, nil)
		if err != nil {
			t.Errorf("%s: %s %s: %v", o.source, apiVersion, o.kind, err)
			continue
		}
		o.typed = typed
	}
	return objs
}

func renderChart(t *testing.T, values map[string]any) []object {
	t.Helper()
	ch, err := loader.Load(filepath.Join(root, "deploy/helm/aigw"))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := util.ToRenderValues(ch, values, common.ReleaseOptions{Name: "gw", Namespace: "ai", IsInstall: true}, common.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []object
	for _, n := range names {
		if strings.HasSuffix(n, ".tpl") || strings.HasSuffix(n, "NOTES.txt") {
			continue
		}
		objs = append(objs, splitDocs(t, n, files[n])...)
	}
	return objs
}

func byKind(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func TestHelmChart(t *testing.T) {
	schemas := crdSchemas(t)
	tests := []struct {
		name   string
		values map[string]any
		kinds  []string
	}{
		{"defaults", nil, []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "PodMonitor", "Service"}},
		{"keys in the chart, aigw metrics port", map[string]any{
			"keys":    map[string]any{"values": map[string]any{"openai": "sk-test", "anthropic": "ak-test"}},
			"metrics": map[string]any{"aigwPort": true},
		}, []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "PodMonitor", "Secret", "Service"}},
		{"IRSA service account, extra environment", map[string]any{
			"serviceAccount": map[string]any{"create": true, "annotations": map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/aigw-bedrock"}},
			"env":            []any{map[string]any{"name": "AWS_REGION", "value": "us-east-1"}},
		}, []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "PodMonitor", "Service", "ServiceAccount"}},
		{"existing service account", map[string]any{"serviceAccount": map[string]any{"name": "aigw-workload"}},
			[]string{"ConfigMap", "Deployment", "PodDisruptionBudget", "PodMonitor", "Service"}},
		{"no PodMonitor, no PDB", map[string]any{
			"podMonitor": map[string]any{"enabled": false}, "podDisruptionBudget": map[string]any{"enabled": false},
			"keys": map[string]any{"existingSecret": "provider-keys"},
		}, []string{"ConfigMap", "Deployment", "Service"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := validate(t, schemas, renderChart(t, tt.values))
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.kind)
			}
			sort.Strings(kinds)
			if !slices.Equal(kinds, tt.kinds) {
				t.Fatalf("rendered %v, want %v", kinds, tt.kinds)
			}
			checkChart(t, objs, tt.values)
		})
	}
}

// checkChart: what a schema cannot see. The pod serves what the probes, the Service and the
// PodMonitor name; the ConfigMap carries the generated bootstrap; keys are a Secret volume
// (no subPath, so kubelet updates the files on rotation); preStop drains through the admin
// API within the grace period.
func checkChart(t *testing.T, objs []object, values map[string]any) {
	t.Helper()
	dep := byKind(objs, "Deployment")[0].typed.(*appsv1.Deployment)
	pod := dep.Spec.Template
	// The pod runs as the service account the chart creates (IRSA / workload identity
	// annotations reach the pod only through it) or names; none named: the default.
	sa, _ := values["serviceAccount"].(map[string]any)
	wantSA, _ := sa["name"].(string)
	if sas := byKind(objs, "ServiceAccount"); len(sas) == 1 {
		acct := sas[0].typed.(*corev1.ServiceAccount)
		wantSA = acct.Name
		for k, v := range sa["annotations"].(map[string]any) {
			if acct.Annotations[k] != v {
				t.Errorf("service account annotation %s = %q, want %v", k, acct.Annotations[k], v)
			}
		}
	}
	if pod.Spec.ServiceAccountName != wantSA {
		t.Errorf("pod serviceAccountName %q, want %q", pod.Spec.ServiceAccountName, wantSA)
	}
	if env, _ := values["env"].([]any); len(env) != len(pod.Spec.Containers[0].Env) {
		t.Errorf("container env %v, want the values' %v", pod.Spec.Containers[0].Env, env)
	}
	for k, v := range dep.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template", k, v)
		}
	}
	c := pod.Spec.Containers[0]
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/ready" || !ports[probe.HTTPGet.Port.StrVal] {
			t.Errorf("probe %+v: want GET /ready on a named container port", probe)
		}
	}
	svc := byKind(objs, "Service")[0].typed.(*corev1.Service)
	for _, p := range svc.Spec.Ports {
		if !ports[p.TargetPort.StrVal] {
			t.Errorf("service port %s targets %q, not a container port", p.Name, p.TargetPort.StrVal)
		}
	}
	for _, pm := range byKind(objs, "PodMonitor") {
		eps, _ := pm.raw["spec"].(map[string]any)["podMetricsEndpoints"].([]any)
		for _, e := range eps {
			if p := e.(map[string]any)["port"].(string); !ports[p] {
				t.Errorf("PodMonitor scrapes port %q, not a container port", p)
			}
		}
	}
	// The bootstrap is the generated one, mounted where the command reads it.
	cm := byKind(objs, "ConfigMap")[0].typed.(*corev1.ConfigMap)
	want, err := os.ReadFile(filepath.Join(root, "deploy/helm/aigw/files/envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(cm.Data["envoy.yaml"]) != strings.TrimSpace(string(want)) {
		t.Errorf("ConfigMap envoy.yaml is not files/envoy.yaml")
	}
	checkBootstrapMatchesPod(t, cm.Data["envoy.yaml"], c)
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	if !slices.Contains(c.Args, "/etc/envoy/envoy.yaml") || mounts["envoy-config"].MountPath != "/etc/envoy" {
		t.Errorf("envoy reads %v, config mounted at %q", c.Args, mounts["envoy-config"].MountPath)
	}
	var keys *corev1.Volume
	for i, v := range pod.Spec.Volumes {
		if v.Name == "keys" {
			keys = &pod.Spec.Volumes[i]
		}
	}
	if keys == nil || keys.Secret == nil || mounts["keys"].SubPath != "" || mounts["keys"].MountPath != "/run/secrets/aigw" {
		t.Errorf("keys volume %+v mount %+v: want a whole Secret volume at /run/secrets/aigw", keys, mounts["keys"])
	}
	if secrets := byKind(objs, "Secret"); len(secrets) == 1 && secrets[0].typed.(*corev1.Secret).Name != keys.Secret.SecretName {
		t.Errorf("the chart's Secret is %s, the volume mounts %s", secrets[0].typed.(*corev1.Secret).Name, keys.Secret.SecretName)
	}
	if k, _ := values["keys"].(map[string]any); k != nil && k["existingSecret"] != nil && keys.Secret.SecretName != k["existingSecret"] {
		t.Errorf("volume mounts %s, want the existing Secret %v", keys.Secret.SecretName, k["existingSecret"])
	}
	// Drain on shutdown.
	pre := c.Lifecycle.PreStop
	if pre == nil || pre.Exec == nil {
		t.Fatal("no preStop exec")
	}
	script := strings.Join(pre.Exec.Command, " ")
	for _, want := range []string{"/dev/tcp/127.0.0.1/9901", "/healthcheck/fail", "/drain_listeners?graceful", "sleep 60"} {
		if !strings.Contains(script, want) {
			t.Errorf("preStop %q lacks %q", script, want)
		}
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g <= 60 {
		t.Errorf("terminationGracePeriodSeconds %v must exceed the 60 s drain", g)
	}
}

// The generated Envoy Gateway and Istio examples are valid custom resources.
func TestGatewayExamples(t *testing.T) {
	schemas := crdSchemas(t)
	for _, tt := range []struct {
		file  string
		kinds []string
	}{
		{"deploy/envoy-gateway/aigw.yaml", []string{"EnvoyProxy", "EnvoyPatchPolicy"}},
		{"deploy/istio/envoyfilter.yaml", []string{"EnvoyFilter"}},
	} {
		raw, err := os.ReadFile(filepath.Join(root, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		objs := validate(t, schemas, splitDocs(t, tt.file, string(raw)))
		var kinds []string
		for _, o := range objs {
			kinds = append(kinds, o.kind)
			if o.typed != nil {
				t.Errorf("%s: %s was validated as a built-in kind, want its CRD", tt.file, o.kind)
			}
		}
		if !slices.Equal(kinds, tt.kinds) {
			t.Errorf("%s: kinds %v, want %v", tt.file, kinds, tt.kinds)
		}
	}
}

// The validators reject what they must: a typo in a built-in kind and in a custom resource.
func TestValidatorsRejectUnknownFields(t *testing.T) {
	schemas := crdSchemas(t)
	for _, doc := range []string{
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: []}\n",
		"apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: x}\nspec: {selector: {}, podMetricsEndpoints: [{prot: ops}]}\n",
		"apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: x}\nspec: {configPatches: [{applyTo: HTTP_FILTRE}]}\n",
		"apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyPatchPolicy\nmetadata: {name: x}\nspec: {type: JSONPatch, targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: eg}, jsonPatches: [{type: x, name: y, operation: {op: add, path: /a}, extra: 1}]}\n",
	} {
		errs := validateErrors(schemas, doc)
		if len(errs) == 0 {
			t.Errorf("accepted: %s", doc)
		}
	}
}

// validateErrors is validate returning errors instead of failing the test.
func validateErrors(schemas map[string]*jsonschema.Schema, doc string) []error {
	var raw map[string]any
	if err := yaml.Unmarshal([]byte(doc), &raw); err != nil {
		return []error{err}
	}
	apiVersion, _ := raw["apiVersion"].(string)
	kind, _ := raw["kind"].(string)
	if sch, ok := schemas[apiVersion+"/"+kind]; ok {
		b, _ := json.Marshal(raw)
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return []error{err}
		}
		if err := sch.Validate(v); err != nil {
			return []error{err}
		}
		return nil
	}
	js, _ := json.Marshal(raw)
	if _, _, err := strictDecoder.Decode(js, nil, nil); err != nil {
		return []error{err}
	}
	return nil
}

// checkBootstrapMatchesPod: the generated bootstrap and the chart agree. Its listeners are
// on the container ports the Service and probes use (the client listener on "http", the ops
// listener on "ops"), its admin API on loopback at the port preStop talks to, and every key
// file its aigw document reads lies in the keys volume.
func checkBootstrapMatchesPod(t *testing.T, bootstrap string, c corev1.Container) {
	t.Helper()
	var b struct {
		Admin struct {
			Address struct {
				SocketAddress struct {
					Address   string `json:"address"`
					PortValue int32  `json:"port_value"`
				} `json:"socket_address"`
			} `json:"address"`
		} `json:"admin"`
		StaticResources struct {
			Listeners []struct {
				Name    string `json:"name"`
				Address struct {
					SocketAddress struct {
						PortValue int32 `json:"port_value"`
					} `json:"socket_address"`
				} `json:"address"`
			} `json:"listeners"`
		} `json:"static_resources"`
	}
	if err := yaml.Unmarshal([]byte(bootstrap), &b); err != nil {
		t.Fatal(err)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	listeners := map[string]int32{}
	for _, l := range b.StaticResources.Listeners {
		listeners[l.Name] = l.Address.SocketAddress.PortValue
	}
	if listeners["aigw"] != ports["http"] || listeners["ops"] != ports["ops"] {
		t.Errorf("bootstrap listeners %v, container ports %v: aigw must be on http, ops on ops", listeners, ports)
	}
	admin := b.Admin.Address.SocketAddress
	if admin.Address != "127.0.0.1" || !strings.Contains(strings.Join(c.Lifecycle.PreStop.Exec.Command, " "), fmt.Sprintf("/dev/tcp/127.0.0.1/%d", admin.PortValue)) {
		t.Errorf("admin %s:%d: want loopback, at the port preStop uses", admin.Address, admin.PortValue)
	}
	// The aigw document: the one deploy/production/aigw.json the bootstrap was generated from.
	raw, err := os.ReadFile(filepath.Join(root, "deploy/production/aigw.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Backends []struct {
			Name string `json:"name"`
			Auth struct {
				KeyFile string `json:"key_file"`
			} `json:"auth"`
		} `json:"backends"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var mount string
	for _, m := range c.VolumeMounts {
		if m.Name == "keys" {
			mount = m.MountPath
		}
	}
	for _, be := range doc.Backends {
		if be.Auth.KeyFile != "" && filepath.Dir(be.Auth.KeyFile) != mount {
			t.Errorf("backend %s reads its key from %s, outside the keys volume %s", be.Name, be.Auth.KeyFile, mount)
		}
	}
}
