package extproc

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/aigw/aigw/bench"
	"github.com/aigw/aigw/config"
)

const (
	modelHeader   = config.DefaultModelHeader
	backendHeader = config.DefaultBackendHeader
)

// startServer serves a Server on network and returns a connected Client.
func startServer(t *testing.T, network string) *Client {
	t.Helper()
	// Not t.TempDir: its long path can exceed the 108-byte sun_path limit.
	dir, err := os.MkdirTemp("", "aigw-extproc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lis, target, err := Listen(network, dir)
	if err != nil {
		t.Fatal(err)
	}
	gs := NewGRPCServer(NewServer(bench.Config()))
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	cc, err := Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return NewClient(cc)
}

// setHeaders flattens a header mutation's set_headers. Envoy 1.36 reads only
// raw_value, so a header sent in value is reported as a mistake.
func setHeaders(m *extprocv3.HeaderMutation) map[string]string {
	out := map[string]string{}
	for _, h := range m.GetSetHeaders() {
		if h.GetHeader().GetValue() != "" {
			out[h.GetHeader().GetKey()] = "value field used: " + h.GetHeader().GetValue()
			continue
		}
		out[h.GetHeader().GetKey()] = string(h.GetHeader().GetRawValue())
	}
	return out
}

// decodeWithout decodes body and deletes one top-level member.
func decodeWithout(t *testing.T, body []byte, member string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode body: %v", err)
	}
	delete(m, member)
	return m
}

func jsonEqual(a, b map[string]any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func withHeader(hs []Header, key, value string) []Header {
	out := append([]Header(nil), hs...)
	for i := range out {
		if out[i].Key == key {
			out[i].Value = value
			return out
		}
	}
	return append(out, Header{key, value})
}

func TestServerRoutes(t *testing.T) {
	type want struct {
		status      int    // immediate response status; 0 means routed
		code        string // OpenAI error code, for errors that have one
		param       string // OpenAI error param
		set         string // routing header set...
		value       string // ...to this value
		remove      string // the other routing header, removed
		mutatesBody bool   // the backend member is cut from the body
	}
	cases := []struct {
		name    string
		headers []Header // nil: RequestHeaders(len(body))
		body    []byte
		want    want
	}{
		{
			name: "body backend wins over model",
			body: bench.ChatBody(1 << 10),
			want: want{set: backendHeader, value: bench.DefaultBackend, remove: modelHeader, mutatesBody: true},
		},
		{
			name: "large body with backend",
			body: bench.ChatBody(100 << 10),
			want: want{set: backendHeader, value: bench.DefaultBackend, remove: modelHeader, mutatesBody: true},
		},
		{
			name: "model only",
			body: bench.ChatBodyNoBackend(16 << 10),
			want: want{set: modelHeader, value: bench.DefaultModel, remove: backendHeader},
		},
		{
			name: "backend first, nested backend and model ignored",
			body: []byte(`{"backend":"azure-east","messages":[{"role":"user","content":"hi","model":"inner"}],"metadata":{"backend":"nested"},"model":"gpt-4o"}`),
			want: want{set: backendHeader, value: "azure-east", remove: modelHeader, mutatesBody: true},
		},
		{
			name: "backend last",
			body: []byte(`{"model":"gpt-4o","messages":[],"backend":"azure-east"}`),
			want: want{set: backendHeader, value: "azure-east", remove: modelHeader, mutatesBody: true},
		},
		{
			name:    "header backend wins over body backend, member still removed",
			headers: withHeader(RequestHeaders(1<<10), backendHeader, "anthropic"),
			body:    bench.ChatBody(1 << 10),
			want:    want{set: backendHeader, value: "anthropic", remove: modelHeader, mutatesBody: true},
		},
		{
			name: "escaped model value",
			body: []byte(`{"messages":[],"model":"gpt-4o\u002dmini"}`),
			want: want{set: modelHeader, value: "gpt-4o-mini", remove: backendHeader},
		},
		{
			name: "unknown backend",
			body: []byte(`{"model":"gpt-4o","backend":"nope"}`),
			want: want{status: 404, code: "backend_not_found", param: "backend"},
		},
		{
			name: "no model and no backend",
			body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`),
			want: want{status: 400, param: "model"},
		},
		{
			name: "duplicate model",
			body: []byte(`{"model":"a","model":"b"}`),
			want: want{status: 400, param: "model"},
		},
		{
			name: "not JSON",
			body: []byte(`model=gpt-4o`),
			want: want{status: 400},
		},
		{
			name: "truncated JSON",
			body: []byte(`{"model":"gpt-4o","messages":[`),
			want: want{status: 400},
		},
		{
			name:    "content-length over the limit",
			headers: withHeader(RequestHeaders(10), "content-length", strconv.Itoa(64<<20)),
			body:    []byte(`{"model":"gpt-4o"}`),
			want:    want{status: 413, code: "request_too_large"},
		},
	}

	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			client := startServer(t, network)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					headers := tc.headers
					if headers == nil {
						headers = RequestHeaders(len(tc.body))
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					original := append([]byte(nil), tc.body...)
					res, err := client.Do(ctx, headers, tc.body)
					if err != nil {
						t.Fatalf("Do: %v", err)
					}
					if res.Decided.IsZero() {
						t.Error("Decided not set")
					}
					if !bytes.Equal(original, tc.body) {
						t.Error("Do modified the caller's body")
					}

					if tc.want.status != 0 {
						checkImmediate(t, res, tc.want.status, tc.want.code, tc.want.param)
						return
					}
					if hr := res.Headers.GetRequestHeaders(); hr == nil || hr.GetResponse() != nil || res.Headers.GetModeOverride() != nil {
						t.Fatalf("headers response = %v, want an empty CONTINUE", res.Headers)
					}
					common := res.Body.GetRequestBody().GetResponse()
					if common == nil {
						t.Fatalf("body response = %v, want a body response", res.Body)
					}
					if !common.GetClearRouteCache() {
						t.Error("clear_route_cache = false")
					}
					set := setHeaders(common.GetHeaderMutation())
					if got := set[tc.want.set]; got != tc.want.value {
						t.Errorf("%s = %q, want %q", tc.want.set, got, tc.want.value)
					}
					if rm := common.GetHeaderMutation().GetRemoveHeaders(); len(rm) != 1 || rm[0] != tc.want.remove {
						t.Errorf("removed headers = %q, want [%q]", rm, tc.want.remove)
					}
					if _, ok := set[tc.want.remove]; ok {
						t.Errorf("both routing headers set: %v", set)
					}
					checkMetadata(t, res.Body, tc.want.set, tc.want.value)

					bm := common.GetBodyMutation()
					if !tc.want.mutatesBody {
						if bm != nil {
							t.Errorf("body mutation %v on a body without backend", bm)
						}
						if len(set) != 1 {
							t.Errorf("set headers = %v, want only %s", set, tc.want.set)
						}
						return
					}
					newBody := bm.GetBody()
					if newBody == nil {
						t.Fatalf("no body mutation, want backend removed")
					}
					if !json.Valid(newBody) {
						t.Fatalf("mutated body is not JSON: %.200s", newBody)
					}
					if got, want := decodeWithout(t, newBody, "none"), decodeWithout(t, tc.body, config.DefaultBackendField); !jsonEqual(got, want) {
						t.Errorf("mutated body differs from the original minus backend: %.300s", newBody)
					}
					if got, want := set["content-length"], strconv.Itoa(len(newBody)); got != want {
						t.Errorf("content-length = %q, want %q", got, want)
					}
					if len(set) != 2 {
						t.Errorf("set headers = %v, want %s and content-length", set, tc.want.set)
					}
				})
			}
		})
	}
}

func checkImmediate(t *testing.T, res Result, status int, code, param string) {
	t.Helper()
	ir := res.Body.GetImmediateResponse()
	if ir == nil {
		ir = res.Headers.GetImmediateResponse()
	}
	if ir == nil {
		t.Fatalf("responses %v / %v, want an immediate response", res.Headers, res.Body)
	}
	if got := int(ir.GetStatus().GetCode()); got != status {
		t.Errorf("status = %d, want %d", got, status)
	}
	if ct := setHeaders(ir.GetHeaders())["content-type"]; ct != "application/json" {
		t.Errorf("content-type = %q", ct)
	}
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(ir.GetBody(), &e); err != nil || e.Error.Message == "" || e.Error.Type != "invalid_request_error" {
		t.Fatalf("error body %s: %+v, %v", ir.GetBody(), e, err)
	}
	if got := deref(e.Error.Code); got != code {
		t.Errorf("code = %q, want %q", got, code)
	}
	if got := deref(e.Error.Param); got != param {
		t.Errorf("param = %q, want %q", got, param)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// checkMetadata checks the dynamic metadata the in-process filter would set:
// the model when the body has one, the backend when it routes on one.
func checkMetadata(t *testing.T, resp *extprocv3.ProcessingResponse, set, value string) {
	t.Helper()
	ns := resp.GetDynamicMetadata().GetFields()[config.DynamicMetadataNamespace].GetStructValue().GetFields()
	if ns == nil {
		t.Fatalf("no dynamic metadata in %s: %v", config.DynamicMetadataNamespace, resp.GetDynamicMetadata())
	}
	key := "model"
	if set == backendHeader {
		key = "backend"
	}
	if got := ns[key].GetStringValue(); got != value {
		t.Errorf("metadata %s = %q, want %q", key, got, value)
	}
}

func TestServerPassesOtherRequests(t *testing.T) {
	client := startServer(t, "unix")
	for _, h := range [][]Header{
		withHeader(RequestHeaders(20), ":path", "/v1/files"),
		withHeader(RequestHeaders(20), ":method", "PUT"),
	} {
		res, err := client.Do(t.Context(), h, []byte(`{"model":"gpt-4o"}`))
		if err != nil {
			t.Fatal(err)
		}
		mo := res.Headers.GetModeOverride()
		if res.Headers.GetRequestHeaders() == nil || mo.GetRequestBodyMode() != filterv3.ProcessingMode_NONE ||
			mo.GetResponseHeaderMode() != filterv3.ProcessingMode_SKIP {
			t.Errorf("headers response = %v, want CONTINUE without body", res.Headers)
		}
		if res.Body != nil {
			t.Errorf("body was sent and answered: %v", res.Body)
		}
	}
}

// TestServerEmptyBody: Envoy sends headers with end_of_stream and never a
// body message; the in-process filter rejects such a request.
func TestServerEmptyBody(t *testing.T) {
	client := startServer(t, "unix")
	res, err := client.Do(t.Context(), RequestHeaders(0), nil)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if res.Body != nil {
		t.Errorf("body answered: %v", res.Body)
	}
	checkImmediate(t, res, 400, "", "")
}

func TestListenUnknownNetwork(t *testing.T) {
	if _, _, err := Listen("udp", os.TempDir()); err == nil {
		t.Error("Listen(udp) succeeded, want an error")
	}
}
