package credentials

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigV4 signs an attempt's final request (method, :authority, :path, body:
// after translation) with aws-sdk-go-v2's signer and the backend's current
// AWS credentials (aws.go). The signature covers host and x-amz-date (and
// x-amz-security-token for temporary credentials) plus the payload hash;
// other headers Envoy adds or changes on the way (x-request-id,
// x-forwarded-*, content-length) are not signed, so they cannot break it.
type SigV4 struct {
	creds   *AWS
	service string
	signer  *v4.Signer
	now     func() time.Time
}

// NewSigV4 signs for service (e.g. "bedrock") in creds' region.
func NewSigV4(creds *AWS, service string) (*SigV4, error) {
	if service == "" {
		return nil, errors.New("aws: service is required")
	}
	return &SigV4{creds: creds, service: service, signer: v4.NewSigner(), now: time.Now}, nil
}

// Credentials are the signer's credentials (tests wait on their first fetch).
func (s *SigV4) Credentials() *AWS { return s.creds }

// Signature is the headers a signed request carries. They are credentials:
// set them on the upstream request, never log them.
type Signature struct {
	Authorization string
	Date          string // x-amz-date
	SecurityToken string // x-amz-security-token, "" for long-term keys
}

// SignedHeaders are the request headers Sign's result sets (lower case): an
// attempt to another backend removes them.
var SignedHeaders = []string{"authorization", "x-amz-date", "x-amz-security-token"}

// Sign signs the request as it will be sent: path is the :path as sent
// (already percent-encoded, query included). It fails with
// ErrNoAWSCredentials when no valid credentials are cached; it never waits
// for the network.
func (s *SigV4) Sign(method, host, path string, body []byte) (Signature, error) {
	c, err := s.creds.Credentials()
	if err != nil {
		return Signature{}, err
	}
	p, q, _ := strings.Cut(path, "?")
	// Opaque keeps the path's bytes exactly as sent (the signer then
	// encodes them once more, as SigV4 does for every service but S3).
	u := &url.URL{Scheme: "https", Host: host, Opaque: "//" + host + p, RawQuery: q}
	req := &http.Request{Method: method, URL: u, Host: host, Header: make(http.Header, 3)}
	sum := sha256.Sum256(body)
	if err := s.signer.SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]), s.service, s.creds.region, s.now().UTC()); err != nil {
		return Signature{}, errors.New("aws: signing failed")
	}
	return Signature{
		Authorization: req.Header.Get("Authorization"),
		Date:          req.Header.Get("X-Amz-Date"),
		SecurityToken: req.Header.Get("X-Amz-Security-Token"),
	}, nil
}
