package upstream

import (
	"reflect"
	"testing"
)

// Token usage is accounted when the response carries it, not at end of
// stream: a client that closes on "data: [DONE]" (openai-go does) resets the
// stream before the backend's final empty frame, and upstream filters get no
// stream_complete, so no later hook would record it.
func TestUsageAccountedWithoutEndOfStream(t *testing.T) {
	tests := []struct {
		backend string
		chunks  []string
		in, out float64
	}{
		{
			backend: "oai",
			chunks: []string{
				"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n",
				"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\ndata: [DONE]\n\n",
			},
			in: 7, out: 3,
		},
		{
			backend: "claude",
			chunks: []string{
				"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n",
				"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			},
			in: 7, out: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.backend, func(t *testing.T) {
			a := clientRequest(tt.backend, "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			f := NewFilter(pipelineConfig(t), a)
			if !decodeLikeEnvoy(t, f, a, []string{string(a.reqB.b)}) {
				t.Fatal("not forwarded")
			}
			a.respH = fakeHeaders{":status": "200", "content-type": "text/event-stream"}
			if st := f.OnResponseHeaders(false); st != Continue {
				t.Fatalf("response headers %v", st)
			}
			for _, c := range tt.chunks {
				a.respB.b = []byte(c)
				if st := f.OnResponseBody(false); st != Continue {
					t.Fatalf("response body %v", st)
				}
			}
			// The stream is reset here: no end-of-stream hook, no trailers.
			f.OnDestroy()
			want := map[string]float64{MetadataInputToken: tt.in, MetadataOutputToken: tt.out, MetadataTotalToken: tt.in + tt.out}
			for k, v := range want {
				if got := a.dynMD[MetadataNamespace+"/"+k]; got != v {
					t.Errorf("%s = %v, want %v", k, got, v)
				}
			}
			// The stats get each token once, however often usage was reported.
			if a.counters[CounterInputTokens] != uint64(tt.in) || a.counters[CounterOutputTokens] != uint64(tt.out) {
				t.Errorf("counters %v, want in=%v out=%v", a.counters, tt.in, tt.out)
			}
		})
	}
}

// usageSetter is an attempt that sets the usage numbers in one write
// (UsageMetadataSetter), counting the writes.
type usageSetter struct {
	*fakeAttempt
	batches, singles int
}

func (u *usageSetter) SetUsageMetadata(v UsageMetadata) {
	u.batches++
	for i, k := range MetadataUsageKeys {
		u.fakeAttempt.SetDynamicMetadataNumber(MetadataNamespace, k, v[i])
	}
}

func (u *usageSetter) SetDynamicMetadataNumber(ns, key string, v float64) {
	u.singles++
	u.fakeAttempt.SetDynamicMetadataNumber(ns, key, v)
}

// An attempt that sets the usage numbers in one write gets them all in one
// call, with the values one write per number gives.
func TestUsageMetadataInOneWrite(t *testing.T) {
	cfg := pipelineConfig(t)
	const resp = `{"model":"m","usage":{"prompt_tokens":30,"completion_tokens":7,"total_tokens":37,` +
		`"prompt_tokens_details":{"cached_tokens":5},"completion_tokens_details":{"reasoning_tokens":2}}}`
	var got [2]map[string]any
	for i, batch := range []bool{false, true} {
		a := clientRequest("oai", "/v1/chat/completions", chatBody)
		var at Attempt = a
		us := &usageSetter{fakeAttempt: a}
		if batch {
			at = us
		}
		f := NewFilter(cfg, at)
		f.OnRequestHeaders(false)
		f.OnRequestBody(true)
		a.respH = fakeHeaders{":status": "200", "content-type": "application/json"}
		f.OnResponseHeaders(false)
		a.respB.b = []byte(resp)
		f.OnResponseBody(true)
		got[i] = a.dynMD
		if batch && (us.batches != 1 || us.singles != 0) {
			t.Errorf("%d batches, %d single writes; want one batch", us.batches, us.singles)
		}
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("one write per number:\n%v\none write:\n%v", got[0], got[1])
	}
	if got[1][MetadataNamespace+"/"+MetadataReasoningToken] != 2.0 || got[1][MetadataNamespace+"/"+MetadataInputToken] != 30.0 {
		t.Errorf("usage metadata %v", got[1])
	}
}
