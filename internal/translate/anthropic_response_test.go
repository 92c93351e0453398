package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

// anthropicResponseTranslator returns a translator that has seen a request.
func anthropicResponseTranslator(t testing.TB, stream, includeUsage bool) Translator {
	t.Helper()
	tr := newAnthropicT(t, anthTarget)
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]`
	if stream {
		body += `,"stream":true`
		if includeUsage {
			body += `,"stream_options":{"include_usage":true}`
		}
	}
	if _, err := tr.RequestBody([]byte(body + "}")); err != nil {
		t.Fatal(err)
	}
	return tr
}

// statusOf reads the HTTP status from an "error_NNN_" testdata name.
func statusOf(t *testing.T, name string) int {
	rest, ok := strings.CutPrefix(filepath.Base(name), "error_")
	if !ok {
		return http.StatusOK
	}
	status, err := strconv.Atoi(rest[:3])
	if err != nil {
		t.Fatalf("bad status in %s", name)
	}
	return status
}

func TestAnthropicResponseGolden(t *testing.T) {
	for _, in := range inputs(t, "anthropic/response", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			status := statusOf(t, in)
			tr := anthropicResponseTranslator(t, false, false)
			mode, err := tr.ResponseHeaders(status, "application/json", "")
			if err != nil {
				t.Fatal(err)
			}
			if mode.Stream || !mode.BufferBody || !mode.ModifiesBody || mode.ContentType != "application/json" || mode.Error != (status != 200) {
				t.Fatalf("unexpected mode %+v", mode)
			}
			out, _, err := tr.ResponseBody(body, true)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, goldenPath(in), indentJSON(t, out))
		})
	}
}

func TestAnthropicResponseWithOpenAITypes(t *testing.T) {
	body, err := os.ReadFile("testdata/anthropic/response/tool_use.json")
	if err != nil {
		t.Fatal(err)
	}
	tr := anthropicResponseTranslator(t, false, false)
	if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
		t.Fatal(err)
	}
	// Handing the body over in pieces must give the same result.
	half := len(body) / 2
	if out, _, err := tr.ResponseBody(body[:half], false); err != nil || len(out) != 0 {
		t.Fatalf("partial body produced %q, %v", out, err)
	}
	out, usage, err := tr.ResponseBody(body[half:], true)
	if err != nil {
		t.Fatal(err)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(out, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.Object != "chat.completion" || cc.ID != "msg_01Aq9w938a90dw8q" || cc.Model != "claude-sonnet-4-5-20250929" || cc.Created != fixedNow {
		t.Errorf("header fields: %+v", cc)
	}
	if len(cc.Choices) != 1 {
		t.Fatalf("choices: %d", len(cc.Choices))
	}
	ch := cc.Choices[0]
	if ch.FinishReason != "tool_calls" || ch.Message.Role != "assistant" || ch.Message.Content != "I'll check the weather in both cities." {
		t.Errorf("choice: %+v", ch)
	}
	if len(ch.Message.ToolCalls) != 2 {
		t.Fatalf("tool calls: %+v", ch.Message.ToolCalls)
	}
	call := ch.Message.ToolCalls[0]
	if call.ID != "toolu_01A09q90qw90lq917835lq9" || call.Type != "function" || call.Function.Name != "get_weather" {
		t.Errorf("tool call: %+v", call)
	}
	var args map[string]string
	if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil || args["city"] != "Paris" || args["unit"] != "c" {
		t.Errorf("arguments %q: %v", call.Function.Arguments, err)
	}
	if ch.Message.ToolCalls[1].Function.Arguments != "{}" {
		t.Errorf("empty input arguments = %q", ch.Message.ToolCalls[1].Function.Arguments)
	}
	// input 350 + cache write 100 + cache read 2000 = 2450 prompt tokens.
	if cc.Usage.PromptTokens != 2450 || cc.Usage.CompletionTokens != 80 || cc.Usage.TotalTokens != 2530 || cc.Usage.PromptTokensDetails.CachedTokens != 2000 {
		t.Errorf("usage: %+v", cc.Usage)
	}
	want := Usage{InputTokens: 2450, OutputTokens: 80, TotalTokens: 2530, CachedInputTokens: 2000, CacheCreationInputTokens: 100, Model: "claude-sonnet-4-5-20250929"}
	if usage != want {
		t.Errorf("Usage = %+v, want %+v", usage, want)
	}
}

func TestAnthropicErrorResponse(t *testing.T) {
	tests := []struct {
		name, body, wantType, wantMessage string
		status                            int
	}{
		{"rate limit", `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, "rate_limit_error", "slow down", 429},
		{"no type", `{"error":{"message":"odd"}}`, "api_error", "odd", 500},
		{"empty body", ``, "api_error", "the anthropic backend returned HTTP 503", 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := anthropicResponseTranslator(t, true, true)
			mode, err := tr.ResponseHeaders(tc.status, "application/json", "")
			if err != nil || !mode.Error || mode.Stream {
				t.Fatalf("mode %+v, %v", mode, err)
			}
			out, usage, err := tr.ResponseBody([]byte(tc.body), true)
			if err != nil {
				t.Fatal(err)
			}
			var e openai.Error
			if err := json.Unmarshal(out, &struct {
				Error *openai.Error `json:"error"`
			}{&e}); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if e.Type != tc.wantType || e.Message != tc.wantMessage || usage != (Usage{}) {
				t.Errorf("got %s usage %+v", out, usage)
			}
		})
	}
}

func TestAnthropicGzipResponses(t *testing.T) {
	body, err := os.ReadFile("testdata/anthropic/response/text.json")
	if err != nil {
		t.Fatal(err)
	}
	plain := anthropicResponseTranslator(t, false, false)
	if _, err := plain.ResponseHeaders(200, "application/json", ""); err != nil {
		t.Fatal(err)
	}
	want, _, err := plain.ResponseBody(body, true)
	if err != nil {
		t.Fatal(err)
	}
	want = bytes.Clone(want)

	tr := anthropicResponseTranslator(t, false, false)
	mode, err := tr.ResponseHeaders(200, "application/json", "gzip")
	if err != nil || !mode.RemoveContentEncoding || !mode.ModifiesBody {
		t.Fatalf("mode %+v, %v", mode, err)
	}
	gz := gzipBytes(t, body)
	if out, _, err := tr.ResponseBody(gz[:10], false); err != nil || len(out) != 0 {
		t.Fatalf("partial gzip: %q %v", out, err)
	}
	got, usage, err := tr.ResponseBody(gz[10:], true)
	if err != nil || !bytes.Equal(got, want) || usage.TotalTokens != 21 {
		t.Fatalf("gzip response: %s %+v %v", got, usage, err)
	}

	stream, err := os.ReadFile("testdata/anthropic/stream/text.sse")
	if err != nil {
		t.Fatal(err)
	}
	wantStream, _ := translateStream(t, true, stream)
	st := anthropicResponseTranslator(t, true, true)
	if _, err := st.ResponseHeaders(200, "text/event-stream", "gzip"); err != nil {
		t.Fatal(err)
	}
	gz = gzipBytes(t, stream)
	var gotStream []byte
	for i := 0; i < len(gz); i += 7 {
		end := min(i+7, len(gz))
		out, _, err := st.ResponseBody(gz[i:end], end == len(gz))
		if err != nil {
			t.Fatal(err)
		}
		gotStream = append(gotStream, out...)
	}
	if !bytes.Equal(gotStream, wantStream) {
		t.Fatalf("gzip stream:\n%s", gotStream)
	}

	bad := anthropicResponseTranslator(t, false, false)
	if _, err := bad.ResponseHeaders(200, "application/json", "gzip"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bad.ResponseBody([]byte("not gzip"), true); err == nil {
		t.Fatal("corrupt gzip accepted")
	}
	if _, err := anthropicResponseTranslator(t, false, false).ResponseHeaders(200, "application/json", "br"); err == nil {
		t.Fatal("brotli accepted")
	} else if ue, ok := AsError(err, KindProvider); !ok || ue.Status != http.StatusBadGateway {
		t.Fatalf("brotli: %v", err)
	}
}

// responseOracleCases are provider bodies whose translation must match the
// struct-decoding oracle byte for byte.
var responseOracleCases = []string{
	`{"id":"m","model":"c","content":[{"type":"text","text":"a\nb \"q\" \u00e9 \ud83d\ude00 \/ \u0001"},{"type":"thinking","thinking":"x"},{"type":"text","text":""},{"type":"text","text":"c"},{"type":"tool_use","id":"t1","name":"f","input":{ "a" : [1, 2] }},{"type":"tool_use","id":"t2","name":"g"}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4,"cache_read_input_tokens":2,"cache_creation_input_tokens":1}}`,
	`{"id":"m","content":[],"stop_reason":"max_tokens","usage":{}}`,
	`{"id":"m","content":null,"stop_reason":null}`,
	`{"id":"m","content":[{"type":"text","text":null}]}`,
	`{"content":[{"type":"text","text":5}]}`,
	`{"content":{"type":"text"}}`,
	`{"content":[1]}`,
	"{\"content\":[{\"type\":\"text\",\"text\":\"bad \xff utf8\"}]}",
	`{"id":5}`,
	`[]`,
}

func TestAnthropicResponseMatchesOracle(t *testing.T) {
	bodies := append([]string(nil), responseOracleCases...)
	for _, in := range inputs(t, "anthropic/response", ".json") {
		if statusOf(t, in) == http.StatusOK {
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, string(b))
		}
	}
	for i, body := range bodies {
		checkResponseOracle(t, strconv.Itoa(i), []byte(body))
	}
}

// checkResponseOracle fails when the translation of a 2xx provider body
// differs from the oracle's: both succeed with the same bytes (and usage),
// or both fail. Two exceptions: a body that is not valid JSON may fail where
// the oracle's decoder skipped an invalid escape inside an unknown member
// of a content block; and one the walk accepts that nests deeper than the
// decoder's limit (deeperThanDecoder).
func checkResponseOracle(t *testing.T, name string, body []byte) {
	t.Helper()
	tr := anthropicResponseTranslator(t, false, false).(*anthropicTranslator)
	oracle := anthropicResponseTranslator(t, false, false).(*anthropicTranslator)
	got, err := tr.translateMessage(body)
	want, werr := oracle.oracleTranslateMessage(body)
	if err != nil && werr == nil && !json.Valid(body) {
		return
	}
	if err == nil && werr != nil && deeperThanDecoder(body) {
		return // TestDeepNestingFollowsBodyscan
	}
	if (err == nil) != (werr == nil) {
		t.Fatalf("%s: error %v, oracle %v for %q", name, err, werr, body)
	}
	if !bytes.Equal(got, want) || (err == nil && tr.tokens != oracle.tokens) {
		t.Fatalf("%s: output\n%s\noracle\n%s\ntokens %+v, oracle %+v", name, got, want, tr.tokens, oracle.tokens)
	}
}

// TestAnthropicResponseAllocsFlat: translating a response allocates the
// same whatever the number of content blocks.
func TestAnthropicResponseAllocsFlat(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: its sync.Pool drops items, so pooled decoders allocate; make test runs this test again without -race")
	}
	measure := func(blocks int) float64 {
		var b strings.Builder
		b.WriteString(`{"id":"msg_1","model":"claude","content":[`)
		for i := range blocks {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":"text","text":"part %d\n"},{"type":"tool_use","id":"t%d","name":"f","input":{"i":%d}}`, i, i, i)
		}
		b.WriteString(`],"stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":7}}`)
		body := []byte(b.String())
		return testing.AllocsPerRun(20, func() {
			tr := anthropicResponseTranslator(t, false, false)
			if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
				t.Fatal(err)
			}
			if _, _, err := tr.ResponseBody(body, true); err != nil {
				t.Fatal(err)
			}
		})
	}
	if one, many := measure(1), measure(300); many > one+2 {
		t.Fatalf("allocations: %v with 1 block pair, %v with 300", one, many)
	}
}

// A pooled Anthropic translator (translate.New) goes back to its pool on
// Release with nothing of its attempt but its response buffer's memory: the
// next attempt's translator reports its own model and usage, writes its own
// response from the start, and what the previous one returned was not
// touched until its Release.
func TestAnthropicTranslatorReleaseForgetsTheAttempt(t *testing.T) {
	respond := func(tr Translator, id, model string, in, out int) []byte {
		t.Helper()
		if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"id":%q,"model":%q,"content":[{"type":"text","text":"answer of %s"}],"stop_reason":"end_turn",`+
			`"usage":{"input_tokens":%d,"output_tokens":%d}}`, id, model, id, in, out)
		got, _, err := tr.ResponseBody([]byte(body), true)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := anthropicResponseTranslator(t, false, false)
	a := respond(first, "msg_first_with_a_longer_id", "claude-first", 111, 222)
	kept := string(a)
	if !strings.Contains(kept, `"id":"msg_first_with_a_longer_id"`) || !strings.Contains(kept, `"prompt_tokens":111`) {
		t.Fatalf("first response %s", kept)
	}
	Release(first)
	if p := first.(*anthropicTranslator); p.pooled || p.model != "" || p.tokens != (anthTokens{}) || len(p.out) != 0 || p.mode != (ResponseMode{}) {
		t.Fatalf("released translator keeps its attempt: %+v", p)
	}
	for range 3 { // sync.Pool may hand back the released one or a new one: both must be clean
		second := anthropicResponseTranslator(t, false, false)
		b := respond(second, "msg_2", "claude-second", 3, 4)
		var r struct {
			ID    string
			Model string
			Usage struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("second response %s: %v", b, err)
		}
		if r.ID != "msg_2" || r.Model != "claude-second" || r.Usage.PromptTokens != 3 || r.Usage.CompletionTokens != 4 {
			t.Fatalf("second response %s", b)
		}
		Release(second)
	}
	// A translator not from the pool (a Claude host's) is left alone.
	host := &anthropicTranslator{target: anthTarget, model: "m"}
	host.Release()
	if host.model != "m" {
		t.Fatal("Release cleared a translator that is not pooled")
	}
}

// An attempt's Anthropic translator and its translated response come from
// the pool once it is warm: a short chat's whole attempt (request, then
// the response the provider answers with the requested model) allocates
// only what the request's translation does, not the translator (~400 B)
// and the response (~800 B) again. Fails with two allocations more.
func TestAnthropicAttemptAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: its sync.Pool drops items; make test runs this test again without -race")
	}
	req := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"summarize"}]}`)
	resp := []byte(`{"id":"msg_1","model":"claude-3-5-haiku-latest","content":[{"type":"text","text":"ok, here is the summary"}],` +
		`"stop_reason":"end_turn","usage":{"input_tokens":812,"output_tokens":6}}`)
	attempt := func() {
		tr, err := New(anthTarget, "/v1/chat/completions")
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.RequestBody(req)
		if err != nil {
			t.Fatal(err)
		}
		res.BodyBuffer.Release()
		if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
			t.Fatal(err)
		}
		out, _, err := tr.ResponseBody(resp, true)
		if err != nil || !bytes.Contains(out, []byte(`"content":"ok, here is the summary"`)) {
			t.Fatalf("%s %v", out, err)
		}
		Release(tr)
	}
	requestOnly := func() {
		tr := &anthropicTranslator{target: anthTarget, path: defaultAnthropicPath}
		res, err := tr.RequestBody(req)
		if err != nil {
			t.Fatal(err)
		}
		res.BodyBuffer.Release()
	}
	attempt()
	requestOnly()
	whole, request := testing.AllocsPerRun(100, attempt), testing.AllocsPerRun(100, requestOnly)
	if whole > request-1 { // requestOnly allocates its translator; the attempt does not
		t.Fatalf("%v allocations per attempt, %v for its request's translation alone (its translator included)", whole, request)
	}
}

// finishReason answers one of its constants, which translateWhole writes
// between quotes as they are: what the escaping encoder writes for them.
func TestFinishReasonNeedsNoEscaping(t *testing.T) {
	for _, stop := range []string{"end_turn", "stop_sequence", "pause_turn", "max_tokens", "model_context_window_exceeded",
		"tool_use", "refusal", "", "unknown \"x\" \\ \n"} {
		r := finishReason(stop)
		if got, want := string(appendQuoted(nil, r)), string(appendJSONString(nil, r)); got != want {
			t.Errorf("finishReason(%q) = %s written as is, %s escaped", stop, got, want)
		}
	}
}
