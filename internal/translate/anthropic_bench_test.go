package translate

import (
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/bodyscan"
)

// The OpenAI -> Anthropic attempt of the whole-path benchmark's anthropic
// scenario at 1 KiB (bench/wholepath_test.go): its request body as the
// attempt gets it (bench.BodySpec{Size: 1024, Model: "gpt-4o-mini",
// Backend: "anthropic", MinMessages: 4}.Build() with the backend member
// removed by the router phase), its target, and the mock provider's
// answer.
const (
	wholePathAnthBody     = `{"messages":[{"role":"system","content":"how and explain budget changing when this \"backend\": \"x\" tokens summary budget na\u00efve model fix C:\\path\\to\\file \u4f60\u597d if (a && b) { c(); } input emoji \ud83d\ude00 xenezyjczd"},{"role":"user","content":"is retry \"quoted\" gateway with window this context interface latency emoji \ud83d\ude00 returns emoji \ud83d\ude00 route function func f() { return x[0] } backend is na\u00efve \"quoted\" pax"},{"role":"assistant","content":"backend returns {\"key\": [1, 2, 3]} route cache answer input is it context function request tokens C:\\path\\to\\file [link](http://example.com) returns C:\\path\\to\\file \n error without retry returns interface explain interface when func f() { return x[0] } caf\u00e9 [link](http://example.com) it error caf\u00e9 window when latency [link](http://example.com) fix is retry \"model\": \"not-this-one\" yoksp"}],"temperature":0.7,"max_tokens":1024,"stream":false,"user":"bench-user-0001","model":"gpt-4o-mini"}`
	wholePathAnthResponse = `{"id":"msg_01bench","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","content":[{"type":"text","text":"ok, here is the summary"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":812,"output_tokens":6}}`
)

var wholePathAnthTarget = Target{Schema: SchemaAnthropic, DefaultModel: "claude-3-5-haiku-latest", APIVersion: "2023-06-01"}

// BenchmarkAnthropicWholePath is the translation work of one attempt of
// the whole path's anthropic/1KiB: request alone (RequestBodyScanned on
// the router phase's findings), response alone (the non-streamed answer
// translated back), and the whole attempt (request, then response, then
// Release, as the upstream phase does).
func BenchmarkAnthropicWholePath(b *testing.B) {
	body := []byte(wholePathAnthBody)
	resp := []byte(wholePathAnthResponse)
	scan, err := bodyscan.Scan(body, "backend")
	if err != nil {
		b.Fatal(err)
	}
	f := bodyscan.FindingsOf(scan, bodyscan.Member{})
	request := func(b *testing.B) Translator {
		tr, err := New(wholePathAnthTarget, "/v1/chat/completions")
		if err != nil {
			b.Fatal(err)
		}
		res, err := tr.(ScannedRequest).RequestBodyScanned(body, f)
		if err != nil {
			b.Fatal(err)
		}
		res.Release()
		return tr
	}
	b.Run("request", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			Release(request(b))
		}
	})
	b.Run("response", func(b *testing.B) {
		// The translator as the request left it: the upstream model known.
		b.SetBytes(int64(len(resp)))
		b.ReportAllocs()
		for b.Loop() {
			tr, err := New(wholePathAnthTarget, "/v1/chat/completions")
			if err != nil {
				b.Fatal(err)
			}
			tr.(*anthropicTranslator).model = wholePathAnthTarget.DefaultModel
			if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
				b.Fatal(err)
			}
			if _, _, err := tr.ResponseBody(resp, true); err != nil {
				b.Fatal(err)
			}
			Release(tr)
		}
	})
	b.Run("attempt", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			tr := request(b)
			if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
				b.Fatal(err)
			}
			if _, _, err := tr.ResponseBody(resp, true); err != nil {
				b.Fatal(err)
			}
			Release(tr)
		}
	})
}

// A warm attempt of the whole path's anthropic scenario allocates nothing:
// the request's metadata, tool choice and thinking point into the pooled
// request (anthRequest's storage), and the model names are the copies the
// pooled translator kept from its last attempt (modelNames). Fails with
// two allocations per attempt (metadata, model names) before them.
func TestAnthropicScannedAttemptAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: its sync.Pool drops items; make test runs this test again without -race")
	}
	tools := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"weather?"}],"user":"u-1","reasoning_effort":"low",` +
		`"max_tokens":2048,"parallel_tool_calls":false,"tool_choice":"auto","tools":[{"type":"function","function":` +
		`{"name":"weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]}`
	for _, c := range []struct {
		name, body string
		want       []string // in the translated request
	}{
		{"whole path", wholePathAnthBody, []string{`"metadata":{"user_id":"bench-user-0001"}`, `"temperature":0.7`}},
		{"tools and thinking", tools, []string{`"metadata":{"user_id":"u-1"}`, `"tool_choice":{"type":"auto","disable_parallel_tool_use":true}`,
			`"thinking":{"type":"enabled","budget_tokens":1024}`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := []byte(c.body)
			scan, err := bodyscan.Scan(body, "backend")
			if err != nil {
				t.Fatal(err)
			}
			f := bodyscan.FindingsOf(scan, bodyscan.Member{})
			resp := []byte(wholePathAnthResponse)
			attempt := func() {
				tr, err := New(wholePathAnthTarget, "/v1/chat/completions")
				if err != nil {
					t.Fatal(err)
				}
				res, err := tr.(ScannedRequest).RequestBodyScanned(body, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range c.want {
					if !strings.Contains(aliasString(res.Body), w) { // no conversion: nothing allocated here
						t.Fatalf("request %s lacks %s", res.Body, w)
					}
				}
				if res.Model != wholePathAnthTarget.DefaultModel || res.RequestModel != "gpt-4o-mini" {
					t.Fatalf("models %q %q", res.Model, res.RequestModel)
				}
				res.Release()
				if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
					t.Fatal(err)
				}
				out, u, err := tr.ResponseBody(resp, true)
				if err != nil || !strings.Contains(aliasString(out), `"content":"ok, here is the summary"`) || u.InputTokens != 812 || u.OutputTokens != 6 {
					t.Fatalf("%s %+v %v", out, u, err)
				}
				Release(tr)
			}
			attempt()
			if n := testing.AllocsPerRun(100, attempt); n != 0 {
				t.Fatalf("%v allocations per attempt", n)
			}
		})
	}
}
