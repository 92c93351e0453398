package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// GCP OAuth2 bearer tokens for Vertex AI, from a service-account JSON key
// file or Application Default Credentials, through golang.org/x/oauth2/google.
// The service account's token_uri is where tokens come from (Google's
// https://oauth2.googleapis.com/token, or a test's fake endpoint).

// GCPScope is the default scope of Vertex AI tokens.
const GCPScope = "https://www.googleapis.com/auth/cloud-platform"

// gcpServiceAccount fetches tokens with a service-account key (a signed JWT
// exchanged at token_uri); the key file is re-read on every fetch and a
// replaced file triggers one, so a rotated key is used without a restart.
type gcpServiceAccount struct {
	file   fileWatch
	scopes []string
}

// GCPServiceAccount checks the key file now (readable, a service_account
// JSON key: errors name the path and the problem, never the content) and
// returns the process's shared cache for it.
func GCPServiceAccount(path string, scopes []string) (*TokenCache, error) {
	if len(scopes) == 0 {
		scopes = []string{GCPScope}
	}
	f := &gcpServiceAccount{file: fileWatch{path: path}, scopes: scopes}
	b, err := f.file.read()
	if err != nil {
		return nil, err
	}
	if err := checkServiceAccount(b, scopes); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Shared("gcp_service_account\x00"+path+"\x00"+strings.Join(scopes, " "), func() (*TokenCache, error) {
		return NewTokenCache("gcp service account "+path, f), nil
	})
}

// checkServiceAccount checks a service-account key. The library's error
// text may quote the JSON, so only fixed descriptions are returned.
func checkServiceAccount(b []byte, scopes []string) error {
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return errors.New("not a JSON service-account key")
	}
	if probe.Type != "service_account" {
		return fmt.Errorf("key type %q is not service_account", probe.Type)
	}
	cfg, err := google.JWTConfigFromJSON(b, scopes...)
	if err != nil || cfg.Email == "" || len(cfg.PrivateKey) == 0 || cfg.TokenURL == "" {
		return errors.New("the service-account key lacks client_email, private_key or token_uri")
	}
	return nil
}

func (g *gcpServiceAccount) Fetch(ctx context.Context) (*oauth2.Token, error) {
	b, err := g.file.read()
	if err != nil {
		return nil, err
	}
	cfg, err := google.JWTConfigFromJSON(b, g.scopes...)
	if err != nil {
		return nil, fmt.Errorf("%s: the service-account key cannot be used", g.file.path)
	}
	return cfg.TokenSource(ctx).Token()
}

func (g *gcpServiceAccount) Changed() bool { return g.file.changed() }

// gcpDefault fetches tokens with Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's well-known file, or the GKE /
// GCE metadata server for workload identity), looked up on each fetch so a
// changed environment is followed.
type gcpDefault struct{ scopes []string }

// GCPDefault returns the process's shared ADC cache; whether credentials
// exist is known only when the first fetch runs (it may need the metadata
// server), so a failure is logged and requests get 503 until one succeeds.
func GCPDefault(scopes []string) *TokenCache {
	if len(scopes) == 0 {
		scopes = []string{GCPScope}
	}
	c, _ := Shared("gcp_adc\x00"+strings.Join(scopes, " "), func() (*TokenCache, error) {
		return NewTokenCache("gcp application default credentials", &gcpDefault{scopes: scopes}), nil
	})
	return c
}

func (g *gcpDefault) Fetch(ctx context.Context) (*oauth2.Token, error) {
	creds, err := google.FindDefaultCredentials(ctx, g.scopes...)
	if err != nil {
		return nil, errors.New("no application default credentials found")
	}
	return creds.TokenSource.Token()
}

func (*gcpDefault) Changed() bool { return false }
