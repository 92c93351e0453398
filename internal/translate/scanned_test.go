package translate

import (
	"testing"

	"github.com/aigw/aigw/internal/bodyscan"
)

// Every translator that takes the router phase's findings returns what
// RequestBody returns for the same body: a type that embeds passthrough and
// rewrites the request itself must not inherit passthrough's scanned path.
func TestScannedRequestMatchesRequestBody(t *testing.T) {
	body := []byte(`{"model":"claude-x","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	for _, s := range Schemas() {
		for _, path := range []string{"/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/completions"} {
			target := Target{Schema: s, APIVersion: "2024-10-21", Project: "p", Region: "us-east5"}
			tr, err := New(target, path)
			if err != nil {
				continue
			}
			sr, ok := tr.(ScannedRequest)
			if !ok {
				continue
			}
			scan, err := bodyscan.Scan(body, "backend")
			if err != nil {
				t.Fatal(err)
			}
			got, gerr := sr.RequestBodyScanned(body, bodyscan.FindingsOf(scan, bodyscan.Member{}))
			tr2, _ := New(target, path)
			want, werr := tr2.RequestBody(body)
			if (gerr == nil) != (werr == nil) || got.Path != want.Path || string(got.Body) != string(want.Body) || got.Model != want.Model {
				t.Errorf("%s %s: scanned %q %q %v, RequestBody %q %q %v", s, path, got.Path, got.Body, gerr, want.Path, want.Body, werr)
			}
		}
	}
}
