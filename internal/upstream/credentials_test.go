package upstream

import (
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigw/aigw/internal/credentials/credtest"
)

// A gcp_service_account backend's attempts carry the bearer the token
// endpoint issued for the configured key, fetched in the background.
func TestCredentialFromGCPServiceAccount(t *testing.T) {
	fake := credtest.NewGoogle(t, time.Hour)
	path := filepath.Join(t.TempDir(), "sa.json")
	fake.ServiceAccount(t, path, "vertex@p.iam.gserviceaccount.com")
	uc := mustConfig(t, `{"backends":[{"name":"v","schema":"openai","project":"p","region":"us-east5",
		"auth":{"type":"gcp_service_account","key_file":"`+path+`"}}]}`)
	b, _ := uc.Backend("v")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := credentialFor(b)
		if c.fail == nil {
			tok, ok := strings.CutPrefix(c.value, "Bearer ")
			if c.name != "authorization" || !ok {
				t.Fatalf("credential %q: %q", c.name, c.value)
			}
			if who, issued := fake.Issued(tok); !issued || who != "vertex@p.iam.gserviceaccount.com" {
				t.Fatalf("token not issued by the fake endpoint for the key (%q, %v)", who, issued)
			}
			return
		}
		if c.fail.err.Code != "credential_unavailable" || time.Now().After(deadline) {
			t.Fatalf("failure %+v", c.fail.err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An azure_entra backend's attempts carry the client-credentials token the
// Entra endpoint issued for the app and its secret.
func TestCredentialFromAzureEntra(t *testing.T) {
	var secret atomic.Value
	secret.Store("entra-secret-1")
	srv := credtest.NewEntra(t, "app-id", "https://cognitiveservices.azure.com/.default", &secret)
	t.Setenv("AIGW_TEST_ENTRA_SECRET", "entra-secret-1")
	uc := mustConfig(t, `{"backends":[{"name":"az","schema":"azure_openai","api_version":"2024-10-21",
		"auth":{"type":"azure_entra","tenant_id":"contoso","client_id":"app-id","key_env":"AIGW_TEST_ENTRA_SECRET","token_url":"`+srv.URL+`/contoso/oauth2/v2.0/token"}}]}`)
	b, _ := uc.Backend("az")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := credentialFor(b)
		if c.fail == nil {
			if c.name != "authorization" || !strings.HasPrefix(c.value, "Bearer entra-") {
				t.Fatalf("credential %q: %q", c.name, c.value)
			}
			return
		}
		if c.fail.err.Code != "credential_unavailable" || time.Now().After(deadline) {
			t.Fatalf("failure %+v", c.fail.err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
