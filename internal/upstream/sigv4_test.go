package upstream

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/aigw/aigw/internal/credentials"
	"github.com/aigw/aigw/test/mockprovider"
)

var awsTestKey = mockprovider.AWSKey{AccessKeyID: "AKIDUPSTREAMTEST", SecretAccessKey: "upstream-aws-secret-key"}

// awsConfig is a config with an aws_sigv4 Bedrock backend whose credentials
// come from the SDK's default chain (static keys in the environment here).
func awsConfig(t *testing.T) *Config {
	t.Helper()
	awsEnv(t)
	cfg := mustConfig(t, `{"backends": [
    {"name": "bedrock", "schema": "aws_bedrock_anthropic", "region": "us-west-2",
     "model_override": {"gpt-4o-mini": "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"},
     "auth": {"type": "aws_sigv4"}}]}`)
	waitAWSCredentials(t, cfg, "bedrock")
	return cfg
}

// awsEnv leaves the SDK's default chain only awsTestKey, from the
// environment.
func awsEnv(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", awsTestKey.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsTestKey.SecretAccessKey)
}

// waitAWSCredentials waits until the aws_sigv4 backend has its credentials.
func waitAWSCredentials(t testing.TB, cfg *Config, backend string) {
	t.Helper()
	b, _ := cfg.Backend(backend)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Conf.Auth.Signer().Credentials().WaitFetched(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSigV4SignsTheFinalRequest: an attempt to an aws_sigv4 backend is
// signed over the request as it leaves (translated body, Bedrock path with
// the ARN as one segment, the region's host), and the signature verifies
// with an independent SigV4 implementation; the client's own credentials and
// an earlier attempt's signature headers are gone.
func TestSigV4SignsTheFinalRequest(t *testing.T) {
	cfg := awsConfig(t)
	a := clientRequest("bedrock", "/v1/chat/completions", chatBody)
	a.reqH["x-amz-security-token"] = "left-by-another-attempt"
	f := NewFilter(cfg, a)
	if h, _, last := sendRequest(t, f); h == Answered || last != Continue {
		t.Fatalf("actions %v %v; local reply %+v", h, last, a.responses)
	}
	const wantPath = "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke"
	if a.reqH[":path"] != wantPath || a.reqH[":authority"] != "bedrock-runtime.us-west-2.amazonaws.com" {
		t.Fatalf("path %q authority %q", a.reqH[":path"], a.reqH[":authority"])
	}
	for _, k := range []string{"api-key", "x-api-key", "x-amz-security-token"} {
		if v, ok := a.reqH[k]; ok {
			t.Errorf("%s still set: %q", k, v)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "http://"+a.reqH[":authority"]+a.reqH[":path"], bytes.NewReader(a.reqB.b))
	for k, v := range a.reqH {
		if !strings.HasPrefix(k, ":") {
			r.Header.Set(k, v)
		}
	}
	r.Host = a.reqH[":authority"]
	keys := map[string]mockprovider.AWSKey{awsTestKey.AccessKeyID: awsTestKey}
	if _, err := mockprovider.VerifySigV4(r, a.reqB.b, keys, "us-west-2", "bedrock", time.Now()); err != nil {
		t.Fatalf("signature: %v (authorization %q)", err, a.reqH["authorization"])
	}
	if bytes.Contains(a.reqB.b, []byte(`"model"`)) || !bytes.Contains(a.reqB.b, []byte(`"anthropic_version":"bedrock-2023-05-31"`)) {
		t.Errorf("body %s", a.reqB.b)
	}
	for _, l := range a.logs {
		if strings.Contains(l.msg, awsTestKey.SecretAccessKey) {
			t.Errorf("log leaks the secret key: %q", l.msg)
		}
	}
}

type failingProvider struct{}

func (failingProvider) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("web identity token file missing")
}

// TestSigV4NoCredentials: an attempt finding no valid credentials (the
// background fetch failed) is a 503 naming the backend, before anything
// reaches the provider, and names the credentials to wait for; the plan
// itself never waits.
func TestSigV4NoCredentials(t *testing.T) {
	cfg := awsConfig(t)
	b, _ := cfg.Backend("bedrock")
	creds, err := credentials.NewAWS(credentials.AWSOptions{Region: "us-west-2", Provider: failingProvider{}, Log: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := credentials.NewSigV4(creds, "bedrock")
	req := request{method: http.MethodPost, path: "/v1/chat/completions", authority: "gw", body: []byte(chatBody), hasBody: true}
	_, fail := cfg.planRequest(b, req, credential{sign: s})
	if fail == nil || fail.err.Status != http.StatusServiceUnavailable || fail.err.Code != "credential_unavailable" ||
		!strings.Contains(fail.err.Message, `"bedrock"`) || !strings.Contains(fail.log, "no valid AWS credentials") {
		t.Fatalf("failure %+v", fail)
	}
	// The attempt waits for these credentials (Filter.wait) rather than
	// answering the 503.
	if fail.await != credentials.Awaitable(creds) {
		t.Fatalf("waits for %v, want the backend's AWS credentials", fail.await)
	}
}
