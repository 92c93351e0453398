package mockprovider_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/aigw/aigw/test/mockprovider"
)

func serviceAccountJSON(t *testing.T, email, tokenURI string) []byte {
	t.Helper()
	js, err := mockprovider.ServiceAccountKey(email, tokenURI)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestGoogleToken: the fake token endpoint issues a token to the Google library signing with
// the service account's key, and to nobody else.
func TestGoogleToken(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	sa := serviceAccountJSON(t, "demo@aigw.iam.gserviceaccount.com", srv.URL+"/token")
	g, err := mockprovider.NewGoogleToken(sa, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/token", g)

	token := func(key []byte) (string, error) {
		cfg, err := google.JWTConfigFromJSON(key, "https://www.googleapis.com/auth/cloud-platform")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cfg.TokenSource(context.Background()).Token()
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
	tok, err := token(sa)
	if err != nil || !g.Check(tok) {
		t.Fatalf("token from the service account's key: %q, %v; Check = %v", tok, err, g.Check(tok))
	}
	if g.Check("ya29.not-issued") || g.Check("") {
		t.Error("Check accepts a token the endpoint did not issue")
	}
	for name, key := range map[string][]byte{
		"another key, same email":   serviceAccountJSON(t, "demo@aigw.iam.gserviceaccount.com", srv.URL+"/token"),
		"another service account":   serviceAccountJSON(t, "other@aigw.iam.gserviceaccount.com", srv.URL+"/token"),
		"assertion for another aud": []byte(strings.Replace(string(sa), srv.URL+"/token", srv.URL+"/token?x", 1)),
	} {
		if tok, err := token(key); err == nil {
			t.Errorf("%s: token %q issued", name, tok)
		}
	}
	for name, js := range map[string]string{
		"not JSON":              "x",
		"not a service account": `{"type":"authorized_user","client_email":"a","token_uri":"b"}`,
		"no PEM":                `{"type":"service_account","client_email":"a","token_uri":"b","private_key":"x"}`,
	} {
		if _, err := mockprovider.NewGoogleToken([]byte(js), 0); err == nil {
			t.Errorf("%s: NewGoogleToken accepted it", name)
		}
	}
}
