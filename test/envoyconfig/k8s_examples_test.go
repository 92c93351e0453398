package envoyconfig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	dynmodv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// The Envoy configuration inside the generated Envoy Gateway and Istio manifests
// (deploy/k8stest checks the manifests against their CRDs): every patch value decodes
// strictly into the Envoy proto its target takes and passes ValidateAll, the bootstrap merge
// is a valid bootstrap whose clusters carry the aigw upstream filter, and every aigw document
// in them is deploy/production/aigw.json.
func TestKubernetesExamplesEnvoyConfig(t *testing.T) {
	root := repoRoot(t)
	want, err := os.ReadFile(filepath.Join(root, "deploy/production/aigw.json"))
	if err != nil {
		t.Fatal(err)
	}
	docs, upstream := 0, 0
	checkDoc := func(where string, m proto.Message) {
		err := Walk(m, func(path string, v proto.Message) error {
			switch f := v.(type) {
			case *golangv3alpha.Config:
				docs++
				if js := configJSON(t, where+" "+path, f.GetPluginConfig()); !sameJSON(js, want) {
					t.Errorf("%s %s: the aigw document is not deploy/production/aigw.json", where, path)
				}
			case *dynmodv3.DynamicModuleFilter:
				upstream++
				if !sameJSON(dynamicModuleBytes(t, f.GetFilterConfig()), want) {
					t.Errorf("%s %s: the upstream aigw document is not deploy/production/aigw.json", where, path)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
	decode := func(where string, v any, m proto.Message) {
		t.Helper()
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := protojson.Unmarshal(js, m); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if err := Validate(m); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		checkDoc(where, m)
	}

	for _, o := range manifests(t, filepath.Join(root, "deploy/envoy-gateway/aigw.yaml")) {
		spec := o["spec"].(map[string]any)
		switch o["kind"] {
		case "EnvoyProxy":
			bs := spec["bootstrap"].(map[string]any)["value"].(string)
			js, err := YAMLToJSON([]byte(bs))
			if err != nil {
				t.Fatal(err)
			}
			b, err := Decode(js)
			if err != nil {
				t.Fatalf("EnvoyProxy bootstrap: %v", err)
			}
			if err := Validate(b); err != nil {
				t.Fatalf("EnvoyProxy bootstrap: %v", err)
			}
			checkDoc("EnvoyProxy bootstrap", b)
		case "EnvoyPatchPolicy":
			for i, p := range spec["jsonPatches"].([]any) {
				p := p.(map[string]any)
				op := p["operation"].(map[string]any)
				where := "EnvoyPatchPolicy patch " + op["path"].(string)
				switch {
				case strings.HasSuffix(op["path"].(string), "/http_filters/0"):
					decode(where, op["value"], &hcmv3.HttpFilter{})
				case strings.HasSuffix(op["path"].(string), "/routes/0"):
					var r routev3.Route
					decode(where, op["value"], &r)
					// Prepended to the gateway's own routes: a JSON 404 for unrouted requests
					// would shadow every HTTPRoute of the gateway behind it.
					if r.GetDirectResponse() != nil {
						t.Errorf("%s: route %s is a direct response, prepended before the gateway's own routes", where, r.GetName())
					}
				default:
					t.Errorf("patch %d: unexpected path %v", i, op["path"])
				}
			}
		default:
			t.Errorf("unexpected kind %v", o["kind"])
		}
	}
	for _, o := range manifests(t, filepath.Join(root, "deploy/istio/envoyfilter.yaml")) {
		for i, p := range o["spec"].(map[string]any)["configPatches"].([]any) {
			p := p.(map[string]any)
			v := p["patch"].(map[string]any)["value"]
			where := "EnvoyFilter patch " + p["applyTo"].(string)
			switch p["applyTo"] {
			case "HTTP_FILTER":
				decode(where, v, &hcmv3.HttpFilter{})
			case "CLUSTER":
				decode(where, v, &clusterv3.Cluster{})
			case "VIRTUAL_HOST":
				decode(where, v, &routev3.VirtualHost{})
			default:
				t.Errorf("patch %d: unexpected applyTo %v", i, p["applyTo"])
			}
		}
	}
	// Per example: one cluster per backend (openai, bedrock, vertex, anthropic, azure) and the
	// failover cluster of gpt-4o.
	if docs != 2 || upstream != 12 {
		t.Errorf("%d golang filters and %d clusters with the upstream filter; want 2 (one per example) and 12 (6 each)", docs, upstream)
	}
}

func manifests(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("%s: %v", path, err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
}
