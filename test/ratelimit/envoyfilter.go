package ratelimit

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aigw/aigw/test/envoyconfig"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	commonrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Filter plays one Envoy's envoy.filters.http.ratelimit whose descriptors
// come from the filter's own `rate_limits` (the only place, with the
// per-route RateLimitPerRoute.rate_limits, where Envoy 1.36 reads
// `hits_addend`: the route-level RateLimit policies of
// source/common/router/router_ratelimit.cc ignore it). Paths below are in
// the Envoy v1.36.2 module.
//
//   - Request headers (ratelimit.cc:51-67, 134-144): the descriptors of the
//     rate_limits WITHOUT apply_on_stream_done (ratelimit.cc:316-320,
//     ratelimit_config.cc:196) are sent if any; OVER_LIMIT answers 429
//     before the request reaches the router (so no provider is called).
//   - Stream destroyed (ratelimit.cc:190-211, onDestroy): the descriptors
//     of the rate_limits WITH apply_on_stream_done are sent, computed then
//     (so from the dynamic metadata as it is at the end of the stream); the
//     answer is ignored.
//   - Each request: domain, request-level hits_addend = the filter state
//     envoy.ratelimit.hits_addend or 0 (ratelimit.cc:124-133,
//     ratelimit_impl.cc:47-52); each descriptor its entries and, when its
//     rate_limit has hits_addend, the descriptor's hits_addend
//     (ratelimit_impl.cc:68-70): a fixed number, or a format such as
//     %DYNAMIC_METADATA(ns:key)% whose value must be a number or a numeric
//     string in [0, 1e9] — otherwise the WHOLE descriptor is dropped
//     (ratelimit_config.cc:143-171). That is why aigw writes a number for
//     every request, 0 when it knows none: an absent cost would skip the
//     charge silently.
//   - The service (envoyproxy/ratelimit src/utils/utilities.go:75-90) uses a
//     descriptor's hits_addend when set, 0 included (check only), else
//     max(1, request hits_addend): so the request-time check must set
//     hits_addend {number: 0} or it charges 1 "token" per request.
//
// Actions implemented as router_ratelimit.cc does: request_headers
// (:102-117), metadata/dynamic_metadata with source DYNAMIC (:177-207),
// generic_key. Others are an error, not a guess.
type Filter struct {
	Config *rlfilterv3.RateLimit
	Client rlsv3.RateLimitServiceClient
}

// Stream is what the filter reads from one request.
type Stream struct {
	Headers map[string]string // lower-case names
	// DynamicMetadata is the stream's dynamic metadata by namespace.
	DynamicMetadata map[string]*structpb.Struct
}

// Build is the RateLimitRequest Envoy would send, nil when it sends none.
func (f *Filter) Build(st *Stream, onStreamDone bool) (*rlsv3.RateLimitRequest, error) {
	req := &rlsv3.RateLimitRequest{Domain: f.Config.GetDomain(), HitsAddend: 0}
	for i, rl := range f.Config.GetRateLimits() {
		if rl.GetApplyOnStreamDone() != onStreamDone {
			continue
		}
		if rl.GetStage() != nil || rl.GetDisableKey() != "" || rl.GetLimit() != nil {
			return nil, fmt.Errorf("rate_limits[%d]: stage, disable_key and limit are refused by ratelimit_config.cc:45-56", i)
		}
		d, ok, err := descriptor(rl, st)
		if err != nil {
			return nil, fmt.Errorf("rate_limits[%d]: %w", i, err)
		}
		if ok {
			req.Descriptors = append(req.Descriptors, d)
		}
	}
	if len(req.Descriptors) == 0 {
		return nil, nil
	}
	return req, nil
}

// DecodeHeaders is the request-time call: it returns 429 when the service
// says OVER_LIMIT, 0 when the request goes on.
func (f *Filter) DecodeHeaders(ctx context.Context, st *Stream) (int, *rlsv3.RateLimitResponse, error) {
	req, err := f.Build(st, false)
	if err != nil || req == nil {
		return 0, nil, err
	}
	resp, err := f.Client.ShouldRateLimit(ctx, req)
	if err != nil {
		return 0, nil, err // failure_mode_deny false: the request goes on
	}
	if resp.GetOverallCode() == rlsv3.RateLimitResponse_OVER_LIMIT {
		return 429, resp, nil
	}
	return 0, resp, nil
}

// OnDestroy is the stream-done call (the answer is ignored by Envoy).
func (f *Filter) OnDestroy(ctx context.Context, st *Stream) (*rlsv3.RateLimitRequest, error) {
	req, err := f.Build(st, true)
	if err != nil || req == nil {
		return req, err
	}
	_, err = f.Client.ShouldRateLimit(ctx, req)
	return req, err
}

func descriptor(rl *routev3.RateLimit, st *Stream) (*commonrlv3.RateLimitDescriptor, bool, error) {
	d := &commonrlv3.RateLimitDescriptor{}
	for _, a := range rl.GetActions() {
		var key, value string
		switch x := a.GetActionSpecifier().(type) {
		case *routev3.RateLimit_Action_RequestHeaders_:
			v, ok := st.Headers[strings.ToLower(x.RequestHeaders.GetHeaderName())]
			if !ok || v == "" {
				if x.RequestHeaders.GetSkipIfAbsent() {
					continue
				}
				return nil, false, nil
			}
			key, value = x.RequestHeaders.GetDescriptorKey(), v
		case *routev3.RateLimit_Action_GenericKey_:
			key = x.GenericKey.GetDescriptorKey()
			if key == "" {
				key = "generic_key"
			}
			value = x.GenericKey.GetDescriptorValue()
		case *routev3.RateLimit_Action_Metadata:
			if x.Metadata.GetSource() != routev3.RateLimit_Action_MetaData_DYNAMIC {
				return nil, false, fmt.Errorf("metadata source %s not modelled", x.Metadata.GetSource())
			}
			var path []string
			for _, seg := range x.Metadata.GetMetadataKey().GetPath() {
				path = append(path, seg.GetKey())
			}
			v := metadataValue(st, x.Metadata.GetMetadataKey().GetKey(), path)
			s := v.GetStringValue()
			switch {
			case s != "":
			case x.Metadata.GetDefaultValue() != "":
				s = x.Metadata.GetDefaultValue()
			case x.Metadata.GetSkipIfAbsent():
				continue
			default:
				return nil, false, nil
			}
			key, value = x.Metadata.GetDescriptorKey(), s
		default:
			return nil, false, fmt.Errorf("action %T not modelled", x)
		}
		if key != "" {
			d.Entries = append(d.Entries, &commonrlv3.RateLimitDescriptor_Entry{Key: key, Value: value})
		}
	}
	ha := rl.GetHitsAddend()
	switch {
	case ha == nil:
	case ha.GetFormat() != "" && ha.GetNumber() != nil:
		return nil, false, fmt.Errorf("hits_addend must contain either a format or a number")
	case ha.GetFormat() != "":
		v, err := formatValue(ha.GetFormat(), st)
		if err != nil {
			return nil, false, err
		}
		var n float64
		switch k := v.GetKind().(type) {
		case *structpb.Value_NumberValue:
			n = k.NumberValue
		case *structpb.Value_StringValue:
			if n, err = strconv.ParseFloat(k.StringValue, 64); err != nil {
				return nil, false, nil // "Invalid hits_addend": descriptor dropped
			}
		default:
			return nil, false, nil
		}
		if n < 0 || n > 1e9 {
			return nil, false, nil
		}
		d.HitsAddend = wrapperspb.UInt64(uint64(n))
	case ha.GetNumber() != nil:
		d.HitsAddend = wrapperspb.UInt64(ha.GetNumber().GetValue())
	default:
		return nil, false, fmt.Errorf("hits_addend must contain either a format or a number")
	}
	return d, true, nil
}

var dynMetaFormat = regexp.MustCompile(`^%DYNAMIC_METADATA\(([^:)]+)((?::[^:)]+)+)\)%$`)

// formatValue evaluates the one substitution hits_addend allows; only
// %DYNAMIC_METADATA(ns:key[:key...])% is modelled (a missing value is
// null, as Envoy's formatter gives).
func formatValue(format string, st *Stream) (*structpb.Value, error) {
	m := dynMetaFormat.FindStringSubmatch(format)
	if m == nil {
		return nil, fmt.Errorf("hits_addend format %q not modelled (only %%DYNAMIC_METADATA(ns:key)%%)", format)
	}
	return metadataValue(st, m[1], strings.Split(strings.TrimPrefix(m[2], ":"), ":")), nil
}

// metadataValue is Envoy's Config::Metadata::metadataValue: the value at
// path in namespace ns, null when any step is missing.
func metadataValue(st *Stream, ns string, path []string) *structpb.Value {
	s := st.DynamicMetadata[ns]
	if s == nil || len(path) == 0 {
		return structpb.NewNullValue()
	}
	v := structpb.NewStructValue(s)
	for _, p := range path {
		f := v.GetStructValue().GetFields()[p]
		if f == nil {
			return structpb.NewNullValue()
		}
		v = f
	}
	return v
}

// LoadFilterConfig decodes a typed_config YAML of the rate limit filter
// (filter.yaml) the way Envoy loads YAML, strictly, and validates it.
func LoadFilterConfig(yamlText []byte) (*rlfilterv3.RateLimit, error) {
	js, err := envoyconfig.YAMLToJSON(yamlText)
	if err != nil {
		return nil, err
	}
	var c rlfilterv3.RateLimit
	if err := (protojson.UnmarshalOptions{}).Unmarshal(js, &c); err != nil {
		return nil, err
	}
	if err := envoyconfig.Validate(&c); err != nil {
		return nil, err
	}
	return &c, nil
}
