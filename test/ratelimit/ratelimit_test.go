package ratelimit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/cost"
	"github.com/aigw/aigw/test/envoyconfig"
	apikeyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/api_key_auth/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

func loadFilter(t *testing.T) *Filter {
	t.Helper()
	raw, err := os.ReadFile("filter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadFilterConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &Filter{Config: c}
}

// gateway is what one aigw instance leaves on a stream: the identity
// header and the dynamic metadata (model from the router phase, one number
// per configured cost from the usage, as config.Quota.CostValues gives).
func gateway(t *testing.T, q *config.Quota, client, model string, u *cost.Usage) *Stream {
	t.Helper()
	fields := map[string]any{"model": model}
	if u != nil {
		q.CostValues(*u, func(k string, v uint64, err error) {
			if err != nil {
				t.Fatal(err)
			}
			fields[k] = float64(v) // a google.protobuf.Value number, as SetDynamicMetadata stores it
		})
	}
	md, err := structpb.NewStruct(fields)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	if client != "" {
		h["x-api-key-id"] = client
	}
	return &Stream{Headers: h, DynamicMetadata: map[string]*structpb.Struct{config.DynamicMetadataNamespace: md}}
}

func quotaConfig(t *testing.T) *config.Quota {
	t.Helper()
	c, err := config.Parse([]byte(`{"backends":[{"name":"a","models":["gpt"]}],"quota":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	return c.Quota
}

// The requests Envoy's filter builds, without a service: which descriptors
// go when, and what an absent, zero or odd cost does.
func TestFilterBuildsEnvoysRequests(t *testing.T) {
	f := loadFilter(t)
	q := quotaConfig(t)
	js := func(r *rlsv3.RateLimitRequest) string {
		if r == nil {
			return "none"
		}
		b, _ := protojson.MarshalOptions{}.Marshal(r)
		return strings.ReplaceAll(string(b), " ", "")
	}
	const (
		check = `{"domain":"aigw","descriptors":[{"entries":[{"key":"client_id","value":"alice"}],"hitsAddend":"0"},{"entries":[{"key":"model","value":"gpt"}],"hitsAddend":"0"}]}`
		done  = `{"domain":"aigw","descriptors":[{"entries":[{"key":"client_id","value":"alice"}],"hitsAddend":"%d"},{"entries":[{"key":"model","value":"gpt"}],"hitsAddend":"%d"}]}`
	)
	withCost := func(v *structpb.Value) *Stream {
		st := gateway(t, q, "alice", "gpt", nil)
		if v != nil {
			st.DynamicMetadata[config.DynamicMetadataNamespace].Fields["total_tokens"] = v
		}
		return st
	}
	for _, tc := range []struct {
		name  string
		st    *Stream
		check string
		done  string
	}{
		{"usage", gateway(t, q, "alice", "gpt", &cost.Usage{Input: 30, Output: 12}), check, strings.ReplaceAll(done, "%d", "42")},
		{"no usage known: 0, still sent", gateway(t, q, "alice", "gpt", &cost.Usage{}), check, strings.ReplaceAll(done, "%d", "0")},
		{"cost absent: Envoy drops the descriptors", withCost(nil), check, "none"},
		{"cost null", withCost(structpb.NewNullValue()), check, "none"},
		{"numeric string", withCost(structpb.NewStringValue("17")), check, strings.ReplaceAll(done, "%d", "17")},
		{"negative", withCost(structpb.NewNumberValue(-1)), check, "none"},
		{"over 1e9", withCost(structpb.NewNumberValue(1e9 + 1)), check, "none"},
		{"no identity: no client descriptor at all", func() *Stream { s := gateway(t, q, "", "gpt", &cost.Usage{Total: 5}); return s }(),
			`{"domain":"aigw","descriptors":[{"entries":[{"key":"model","value":"gpt"}],"hitsAddend":"0"}]}`,
			`{"domain":"aigw","descriptors":[{"entries":[{"key":"model","value":"gpt"}],"hitsAddend":"5"}]}`},
	} {
		c, err := f.Build(tc.st, false)
		if err != nil {
			t.Fatal(err)
		}
		d, err := f.Build(tc.st, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := js(c); got != tc.check {
			t.Errorf("%s: request-time\n got %s\nwant %s", tc.name, got, tc.check)
		}
		if got := js(d); got != tc.done {
			t.Errorf("%s: stream done\n got %s\nwant %s", tc.name, got, tc.done)
		}
	}
}

func startStack(t *testing.T, limits []Limit) *Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	s, err := Start(ctx, Config{Domain: "aigw", Limits: limits, Log: func(l string) {
		if !strings.Contains(l, "gostats.loggingsink") {
			t.Log(l)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("redis-server + rate limit service ready in %v", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(s.Stop)
	return s
}

// A client is cut off after its token quota although its requests go
// through two independent gateways (two clients of the service, as two
// Envoys), and another client is unaffected.
func TestTokenQuotaAcrossTwoGateways(t *testing.T) {
	// The service's windows are aligned on the unit (hour): do not straddle one.
	if left := time.Hour - time.Duration(time.Now().UnixNano())%time.Hour; left < 15*time.Second {
		time.Sleep(left + time.Second)
	}
	s := startStack(t, []Limit{{Key: "client_id", Tokens: 1000, Unit: "hour"}, {Key: "model", Tokens: 1_000_000, Unit: "hour"}})
	q := quotaConfig(t)
	var gws [2]*Filter
	for i := range gws {
		cl, closeFn, err := s.Dial()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeFn() })
		gws[i] = loadFilter(t)
		gws[i].Client = cl
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// one request: request-time check, then (when allowed) the provider's
	// usage becomes the cost aigw writes and Envoy charges at stream done.
	do := func(gw *Filter, client string, u cost.Usage) int {
		st := gateway(t, q, client, "gpt", nil)
		status, _, err := gw.DecodeHeaders(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if status == 429 {
			return 429 // no provider called, nothing written, nothing charged
		}
		st = gateway(t, q, client, "gpt", &u)
		if _, err := gw.OnDestroy(ctx, st); err != nil {
			t.Fatal(err)
		}
		return 200
	}
	u := cost.Usage{Input: 200, Output: 100} // total 300 tokens
	var got []int
	for i := range 6 {
		got = append(got, do(gws[i%2], "alice", u))
	}
	// 0 → 300 → 600 → 900 → (900 ≤ 1000 passes the check) 1200 → over.
	want := []int{200, 200, 200, 200, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("alice's requests: %v, want %v", got, want)
		}
	}
	for i := range 3 {
		if st := do(gws[i%2], "bob", u); st != 200 {
			t.Fatalf("bob's request %d: %d, want 200 (alice's quota is not his)", i, st)
		}
	}
	// The check itself charges nothing (hits_addend 0): many checks by bob
	// leave his 900 tokens used, so one more 100-token request still fits.
	for range 20 {
		if st, _, _ := gws[0].DecodeHeaders(ctx, gateway(t, q, "bob", "gpt", nil)); st != 0 {
			t.Fatal("a check was charged")
		}
	}
	if st := do(gws[1], "bob", cost.Usage{Total: 100}); st != 200 {
		t.Fatal("bob cut off early")
	}
	if st := do(gws[0], "bob", cost.Usage{Total: 1}); st != 200 {
		t.Fatal("bob at exactly 1000 must still pass the check")
	}
	if st := do(gws[1], "bob", cost.Usage{Total: 1}); st != 429 {
		t.Fatal("bob over 1000 must be refused")
	}
}

func TestStartFailsNamingTheInstallScript(t *testing.T) {
	t.Setenv("AIGW_RATELIMIT_BIN", "/nonexistent/service_cmd")
	_, err := Start(context.Background(), Config{Domain: "aigw"})
	if err == nil || !strings.Contains(err.Error(), "test/ratelimit/install.sh") {
		t.Fatalf("%v", err)
	}
}

// A service that exits before it is ready (as one does whose port another
// process took between freePorts and its bind) fails Start at once, not
// after the 20 s readiness wait, with its last output; Start tries three
// times, on new ports each time, and leaves no process or file behind.
func TestStartReportsAServiceThatExits(t *testing.T) {
	dir := t.TempDir()
	tries := filepath.Join(dir, "tries")
	svc := filepath.Join(dir, "service_cmd")
	script := "#!/bin/sh\necho $GRPC_PORT >> " + tries + "\necho 'bind: address already in use' >&2\nexit 3\n"
	if err := os.WriteFile(svc, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AIGW_RATELIMIT_BIN", svc)
	start := time.Now()
	s, err := Start(context.Background(), Config{Domain: "aigw"})
	if s != nil || !errors.Is(err, errExited) || !strings.Contains(err.Error(), "bind: address already in use") ||
		!strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Start: %v, %v", s, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Start took %v to see the service exit", d)
	}
	raw, err := os.ReadFile(tries)
	if err != nil {
		t.Fatal(err)
	}
	ports := strings.Fields(string(raw))
	if len(ports) != 3 || ports[0] == ports[1] && ports[1] == ports[2] {
		t.Fatalf("the service ran on gRPC ports %v, want three tries on new ports", ports)
	}
}

// The api_key_auth snippet the shipped configs use decodes strictly.
func TestAPIKeyAuthSnippet(t *testing.T) {
	raw, err := os.ReadFile("api_key_auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := envoyconfig.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	var c apikeyv3.ApiKeyAuth
	if err := protojson.Unmarshal(js, &c); err != nil {
		t.Fatal(err)
	}
	if err := envoyconfig.Validate(&c); err != nil {
		t.Fatal(err)
	}
	if c.GetForwarding().GetHeader() != config.DefaultIdentityHeader || !c.GetForwarding().GetHideCredentials() {
		t.Fatalf("forwarding %v", c.GetForwarding())
	}
}
