package translate

import (
	"strings"
	"testing"
)

// An OpenAI stream as the provider sends it when the request asked for
// usage (every chunk carries "usage":null, then a usage-only chunk), and
// the same stream recorded without stream_options: the client that did not
// ask must get exactly the second.
const (
	chunkA     = `{"id":"chatcmpl-B9","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_e5","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]`
	chunkB     = `{"id":"chatcmpl-B9","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_e5","choices":[{"index":0,"delta":{"content":"Hello \"usage\""},"logprobs":null,"finish_reason":null}]`
	chunkC     = `{"id":"chatcmpl-B9","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_e5","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]`
	usageChunk = `{"id":"chatcmpl-B9","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_e5","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`
)

func sse(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString("data: " + e + "\n\n")
	}
	return b.String()
}

var (
	recordedWithout = sse(chunkA+"}", chunkB+"}", chunkC+"}", "[DONE]")
	streams         = map[string]string{
		"openai (usage:null in every chunk)": sse(chunkA+`,"usage":null}`, chunkB+`,"usage":null}`, chunkC+`,"usage":null}`, usageChunk, "[DONE]"),
		"usage first, spaced":                sse(`{"usage": null , `+chunkA[1:]+"}", chunkB+"}", chunkC+"}", usageChunk, "[DONE]"),
		"only the usage chunk (vLLM, mock)":  sse(chunkA+"}", chunkB+"}", chunkC+"}", usageChunk, "[DONE]"),
		"crlf":                               strings.ReplaceAll(sse(chunkA+`,"usage":null}`, chunkB+`,"usage":null}`, chunkC+`,"usage":null}`, usageChunk, "[DONE]"), "\n", "\r\n"),
	}
)

// The usage the gateway asked for comes out byte-exactly, however the
// provider's stream is split into chunks, and is still counted.
func TestStreamUsageRemovedByteExact(t *testing.T) {
	for name, provider := range streams {
		want := recordedWithout
		if strings.HasPrefix(name, "crlf") {
			want = strings.ReplaceAll(recordedWithout, "\n", "\r\n")
		}
		for split := 1; split <= len(provider); split += 7 {
			tr, err := New(Target{Schema: SchemaOpenAI}, "/v1/chat/completions")
			if err != nil {
				t.Fatal(err)
			}
			res, err := tr.RequestBody([]byte(`{"model":"gpt-4o","stream":true,"messages":[]}`))
			if err != nil || !strings.Contains(string(res.Body), `"stream_options":{"include_usage":true}`) {
				t.Fatalf("request %s, %v", res.Body, err)
			}
			mode, err := tr.ResponseHeaders(200, "text/event-stream", "")
			if err != nil || !mode.ModifiesBody {
				t.Fatalf("mode %+v, %v", mode, err)
			}
			var got strings.Builder
			var u Usage
			for i := 0; i < len(provider); i += split {
				end := min(i+split, len(provider))
				out, usage, err := tr.ResponseBody([]byte(provider[i:end]), end == len(provider))
				if err != nil {
					t.Fatal(err)
				}
				got.Write(out)
				u = usage
			}
			if got.String() != want {
				t.Fatalf("%s, split %d:\n got  %q\n want %q", name, split, got.String(), want)
			}
			if u.InputTokens != 9 || u.OutputTokens != 2 || u.Model != "gpt-4o-2024-08-06" {
				t.Fatalf("%s: usage %+v", name, u)
			}
		}
	}
}

// A client that asked for usage gets the provider's stream untouched.
func TestStreamUsageKeptWhenAsked(t *testing.T) {
	tr, _ := New(Target{Schema: SchemaOpenAI}, "/v1/chat/completions")
	res, err := tr.RequestBody([]byte(`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`))
	if err != nil || res.Body != nil {
		t.Fatalf("body %s, %v", res.Body, err)
	}
	mode, _ := tr.ResponseHeaders(200, "text/event-stream", "")
	if mode.ModifiesBody {
		t.Fatal("an asked-for stream is modified")
	}
	in := streams["openai (usage:null in every chunk)"]
	out, _, _ := tr.ResponseBody([]byte(in), true)
	if string(out) != in {
		t.Fatalf("stream changed")
	}
}

// Azure is asked for usage only from the api-version that takes
// stream_options.
func TestAzureStreamUsageByVersion(t *testing.T) {
	for v, ask := range map[string]bool{"2024-02-01": false, "2024-06-01": false, "2024-10-21": true, "2025-01-01-preview": true} {
		tr, err := New(Target{Schema: SchemaAzureOpenAI, APIVersion: v}, "/v1/chat/completions")
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.RequestBody([]byte(`{"model":"d","stream":true}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Body != nil; got != ask {
			t.Errorf("api-version %s: body %s, want asked=%v", v, res.Body, ask)
		}
	}
}
