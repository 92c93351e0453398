package credentials

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Microsoft Entra ID tokens for Azure OpenAI: the OAuth2 client-credentials
// grant at the tenant's v2.0 token endpoint, the client secret from a key
// file (rotated like any key) or an environment variable.

// EntraScope is the default scope of Azure OpenAI (Cognitive Services) tokens.
const EntraScope = "https://cognitiveservices.azure.com/.default"

// EntraTokenURL is the Microsoft identity platform's token endpoint of a tenant.
func EntraTokenURL(tenant string) string {
	return "https://login.microsoftonline.com/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}

type entra struct {
	cfg    clientcredentials.Config
	secret Source
	// lastSecret is the secret of the last fetch, to notice a rotation.
	lastSecret Secret
}

// AzureEntra returns the process's shared cache for a client-credentials
// app (tenant, client id, token URL, scopes); secretID names the secret's
// source (its file or variable) for the cache identity.
func AzureEntra(tenant, clientID, tokenURL string, scopes []string, secret Source, secretID string) (*TokenCache, error) {
	if tokenURL == "" {
		tokenURL = EntraTokenURL(tenant)
	}
	if len(scopes) == 0 {
		scopes = []string{EntraScope}
	}
	if secret.Key().Empty() {
		return nil, errors.New("the client secret is empty")
	}
	id := strings.Join([]string{"azure_entra", tenant, clientID, tokenURL, strings.Join(scopes, " "), secretID}, "\x00")
	return Shared(id, func() (*TokenCache, error) {
		return NewTokenCache("azure entra client "+clientID, &entra{
			cfg:    clientcredentials.Config{ClientID: clientID, TokenURL: tokenURL, Scopes: scopes, AuthStyle: oauth2.AuthStyleInParams},
			secret: secret,
		}), nil
	})
}

func (e *entra) Fetch(ctx context.Context) (*oauth2.Token, error) {
	s := e.secret.Key()
	cfg := e.cfg
	cfg.ClientSecret = s.Reveal()
	tok, err := cfg.Token(ctx)
	if err == nil {
		e.lastSecret = s
	}
	return tok, err
}

// Changed reports a rotated client secret (File re-reads its file at most
// once a second).
func (e *entra) Changed() bool { return e.secret.Key() != e.lastSecret }
