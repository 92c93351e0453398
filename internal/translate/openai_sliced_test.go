package translate

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/testbodies"
)

// checkSliced compares, for target and path, RequestEditsSliced on parts
// with RequestEditsScanned on their concatenation, with findings f: the
// same result, error and translator state (the usage the response side
// strips), or not done, which with true findings only a stream asking
// usage in a body without messages (its stream_options lookup), or
// findings that do not fit the bytes, may be. stale findings (of other
// bytes) may leave any request undone. It reports whether the sliced form
// decided.
func checkSliced(t *testing.T, target Target, path string, parts [][]byte, f bodyscan.Findings, stale bool, name string) bool {
	t.Helper()
	body := slices.Concat(parts...)
	tr, err := New(target, path)
	if err != nil {
		return false
	}
	se, ok := tr.(SlicedEditedRequest)
	if !ok {
		return false
	}
	got, done, gerr := se.RequestEditsSliced(parts, f)
	ref, _ := New(target, path)
	want, werr := ref.(EditedRequest).RequestEditsScanned(body, f)
	if !done {
		if gerr != nil || !reflect.DeepEqual(got, RequestResult{}) {
			t.Errorf("%s: not done, yet %+v %v", name, got, gerr)
		}
		p, isPassthrough := tr.(*passthrough)
		if isPassthrough && !stale && !(f.Stream && p.askUsage && f.MessagesEnd == 0) && fits(body, f) {
			t.Errorf("%s: not done for a request it can decide", name)
		}
		return false
	}
	if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\nsliced  %+v %v\nscanned %+v %v", name, got, gerr, want, werr)
	}
	if p, ok := tr.(*passthrough); ok {
		q := ref.(*passthrough)
		if p.stripping != q.stripping || p.strip.max != q.strip.max {
			t.Errorf("%s: stripping %v/%d, scanned %v/%d", name, p.stripping, p.strip.max, q.stripping, q.strip.max)
		}
	}
	return true
}

// fits reports whether findings f fit body as the scanned path checks
// them (a model string where they say), told by the reference: without a
// fit the scanned path scans, and its result differs from one decided on
// the findings alone only when the findings lie.
func fits(body []byte, f bodyscan.Findings) bool {
	if !f.Model.Present || f.Model.Type != bodyscan.TypeString {
		return true
	}
	return f.ModelStart >= 0 && f.ModelEnd <= len(body) && f.ModelEnd-f.ModelStart >= 2 &&
		body[f.ModelStart] == '"' && body[f.ModelEnd-1] == '"'
}

// slicedTargets are the targets and endpoints the sliced tests run: every
// passthrough of TestPassthroughRequest and TestPassthroughScannedMatchesScan
// (override or not, a default model inserted, Azure's model in the path,
// Anthropic's passthrough, streams asking usage or not), and a Claude host,
// which embeds the passthrough but must not decide as it does.
var slicedTargets = func() []struct {
	target Target
	path   string
} {
	out := []struct {
		target Target
		path   string
	}{
		{Target{}, "/v1/chat/completions"},
		{Target{ModelOverride: map[string]string{"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "m": "m\"2", "gpt-4o": strings.Repeat("o", 100)}}, "/v1/chat/completions"},
		{Target{DefaultModel: "fallback"}, "/v1/embeddings"},
		{Target{DefaultModel: "m2"}, "/v1/completions"},
		{Target{Schema: SchemaAzureOpenAI, APIVersion: "2024-10-21", ModelOverride: map[string]string{"m": "dep"}}, "/v1/chat/completions"},
		{Target{Schema: SchemaAnthropic, DefaultModel: "claude"}, "/v1/messages"},
		{Target{Schema: SchemaVertexAnthropic, Project: "p", Region: "us-east5"}, "/v1/messages"},
	}
	for _, tc := range passthroughRequestCases {
		out = append(out, struct {
			target Target
			path   string
		}{tc.target, tc.path})
	}
	return out
}()

// slicedBodies are the bodies of TestPassthroughRequest and
// TestPassthroughScannedMatchesScan, with the router phase's findings (its
// backend member removed, as it forwards the body).
func slicedBodies(t testing.TB) (bodies [][]byte, findings []bodyscan.Findings) {
	in := append(slices.Clone(scannedBodies),
		`{"stream":true,"stream_options":{},"model":"m","messages":[]}`,
		// stream_options after messages (its offset maps back past the
		// messages value), null, twice, around two messages members.
		`{"messages":[{"role":"user","content":"hi \"stream_options\""}],"stream":true,"stream_options":{"include_usage":false},"model":"gpt-4o-mini"}`,
		`{"model":"m","messages":[],"stream_options":null,"stream":true}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{},"stream":true,"stream_options":{}}`,
		`{"messages":[1],"stream":true,"stream_options":{"a":[]},"messages":[{"role":"user","content":"y"}],"model":"gpt-4o"}`,
		` {"stream":true , "messages" : [ ] , "stream_options" : { "include_usage" : true } }`,
	)
	for _, tc := range passthroughRequestCases {
		in = append(in, tc.body)
	}
	for _, s := range in {
		b, f, err := forwarded([]byte(s))
		if err != nil {
			continue // not a body the router phase forwards
		}
		bodies, findings = append(bodies, b), append(findings, f)
	}
	if len(bodies) < 20 {
		t.Fatalf("only %d bodies scanned", len(bodies))
	}
	return bodies, findings
}

// For every passthrough request case, the sliced form decides as the
// contiguous one for the body cut at every byte and at every pair of
// bytes (empty slices included); it decides every one that is not a stream
// asking usage.
func TestPassthroughSlicedMatchesScanned(t *testing.T) {
	bodies, findings := slicedBodies(t)
	decided := 0
	for ti, tg := range slicedTargets {
		for bi, body := range bodies {
			f := findings[bi]
			name := func(at ...int) string {
				return fmt.Sprintf("target %d %s, body %d %s cut at %v", ti, tg.path, bi, body, at)
			}
			if checkSliced(t, tg.target, tg.path, [][]byte{body}, f, false, name()) {
				decided++
			}
			for i := 0; i <= len(body); i++ {
				checkSliced(t, tg.target, tg.path, testbodies.Cut(body, i), f, false, name(i))
				step := 1
				if len(body) > 64 {
					step = 7
				}
				for j := i; j <= len(body); j += step {
					checkSliced(t, tg.target, tg.path, testbodies.Cut(body, i, j), f, false, name(i, j))
				}
			}
		}
	}
	if decided < len(bodies) {
		t.Errorf("the sliced form decided %d requests of %d", decided, len(slicedTargets)*len(bodies))
	}
}

// Findings of other bytes (a handoff collision, TestStaleFindings) make the
// sliced form leave the request to the contiguous one, which scans, or
// decide as it does: never panic or read out of range.
func TestPassthroughSlicedStaleFindings(t *testing.T) {
	const n = 100
	pad := func(s string) []byte { return []byte(s + strings.Repeat(" ", n-len(s))) }
	bodies := [][]byte{
		pad(`{"model":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","stream":true,"messages":[]}`),
		pad(`{"stream":true,"stream_options":{},"model":"m","messages":[{"role":"user","content":"hi"}]}`),
		pad(`{"messages":[{"role":"user","content":"hello there"}],"stream":false,"model":"gpt"}`),
		pad(`{"input":"x","model":"gpt"}`),
		[]byte(strings.Repeat(" ", 20) + string(pad(`{"stream":true,"model":"m"}`)[:n-20])),
		[]byte(strings.Repeat(`"`, n)),
		[]byte(strings.Repeat(`{`, n)),
	}
	var findings []bodyscan.Findings
	for _, b := range bodies {
		if scan, err := bodyscan.Scan(b, "backend"); err == nil {
			findings = append(findings, bodyscan.FindingsOf(scan, bodyscan.Member{}))
		}
	}
	override := Target{ModelOverride: map[string]string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "x", "m": "y", "gpt": "z"}}
	for _, tg := range []struct {
		target Target
		path   string
	}{{override, "/v1/chat/completions"}, {override, "/v1/embeddings"}, {Target{Schema: SchemaAnthropic}, "/v1/messages"}} {
		for fi, f := range findings {
			for bi, b := range bodies {
				for _, at := range [][]int{nil, {1}, {n / 2}, {3, 50, 51, 99}} {
					func() {
						defer func() {
							if r := recover(); r != nil {
								t.Errorf("findings %d on body %d cut at %v: panic %v", fi, bi, at, r)
							}
						}()
						checkSliced(t, tg.target, tg.path, testbodies.Cut(b, at...), f, true, fmt.Sprintf("%s: findings %d on body %d cut at %v", tg.path, fi, bi, at))
					}()
				}
			}
		}
	}
}

// FuzzPassthroughSliced: any body the router phase accepts, cut at any
// points, is decided by the sliced form as by the contiguous one.
func FuzzPassthroughSliced(f *testing.F) {
	bodies, _ := slicedBodies(f)
	for i, b := range bodies {
		f.Add(b, uint64(i)*0x9e3779b97f4a7c15, uint8(i))
	}
	f.Fuzz(func(t *testing.T, body []byte, cuts uint64, n uint8) {
		body, fs, err := forwarded(body)
		if err != nil {
			return
		}
		var at []int
		for i := 0; i < int(n%8); i++ {
			at = append(at, int(cuts>>(8*i)%uint64(len(body)+1)))
		}
		slices.Sort(at)
		tg := slicedTargets[int(n/8)%len(slicedTargets)]
		checkSliced(t, tg.target, tg.path, testbodies.Cut(body, at...), fs, false, fmt.Sprintf("%s %s cut at %v", tg.path, body, at))
	})
}
