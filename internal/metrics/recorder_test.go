package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAttemptTTFTAndTPOT(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name              string
		a                 Attempt
		wantTTFT, wantTPO time.Duration
	}{
		{"stream", Attempt{Start: t0, FirstToken: t0.Add(200 * time.Millisecond), End: t0.Add(1200 * time.Millisecond), Usage: Usage{Output: 11}}, 200 * time.Millisecond, 100 * time.Millisecond},
		{"one output token: no TPOT", Attempt{Start: t0, FirstToken: t0.Add(time.Second), End: t0.Add(2 * time.Second), Usage: Usage{Output: 1}}, time.Second, 0},
		{"no first token", Attempt{Start: t0, End: t0.Add(time.Second), Usage: Usage{Output: 5}}, 0, 0},
		{"first token before start (clock mix-up)", Attempt{Start: t0, FirstToken: t0.Add(-time.Second), End: t0.Add(time.Second), Usage: Usage{Output: 5}}, 0, 500 * time.Millisecond},
		{"end before first token", Attempt{Start: t0, FirstToken: t0.Add(time.Second), End: t0, Usage: Usage{Output: 5}}, time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.TTFT(); got != tc.wantTTFT {
				t.Errorf("TTFT = %v, want %v", got, tc.wantTTFT)
			}
			if got := tc.a.TPOT(); got != tc.wantTPO {
				t.Errorf("TPOT = %v, want %v", got, tc.wantTPO)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	var s valueSets
	for i := range 3 {
		if got := s.admit("a", fmt.Sprint(i), 3); got != fmt.Sprint(i) {
			t.Fatalf("value %d under the cap: got %q", i, got)
		}
	}
	for _, tc := range []struct{ attr, in, want string }{
		{"a", "1", "1"},                                // admitted before
		{"a", "new", OverflowValue},                    // cap reached
		{"b", "new", "new"},                            // caps are per attribute
		{"b", "", ""},                                  // empty stays empty (attribute omitted)
		{"b", "Bearer abc", RedactedValue},             // credential-looking
		{"b", "sk-proj-123", RedactedValue},            // OpenAI key
		{"b", "eyJhbGciOiJIUzI1NiJ9.x", RedactedValue}, // JWT
		{"b", strings.Repeat("x", MaxValueLen+1), OverflowValue},
		{"b", strings.Repeat("x", MaxValueLen), strings.Repeat("x", MaxValueLen)},
	} {
		if got := s.admit(tc.attr, tc.in, 3); got != tc.want {
			t.Errorf("admit(%q, %.20q) = %.20q, want %.20q", tc.attr, tc.in, got, tc.want)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want string // "" = valid
	}{
		{"ok", Spec{Headers: []HeaderAttribute{{"x-api-key-id", "api_key_id"}}, BackendAttributes: map[string]map[string]string{"b": {"aim_service_id": "s"}}}, ""},
		{"dotted", Spec{Headers: []HeaderAttribute{{"x-team", "team.name"}}}, ""},
		{"reserved gen_ai", Spec{Headers: []HeaderAttribute{{"x-m", "gen_ai.request.model"}}}, "reserved"},
		{"reserved error.type", Spec{BackendAttributes: map[string]map[string]string{"b": {"error.type": "x"}}}, "reserved"},
		{"reserved aigw", Spec{Headers: []HeaderAttribute{{"x-b", "aigw.backend.name"}}}, "reserved"},
		{"bad char", Spec{Headers: []HeaderAttribute{{"x-a", "api-key-id"}}}, "only letters"},
		{"leading digit", Spec{Headers: []HeaderAttribute{{"x-a", "1a"}}}, "only letters"},
		{"twice", Spec{Headers: []HeaderAttribute{{"x-a", "a"}, {"x-b", "a"}}}, "used twice"},
		{"static shadows header", Spec{Headers: []HeaderAttribute{{"x-a", "a"}}, BackendAttributes: map[string]map[string]string{"b": {"a": "1"}}}, "also a header"},
		{"too many", Spec{Headers: make([]HeaderAttribute, MaxHeaderAttributes+1)}, "at most"},
		{"negative cap", Spec{MaxValuesPerAttribute: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOTLPProtocol(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		want    string
		wantErr bool
	}{
		{map[string]string{}, "", false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "http/protobuf", false},
		{map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:4318/v1/metrics"}, "http/protobuf", false},
		{map[string]string{"OTEL_METRICS_EXPORTER": "otlp"}, "http/protobuf", false},
		{map[string]string{"OTEL_METRICS_EXPORTER": "prometheus, otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc", false},
		{map[string]string{"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"}, "http/protobuf", false},
		{map[string]string{"OTEL_METRICS_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, "", false},
		{map[string]string{"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, "", false},
		{map[string]string{"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "", true},
	} {
		got, err := otlpProtocol(func(k string) string { return tc.env[k] })
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%v: got %q, %v; want %q (error %v)", tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}

// A steady-state Record allocates nothing (the budget is 2 per request).
func TestRecordDoesNotAllocate(t *testing.T) {
	p := testProcess(t)
	r := p.newRecorder(Spec{ListenAddress: ListenOff, Headers: []HeaderAttribute{{"x-api-key-id", "api_key_id"}}})
	defer r.Close()
	a := streamed("k")
	r.Record(&a)
	if n := testing.AllocsPerRun(100, func() { r.Record(&a) }); n > 0 {
		t.Fatalf("Record allocates %v times per call", n)
	}
	// An overflowed value takes the slow path but still allocates nothing
	// once its folded tuple exists.
	r.maxVals = 1
	a.Headers[0] = "other-key"
	r.Record(&a)
	if n := testing.AllocsPerRun(100, func() { r.Record(&a) }); n > 0 {
		t.Fatalf("Record of an overflowed value allocates %v times per call", n)
	}
}

func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.Record(&Attempt{})
	r.Close()
	if r.Headers() != nil {
		t.Fatal("nil recorder has headers")
	}
}

// Record finds a repeated tuple through the last entry it used, and a tuple
// that differs from it in any part through the cache: alternating tuples
// are each counted under their own entry.
func TestRecordAlternatingTuples(t *testing.T) {
	p := testProcess(t)
	r := p.newRecorder(Spec{ListenAddress: ListenOff, Headers: []HeaderAttribute{{"x-api-key-id", "api_key_id"}}})
	defer r.Close()
	base := streamed("k")
	variants := []Attempt{base, base, base, base, base, base}
	variants[1].RequestModel = "gpt-4o-mini"
	variants[2].ResponseModel = "other"
	variants[3].ErrorType = "429"
	variants[4].Headers[0] = "k2"
	variants[5].Backend = "fallback"
	order := []int{0, 1, 0, 0, 2, 3, 0, 4, 5, 5, 0}
	want := map[int]int64{}
	for _, i := range order {
		a := variants[i]
		r.Record(&a)
		want[i]++
	}
	for i, n := range want {
		a := variants[i]
		k := key{op: a.Operation, provider: a.Provider, reqModel: a.RequestModel, respModel: a.ResponseModel,
			backend: a.Backend, errType: a.ErrorType, hdr: a.Headers}
		e := r.lookup(&k)
		if e == nil || e.k != k {
			t.Fatalf("variant %d: no entry under its own tuple", i)
		}
		if got := e.att.v[cAttempts].Load(); got != n {
			t.Errorf("variant %d: %d attempts counted, want %d", i, got, n)
		}
	}
}
