package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/oauth2/google"

	"github.com/aigw/aigw/test/mockprovider"
)

const secret = "sk-mock-NOT-A-REAL-KEY"

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    config
		wantErr string
	}{
		{name: "defaults", want: config{listen: ":8080", opts: mockprovider.Options{Name: "mock", Schema: mockprovider.SchemaOpenAI}}},
		{name: "env", env: map[string]string{
			"MOCK_LISTEN": ":9000", "MOCK_CONTROL_LISTEN": ":9090", "MOCK_SCHEMA": "anthropic", "MOCK_NAME": "fallback",
			"MOCK_KEY_FILE": keyFile, "MOCK_MODELS": "a, b,,", "MOCK_API_VERSION": "2023-06-01", "MOCK_FAIL_STATUS": "503",
			"MOCK_PATH_PREFIX": "/api",
		}, want: config{listen: ":9000", controlListen: ":9090", opts: mockprovider.Options{
			Name: "fallback", Schema: mockprovider.SchemaAnthropic, APIKey: secret, Models: []string{"a", "b"},
			APIVersion: "2023-06-01", FailStatus: 503, PathPrefix: "/api",
		}}},
		{name: "flags override env", env: map[string]string{"MOCK_NAME": "env"}, args: []string{"-name", "flag", "-schema", "azure_openai", "-healthcheck"},
			want: config{listen: ":8080", healthcheck: true, opts: mockprovider.Options{Name: "flag", Schema: mockprovider.SchemaAzure}}},
		{name: "bad schema", args: []string{"-schema", "bedrock"}, wantErr: `unknown schema "bedrock"`},
		{name: "bedrock", env: map[string]string{
			"MOCK_SCHEMA": "aws_bedrock_anthropic", "MOCK_NAME": "bedrock-fallback", "MOCK_REGION": "us-east-1", "MOCK_MODELS": "m1",
			"MOCK_AWS_ACCESS_KEY_ID": "AKIDMOCK", "MOCK_AWS_SECRET_ACCESS_KEY": "mock-secret", "MOCK_FAIL_STATUS": "503",
		}, want: config{listen: ":8080", bedrock: true, opts: mockprovider.Options{FailStatus: 503}, bedrockOpts: mockprovider.BedrockOptions{
			Name: "bedrock-fallback", Region: "us-east-1", Models: []string{"m1"},
			Keys: map[string]mockprovider.AWSKey{"AKIDMOCK": {AccessKeyID: "AKIDMOCK", SecretAccessKey: "mock-secret"}},
		}}},
		{name: "bedrock without keys", args: []string{"-schema", "aws_bedrock"}, wantErr: "needs -aws-access-key-id"},
		{name: "bedrock with a key file", args: []string{"-schema", "aws_bedrock", "-aws-access-key-id", "a", "-aws-secret-access-key", "b", "-key-file", keyFile}, wantErr: "no -key-file"},
		{name: "vertex", args: []string{"-schema", "gcp_vertex_anthropic", "-project", "p", "-region", "r", "-key-file", keyFile},
			want: config{listen: ":8080", serviceAccount: []byte(secret + "\n"), opts: mockprovider.Options{Name: "mock", Schema: mockprovider.SchemaVertexAnthropic, Project: "p", Region: "r"}}},
		{name: "vertex without project", args: []string{"-schema", "gcp_vertex_gemini", "-region", "r", "-key-file", keyFile}, wantErr: "needs -project"},
		{name: "bad fail status", args: []string{"-fail-status", "42"}, wantErr: "fail status"},
		{name: "non-numeric fail status", env: map[string]string{"MOCK_FAIL_STATUS": "x"}, wantErr: "fail status"},
		{name: "missing key file", args: []string{"-key-file", filepath.Join(dir, "nope")}, wantErr: "reading key file"},
		{name: "empty key file", args: []string{"-key-file", empty}, wantErr: "is empty"},
		{name: "unknown flag", args: []string{"-bogus"}, wantErr: "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"MOCK_LISTEN", "MOCK_CONTROL_LISTEN", "MOCK_SCHEMA", "MOCK_NAME", "MOCK_KEY_FILE", "MOCK_MODELS", "MOCK_API_VERSION", "MOCK_FAIL_STATUS", "MOCK_PATH_PREFIX",
				"MOCK_REGION", "MOCK_PROJECT", "MOCK_AWS_ACCESS_KEY_ID", "MOCK_AWS_SECRET_ACCESS_KEY"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := parseFlags(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestHandlerLogsNoCredentials(t *testing.T) {
	var logs bytes.Buffer
	s := mockprovider.New(mockprovider.Options{Name: "deploy-a", APIKey: secret})
	h := handler(s.Name(), s, nil, log.New(&logs, "", 0))
	tests := []struct {
		name   string
		path   string
		auth   string
		status int
	}{
		{"healthz bypasses auth and recording", "/healthz", "", 200},
		{"authorized", "/v1/chat/completions", "Bearer " + secret, 200},
		{"wrong key", "/v1/chat/completions", "Bearer " + secret + "x", 401},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("POST", tc.path, strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"x"}]}`))
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.status)
		}
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("recorded %d requests, want 2 (healthz is not recorded)", n)
	}
	want := "deploy-a POST /v1/chat/completions -> 200\ndeploy-a POST /v1/chat/completions -> 401\n"
	if logs.String() != want {
		t.Errorf("logs = %q, want %q", logs.String(), want)
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("log contains the key")
	}
}

func TestProbe(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(404)
		}
	}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer bad.Close()
	tests := []struct {
		name    string
		listen  string
		wantErr bool
	}{
		{"healthy", strings.TrimPrefix(ok.URL, "http://"), false},
		{"wildcard host maps to loopback", ":" + ok.URL[strings.LastIndex(ok.URL, ":")+1:], false},
		{"unhealthy", strings.TrimPrefix(bad.URL, "http://"), true},
		{"bad address", "nonsense", true},
	}
	for _, tc := range tests {
		if err := probe(tc.listen); (err != nil) != tc.wantErr {
			t.Errorf("%s: probe(%q) = %v, wantErr %v", tc.name, tc.listen, err, tc.wantErr)
		}
	}
}

// TestVertexMockServesItsTokens: a Vertex AI mock built from flags serves the token endpoint
// of its service account at /token, and its API accepts exactly the tokens issued there (the
// compose demo's gateway gets them with the same key file).
func TestVertexMockServesItsTokens(t *testing.T) {
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	sa, err := mockprovider.ServiceAccountKey("demo@aigw-demo.iam.gserviceaccount.com", srv.URL+"/token")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "vertex-sa.json")
	if err := os.WriteFile(keyFile, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseFlags([]string{"-schema", "gcp_vertex_anthropic", "-name", "vertex-last", "-project", "aigw-demo", "-region", "us-east5", "-key-file", keyFile})
	if err != nil {
		t.Fatal(err)
	}
	name, api, _, token, err := mock(c)
	if err != nil || token == nil {
		t.Fatalf("mock: %v (token endpoint %v)", err, token)
	}
	h = handler(name, api, token, log.New(io.Discard, "", 0))

	cfg, err := google.JWTConfigFromJSON(sa, "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.TokenSource(context.Background()).Token()
	if err != nil {
		t.Fatalf("token from the mock's /token: %v", err)
	}
	call := func(bearer string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/projects/aigw-demo/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:rawPredict",
			strings.NewReader(`{"anthropic_version":"vertex-2023-10-16","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := call(tok.AccessToken); st != http.StatusOK {
		t.Errorf("issued token: status %d", st)
	}
	if st := call("ya29.not-issued"); st != http.StatusUnauthorized {
		t.Errorf("token not issued by the mock: status %d", st)
	}
}
