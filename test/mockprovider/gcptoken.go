package mockprovider

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// GoogleToken is a fake Google OAuth2 token endpoint for one service account,
// for the compose demo's mock Vertex AI (tests use internal/credentials/credtest):
// it answers the JWT bearer grant a service-account key makes
// (golang.org/x/oauth2/google, RFC 7523) when the assertion is signed (RS256)
// by that key, names its client_email as issuer and its token_uri as
// audience, and remembers the tokens it issued for Check.
type GoogleToken struct {
	email, tokenURI string
	pub             *rsa.PublicKey
	lifetime        time.Duration

	mu     sync.Mutex
	issued map[string]time.Time // token -> expiry
}

// NewGoogleToken reads a service-account JSON key (the same file the gateway
// signs with). Errors never quote the key.
func NewGoogleToken(serviceAccountJSON []byte, lifetime time.Duration) (*GoogleToken, error) {
	var sa struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
		TokenURI    string `json:"token_uri"`
	}
	if err := json.Unmarshal(serviceAccountJSON, &sa); err != nil || sa.Type != "service_account" || sa.ClientEmail == "" || sa.TokenURI == "" {
		return nil, errors.New("not a service-account key with client_email and token_uri")
	}
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	if block == nil {
		return nil, errors.New("service-account private_key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	priv, ok := k.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, errors.New("service-account private_key is not a PKCS#8 RSA key")
	}
	if lifetime <= 0 {
		lifetime = time.Hour
	}
	return &GoogleToken{email: sa.ClientEmail, tokenURI: sa.TokenURI, pub: &priv.PublicKey, lifetime: lifetime, issued: map[string]time.Time{}}, nil
}

// Check reports whether token is one this endpoint issued and has not expired.
func (g *GoogleToken) Check(token string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	exp, ok := g.issued[token]
	return ok && time.Now().Before(exp)
}

func (g *GoogleToken) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	deny := func(desc string) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": desc})
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		deny("want a POSTed jwt-bearer grant")
		return
	}
	if err := g.verify(r.PostForm.Get("assertion")); err != nil {
		deny(err.Error())
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := "ya29.mock-" + hex.EncodeToString(b[:])
	g.mu.Lock()
	g.issued[tok] = time.Now().Add(g.lifetime)
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(g.lifetime / time.Second)})
}

// verify checks the assertion's RS256 signature and its iss, aud and exp.
func (g *GoogleToken) verify(assertion string) error {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return errors.New("assertion is not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return errors.New("assertion signature is not base64url")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(g.pub, crypto.SHA256, sum[:], sig) != nil {
		return errors.New("assertion not signed by the service account's key")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Iss string `json:"iss"`
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
	}
	if err != nil || json.Unmarshal(raw, &claims) != nil {
		return errors.New("assertion claims are not JSON")
	}
	if claims.Iss != g.email || claims.Aud != g.tokenURI || time.Now().Unix() > claims.Exp {
		return fmt.Errorf("assertion issuer, audience or expiry do not match the service account %s", g.email)
	}
	return nil
}

// ServiceAccountKey returns a new service-account JSON key (a fresh RSA key)
// for email whose token endpoint is tokenURI: for tests, and for the demo's
// fake key (docker/keys).
func ServiceAccountKey(email, tokenURI string) ([]byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": "aigw-demo", "private_key_id": "demo",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": email, "client_id": "1", "token_uri": tokenURI,
	}, "", "  ")
}
