package config

import (
	"bytes"
	"errors"
	"fmt"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Type URLs accepted for the Go HTTP filter's plugin_config.
const (
	typeURLTypedStruct     = "type.googleapis.com/xds.type.v3.TypedStruct"
	typeURLUDPATypedStruct = "type.googleapis.com/udpa.type.v1.TypedStruct"
	typeURLStruct          = "type.googleapis.com/google.protobuf.Struct"
	typeURLStringValue     = "type.googleapis.com/google.protobuf.StringValue"
)

// FromAny parses the Go HTTP filter's plugin_config: an xds.type.v3
// TypedStruct, a google.protobuf.Struct, or a google.protobuf.StringValue
// holding the JSON document.
func FromAny(a *anypb.Any) (*Config, error) {
	if a == nil {
		return nil, errors.New("aigw config: plugin_config is missing")
	}
	switch a.GetTypeUrl() {
	case typeURLTypedStruct, typeURLUDPATypedStruct:
		// udpa.type.v1.TypedStruct has the same wire shape (type_url=1, value=2).
		var ts xdstype.TypedStruct
		if err := proto.Unmarshal(a.GetValue(), &ts); err != nil {
			return nil, fmt.Errorf("aigw config: decoding TypedStruct: %w", err)
		}
		return fromStruct(ts.GetValue())
	case typeURLStruct:
		var s structpb.Struct
		if err := proto.Unmarshal(a.GetValue(), &s); err != nil {
			return nil, fmt.Errorf("aigw config: decoding Struct: %w", err)
		}
		return fromStruct(&s)
	case typeURLStringValue:
		var s wrapperspb.StringValue
		if err := proto.Unmarshal(a.GetValue(), &s); err != nil {
			return nil, fmt.Errorf("aigw config: decoding StringValue: %w", err)
		}
		return Parse([]byte(s.GetValue()))
	default:
		return nil, fmt.Errorf("aigw config: plugin_config type %q is not supported (use xds.type.v3.TypedStruct, google.protobuf.Struct or google.protobuf.StringValue)", a.GetTypeUrl())
	}
}

// FromDynamicModuleConfig parses the dynamic module's filter_config bytes.
// Envoy 1.36.2 unwraps a StringValue/BytesValue to its bytes (our JSON) and
// passes any other type as the raw serialized Any.value, so a
// google.protobuf.Struct arrives as protobuf bytes
// (source/extensions/filters/http/dynamic_modules/factory.cc).
func FromDynamicModuleConfig(b []byte) (*Config, error) {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '{' {
		return Parse(t)
	}
	if len(t) == 0 {
		return nil, errors.New("aigw config: filter_config is empty")
	}
	var s structpb.Struct
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("aigw config: filter_config is neither JSON nor a google.protobuf.Struct: %w", err)
	}
	return fromStruct(&s)
}

func fromStruct(s *structpb.Struct) (*Config, error) {
	if s == nil {
		return Parse([]byte("{}"))
	}
	j, err := protojson.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("aigw config: %w", err)
	}
	return Parse(j)
}
