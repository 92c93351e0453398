package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/aigw/aigw/internal/bodyscan"
)

func TestAnthropicRequestGolden(t *testing.T) {
	for _, in := range inputs(t, "anthropic/request", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := newAnthropicT(t, anthTarget).RequestBody(body)
			if err != nil {
				t.Fatalf("RequestBody: %v", err)
			}
			if !json.Valid(res.Body) {
				t.Fatalf("translated body is not JSON: %s", res.Body)
			}
			view := struct {
				Path          string          `json:"path"`
				Headers       []Header        `json:"headers"`
				RemoveHeaders []string        `json:"remove_headers"`
				Model         string          `json:"model"`
				Stream        bool            `json:"stream"`
				Body          json.RawMessage `json:"body"`
			}{res.Path, res.Headers, res.RemoveHeaders, res.Model, res.Stream, res.Body}
			got, err := json.Marshal(view)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, goldenPath(in), indentJSON(t, got))
		})
	}
}

func TestAnthropicRequestRejects(t *testing.T) {
	base := func(extra string) string {
		return `{"model":"m","messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	tests := []struct {
		name        string
		body        string
		unsupported bool // else invalid request
		param       string
	}{
		{"n greater than one", base(`,"n":2`), true, "n"},
		{"logprobs", base(`,"logprobs":true`), true, "logprobs"},
		{"top_logprobs", base(`,"top_logprobs":3`), true, "top_logprobs"},
		{"json schema", base(`,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}}`), true, "response_format"},
		{"json object", base(`,"response_format":{"type":"json_object"}`), true, "response_format"},
		{"seed", base(`,"seed":42`), true, "seed"},
		{"frequency penalty", base(`,"frequency_penalty":0.5`), true, "frequency_penalty"},
		{"logit bias", base(`,"logit_bias":{"50256":-100}`), true, "logit_bias"},
		{"audio modality", base(`,"modalities":["text","audio"]`), true, "modalities"},
		{"reasoning effort unknown", base(`,"reasoning_effort":"extreme"`), false, "reasoning_effort"}, // the values: anthropic_thinking_test.go
		{"unknown parameter", base(`,"frobnicate":true`), true, "frobnicate"},
		{"deprecated functions", base(`,"functions":[{"name":"f"}]`), true, "functions"},
		{"temperature above one", base(`,"temperature":1.5`), false, "temperature"},
		{"temperature negative", base(`,"temperature":-0.1`), false, "temperature"},
		{"top_p above one", base(`,"top_p":1.1`), false, "top_p"},
		{"zero max tokens", base(`,"max_tokens":0`), false, "max_tokens"},
		{"zero max completion tokens", base(`,"max_completion_tokens":0,"max_tokens":10`), false, "max_completion_tokens"},
		{"stop not strings", base(`,"stop":[1,2]`), false, "stop"},
		{"tool choice unknown", base(`,"tool_choice":"sometimes"`), false, "tool_choice"},
		{"tool choice allowed_tools", base(`,"tool_choice":{"type":"allowed_tools","allowed_tools":{}}`), true, "tool_choice"},
		{"custom tool", base(`,"tools":[{"type":"custom","custom":{"name":"x"}}]`), true, "tools[0].type"},
		{"tool without name", base(`,"tools":[{"type":"function","function":{}}]`), false, "tools[0].function.name"},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`, true, "messages[0].content[0]"},
		{"file part", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"file","file":{"file_id":"f"}}]}]}`, true, "messages[0].content[1]"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"hi"}]}`, true, "messages[0].content[0]"},
		{"svg data uri", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/svg+xml;base64,PHN2Zz4="}}]}]}`, true, "messages[0].content[0].image_url.url"},
		{"non-base64 data uri", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,raw"}}]}]}`, true, "messages[0].content[0].image_url.url"},
		{"ftp image", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, false, "messages[0].content[0].image_url.url"},
		{"bad tool arguments", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{not json"}}]}]}`, false, "messages[1].tool_calls[0].function.arguments"},
		{"array tool arguments", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, false, "messages[1].tool_calls[0].function.arguments"},
		{"tool message without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, false, "messages[0].tool_call_id"},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, true, "messages[0].role"},
		{"unknown role", `{"model":"m","messages":[{"role":"narrator","content":"x"}]}`, false, "messages[0].role"},
		{"empty user message", `{"model":"m","messages":[{"role":"user","content":""}]}`, true, "messages[0].content"},
		{"only system", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, false, "messages"},
		{"missing model", `{"messages":[{"role":"user","content":"hi"}]}`, false, "model"},
		{"content wrong type", `{"model":"m","messages":[{"role":"user","content":42}]}`, false, "messages[0].content"},
		{"not json", `{"model":`, false, ""},
		{"messages wrong type", `{"model":"m","messages":"hi"}`, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newAnthropicT(t, Target{Schema: SchemaAnthropic}).RequestBody([]byte(tc.body))
			ue, isUnsupported := AsError(err, KindUnsupported)
			ie, isInvalid := AsError(err, KindInvalid)
			switch {
			case isUnsupported:
				if !tc.unsupported || ue.Param != tc.param || ue.Status != http.StatusBadRequest {
					t.Fatalf("got unsupported Error{Status:%d Param:%q %s}, want unsupported=%v param %q", ue.Status, ue.Param, ue.Message, tc.unsupported, tc.param)
				}
				checkErrorJSON(t, ue.JSON(), tc.param)
			case isInvalid:
				if tc.unsupported || ie.Param != tc.param || ie.Status != http.StatusBadRequest {
					t.Fatalf("got invalid Error{Status:%d Param:%q %s}, want unsupported=%v param %q", ie.Status, ie.Param, ie.Message, tc.unsupported, tc.param)
				}
				checkErrorJSON(t, ie.JSON(), tc.param)
			default:
				t.Fatalf("got error %v, want a typed error for %q", err, tc.param)
			}
		})
	}
}

// checkErrorJSON asserts the OpenAI error body shape and its param.
func checkErrorJSON(t *testing.T, b []byte, param string) {
	t.Helper()
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error JSON %s: %v", b, err)
	}
	if e.Error.Message == "" || e.Error.Type != "invalid_request_error" {
		t.Fatalf("error JSON lacks message/type: %s", b)
	}
	if (param == "") != (e.Error.Param == nil) || (e.Error.Param != nil && *e.Error.Param != param) {
		t.Fatalf("error JSON param = %v, want %q: %s", e.Error.Param, param, b)
	}
}

func TestAnthropicRequestDefaultsAndOverrides(t *testing.T) {
	tests := []struct {
		name   string
		target Target
		body   string
		want   map[string]any // top-level members expected in the Anthropic body
		absent []string
	}{
		{
			name:   "default max tokens and no optional members",
			target: Target{Schema: SchemaAnthropic},
			body:   `{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}`,
			want:   map[string]any{"model": "claude-x", "max_tokens": float64(4096)},
			absent: []string{"system", "temperature", "top_p", "stop_sequences", "stream", "tools", "tool_choice", "metadata"},
		},
		{
			name:   "default model override applies to any model",
			target: Target{Schema: SchemaAnthropic, DefaultModel: "claude-default"},
			body:   `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":7}`,
			want:   map[string]any{"model": "claude-default", "max_tokens": float64(7)},
		},
		{
			name:   "map override wins over default",
			target: Target{Schema: SchemaAnthropic, DefaultModel: "claude-default", ModelOverride: map[string]string{"gpt-4o": "claude-mapped"}},
			body:   `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			want:   map[string]any{"model": "claude-mapped"},
		},
		{
			name:   "parallel tool calls off without tool choice",
			target: Target{Schema: SchemaAnthropic},
			body:   `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":false}`,
			want:   map[string]any{"tool_choice": map[string]any{"type": "auto", "disable_parallel_tool_use": true}},
		},
		{
			name:   "temperature bounds accepted",
			target: Target{Schema: SchemaAnthropic},
			body:   `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1,"top_p":0,"top_k":5}`,
			want:   map[string]any{"temperature": float64(1), "top_p": float64(0), "top_k": float64(5)},
		},
		{
			name:   "null parameters are absent parameters",
			target: Target{Schema: SchemaAnthropic},
			body:   `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":null,"stop":null,"tools":null,"tool_choice":null,"n":null,"seed":null,"logit_bias":{},"metadata":null,"store":false,"service_tier":"auto"}`,
			absent: []string{"temperature", "stop_sequences", "tools", "tool_choice"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := newAnthropicT(t, tc.target).RequestBody([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(res.Body, &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				gv, _ := json.Marshal(got[k])
				wv, _ := json.Marshal(v)
				if !bytes.Equal(gv, wv) {
					t.Errorf("%s = %s, want %s", k, gv, wv)
				}
			}
			for _, k := range tc.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s present, want absent: %s", k, res.Body)
				}
			}
			if res.Model != got["model"] {
				t.Errorf("RequestResult.Model = %q, body model %v", res.Model, got["model"])
			}
		})
	}
}

// oracleCases are bodies whose translation must match the struct-decoding
// oracle (sameTranslation): escapes of every kind (kept as the client
// wrote them, or replaced as the decoder does: lone surrogates, invalid
// UTF-8), joined system texts (also after a turn: the two-pass
// conversion), merged turns, tool results, images, float formats and raw
// tool schemas with whitespace.
var oracleCases = []string{
	`{"model":"m","messages":[{"role":"user","content":"lone \ud800 \\ud800 \udc00x \ud83d\u0041 \ud83d\ude00 \uD83D\uDE00 \ud83d"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"system","content":"late \"s\""},{"role":"assistant","content":"b"},{"role":"developer","content":[{"type":"text","text":"d"}]},{"role":"user","content":"c"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"system","content":""}]}`,
	`{"model":"m","messages":[{"role":"system","content":"only system"}]}`,
	// Image URLs: raw, escaped, not a string, null, not UTF-8.
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0K+/=="}},{"type":"image_url","image_url":{"url":"data:image/png;base64,ab\/cd\u002b=="}},{"type":"image_url","image_url":{"url":"https://x/a?b=\"c\"&d=<e>"}}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":5}}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":null}}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`,
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/\xff\"}}]}]}",
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/\\u00e9\xff\"}}]}]}",
	// A tool call decoded from {} keeps nothing of the previous message's.
	`{"model":"0","messages":[{"role":"assistant","tool_calls":[{"id":"0","function":{"name":"0"}}]},{"role":"assistant","tool_calls":[{}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"line\nbreak \"q\" \\ \/ \u00e9 \ud83d\ude00 \u2028 \b\f\t\r \u0001 <>&"}]}`,
	`{"model":"m","messages":[{"role":"system","content":"a\nb"},{"role":"developer","content":[{"type":"text","text":"x\ty"},{"type":"text","text":""},{"type":"text","text":"z"}]},{"role":"system","content":""},{"role":"system","content":null},{"role":"system","content":"last"},{"role":"user","content":"hi"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"},{"type":"text","text":""},{"type":"image_url","image_url":{"url":"data:image/png;base64,"}},{"type":"image_url","image_url":{"url":"https://x/\u00e9.png"}}]},{"role":"assistant","content":[{"type":"refusal","refusal":"no\n"},{"type":"text","text":"ok"}],"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":" {\"a\": [1, 2]} "}},{"id":"c2","function":{"name":"g","arguments":""}}]},{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"r1"},{"type":"text","text":"\u0000"}]},{"role":"tool","tool_call_id":"c2","content":""},{"role":"assistant","content":null,"tool_calls":[{"id":"c3","type":"function","function":{"name":"h","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c3","content":"done"},{"role":"user","content":"thanks"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1e-7,"top_p":0.30000000000000004,"top_k":0,"max_completion_tokens":3,"stop":"\n\n","user":"u\"1"}`,
	`{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"top_p":1,"stop":["a","\u00e9"],"stream":true,"stream_options":{"include_usage":true},"tools":[{"type":"function","function":{"name":"f","description":"d\n","parameters":{ "type" : "object",  "properties":{} }}},{"type":"function","function":{"name":"g","parameters":null}}],"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false}`,
	`{"model":"m","messages":[{"role":"assistant","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}],"tool_choice":"none","parallel_tool_calls":false}`,
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"invalid \xff utf8 \xe2\x82\"}]}",
	` { "model" : "m" , "messages" : [ { "role" : "user" , "content" : [ { "type" : "text" , "text" : "spaced" } ] } ] } `,
}

// oracleBodies are oracleCases and the inputs of the request goldens.
func oracleBodies(t *testing.T) []string {
	return append(append([]string(nil), oracleCases...), inputBodies(t, "anthropic/request")...)
}

// inputBodies are the contents of the golden inputs under testdata/dir.
func inputBodies(t *testing.T, dir string) []string {
	var bodies []string
	for _, in := range inputs(t, dir, ".json") {
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	return bodies
}

func TestAnthropicRequestMatchesOracle(t *testing.T) {
	for i, body := range oracleBodies(t) {
		checkOracle(t, fmt.Sprint(i), []byte(body))
	}
}

// checkOracle fails when the translation of body differs from the oracle's:
// both succeed with the same bytes, or both fail.
func checkOracle(t *testing.T, name string, body []byte) {
	t.Helper()
	got, err := newAnthropicT(t, anthTarget).RequestBody(body)
	want, werr := newAnthropicT(t, anthTarget).(*anthropicTranslator).oracleRequestBody(body)
	if err == nil && werr != nil && deeperThanDecoder(body) {
		return // TestDeepNestingFollowsBodyscan
	}
	if (err == nil) != (werr == nil) {
		t.Fatalf("%s: error %v, oracle %v for %q", name, err, werr, body)
	}
	if err == nil && (!sameTranslation(body, got.Body, want.Body) || got.Model != want.Model || got.Stream != want.Stream) {
		t.Fatalf("%s: body\n%s\noracle\n%s", name, got.Body, want.Body)
	}
}

// sameTranslation reports whether got, the translation of body, is the
// oracle's want: byte for byte when body has no escapes and is valid
// UTF-8; else the same tokens in the same order, strings compared decoded
// (the translator copies a string as the client spelled its escapes, the
// oracle decodes and encodes it again; invalid UTF-8 becomes U+FFFD in
// both, escaped or not), and got valid JSON whose strings are valid UTF-8
// without lone surrogates, as the oracle's are.
func sameTranslation(body, got, want []byte) bool {
	if !bytes.Contains(body, []byte{'\\'}) && utf8.Valid(body) {
		return bytes.Equal(got, want)
	}
	if !json.Valid(got) || !utf8.Valid(got) || hasLoneSurrogate(got) {
		return false
	}
	g, gok := jsonTokens(got)
	w, wok := jsonTokens(want)
	return gok && wok && slices.Equal(g, w)
}

// hasLoneSurrogate reports whether the JSON text b has a \u escape of a
// surrogate that is not half of a high-low pair.
func hasLoneSurrogate(b []byte) bool {
	pendingHigh := false
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			if pendingHigh {
				return true
			}
			continue
		}
		if i+1 < len(b) && b[i+1] != 'u' {
			if pendingHigh {
				return true
			}
			i++
			continue
		}
		if i+6 > len(b) {
			return true
		}
		v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		if err != nil {
			return true
		}
		switch {
		case v >= 0xd800 && v < 0xdc00:
			if pendingHigh {
				return true
			}
			pendingHigh = true
		case v >= 0xdc00 && v < 0xe000:
			if !pendingHigh {
				return true
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return true
			}
		}
		i += 5
	}
	return pendingHigh
}

// jsonTokens lists the tokens of a JSON document, strings decoded.
func jsonTokens(b []byte) ([]string, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, true
		}
		if err != nil {
			return nil, false
		}
		out = append(out, fmt.Sprintf("%T:%v", tok, tok))
	}
}

// TestAnthropicRequestAllocsFlat: the translation allocates the same
// whatever the number of messages (the messages are walked, not decoded
// into values), and, its result released as the upstream phase does, at
// most a quarter of the body in bytes: the output buffer is pooled
// (body_buffer.go; before, 1.25x the body and 22 allocations), whether it
// validates the body or takes the router phase's findings.
func TestAnthropicRequestAllocsFlat(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: its sync.Pool drops items, so pooled decoders allocate; make test runs this test again without -race")
	}
	for _, scanned := range []bool{false, true} {
		measure := func(size int) (allocs float64, bytesPerOp uint64, bodyLen int) {
			body := chatRequestOfSize(t, size)
			scan, err := bodyscan.Scan(body, "backend")
			if err != nil {
				t.Fatal(err)
			}
			f := bodyscan.FindingsOf(scan, bodyscan.Member{})
			run := func() {
				tr := newAnthropicT(t, anthTarget)
				var res RequestResult
				var err error
				if scanned {
					res, err = tr.(ScannedRequest).RequestBodyScanned(body, f)
				} else {
					res, err = tr.RequestBody(body)
				}
				if err != nil {
					t.Fatal(err)
				}
				res.Release()
			}
			run()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			allocs = testing.AllocsPerRun(20, run)
			runtime.ReadMemStats(&after)
			return allocs, (after.TotalAlloc - before.TotalAlloc) / 21, len(body)
		}
		small, _, _ := measure(1 << 10)
		large, bytesLarge, n := measure(100 << 10)
		if large > 30 || large > small+2 {
			t.Fatalf("scanned %v: allocations: %v at 1 KiB, %v at 100 KiB (want flat, at most 30)", scanned, small, large)
		}
		if bytesLarge > uint64(n)/4 {
			t.Fatalf("scanned %v: %d bytes allocated for a %d-byte body (want at most a quarter: a garbage collection may empty the pool)", scanned, bytesLarge, n)
		}
	}
}

func TestAppendFloatMatchesEncoder(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.5, 0.2, 1e-6, 9.99e-7, 1e-7, 1.5e-10, 123456789, 1e20, 1e21, 3.4e38, 0.30000000000000004, -2.5e-8} {
		want, err := jsonAPI.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s, encoder %s", f, got, want)
		}
	}
}

// rawCopyable accepts a validated literal's contents exactly when copying
// them says what decoding and encoding them again would: valid UTF-8, and
// every surrogate escape half of a pair.
func TestRawCopyable(t *testing.T) {
	for _, tc := range []struct {
		inner string
		want  bool
	}{
		{``, true},
		{`plain text`, true},
		{`caf\u00e9 \n \" \\ \/ \b \f \t \r \u0000`, true},
		{`na\u00efve \u4F60`, true},
		{"raw UTF-8 \u00e9 \u4f60", true},
		{`\ud83d\ude00`, true},
		{`\uD83D\uDE00x`, true},
		{`\\ud800`, true}, // an escaped backslash, then text
		{`\ud800`, false},
		{`x\ud800y`, false},
		{`\udc00`, false},
		{`\ud83d\u0041`, false},
		{`\ud83d\ud83d`, false},
		{`\ud83d\n`, false},
		{"invalid \xff", false},
		{"truncated \xe2\x82", false},
	} {
		if got := rawCopyable([]byte(tc.inner)); got != tc.want {
			t.Errorf("rawCopyable(%q) = %v, want %v", tc.inner, got, tc.want)
		}
	}
}

// The options are decoded without the messages value (decodeWithout); a
// decode error still quotes the bytes the client sent.
func TestAnthropicSchemaErrorQuotesClientBytes(t *testing.T) {
	for _, body := range []string{
		`{"messages":[{"role":"user","content":"hello there"}],"max_tokens":"x","model":"m"}`,
		`{"model":5,"messages":[{"role":"user","content":"hi"}]}`,
	} {
		_, err := newAnthropicT(t, anthTarget).RequestBody([]byte(body))
		ie, ok := AsError(err, KindInvalid)
		if !ok {
			t.Fatalf("%s: %v, want an invalid request", body, err)
		}
		if bytes.Contains([]byte(ie.Message), []byte(`null`)) {
			t.Errorf("%s: the error quotes the decoder's copy: %s", body, ie.Message)
		}
	}
}

// The findings the router phase hands over after it cut the backend
// member (their messages span moved with the bytes: TestFindingsOf)
// translate the body exactly as RequestBody does, the top-level walk
// jumping over that span (bodyscan.WalkTrustedKnown), wherever the cut
// was and with a second messages member.
func TestAnthropicScannedAfterBackendCut(t *testing.T) {
	for _, body := range []string{
		`{"backend":"b","model":"m","max_tokens":5,"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi \"]\" there"}]}`,
		`{"model":"m", "messages" : [ {"content":[{"type":"text","text":"a]"}],"role":"user"} ] ,"backend":"b","temperature":0.5}`,
		`{"messages":[{"role":"user","content":"x"}],"backend":"b","model":"m","messages":[{"role":"user","content":"second"}]}`,
		`{"backend":"b","model":"m","messages":[]}`,
		`{"model":"m","backend":"b"}`,
	} {
		b := []byte(body)
		scan, err := bodyscan.Scan(b, "backend")
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		cut := bodyscan.RemoveMember(b, scan.Backend)
		f := bodyscan.FindingsOf(scan, scan.Backend)
		got, gerr := newAnthropicT(t, anthTarget).(ScannedRequest).RequestBodyScanned(cut, f)
		want, werr := newAnthropicT(t, anthTarget).RequestBody(cut)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || string(got.Body) != string(want.Body) {
			t.Errorf("%s: scanned %s %v, RequestBody %s %v", cut, got.Body, gerr, want.Body, werr)
		}
	}
}

// The result's Model (upstream) and RequestModel (the client's) are
// copies, not views of the body (copied into one string when they
// differ), and the pooled request and converter a translation used are
// clean for the next one.
func TestAnthropicRequestModelsAreCopies(t *testing.T) {
	for _, c := range []struct{ client, upstream string }{
		{"gpt-4o-mini", "claude-3-5-haiku-latest"}, // overridden
		{"claude-opus-4", "claude-opus-4"},         // as sent
	} {
		body := []byte(`{"model":"` + c.client + `","messages":[{"role":"user","content":"hi"}]}`)
		res, err := newAnthropicT(t, anthTarget).RequestBody(body)
		if err != nil {
			t.Fatal(err)
		}
		for i := range body {
			body[i] = 'X'
		}
		if res.Model != c.upstream || res.RequestModel != c.client {
			t.Fatalf("model %q, request model %q; want %q, %q", res.Model, res.RequestModel, c.upstream, c.client)
		}
		res.Release()
	}
}

// A converter back in the pool keeps nothing of what it read.
func TestConverterReleaseForgets(t *testing.T) {
	c := converters.Get().(*msgConverter)
	c.m = chatMessage{Role: "user", ToolCalls: []chatToolCall{{ID: "call_1"}}}
	c.block = anthRawBlock{Text: rawJSON(`"x"`)}
	c.resp.ID = "msg_1"
	c.trusted, c.raw, c.validDoc = true, true, true
	c.used = usedMessage | usedBlock | usedResp // as the walks that wrote them set it
	c.scratch = make([]byte, 10, maxPooledScratch+1)
	calls := c.m.ToolCalls
	c.release()
	converters.Get() // take it out again, so no other test reuses it
	if calls[0] != (chatToolCall{}) || c.m.Role != "" || len(c.m.ToolCalls) != 0 || c.block.Text != nil || c.resp.ID != "" ||
		c.trusted || c.raw || c.validDoc || c.scratch != nil || c.used != 0 {
		t.Fatalf("release kept %+v", c)
	}
}

// The request's headers: the version and content-type, with the default
// version or a configured one (which gets its own list).
func TestAnthropicRequestHeaders(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	for _, c := range []struct{ version, want string }{{"", defaultAnthropicVersion}, {"2099-01-01", "2099-01-01"}} {
		target := anthTarget
		target.APIVersion = c.version
		res, err := newAnthropicT(t, target).RequestBody(body)
		if err != nil {
			t.Fatal(err)
		}
		want := []Header{{Key: "anthropic-version", Value: c.want}, {Key: "content-type", Value: "application/json"}}
		if !slices.Equal(res.Headers, want) {
			t.Fatalf("version %q: headers %v, want %v", c.version, res.Headers, want)
		}
		res.Release()
	}
}

// release names every field of a converter: a field added later must be
// cleared there too (this list fails until it is).
func TestConverterReleaseCoversFields(t *testing.T) {
	var names []string
	typ := reflect.TypeFor[msgConverter]()
	for i := range typ.NumField() {
		names = append(names, typ.Field(i).Name)
	}
	want := []string{"m", "part", "scratch", "dec", "dry", "trusted", "validDoc", "raw", "long", "sysMark", "sysStart", "block", "resp", "used"}
	if !slices.Equal(names, want) {
		t.Fatalf("msgConverter's fields are %v; release clears %v", names, want)
	}
	// A part with anything in it is cleared, whatever the field.
	c := converters.Get().(*msgConverter)
	c.part.ImageURL = &struct {
		URL rawJSON `json:"url"`
	}{}
	c.resp.counts[3] = 1
	c.block.Thinking = rawJSON(`"t"`)
	c.sysStart = 4
	c.used = usedPart | usedBlock | usedResp // as the walks that wrote them set it
	c.release()
	converters.Get()
	if c.part.ImageURL != nil || c.resp.counts[3] != 0 || c.block.Thinking != nil || c.sysStart != 0 {
		t.Fatalf("release kept %+v", c)
	}
}

// modelNames.of copies the names (a body overwritten after the call does
// not change them), one string for both when they differ, and hands the
// same copies back while the names stay the same.
func TestModelNamesOf(t *testing.T) {
	var k modelNames
	var last [2]string
	for i, c := range []struct {
		model, request string
		reused         bool // the copies of the call before
	}{
		{"claude-3-5-haiku-latest", "gpt-4o-mini", false},
		{"claude-3-5-haiku-latest", "gpt-4o-mini", true},
		{"claude-opus-4", "claude-opus-4", false},
		{"claude-opus-4", "claude-opus-4", true},
		{"claude-opus-4", "gpt-4.1", false},
		{"claude-sonnet-4-5", "gpt-4.1", false},
		{"", "", false},
	} {
		src := []byte(c.model + c.request)
		model, request := aliasString(src[:len(c.model)]), aliasString(src[len(c.model):])
		gotModel, gotRequest := k.of(model, request)
		for j := range src {
			src[j] = 'X'
		}
		if gotModel != c.model || gotRequest != c.request {
			t.Fatalf("%d: of(%q, %q) = %q, %q", i, c.model, c.request, gotModel, gotRequest)
		}
		same := unsafe.StringData(gotModel) == unsafe.StringData(last[0]) && unsafe.StringData(gotRequest) == unsafe.StringData(last[1])
		if c.model != "" && same != c.reused {
			t.Fatalf("%d: of(%q, %q) reused the last copies: %v, want %v", i, c.model, c.request, same, c.reused)
		}
		last = [2]string{gotModel, gotRequest}
	}
}

// Pooled translators keep the copies of their last model names: one after
// another, through Release, each attempt reports its own models, whatever
// the attempt before named and whatever becomes of the bodies.
func TestAnthropicPooledModelNames(t *testing.T) {
	for i, c := range []struct{ client, upstream string }{
		{"gpt-4o-mini", "claude-3-5-haiku-latest"},
		{"gpt-4o-mini", "claude-3-5-haiku-latest"},
		{"claude-opus-4", "claude-opus-4"},
		{"gpt-4.1", "claude-sonnet-4-5"},
		{"gpt-4o-mini", "claude-3-5-haiku-latest"},
	} {
		body := []byte(`{"model":"` + c.client + `","messages":[{"role":"user","content":"hi"}]}`)
		tr := newAnthropicT(t, anthTarget)
		res, err := tr.RequestBody(body)
		if err != nil {
			t.Fatal(err)
		}
		for j := range body {
			body[j] = 'X'
		}
		if res.Model != c.upstream || res.RequestModel != c.client {
			t.Fatalf("%d: model %q, request model %q; want %q, %q", i, res.Model, res.RequestModel, c.upstream, c.client)
		}
		res.Release()
		Release(tr)
	}
}

// Real translations, requests and responses of every shape the converter
// reads (string and part contents, images, tool calls and results, decoded
// messages and blocks, thinking, tool use), leave nothing in the converter
// they put back in the pool but its storage: each part a walk wrote set its
// used bit, so release cleared it.
func TestConverterReleasedAfterUse(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: its sync.Pool drops items; make test runs this test again without -race")
	}
	requests := []string{
		`{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},` +
			`{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"done"}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":"caf\u00e9 \"q\"","role":"user"},{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"system","content":"late"}]}`,
	}
	responses := []string{
		`{"id":"msg_1","model":"claude","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}`,
		`{"id":"msg_2","model":"claude","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"a","text":"b"},` +
			`{"type":"tool_use","id":"t1","name":"f","input":{"x":1}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}}`,
		`{"id":"msg_\u0033","model":"claude","content":[{"type":"text","text":"x"}],"stop_reason":"end_turn"}`,
	}
	check := func(what string) {
		t.Helper()
		c := converters.Get().(*msgConverter)
		defer converters.Put(c)
		calls, scratch := c.m.ToolCalls, c.scratch
		c.m.ToolCalls, c.scratch = nil, nil
		if !zeroed(c) || len(calls) != 0 || len(scratch) != 0 || slices.ContainsFunc(calls[:cap(calls)], func(tc chatToolCall) bool { return tc != chatToolCall{} }) {
			t.Fatalf("after %s the pooled converter keeps %+v (tool calls %v)", what, c, calls[:cap(calls)])
		}
		c.m.ToolCalls, c.scratch = calls, scratch
	}
	for _, body := range requests {
		res, err := newAnthropicT(t, anthTarget).RequestBody([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		res.Release()
		check(body)
	}
	for _, body := range responses {
		tr := anthropicResponseTranslator(t, false, false)
		if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tr.ResponseBody([]byte(body), true); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		check(body)
	}
}
