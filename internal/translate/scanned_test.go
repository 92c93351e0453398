package translate

import (
	"fmt"
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

// The chat translators of the Anthropic family (Anthropic, Claude on
// Vertex AI and Bedrock, Bedrock Converse) and Gemini translate a body the router
// phase vouched for exactly as they translate it when they validate it
// themselves: the oracle's bodies and every request golden input, errors
// included.
func TestScannedAnthropicFamilyMatchesRequestBody(t *testing.T) {
	// The goldens' inputs (the Bedrock and Vertex goldens translate them too).
	bodies := append(oracleBodies(t), inputBodies(t, "gemini/request")...)
	bodies = append(bodies,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":"x"}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"n":2}`,
		`{"model":"m","messages":[]}`,
		`{"model":"m","messages":5}`,
		`{"model":"m","messages":[{"role":"user","content":"a"}],"messages":[{"role":"user","content":"b"}]}`,
		`{"model":"m","mess\u0061ges":[{"role":"user","content":"a\"}]\\"}]}`,
	)
	targets := []Target{
		anthTarget,
		{Schema: SchemaVertexAnthropic, Project: "p", Region: "us-east5"},
		{Schema: SchemaAWSBedrockAnthropic, Region: "us-east-1"},
		{Schema: SchemaAWSBedrock, Region: "us-east-1"},
		{Schema: SchemaVertexGemini, Project: "p", Region: "us-central1"},
	}
	for _, target := range targets {
		checkScannedSame(t, target, "/v1/chat/completions", bodies)
	}
}

// The Messages front door (a /v1/messages client, an OpenAI-style backend)
// translates a body the router phase vouched for exactly as it translates
// it when it validates it itself.
func TestScannedMessagesMatchesRequestBody(t *testing.T) {
	bodies := append(inputBodies(t, "messages/request"),
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a\"}]\\"}],"temperature":"x"}`,
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"top_k":3}`,
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled"}}`,
	)
	for _, target := range []Target{{Schema: SchemaOpenAI}, {Schema: SchemaAzureOpenAI, APIVersion: "2024-10-21"}} {
		checkScannedSame(t, target, "/v1/messages", bodies)
	}
}

// checkScannedSame fails when a translator for target and path answers a
// body the router phase would accept differently through
// RequestBodyScanned than through RequestBody.
func checkScannedSame(t *testing.T, target Target, path string, bodies []string) {
	t.Helper()
	for i, body := range bodies {
		b := []byte(body)
		scan, err := bodyscan.Scan(b, "backend")
		if err != nil {
			continue // the router phase would have refused it
		}
		tr, err := New(target, path)
		if err != nil {
			t.Fatal(err)
		}
		sr, ok := tr.(ScannedRequest)
		if !ok {
			t.Fatalf("%s %s: no scanned path", target.Schema, path)
		}
		got, gerr := sr.RequestBodyScanned(b, bodyscan.FindingsOf(scan, bodyscan.Member{}))
		tr2, _ := New(target, path)
		want, werr := tr2.RequestBody(b)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || got.Path != want.Path || string(got.Body) != string(want.Body) || got.Model != want.Model || got.Stream != want.Stream {
			t.Errorf("%s %s body %d: scanned %q %q %v, RequestBody %q %q %v", target.Schema, path, i, got.Path, got.Body, gerr, want.Path, want.Body, werr)
		}
	}
}

// FuzzScannedRequest: for any body the router phase accepts, every chat
// translator and the Messages front door answer through
// RequestBodyScanned exactly as through RequestBody.
func FuzzScannedRequest(f *testing.F) {
	for _, b := range oracleCases {
		f.Add([]byte(b))
	}
	f.Add([]byte(`{"model":"m","max_tokens":5,"system":"s","messages":[{"role":"user","content":[{"type":"text","text":"a\"}]"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := bodyscan.Scan(body, "backend"); err != nil {
			return
		}
		for _, target := range []Target{
			anthTarget,
			{Schema: SchemaAWSBedrockAnthropic, Region: "us-east-1"},
			{Schema: SchemaAWSBedrock, Region: "us-east-1"},
			{Schema: SchemaVertexGemini, Project: "p", Region: "us-central1"},
		} {
			checkScannedSame(t, target, "/v1/chat/completions", []string{string(body)})
		}
		checkScannedSame(t, Target{Schema: SchemaOpenAI}, "/v1/messages", []string{string(body)})
	})
}
