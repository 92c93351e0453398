package translate

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/testbodies"
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
			// Edit texts longer than the translator's edit store (and a
			// usage request after them: two edits, the second's text
			// written after the store overflowed).
			{"/v1/chat/completions", map[string]string{"claude-x": strings.Repeat("m", 200)}},
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
		// Strings the router phase finds raw copyable (Findings.RawStrings:
		// the literals are copied without a check) and ones it does not
		// (each literal is then checked): both must translate alike.
		`{"model":"m","messages":[{"role":"system","content":"s \ud83d\ude00 \u00e9 \n\t\\ \"q\""},{"role":"user","content":[{"type":"text","text":"\uD83D\uDE00 \/"}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":"lone high \ud83d then text"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"lone low \ude00"},{"role":"assistant","content":"ok"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"high then other \ud83d\u0041"}]}`,
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xc3\xa9 raw UTF-8\"}]}",
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"bad \xff\xfe UTF-8\"}]}",
	)
	// Long strings, whose ends the router phase hands over
	// (Findings.MessageStrings), in every place a message has one.
	bodies = append(bodies, longStringBodies()...)
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

// longStringBodies are chat bodies with string values of 1 KiB and more
// (bodyscan's long strings): contents plain, dense in escapes, with raw
// UTF-8 or a lone surrogate; long keys, roles and names; content parts;
// tool call arguments; a system message after the first turn (the
// conversion's two passes walk the messages twice); a long string outside
// the messages; a generated chat.
func longStringBodies() []string {
	plain := strings.Repeat("lorem ipsum dolor sit amet ", 40)
	dense := strings.Repeat(`a \"q\" \\ \n \u00e9 \ud83d\ude00 {x} `, 30)
	return []string{
		`{"model":"m","messages":[{"role":"user","content":"` + plain + `"}]}`,
		`{"model":"m","messages":[{"role":"system","content":"` + dense + `"},{"role":"user","content":"hi"},{"role":"assistant","content":"` + plain + `"},{"role":"user","content":"` + dense + `"}]}`,
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xc3\xa9 " + plain + "\"}]}",
		`{"model":"m","messages":[{"role":"user","content":"lone \ud83d ` + plain + `"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi","` + plain + `":"` + plain + `","name":"` + plain + `"}]}`,
		`{"model":"m","messages":[{"role":"` + plain + `","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"` + dense + `"},{"type":"text","text":"` + plain + `"}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"q\":\"` + strings.Repeat("x", 1100) + `\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"` + plain + `"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"` + plain + `"},{"role":"system","content":"` + dense + `"},{"role":"assistant","content":"` + plain + `"}]}`,
		`{"model":"m","user":"` + plain + `","messages":[{"role":"user","content":"` + dense + `"}]}`,
		string(testbodies.Chat(16<<10, false)),
	}
}

// Findings of a body whose long strings lie elsewhere in another body of
// the same length (a handoff collision) never make the conversion panic or
// read out of range: the spans fall mid-string, on a quote that starts
// nothing, past a string's end.
func TestStaleMessageStrings(t *testing.T) {
	known := 0
	defer func() {
		// The bodies have long strings for the router phase to hand over
		// (else this test, and their place in the scanned tests, would
		// prove nothing).
		if known < 9 {
			t.Errorf("only %d bodies have message strings", known)
		}
	}()
	for i, a := range longStringBodies() {
		scan, err := bodyscan.Scan([]byte(a), "backend")
		if err != nil {
			t.Fatal(err)
		}
		f := bodyscan.FindingsOf(scan, bodyscan.Member{})
		if f.MessageStrings.Len() > 0 {
			known++
		}
		for shift := -3; shift <= 3; shift++ {
			// The same bytes moved by shift (padded back to a's length):
			// every span now names other bytes.
			b := []byte(a)
			if shift > 0 {
				b = append([]byte(strings.Repeat(" ", shift)), b[:len(b)-shift]...)
			} else if shift < 0 {
				b = append(b[-shift:], strings.Repeat(" ", -shift)...)
			}
			for _, target := range []Target{anthTarget, {Schema: SchemaAWSBedrock, Region: "us-east-1"}} {
				stale(t, target, "/v1/chat/completions", f, b, fmt.Sprintf("body %d shifted %d", i, shift))
			}
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
	for _, b := range longStringBodies()[:3] {
		f.Add([]byte(b)) // long strings (Findings.MessageStrings)
	}
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

// TestStaleFindings: findings paired with other bytes of the same length
// (a handoff collision: bodyscan.Remember's threat model) never make a
// scanned translator panic or read out of range, nor do the edits it
// returns, whatever it then makes of the body. Every schema and endpoint
// gets findings of one body applied to another: well-formed chat bodies
// whose spans fall elsewhere (the model span across the other body's
// stream_options, where the usage edit goes), a body with leading space,
// and bytes that are not JSON at all.
func TestStaleFindings(t *testing.T) {
	const n = 120
	pad := func(s string) []byte {
		if len(s) > n {
			t.Fatalf("body longer than %d: %s", n, s)
		}
		return []byte(s + strings.Repeat(" ", n-len(s)))
	}
	bodies := [][]byte{
		pad(`{"model":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","stream":true,"messages":[{"role":"user","content":"x"}]}`),
		pad(`{"stream":true,"stream_options":{},"model":"m","messages":[{"role":"user","content":"hi"}]}`),
		pad(`{"stream":true,"stream_options":null,"model":"m","messages":[]}`),
		pad(`{"messages":[{"role":"user","content":"hello there"}],"stream":true,"model":"gpt"}`),
		pad(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}]}`),
		[]byte(strings.Repeat(" ", 20) + string(pad(`{"stream":true,"model":"m"}`)[:n-20])),
		[]byte(strings.Repeat(`"`, n)),
		[]byte(strings.Repeat(`{`, n)),
		[]byte(strings.Repeat(`[]`, n/2)),
		bytes.Repeat([]byte{0xff}, n),
	}
	var findings []bodyscan.Findings
	for _, b := range bodies {
		if scan, err := bodyscan.Scan(b, "backend"); err == nil {
			findings = append(findings, bodyscan.FindingsOf(scan, bodyscan.Member{}))
		}
	}
	if len(findings) < 4 {
		t.Fatalf("only %d bodies scanned", len(findings))
	}
	// Every model the findings name is overridden, so the passthrough
	// edits the model span.
	override := map[string]string{}
	for _, f := range findings {
		override[f.Model.Value] = "override-model"
	}
	for _, s := range Schemas() {
		for _, path := range []string{"/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/completions"} {
			for _, ov := range []map[string]string{nil, override} {
				target := Target{Schema: s, APIVersion: "2024-10-21", Project: "p", Region: "us-east5", ModelOverride: ov}
				for fi, f := range findings {
					for bi, b := range bodies {
						stale(t, target, path, f, b, fmt.Sprintf("%s %s override %v: findings %d on body %d", s, path, ov != nil, fi, bi))
					}
				}
			}
		}
	}
}

// stale runs target's scanned paths on body with findings f and fails on a
// panic, in them or in applying the edits they return.
func stale(t *testing.T, target Target, path string, f bodyscan.Findings, body []byte, name string) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: panic: %v", name, r)
		}
	}()
	for _, edits := range []bool{false, true} {
		tr, err := New(target, path)
		if err != nil {
			return
		}
		b := bytes.Clone(body)
		switch sr := tr.(type) {
		case EditedRequest:
			if edits {
				res, err := sr.RequestEditsScanned(b, f)
				if err == nil && res.Edits != nil {
					ApplyEdits(b, res.Edits)
				}
				continue
			}
		}
		if sr, ok := tr.(ScannedRequest); ok && !edits {
			sr.RequestBodyScanned(b, f)
		}
	}
}

// TestScannedRawStrings: the router phase's RawStrings lets the Anthropic
// conversion copy every literal as the client spelled it, and only then: a
// body with a lone surrogate escape or bytes that are not UTF-8 still has
// them replaced by U+FFFD (as decoding and encoding the text would), which a
// flag set too eagerly would skip.
func TestScannedRawStrings(t *testing.T) {
	for _, c := range []struct {
		body      string
		raw       bool
		want, not string
		// converse: what Converse writes (it decodes the Anthropic body
		// and encodes it again, so escapes come out in its spelling).
		converse string
	}{
		{`{"model":"m","messages":[{"role":"user","content":"pair \ud83d\ude00 \u00e9"}]}`, true, `pair \ud83d\ude00 \u00e9`, `\ufffd`, "pair \U0001F600 \u00e9"},
		{`{"model":"m","messages":[{"role":"user","content":"lone \ud83d x"}]}`, false, "lone \ufffd x", `\ud83d`, ""},
		{`{"model":"m","messages":[{"role":"user","content":"lone \ude00"}]}`, false, "lone \ufffd", `\ude00`, ""},
		{"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"bad \xff\"}]}", false, "bad \ufffd", "\xff", ""},
	} {
		b := []byte(c.body)
		scan, err := bodyscan.Scan(b, "backend")
		if err != nil {
			t.Fatal(err)
		}
		f := bodyscan.FindingsOf(scan, bodyscan.Member{})
		if f.RawStrings != c.raw {
			t.Errorf("%s: RawStrings %v, want %v", c.body, f.RawStrings, c.raw)
		}
		for _, target := range []Target{anthTarget, {Schema: SchemaAWSBedrock, Region: "us-east-1"}} {
			tr, err := New(target, "/v1/chat/completions")
			if err != nil {
				t.Fatal(err)
			}
			res, err := tr.(ScannedRequest).RequestBodyScanned(b, f)
			if err != nil {
				t.Fatalf("%s %s: %v", target.Schema, c.body, err)
			}
			// U+FFFD may be written as its UTF-8 bytes or as an escape.
			want := []byte(c.want)
			if target.Schema == SchemaAWSBedrock && c.converse != "" {
				want = []byte(c.converse)
			}
			if !bytes.Contains(res.Body, want) {
				want = bytes.ReplaceAll(want, []byte("\ufffd"), []byte(`\ufffd`))
			}
			if !bytes.Contains(res.Body, want) || bytes.Contains(res.Body, []byte(c.not)) {
				t.Errorf("%s %s: got %s, want %q and no %q", target.Schema, c.body, res.Body, c.want, c.not)
			}
		}
	}
}
