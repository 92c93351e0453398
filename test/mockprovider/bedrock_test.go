package mockprovider_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/aigw/aigw/test/mockprovider"
)

// TestBedrockMockChecks: the mock answers only what Bedrock would: a
// correctly signed request to an exact path with a valid body.
func TestBedrockMockChecks(t *testing.T) {
	key := mockprovider.AWSKey{AccessKeyID: "AKIDMOCK", SecretAccessKey: "mock-secret"}
	m := mockprovider.NewBedrock(mockprovider.BedrockOptions{Keys: map[string]mockprovider.AWSKey{key.AccessKeyID: key}})
	srv := httptest.NewServer(m)
	defer srv.Close()
	const good = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	send := func(path, body string, creds aws.Credentials, region string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.URL.RawPath = path
		sum := sha256Hex(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sum, "bedrock", region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType") + " " + string(b)
	}
	ok := aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}
	for _, tt := range []struct {
		name, path, body string
		creds            aws.Credentials
		region           string
		status           int
		want             string
	}{
		{"signed", "/model/anthropic.claude-v2%3A1/invoke", good, ok, "us-east-1", 200, `"type":"message"`},
		{"stream", "/model/anthropic.claude-v2%3A1/invoke-with-response-stream", good, ok, "us-east-1", 200, ""},
		{"wrong secret", "/model/m/invoke", good, aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: "nope"}, "us-east-1", 403, "InvalidSignatureException"},
		{"unknown key", "/model/m/invoke", good, aws.Credentials{AccessKeyID: "AKIDOTHER", SecretAccessKey: "x"}, "us-east-1", 403, "UnrecognizedClientException"},
		{"wrong region", "/model/m/invoke", good, ok, "eu-west-1", 403, "InvalidSignatureException"},
		{"ARN not escaped", "/model/arn:aws:bedrock:us-east-1:1:inference-profile/us.a/invoke", good, ok, "us-east-1", 404, "UnknownOperationException"},
		{"model in the body", "/model/m/invoke", strings.Replace(good, `{`, `{"model":"m",`, 1), ok, "us-east-1", 400, "extraneous key [model]"},
		{"stream in the body", "/model/m/invoke", strings.Replace(good, `{`, `{"stream":true,`, 1), ok, "us-east-1", 400, "extraneous key [stream]"},
		{"no version", "/model/m/invoke", `{"max_tokens":5,"messages":[]}`, ok, "us-east-1", 400, "ValidationException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := send(tt.path, tt.body, tt.creds, tt.region)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
	if got := m.SignedWith(); len(got) != 2 || got[0] != key.AccessKeyID {
		t.Errorf("accepted %v", got)
	}
	if got := m.Paths(); len(got) != 2 || got[0] != "/model/anthropic.claude-v2%3A1/invoke" {
		t.Errorf("paths %v", got)
	}

	// Failing on purpose (the demo's control API): a signed request gets the status in
	// Bedrock's error format; a wrong signature is still refused first; 0 restores.
	ctl := httptest.NewServer(m.ControlHandler())
	defer ctl.Close()
	setFail := func(status string) {
		resp, err := http.Post(ctl.URL+"/fail?status="+status, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /fail?status=%s: %d", status, resp.StatusCode)
		}
	}
	setFail("503")
	if status, body := send("/model/m/invoke", good, ok, "us-east-1"); status != 503 || !strings.Contains(body, "ServiceUnavailableException") {
		t.Errorf("failing: %d %s", status, body)
	}
	if status, _ := send("/model/m/invoke", good, aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: "nope"}, "us-east-1"); status != 403 {
		t.Errorf("failing, wrong signature: %d", status)
	}
	setFail("0")
	if status, body := send("/model/m/invoke", good, ok, "us-east-1"); status != 200 {
		t.Errorf("restored: %d %s", status, body)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
