package translate

import (
	"bytes"
	"strings"
	"testing"
)

// A provider response the gateway cannot translate is one Error kind
// (KindProvider, 502, bad_backend_response) whose reason reaches the logs
// (Error()) and whose client error never quotes the body.
func TestBadResponseIsAProviderError(t *testing.T) {
	const secret = "SECRET-BODY-CONTENT"
	cases := []struct {
		name   string
		enc    string
		body   []byte
		reason string
	}{
		{"unparsable 2xx", "", []byte(`{"id":"` + secret + `","content":[{"type":"te`), "malformed response"},
		{"not gzip", "gzip", []byte(secret), "gzip body cannot be decoded"},
		{"truncated gzip", "gzip", gzipBytes(t, []byte(`{"id":"`+secret+`"}`))[:12], "gzip body cannot be decoded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := anthropicResponseTranslator(t, false, false)
			if _, err := tr.ResponseHeaders(200, "application/json", tc.enc); err != nil {
				t.Fatal(err)
			}
			_, _, err := tr.ResponseBody(tc.body, true)
			if !isBadResponse(err) {
				t.Fatalf("err %v (%T): want a KindProvider badResponse", err, err)
			}
			if !strings.Contains(err.Error(), tc.reason) || strings.Contains(err.Error(), secret) {
				t.Errorf("log text %q does not say %q, or quotes the body", err.Error(), tc.reason)
			}
			e, _ := AsError(err, KindProvider)
			if o := e.OpenAI(); o.Status != 502 || o.Type != "server_error" || o.Code != CodeBadResponse || o.Message == "" {
				t.Errorf("client error %+v", o)
			}
			if bytes.Contains(e.JSON(), []byte(secret)) || strings.Contains(e.Message, tc.reason) {
				t.Errorf("client error echoes the body or the log reason: %s", e.JSON())
			}
		})
	}
}
