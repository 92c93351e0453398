package credentials

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/aigw/aigw/test/mockprovider"
)

var testKey = mockprovider.AWSKey{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "session-token"}

type staticProvider struct {
	creds aws.Credentials
	err   error
	calls atomic.Int32
}

func (p *staticProvider) Retrieve(context.Context) (aws.Credentials, error) {
	p.calls.Add(1)
	return p.creds, p.err
}

func newTestSigner(t *testing.T, p aws.CredentialsProvider) *SigV4 {
	t.Helper()
	a, err := NewAWS(AWSOptions{Region: "us-east-1", Provider: p, Log: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.WaitFetched(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := NewSigV4(a, "bedrock")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send is the signed request as a server receives it.
func send(sig Signature, method, host, path string, body []byte) *http.Request {
	r := httptest.NewRequest(method, "http://"+host+path, bytes.NewReader(body))
	r.Host = host
	r.Header.Set("Authorization", sig.Authorization)
	r.Header.Set("X-Amz-Date", sig.Date)
	if sig.SecurityToken != "" {
		r.Header.Set("X-Amz-Security-Token", sig.SecurityToken)
	}
	// Headers Envoy adds on the way are not signed and do not matter.
	r.Header.Set("X-Request-Id", "abc")
	r.Header.Set("Content-Length", fmt.Sprint(len(body)))
	return r
}

// TestSigV4AgainstIndependentVerifier: the SDK's signature over the final
// request verifies with the mock's independent SigV4 implementation, and any
// change to method, host, path or body breaks it.
func TestSigV4AgainstIndependentVerifier(t *testing.T) {
	s := newTestSigner(t, &staticProvider{creds: aws.Credentials{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey, SessionToken: testKey.SessionToken}})
	keys := map[string]mockprovider.AWSKey{testKey.AccessKeyID: testKey}
	const host = "bedrock-runtime.us-east-1.amazonaws.com"
	arnPath := "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke"
	body := []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[]}`)
	for _, path := range []string{"/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke", arnPath, "/model/m/invoke?a=b%20c&a=a"} {
		sig, err := s.Sign("POST", host, path, body)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sig.Authorization, testKey.SecretAccessKey) {
			t.Fatal("the secret key is in the authorization header")
		}
		if _, err := mockprovider.VerifySigV4(send(sig, "POST", host, path, body), body, keys, "us-east-1", "bedrock", time.Now()); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for name, r := range map[string]*http.Request{
			"body":   send(sig, "POST", host, path, append(body[:len(body):len(body)], ' ')),
			"path":   send(sig, "POST", host, strings.Replace(path, "/invoke", "/invoke-with-response-stream", 1), body),
			"host":   send(sig, "POST", "bedrock-runtime.us-west-2.amazonaws.com", path, body),
			"method": send(sig, "PUT", host, path, body),
		} {
			b, _ := readAll(r)
			if _, err := mockprovider.VerifySigV4(r, b, keys, "us-east-1", "bedrock", time.Now()); err == nil {
				t.Errorf("%s: a changed %s still verifies", path, name)
			}
		}
		// Wrong region or service in the verifier's expectations.
		if _, err := mockprovider.VerifySigV4(send(sig, "POST", host, path, body), body, keys, "eu-west-1", "bedrock", time.Now()); err == nil {
			t.Error("region not checked")
		}
	}
}

func readAll(r *http.Request) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(r.Body)
	return b.Bytes(), err
}

func TestAWSNoCredentials(t *testing.T) {
	p := &staticProvider{err: errors.New("no source")}
	var logs atomic.Int32
	a, err := NewAWS(AWSOptions{Region: "us-east-1", Provider: p, Log: func(msg string) { logs.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewSigV4(a, "bedrock")
	if _, err := s.Sign("POST", "h", "/p", nil); !errors.Is(err, ErrNoAWSCredentials) {
		t.Fatalf("err = %v", err)
	}
	// Expired credentials are not used.
	expired := aws.Credentials{AccessKeyID: "A", SecretAccessKey: "S", CanExpire: true, Expires: time.Now().Add(-time.Second)}
	a.st.cur.Store(&expired)
	if _, err := s.Sign("POST", "h", "/p", nil); !errors.Is(err, ErrNoAWSCredentials) {
		t.Fatalf("expired: err = %v", err)
	}
	if _, err := NewAWS(AWSOptions{}); err == nil {
		t.Error("no region accepted")
	}
	if _, err := NewSigV4(a, ""); err == nil {
		t.Error("no service accepted")
	}
}

// TestAWSRefreshBeforeExpiry: expiring credentials are fetched again before
// they expire, by the background refresher alone (Sign never fetches).
func TestAWSRefreshBeforeExpiry(t *testing.T) {
	p := &staticProvider{creds: aws.Credentials{AccessKeyID: "A", SecretAccessKey: "S", CanExpire: true, Expires: time.Now().Add(3 * time.Second)}}
	s := newTestSigner(t, p)
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("%d fetches after the first", n)
	}
	for range 100 {
		if _, err := s.Sign("POST", "h", "/p", nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("Sign fetched credentials: %d fetches", n)
	}
	deadline := time.Now().Add(2500 * time.Millisecond) // before the 3 s expiry
	for p.calls.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no refresh before expiry")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAWSWebIdentityRotation: the SDK's default chain with web identity
// (IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE) against a mock STS on
// loopback; replacing the token file changes the credentials the next
// refresh fetches, without a new config, and the signatures follow.
func TestAWSWebIdentityRotation(t *testing.T) {
	sts := &mockprovider.STS{Lifetime: 2 * time.Second, RoleARN: "arn:aws:iam::123456789012:role/aigw"}
	srv := httptest.NewServer(sts)
	defer srv.Close()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("token-v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	isolateAWSEnv(t, dir)
	t.Setenv("AWS_ROLE_ARN", sts.RoleARN)
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)

	a, err := NewAWS(AWSOptions{Region: "us-east-1", Log: func(msg string) { t.Log(msg) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.WaitFetched(ctx); err != nil {
		t.Fatal(err)
	}
	s, _ := NewSigV4(a, "bedrock")
	signedBy := func() string {
		sig, err := s.Sign("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/m/invoke", []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		akid, err := mockprovider.VerifySigV4(send(sig, "POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/m/invoke", []byte("{}")), []byte("{}"), sts.Issued(), "us-east-1", "bedrock", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return akid
	}
	if got, want := signedBy(), mockprovider.KeyForToken("token-v1").AccessKeyID; got != want {
		t.Fatalf("signed by %s, want %s", got, want)
	}
	// Kubernetes replaces the projected token file.
	if err := os.WriteFile(tokenFile+".new", []byte("token-v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tokenFile+".new", tokenFile); err != nil {
		t.Fatal(err)
	}
	want := mockprovider.KeyForToken("token-v2").AccessKeyID
	deadline := time.Now().Add(5 * time.Second)
	for signedBy() != want {
		if time.Now().After(deadline) {
			t.Fatal("the rotated token never took effect")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isolateAWSEnv keeps the developer's or CI's AWS setup out of the chain.
func isolateAWSEnv(t *testing.T, dir string) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// TestAWSSharedProfile: static keys from a shared credentials file profile.
func TestAWSSharedProfile(t *testing.T) {
	dir := t.TempDir()
	isolateAWSEnv(t, dir)
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[team]\naws_access_key_id = "+testKey.AccessKeyID+"\naws_secret_access_key = "+testKey.SecretAccessKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	a, err := NewAWS(AWSOptions{Region: "us-east-1", Profile: "team", Log: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.WaitFetched(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := a.Credentials()
	if err != nil || c.AccessKeyID != testKey.AccessKeyID {
		t.Fatalf("%v %v", c.AccessKeyID, err)
	}
	if s := fmt.Sprintf("%v %+v", a, a); strings.Contains(s, testKey.SecretAccessKey) {
		t.Error("printing the AWS value shows the secret")
	}
}
