package mockprovider_test

import (
	"compress/gzip"
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
		{"thinking", "/model/m/invoke", strings.Replace(good, `"max_tokens":5`, `"max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024}`, 1), ok, "us-east-1", 200, `"thinking":"Reasoning from bedrock.","type":"thinking"`},
		{"thinking budget small", "/model/m/invoke", strings.Replace(good, `"max_tokens":5`, `"max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1000}`, 1), ok, "us-east-1", 400, "greater than or equal to 1024"},
		{"thinking budget over max", "/model/m/invoke", strings.Replace(good, `"max_tokens":5`, `"max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024}`, 1), ok, "us-east-1", 400, "must be greater than"},
		{"converse thinking", "/model/m/converse", `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":2000},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`, ok, "us-east-1", 200, `{"reasoningContent":{"reasoningText":{"signature":"c2lnbmF0dXJl","text":"Reasoning from bedrock."}}}`},
		{"converse thinking over max", "/model/m/converse", `{"messages":[],"inferenceConfig":{"maxTokens":1000},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`, ok, "us-east-1", 400, "ValidationException"},
		{"cohere embeddings", "/model/cohere.embed-english-v3/invoke", `{"texts":["a b","c"],"input_type":"search_document"}`, ok, "us-east-1", 200, `"embeddings":[[0.5,-0.25,3],[1.5,-0.25,1]]`},
		{"cohere without input_type", "/model/cohere.embed-english-v3/invoke", `{"texts":["a"]}`, ok, "us-east-1", 400, "required key"},
		{"titan embeddings", "/model/amazon.titan-embed-text-v2%3A0/invoke", `{"inputText":"a b c","dimensions":256}`, ok, "us-east-1", 200, `"inputTextTokenCount":3`},
		{"titan with texts", "/model/amazon.titan-embed-text-v2%3A0/invoke", `{"texts":["a"]}`, ok, "us-east-1", 400, "extraneous key [texts]"},
		{"embeddings streamed", "/model/amazon.titan-embed-text-v2%3A0/invoke-with-response-stream", `{"inputText":"a"}`, ok, "us-east-1", 400, "unsupported for streaming"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := send(tt.path, tt.body, tt.creds, tt.region)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
	if got := m.SignedWith(); len(got) != 6 || got[0] != key.AccessKeyID {
		t.Errorf("accepted %v", got)
	}
	if got := m.Paths(); len(got) != 6 || got[0] != "/model/anthropic.claude-v2%3A1/invoke" {
		t.Errorf("paths %v", got)
	}
	// The token count header of an embedding model; gzip and the Converse
	// stop reason as set.
	m.SetGzip(true)
	m.SetStopReason("guardrail_intervened")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/model/m/converse", strings.NewReader(`{"messages":[]}`))
	v4.NewSigner().SignHTTP(context.Background(), ok, req, sha256Hex(`{"messages":[]}`), "bedrock", "us-east-1", time.Now())
	req.Header.Set("Accept-Encoding", "identity") // no transparent decoding by the client
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("%v %v", err, resp.Header)
	}
	plain, _ := io.ReadAll(zr)
	resp.Body.Close()
	if !strings.Contains(string(plain), `"stopReason":"guardrail_intervened"`) {
		t.Errorf("%s", plain)
	}
	m.SetGzip(false)
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/model/cohere.embed-english-v3/invoke", strings.NewReader(`{"texts":["a b","c"],"input_type":"x"}`))
	v4.NewSigner().SignHTTP(context.Background(), ok, req, sha256Hex(`{"texts":["a b","c"],"input_type":"x"}`), "bedrock", "us-east-1", time.Now())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Amzn-Bedrock-Input-Token-Count") != "3" {
		t.Errorf("token count header %v", resp.Header)
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
