package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aigw/aigw/internal/credentials"
)

// AuthAWSSigV4 signs every request to the backend with AWS Signature
// Version 4 (Amazon Bedrock), with credentials from the AWS SDK's default
// chain refreshed in the background (internal/credentials/aws.go).
const AuthAWSSigV4 = "aws_sigv4"

// DefaultAWSService is the signing service of Bedrock's runtime API.
const DefaultAWSService = "bedrock"

// AWSAuth are the auth fields of type aws_sigv4 (flattened into auth).
type AWSAuth struct {
	// Region is the signing region; default the backend's region.
	Region string `json:"region"`
	// Service is the signing service; default "bedrock".
	Service string `json:"service"`
	// Profile selects a shared config/credentials file profile; empty is
	// the default chain's choice (AWS_PROFILE, else "default").
	Profile string `json:"profile"`
	// RoleARN, when set, is assumed (STS AssumeRole) with the chain's
	// credentials.
	RoleARN string `json:"role_arn"`

	signer *credentials.SigV4
}

// Signer is the backend's SigV4 signer for auth type aws_sigv4 (nil for
// other types, and before LoadKeys).
func (a *Auth) Signer() *credentials.SigV4 {
	if a == nil {
		return nil
	}
	return a.signer
}

// finishAWS validates an aws_sigv4 backend: the signing region (auth.region
// or the backend's region), and the host the signature covers (host, or
// Bedrock's runtime endpoint of the region when unset).
func (b *Backend) finishAWS() error {
	a := b.Auth
	if a.KeyFile != "" || a.KeyEnv != "" {
		return errors.New("auth: type aws_sigv4 takes no key_file or key_env (credentials come from the AWS SDK's default chain)")
	}
	if a.TenantID != "" || a.ClientID != "" || a.TokenURL != "" || len(a.Scopes) > 0 {
		return fmt.Errorf("auth: tenant_id, client_id, token_url and scopes are not for type %q", a.Type)
	}
	if a.Region == "" {
		a.Region = b.Region
	}
	if a.Region == "" {
		return errors.New("auth.region: required for aws_sigv4 (or set the backend's region)")
	}
	for _, f := range [...]struct{ field, v string }{{"region", b.Region}, {"auth.region", a.Region}, {"auth.service", a.Service}} {
		if strings.ContainsAny(f.v, "/ ?#@:") {
			return fmt.Errorf("%s: %q is not a valid AWS name", f.field, f.v)
		}
	}
	if a.RoleARN != "" && !strings.HasPrefix(a.RoleARN, "arn:") {
		return fmt.Errorf("auth.role_arn: %q is not an ARN", a.RoleARN)
	}
	if a.Service == "" {
		a.Service = DefaultAWSService
	}
	if b.Host == "" {
		if a.Service != DefaultAWSService {
			return errors.New("host: required for aws_sigv4 with a service other than bedrock (the signature covers it)")
		}
		b.Host = "bedrock-runtime." + a.Region + ".amazonaws.com"
	}
	return nil
}

// loadAWS resolves the credential chain (local files only) and starts its
// background refresher.
func (a *Auth) loadAWS() error {
	creds, err := credentials.NewAWS(credentials.AWSOptions{Region: a.Region, Profile: a.Profile, RoleARN: a.RoleARN})
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	s, err := credentials.NewSigV4(creds, a.Service)
	if err != nil {
		return fmt.Errorf("auth.service: %w", err)
	}
	a.signer = s
	return nil
}
