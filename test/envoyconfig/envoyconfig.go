// Package envoyconfig loads Envoy bootstrap YAML the way Envoy v1.36.2 does and decodes it
// into go-control-plane's v3 protos strictly, so the repo's Envoy configs are checked by
// `go test` although no Envoy binary is available here.
//
// Loading mirrors source/common/protobuf/yaml_utility.cc: yaml-cpp turns the YAML into a
// google.protobuf.Value (non-plain scalars are strings; plain scalars are bools, then int64,
// then strings; anchors and aliases are resolved; merge keys are NOT supported by yaml-cpp),
// which is printed as JSON and parsed into the Bootstrap with unknown fields rejected.
package envoyconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"go.yaml.in/yaml/v4"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"

	// Extension types that may appear inside google.protobuf.Any in the repo's configs. A
	// config using an extension not imported here fails with "not registered": add the
	// blank import of its go-control-plane package.
	_ "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/api_key_auth/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	_ "google.golang.org/protobuf/types/known/structpb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"
)

// YAMLToJSON converts one YAML document to JSON with yaml-cpp's scalar rules as applied by
// Envoy's parseYamlNode. Duplicate mapping keys are rejected (yaml-cpp would silently keep
// one of them, which always hides a mistake).
func YAMLToJSON(in []byte) ([]byte, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(in))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("yaml: more than one document (Envoy reads only the first)")
	}
	v, err := yamlValue(&doc)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func yamlValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: empty document", n.Line)
		}
		return yamlValue(n.Content[0])
	case yaml.AliasNode:
		return yamlValue(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := yamlValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.ScalarNode:
		return scalarValue(n), nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node kind %v", n.Line, n.Kind)
}

// scalarValue follows parseYamlNode: yaml-cpp tags every non-plain (quoted or block)
// scalar "!" and Envoy keeps those as strings; plain scalars are tried as null, bool
// (yaml-cpp's convert<bool>), int64 (small ones become numbers, big ones decimal strings,
// which protobuf's JSON parser accepts for 64-bit fields), and otherwise stay strings
// (floats too: protobuf parses "0.5" into double fields).
func scalarValue(n *yaml.Node) any {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value
	}
	s := n.Value
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil
	}
	if b, ok := yamlCppBool(s); ok {
		return b
	}
	if i, ok := yamlCppInt(s); ok {
		if i >= -1<<31 && i <= 1<<31-1 {
			return i
		}
		return strconv.FormatInt(i, 10)
	}
	return s
}

// yamlCppBool is yaml-cpp's convert<bool>::decode: y/yes/true/on and n/no/false/off in
// lower, UPPER or Capitalized case.
func yamlCppBool(s string) (bool, bool) {
	lower := strings.ToLower(s)
	if s != lower && s != strings.ToUpper(s) && s != strings.ToUpper(s[:1])+lower[1:] {
		return false, false
	}
	switch lower {
	case "y", "yes", "true", "on":
		return true, true
	case "n", "no", "false", "off":
		return false, true
	}
	return false, false
}

// yamlCppInt is yaml-cpp's integer conversion: decimal with optional sign, 0x hex, 0o octal.
func yamlCppInt(s string) (int64, bool) {
	body, neg := s, false
	if strings.HasPrefix(body, "-") || strings.HasPrefix(body, "+") {
		neg, body = body[0] == '-', body[1:]
	}
	base := 10
	switch {
	case strings.HasPrefix(body, "0x"):
		base, body = 16, body[2:]
	case strings.HasPrefix(body, "0o"):
		base, body = 8, body[2:]
	}
	if body == "" || strings.ContainsAny(body, "+-_ ") {
		return 0, false
	}
	u, err := strconv.ParseUint(body, base, 64)
	if err != nil || u > 1<<63 || (!neg && u == 1<<63) {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// Decode parses bootstrap JSON strictly: unknown fields and unregistered Any types fail.
func Decode(js []byte) (*bootstrapv3.Bootstrap, error) {
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// LoadFile reads, converts and decodes one bootstrap file.
func LoadFile(path string) (*bootstrapv3.Bootstrap, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	js, err := YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	b, err := Decode(js)
	if err != nil {
		return nil, fmt.Errorf("decoding into envoy.config.bootstrap.v3.Bootstrap: %w", err)
	}
	return b, nil
}

// IsBootstrapYAML reports whether a YAML document looks like an Envoy bootstrap (it has one
// of the Bootstrap's top-level resource fields), so discovery can tell it from compose files
// and other YAML.
func IsBootstrapYAML(raw []byte) bool {
	var top map[string]any
	if yaml.Unmarshal(raw, &top) != nil {
		return false
	}
	for _, k := range []string{"static_resources", "dynamic_resources", "admin", "staticResources", "dynamicResources"} {
		if _, ok := top[k]; ok {
			return true
		}
	}
	return false
}

// Visit is called for every message in the tree, including the contents of every Any
// (unpacked) and every xds.type.v3.TypedStruct whose type is registered. path is a
// human-readable field path; parent is the message holding the field (nil at the root).
type Visit func(path string, m proto.Message) error

// Walk visits root and every message below it. Any values are unpacked with the global
// registry and an unregistered type is an error; TypedStruct contents are decoded strictly
// into their type_url when that type is registered, and are left to the caller otherwise
// (the Go filter's plugin_config is aigw's own schema, not a proto).
func Walk(root proto.Message, visit Visit) error {
	return walk("", root.ProtoReflect(), visit)
}

func walk(path string, m protoreflect.Message, visit Visit) error {
	msg := m.Interface()
	if err := visit(path, msg); err != nil {
		return err
	}
	switch x := msg.(type) {
	case *anypb.Any:
		inner, err := x.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%s: Any %q: %w", path, x.GetTypeUrl(), err)
		}
		return walk(path+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">", inner.ProtoReflect(), visit)
	case *xdstypev3.TypedStruct:
		name := x.GetTypeUrl()
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
		if err != nil {
			break
		}
		js, err := protojson.Marshal(x.GetValue())
		if err != nil {
			return fmt.Errorf("%s: TypedStruct: %w", path, err)
		}
		inner := mt.New().Interface()
		if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, inner); err != nil {
			return fmt.Errorf("%s: TypedStruct %q: %w", path, x.GetTypeUrl(), err)
		}
		return walk(path+"<"+name+">", inner.ProtoReflect(), visit)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = walk(p+"["+strconv.Itoa(i)+"]", l.Get(i).Message(), visit)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			var keys []string
			vals := map[string]protoreflect.Message{}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				keys = append(keys, k.String())
				vals[k.String()] = mv.Message()
				return true
			})
			sort.Strings(keys)
			for _, k := range keys {
				if err = walk(p+"["+k+"]", vals[k], visit); err != nil {
					break
				}
			}
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			err = walk(p, v.Message(), visit)
		}
		return err == nil
	})
	return err
}

// Validate calls ValidateAll (protoc-gen-validate) on every message of the tree, including
// unpacked Any contents, which the parent's ValidateAll does not descend into.
func Validate(root proto.Message) error {
	var errs []string
	seen := map[string]bool{}
	err := Walk(root, func(path string, m proto.Message) error {
		v, ok := m.(interface{ ValidateAll() error })
		if !ok {
			return nil
		}
		if err := v.ValidateAll(); err != nil {
			if s := err.Error(); !seen[s] {
				seen[s] = true
				errs = append(errs, fmt.Sprintf("%s (%s): %v", path, m.ProtoReflect().Descriptor().FullName(), err))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// Deprecated lists every set field and enum value marked deprecated in the protos: Envoy
// warns about them and turns some into hard errors in later releases.
func Deprecated(root proto.Message) ([]string, error) {
	var out []string
	err := Walk(root, func(path string, m proto.Message) error {
		m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
				out = append(out, path+"."+string(fd.Name()))
			}
			if fd.Kind() == protoreflect.EnumKind && !fd.IsList() && !fd.IsMap() {
				if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
					if opts, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
						out = append(out, path+"."+string(fd.Name())+"="+string(ev.Name()))
					}
				}
			}
			return true
		})
		return nil
	})
	return out, err
}
