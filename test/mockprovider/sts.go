package mockprovider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// STS is a mock AWS STS answering AssumeRoleWithWebIdentity (the call the
// AWS SDK's web identity / IRSA provider makes with the token file's
// content): the credentials it issues are derived from the token, so a test
// can tell which token file version a signature came from, and expire after
// Lifetime. Point the SDK at it with AWS_ENDPOINT_URL_STS.
type STS struct {
	Lifetime time.Duration // default 1 hour
	RoleARN  string        // the role the mock accepts; empty accepts any

	mu     sync.Mutex
	issued map[string]AWSKey // by access key id
	calls  int
}

// KeyForToken is the credentials the mock issues for a web identity token.
func KeyForToken(token string) AWSKey {
	h := sha256.Sum256([]byte(token))
	id := hex.EncodeToString(h[:])
	return AWSKey{AccessKeyID: "ASIA" + id[:16], SecretAccessKey: "secret-" + id[16:40], SessionToken: "session-" + id[40:]}
}

// Issued returns every credential issued so far (the keys a mock Bedrock
// should accept).
func (s *STS) Issued() map[string]AWSKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]AWSKey, len(s.issued))
	for k, v := range s.issued {
		out[k] = v
	}
	return out
}

// Calls counts the AssumeRoleWithWebIdentity calls answered.
func (s *STS) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.PostForm.Get("Action") != "AssumeRoleWithWebIdentity" {
		http.Error(w, "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>unsupported</Message></Error></ErrorResponse>", http.StatusBadRequest)
		return
	}
	token, role := r.PostForm.Get("WebIdentityToken"), r.PostForm.Get("RoleArn")
	if token == "" || s.RoleARN != "" && role != s.RoleARN {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error><RequestId>x</RequestId></ErrorResponse>`)
		return
	}
	key := KeyForToken(token)
	life := s.Lifetime
	if life == 0 {
		life = time.Hour
	}
	s.mu.Lock()
	if s.issued == nil {
		s.issued = map[string]AWSKey{}
	}
	s.issued[key.AccessKeyID] = key
	s.calls++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:aigw:aigw</SubjectFromWebIdentityToken>
    <AssumedRoleUser><Arn>%s/aigw</Arn><AssumedRoleId>AROA:aigw</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>%s</AccessKeyId>
      <SecretAccessKey>%s</SecretAccessKey>
      <SessionToken>%s</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>mock</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`, role, key.AccessKeyID, key.SecretAccessKey, key.SessionToken, time.Now().Add(life).UTC().Format(time.RFC3339))
}
