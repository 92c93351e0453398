package envoygen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
)

// Kubernetes manifests for clusters that already run an Envoy-based gateway. They carry
// the same generated objects as the bootstrap (the golang filter with the aigw document,
// the routes, the clusters with the upstream filter chain and endpoint metadata), placed
// where the platform takes them. Both need an Envoy built with the contrib golang filter
// and libaigw.so (the aigw image, docker/Dockerfile).

// EnvoyGatewayTarget names the Envoy Gateway objects the manifests attach to.
type EnvoyGatewayTarget struct {
	Namespace string // of the Gateway and the EnvoyProxy
	Gateway   string // Gateway name
	Listener  string // the Gateway's HTTP listener (section) name
	Image     string // the aigw image (envoy-contrib + libaigw.so)
	KeySecret string // Secret with the provider keys, mounted where the aigw document reads them
	KeyPath   string
}

// IstioTarget names the gateway workload an EnvoyFilter applies to.
type IstioTarget struct {
	Namespace string            // of the gateway workload
	Selector  map[string]string // its pod labels
	Port      uint32            // the gateway port whose route configuration gets the aigw host
	Domains   []string          // hosts the aigw virtual host answers
}

// EnvoyGateway renders an EnvoyProxy (custom image, key volume, and the aigw clusters
// merged into the bootstrap: Envoy Gateway cannot express per-endpoint backend metadata and
// priority failover between providers in an HTTPRoute) and an EnvoyPatchPolicy (the golang
// filter inserted first in the listener's HTTP filters, the aigw routes prepended to its
// route configuration). Envoy Gateway names both "<namespace>/<gateway>/<listener>"; an HTTP
// listener without hostnames has its HTTP connection manager in default_filter_chain.
func EnvoyGateway(in *Input, t EnvoyGatewayTarget) ([]byte, error) {
	g := &gen{in: in, c: in.Config, d: &in.Deployment}
	routes, clusters, err := g.routing()
	if err != nil {
		return nil, err
	}
	bs, err := Render(&bootstrapv3.Bootstrap{StaticResources: &bootstrapv3.Bootstrap_StaticResources{Clusters: clusters}}, "aigw clusters (cmd/aigw-envoygen)")
	if err != nil {
		return nil, err
	}
	proxy := obj("gateway.envoyproxy.io/v1alpha1", "EnvoyProxy", t.Namespace, "aigw", map[string]any{
		"bootstrap": map[string]any{"type": "Merge", "value": string(bs)},
		"provider": map[string]any{
			"type": "Kubernetes",
			"kubernetes": map[string]any{"envoyDeployment": map[string]any{
				"container": map[string]any{
					"image":        t.Image,
					"volumeMounts": []any{map[string]any{"name": "aigw-keys", "mountPath": t.KeyPath, "readOnly": true}},
				},
				"pod": map[string]any{
					"volumes": []any{map[string]any{"name": "aigw-keys", "secret": map[string]any{"secretName": t.KeySecret, "defaultMode": 0o440}}},
				},
			}},
		},
	})
	name := t.Namespace + "/" + t.Gateway + "/" + t.Listener
	golang, err := protoValue(g.golangFilter())
	if err != nil {
		return nil, err
	}
	patches := []any{map[string]any{
		"type": "type.googleapis.com/envoy.config.listener.v3.Listener",
		"name": name,
		"operation": map[string]any{
			"op": "add", "path": "/default_filter_chain/filters/0/typed_config/http_filters/0", "value": golang,
		},
	}}
	// Prepended in reverse, so the routes end up in the generator's order, before Envoy
	// Gateway's own; the JSON 404s for unrouted requests (direct responses) are the gateway's
	// business.
	for i := len(routes) - 1; i >= 0; i-- {
		if routes[i].GetDirectResponse() != nil {
			continue
		}
		v, err := protoValue(routes[i])
		if err != nil {
			return nil, err
		}
		patches = append(patches, map[string]any{
			"type":      "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
			"name":      name,
			"operation": map[string]any{"op": "add", "path": "/virtual_hosts/0/routes/0", "value": v},
		})
	}
	policy := obj("gateway.envoyproxy.io/v1alpha1", "EnvoyPatchPolicy", t.Namespace, "aigw", map[string]any{
		"targetRef":   map[string]any{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": t.Gateway},
		"type":        "JSONPatch",
		"jsonPatches": patches,
	})
	return renderObjects("Envoy Gateway: aigw on the Gateway "+t.Namespace+"/"+t.Gateway+". Set the Gateway's\n"+
		"GatewayClass parametersRef (or the Gateway's infrastructure.parametersRef) to the EnvoyProxy\n"+
		"below, and enable EnvoyPatchPolicy (extensionApis.enableEnvoyPatchPolicy) in the Envoy\n"+
		"Gateway config.", proxy, policy)
}

// Istio renders an EnvoyFilter for a gateway workload: the golang filter inserted before
// the router, the aigw clusters added whole (with their upstream filter chain, TLS and
// endpoint metadata: EnvoyFilter cannot patch EDS endpoints), and a virtual host with the
// aigw routes added to the route configuration of the gateway port.
func Istio(in *Input, t IstioTarget) ([]byte, error) {
	g := &gen{in: in, c: in.Config, d: &in.Deployment}
	routes, clusters, err := g.routing()
	if err != nil {
		return nil, err
	}
	hcmMatch := map[string]any{"context": "GATEWAY", "listener": map[string]any{
		"portNumber":  t.Port,
		"filterChain": map[string]any{"filter": map[string]any{"name": "envoy.filters.network.http_connection_manager", "subFilter": map[string]any{"name": "envoy.filters.http.router"}}},
	}}
	golang, err := protoValue(g.golangFilter())
	if err != nil {
		return nil, err
	}
	patches := []any{map[string]any{
		"applyTo": "HTTP_FILTER", "match": hcmMatch,
		"patch": map[string]any{"operation": "INSERT_BEFORE", "value": golang},
	}}
	for _, c := range clusters {
		v, err := protoValue(c)
		if err != nil {
			return nil, err
		}
		patches = append(patches, map[string]any{
			"applyTo": "CLUSTER", "match": map[string]any{"context": "GATEWAY"},
			"patch": map[string]any{"operation": "ADD", "value": v},
		})
	}
	var rs []any
	for _, r := range routes {
		v, err := protoValue(r)
		if err != nil {
			return nil, err
		}
		rs = append(rs, v)
	}
	domains := make([]any, len(t.Domains))
	for i, d := range t.Domains {
		domains[i] = d
	}
	vh := map[string]any{"name": "aigw", "domains": domains, "routes": rs}
	patches = append(patches, map[string]any{
		"applyTo": "VIRTUAL_HOST",
		"match":   map[string]any{"context": "GATEWAY", "routeConfiguration": map[string]any{"portNumber": t.Port}},
		"patch":   map[string]any{"operation": "ADD", "value": vh},
	})
	sel := map[string]any{}
	for k, v := range t.Selector {
		sel[k] = v
	}
	f := obj("networking.istio.io/v1alpha3", "EnvoyFilter", t.Namespace, "aigw", map[string]any{
		"workloadSelector": map[string]any{"labels": sel},
		"configPatches":    patches,
	})
	return renderObjects("Istio: aigw on the gateway workload "+t.Namespace+" "+fmt.Sprint(t.Selector)+".\n"+
		"The workload's Envoy must have the contrib golang filter and libaigw.so, which istio/proxyv2\n"+
		"does not ship (see docs/kubernetes.md).", f)
}

func obj(apiVersion, kind, namespace, name string, spec map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": namespace, "labels": map[string]any{"app.kubernetes.io/part-of": "aigw"}},
		"spec":       spec,
	}
}

// protoValue is m's protojson form (proto field names), to embed in a manifest.
func protoValue(m proto.Message) (json.RawMessage, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// renderObjects writes Kubernetes objects as one multi-document YAML file.
func renderObjects(header string, objs ...map[string]any) ([]byte, error) {
	var out bytes.Buffer
	for _, l := range strings.Split(header, "\n") {
		out.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
	out.WriteString("# GENERATED by cmd/aigw-envoygen: do not edit.\n")
	for _, o := range objs {
		js, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.UseNumber()
		n, err := jsonNode(dec)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		if err := encodeYAML(&out, n); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

// DefaultEnvoyGatewayTarget is the Gateway of Envoy Gateway's quickstart ("eg" in
// "default", listener "http") with the aigw image and keys under /run/secrets/aigw.
func DefaultEnvoyGatewayTarget() EnvoyGatewayTarget {
	return EnvoyGatewayTarget{Namespace: "default", Gateway: "eg", Listener: "http",
		Image: "registry.example.com/aigw-envoy:1.36.2", KeySecret: "aigw-keys", KeyPath: "/run/secrets/aigw"}
}

// DefaultIstioTarget is Istio's default ingress gateway, port 80, any host.
func DefaultIstioTarget() IstioTarget {
	return IstioTarget{Namespace: "istio-system", Selector: map[string]string{"istio": "ingressgateway"}, Port: 80, Domains: []string{"*"}}
}

// Output kinds of FileAs.
const (
	OutBootstrap    = "bootstrap"
	OutEnvoyGateway = "envoy-gateway"
	OutIstio        = "istio"
)

// FileAs renders the deployment file at path as one output kind, with the default targets.
func FileAs(path, kind string) ([]byte, error) {
	switch kind {
	case OutBootstrap, "":
		return File(path)
	case OutEnvoyGateway, OutIstio:
	default:
		return nil, fmt.Errorf("output kind %q is not %s, %s or %s", kind, OutBootstrap, OutEnvoyGateway, OutIstio)
	}
	in, err := Load(path)
	if err != nil {
		return nil, err
	}
	if kind == OutIstio {
		return Istio(in, DefaultIstioTarget())
	}
	return EnvoyGateway(in, DefaultEnvoyGatewayTarget())
}
