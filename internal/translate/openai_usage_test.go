package translate

import (
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/bodyscan"
)

// strictOpenAIUsage is the reader readOpenAIUsage replaced (a strict decode
// into oaiUsage), kept as the oracle its results must match.
func strictOpenAIUsage(raw []byte, dst *Usage) {
	if isNull(raw) {
		return
	}
	var u oaiUsage
	if err := jsonAPI.UnmarshalFromString(string(raw), &u); err != nil {
		return
	}
	*dst = usageFromOpenAI(&u, dst.Model)
}

var openAIUsageCases = []string{
	`{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}`,
	`{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"accepted_prediction_tokens":0}}`,
	` { "prompt_tokens" : 9 , "completion_tokens" : 3 } `,
	`{"prompt_tokens":null,"completion_tokens":3,"prompt_tokens_details":null,"completion_tokens_details":null}`,
	`{"prompt_tokens_details":{},"completion_tokens_details":{"reasoning_tokens":null}}`,
	`{"prompt_tokens":-5,"completion_tokens":-0,"total_tokens":-12}`,
	`{"prompt_tokens":9223372036854775807,"completion_tokens":1}`,
	`{"prompt_tokens":9223372036854775808,"completion_tokens":1}`,
	`{"prompt_tokens":-9223372036854775808,"completion_tokens":0}`,
	`{"prompt_tokens":-9223372036854775809,"completion_tokens":0}`,
	`{"prompt_tokens":9999999999999999999,"completion_tokens":0}`,
	`{"prompt_tokens":18446744073709551616,"completion_tokens":0}`,
	`{"prompt_tokens":0,"completion_tokens":-1,"total_tokens":1000000000000000000}`,
	`{"prompt_tokens":1E2,"completion_tokens":1.5e-3}`,
	`{"prompt_tokens":1.0,"completion_tokens":1}`,
	`{"prompt_tokens":1e2,"completion_tokens":1}`,
	`{"prompt_tokens":"9","completion_tokens":1}`,
	`{"prompt_tokens":true,"completion_tokens":1}`,
	`{"prompt_tokens":[9],"completion_tokens":1}`,
	`{"prompt_tokens_details":5,"completion_tokens":1}`,
	`{"prompt_tokens_details":[],"completion_tokens":1}`,
	`{"prompt_tokens_details":{"cached_tokens":"4"},"prompt_tokens":9}`,
	`{"prompt_tokens_details":{"cached_tokens":4.5},"prompt_tokens":9}`,
	`{"prompt_tokens":1,"prompt_tokens":7,"completion_tokens":1}`,
	`{"Prompt_Tokens":9,"completion_tokens":1}`,
	`{"prompt_tok\u0065ns":9,"completion_tokens":1}`,
	`{"other":{"prompt_tokens":99},"text":"a\"b","completion_tokens":1}`,
	`{}`,
	`null`,
	`[]`,
	`9`,
	`"usage"`,
	``,
	`{"prompt_tokens":9,}`,
	`{"prompt_tokens":9`,
	`{"prompt_tokens":09}`,
	`{"prompt_tokens":9} x`,
}

// TestReadOpenAIUsageMatchesStrictDecode: reading a response's usage with
// the scanner gives exactly what the strict decode gave, for well-formed,
// mistyped and malformed usage objects alike (a malformed one makes the
// response invalid: nothing is read).
func TestReadOpenAIUsageMatchesStrictDecode(t *testing.T) {
	for _, c := range openAIUsageCases {
		got, want := Usage{Model: "m"}, Usage{Model: "m"}
		openaiUsageScanner{}.body([]byte(`{"usage":`+c+`}`), &got)
		strictOpenAIUsage([]byte(c), &want)
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", c, got, want)
		}
	}
}

// TestOpenAIUsageBody: usage and model of a whole response, read in one
// validating walk; an invalid body or a repeated member yields nothing for
// that member, and the body is not changed.
func TestOpenAIUsageBody(t *testing.T) {
	const u = `"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}`
	cases := []struct {
		name, body string
		want       Usage
	}{
		{"usage and model", `{"id":"x","model":"gpt-4o-2024-08-06",` + u + `}`, Usage{InputTokens: 9, OutputTokens: 3, TotalTokens: 12, Model: "gpt-4o-2024-08-06"}},
		{"usage only", `{` + u + `}`, Usage{InputTokens: 9, OutputTokens: 3, TotalTokens: 12, Model: "asked"}},
		{"null usage", `{"model":"b","usage":null}`, Usage{Model: "b"}},
		{"invalid body after usage", `{` + u + `,"choices":[}`, Usage{Model: "asked"}},
		{"bad escape elsewhere", `{"model":"b",` + u + `,"x":"\q"}`, Usage{Model: "asked"}},
		{"trailing garbage", `{"model":"b",` + u + `} {}`, Usage{Model: "asked"}},
		{"not an object", `[{` + u + `}]`, Usage{Model: "asked"}},
		{"usage twice", `{"model":"b",` + u + `,` + u + `}`, Usage{Model: "b"}},
		{"model twice", `{"model":"b","model":"c",` + u + `}`, Usage{InputTokens: 9, OutputTokens: 3, TotalTokens: 12, Model: "asked"}},
		{"nested usage is not the response's", `{"choices":[{"usage":{"prompt_tokens":5}}]}`, Usage{Model: "asked"}},
		{"model not a string", `{"model":5,` + u + `}`, Usage{InputTokens: 9, OutputTokens: 3, TotalTokens: 12, Model: "asked"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := []byte(c.body)
			got := Usage{Model: "asked"}
			openaiUsageScanner{}.body(b, &got)
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			if string(b) != c.body {
				t.Errorf("body changed: %s", b)
			}
		})
	}
}

// FuzzReadOpenAIUsage: for any input the reader agrees with the strict
// decode, for every valid JSON input (on invalid input the new reader reads
// nothing; the strict decode was laxer about escapes and control bytes).
func FuzzReadOpenAIUsage(f *testing.F) {
	for _, c := range openAIUsageCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if bodyscan.Walk(b, func(string, int, int) error { return nil }) != nil {
			return // invalid (or not an object): the new reader reads nothing
		}
		got, want := Usage{}, Usage{}
		openaiUsageScanner{}.body([]byte(`{"usage":`+string(b)+`}`), &got)
		strictOpenAIUsage(b, &want)
		if got != want {
			t.Fatalf("%q: got %+v, want %+v", b, got, want)
		}
	})
}

// BenchmarkOpenAIUsageBody: reading usage and model from a non-streamed
// ~1 KiB chat completion, as the passthrough does once per response.
func BenchmarkOpenAIUsageBody(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-abc123","object":"chat.completion","created":1700000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20) +
		`","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":210,"total_tokens":229,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"system_fingerprint":"fp_1"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		u := Usage{Model: "gpt-4o-2024-08-06"}
		openaiUsageScanner{}.body(body, &u)
		if u.TotalTokens != 229 {
			b.Fatal(u)
		}
	}
}

var endpointSink endpoint

// TestUsageAndEndpointAllocateNothing: reading a response's usage and
// parsing the client's path cost no allocation per request.
func TestUsageAndEndpointAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("-race changes allocation counts; make test runs this test again without -race")
	}
	body := []byte(`{"model":"gpt-4o","usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}}`)
	cases := map[string]func(){
		"usage body": func() {
			u := Usage{Model: "gpt-4o"}
			openaiUsageScanner{}.body(body, &u)
		},
		"endpoint": func() { endpointSink = parseEndpoint("/v1/chat/completions?api-version=1") },
	}
	for name, run := range cases {
		if n := testing.AllocsPerRun(50, run); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}
