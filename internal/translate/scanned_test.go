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
		for _, c := range []struct {
			path     string
			override map[string]string
		}{
			{"/v1/chat/completions", nil}, {"/v1/messages", nil}, {"/v1/embeddings", nil}, {"/v1/completions", nil},
			// An override edits the model string (quoted anew).
			{"/v1/chat/completions", map[string]string{"claude-x": `claude-"y"`}},
			{"/v1/messages", map[string]string{"claude-x": "claude-y"}},
		} {
			path := c.path
			target := Target{Schema: s, APIVersion: "2024-10-21", Project: "p", Region: "us-east5", ModelOverride: c.override}
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
			tr3, _ := New(target, path)
			er, ok := tr3.(EditedRequest)
			if !ok {
				continue
			}
			edited, eerr := er.RequestEditsScanned(body, bodyscan.FindingsOf(scan, bodyscan.Member{}))
			eb := edited.Body
			if edited.Edits != nil {
				if edited.Body != nil {
					t.Errorf("%s %s: both Body and Edits", s, path)
				}
				eb = ApplyEdits(body, edited.Edits)
			}
			if (eerr == nil) != (werr == nil) || edited.Path != want.Path || string(eb) != string(want.Body) || edited.Model != want.Model {
				t.Errorf("%s %s: edits %q %q (%v) %v, RequestBody %q %q %v", s, path, edited.Path, eb, edited.Edits, eerr, want.Path, want.Body, werr)
			}
		}
	}
}
