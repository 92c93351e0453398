package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aigw/aigw/internal/credentials"
)

// Keyless credentials: OAuth2 bearer tokens fetched and refreshed in the
// background (internal/credentials TokenCache) for Google Vertex AI and for
// Azure OpenAI with Microsoft Entra ID, and the Google Cloud fields of a
// backend (project, region).

// Auth types whose credential is a background-refreshed bearer token.
const (
	// AuthGCPServiceAccount: key_file is a service-account JSON key; tokens
	// come from its token_uri.
	AuthGCPServiceAccount = "gcp_service_account"
	// AuthGCPADC: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
	// gcloud's file, the metadata server / workload identity).
	AuthGCPADC = "gcp_adc"
	// AuthAzureEntra: the client-credentials grant of an Entra ID app;
	// key_file / key_env hold the client secret.
	AuthAzureEntra = "azure_entra"
)

// isOAuth reports an auth type whose header is a bearer token from a
// TokenCache.
func (a *Auth) isOAuth() bool {
	switch a.Type {
	case AuthGCPServiceAccount, AuthGCPADC, AuthAzureEntra:
		return true
	}
	return false
}

// IsBearer reports whether the backend's credential goes in
// "authorization: Bearer …" (static bearer keys and every token type).
func (a *Auth) IsBearer() bool { return a.Type == AuthBearer || a.isOAuth() }

// Awaitable is the backend's background-refreshed credential (a token
// cache, or aws_sigv4's credentials), which a request without a valid one
// can wait for; nil for key auth types and before LoadKeys.
func (a *Auth) Awaitable() credentials.Awaitable {
	if a == nil {
		return nil
	}
	if a.isOAuth() {
		if w, ok := a.source.(credentials.Awaitable); ok {
			return w
		}
		return nil
	}
	if s := a.Signer(); s != nil {
		return s.Credentials()
	}
	return nil
}

// finishOAuth checks the fields of a token auth type; errors name the field.
func (a *Auth) finishOAuth() error {
	entra := a.Type == AuthAzureEntra
	if !entra && (a.TenantID != "" || a.ClientID != "") {
		return fmt.Errorf("auth: tenant_id and client_id are for azure_entra, not %s", a.Type)
	}
	switch a.Type {
	case AuthGCPServiceAccount:
		if a.KeyEnv != "" || a.KeyFile == "" {
			return errors.New("auth: type gcp_service_account needs key_file (the service-account JSON key), not key_env")
		}
	case AuthGCPADC:
		if a.KeyEnv != "" || a.KeyFile != "" {
			return errors.New("auth: type gcp_adc takes no key_file or key_env (set GOOGLE_APPLICATION_CREDENTIALS for a file)")
		}
		if a.TokenURL != "" {
			return errors.New("auth.token_url: not for gcp_adc (the credentials name their token endpoint)")
		}
	case AuthAzureEntra:
		if a.TenantID == "" {
			return errors.New("auth.tenant_id: required for azure_entra")
		}
		if strings.ContainsAny(a.TenantID, "/?#%") || strings.TrimSpace(a.TenantID) != a.TenantID {
			return fmt.Errorf("auth.tenant_id: %q is not a tenant id or domain", a.TenantID)
		}
		if a.ClientID == "" {
			return errors.New("auth.client_id: required for azure_entra")
		}
		switch {
		case a.KeyFile != "" && a.KeyEnv != "":
			return errors.New("auth: set key_file or key_env (the client secret), not both")
		case a.KeyFile == "" && a.KeyEnv == "":
			return errors.New("auth: type azure_entra needs key_file or key_env (the client secret)")
		}
	}
	if a.Type == AuthGCPServiceAccount && a.TokenURL != "" {
		return errors.New("auth.token_url: not for gcp_service_account (the key's token_uri is used)")
	}
	if a.TokenURL != "" {
		if u, err := url.Parse(a.TokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("auth.token_url: %q must be an http(s) URL", a.TokenURL)
		}
	}
	for i, s := range a.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("auth.scopes[%d]: must be one non-empty scope", i)
		}
	}
	return nil
}

// loadOAuth starts (or joins) the credential's token cache. Only the key
// material is checked here; the first token arrives in the background.
func (a *Auth) loadOAuth() error {
	switch a.Type {
	case AuthGCPServiceAccount:
		c, err := credentials.GCPServiceAccount(a.KeyFile, a.Scopes)
		if err != nil {
			return fmt.Errorf("auth.key_file: %w", err)
		}
		a.source = c
	case AuthGCPADC:
		a.source = credentials.GCPDefault(a.Scopes)
	case AuthAzureEntra:
		var secret credentials.Source
		id := "file:" + a.KeyFile
		if a.KeyFile != "" {
			f, err := credentials.FromFile(a.KeyFile, nil)
			if err != nil {
				return fmt.Errorf("auth.key_file: %w", err)
			}
			secret = f
		} else {
			s, err := credentials.FromEnv(a.KeyEnv)
			if err != nil {
				return fmt.Errorf("auth.key_env: %w", err)
			}
			secret, id = s, "env:"+a.KeyEnv
		}
		c, err := credentials.AzureEntra(a.TenantID, a.ClientID, a.TokenURL, a.Scopes, secret, id)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		a.source = c
	}
	return nil
}

// The Vertex AI schemas (the translators' names; config imports no
// translator).
const (
	SchemaVertexGemini    = "gcp_vertex_gemini"
	SchemaVertexAnthropic = "gcp_vertex_anthropic"
)

// finishCloud checks a backend's Google Cloud fields: they become path
// segments of Vertex AI's URLs (the translator checks they are set for its
// schema). A Vertex backend's region also names its host: it must be a
// hostname label, and without a configured host the backend gets the
// region's endpoint (as an aws_sigv4 backend gets Bedrock's, aws.go).
func (b *Backend) finishCloud() error {
	for _, f := range [...]struct{ name, v string }{{"project", b.Project}, {"region", b.Region}} {
		for i := 0; i < len(f.v); i++ {
			c := f.v[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':' || c == '_') {
				return fmt.Errorf("%s: %q may hold only lower-case letters, digits, '-', '_', '.' and ':'", f.name, f.v)
			}
		}
	}
	if b.Schema != SchemaVertexGemini && b.Schema != SchemaVertexAnthropic || b.Region == "" {
		return nil
	}
	if !isHostLabel(b.Region) {
		return fmt.Errorf("region: %q is not a Vertex AI location (a hostname label: lower-case letters, digits and inner '-', at most 63)", b.Region)
	}
	if b.Host == "" {
		b.Host = VertexHost(b.Region)
	}
	return nil
}

// VertexHost is Vertex AI's endpoint for a location: the global endpoint
// aiplatform.googleapis.com for "global", else {region}-aiplatform.googleapis.com
// (https://cloud.google.com/vertex-ai/generative-ai/docs/learn/locations:
// "To use the global endpoint, exclude the location from the endpoint name").
func VertexHost(region string) string {
	if region == "global" {
		return "aiplatform.googleapis.com"
	}
	return region + "-aiplatform.googleapis.com"
}

// isHostLabel reports whether s is one DNS label (RFC 1123): 1-63 of a-z,
// 0-9 and '-', neither first nor last a '-'.
func isHostLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
