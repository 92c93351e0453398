package metrics

import (
	"testing"
	"time"
)

// BenchmarkRecord is the per-attempt cost on the hot path in the steady
// state (label tuple already seen): a streamed chat attempt with usage,
// TTFT, TPOT and two header attributes.
func BenchmarkRecord(b *testing.B) {
	p := testProcess(b)
	r := p.newRecorder(Spec{ListenAddress: ListenOff, Headers: []HeaderAttribute{{"x-api-key-id", "api_key_id"}, {"x-team", "team"}},
		BackendAttributes: map[string]map[string]string{"primary": {"aim_service_id": "svc-1"}}})
	defer r.Close()
	start := time.Now()
	a := Attempt{Operation: OpChat, Provider: "openai", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06", Backend: "primary",
		Usage: Usage{Input: 120, Output: 40, CachedInput: 64, Reasoning: 8, Reported: true},
		Start: start, FirstToken: start.Add(150 * time.Millisecond), End: start.Add(900 * time.Millisecond), Streaming: true}
	a.Headers[0], a.Headers[1] = "key-7", "search"
	r.Record(&a)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.Record(&a)
	}
}

func BenchmarkRecordParallel(b *testing.B) {
	p := testProcess(b)
	r := p.newRecorder(Spec{ListenAddress: ListenOff, Headers: []HeaderAttribute{{"x-api-key-id", "api_key_id"}}})
	defer r.Close()
	start := time.Now()
	a := Attempt{Operation: OpChat, Provider: "openai", RequestModel: "gpt-4o", ResponseModel: "gpt-4o", Backend: "primary",
		Usage: Usage{Input: 120, Output: 40, Reported: true}, Start: start, FirstToken: start.Add(time.Millisecond), End: start.Add(time.Second), Streaming: true}
	r.Record(&a)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		a := a
		for pb.Next() {
			r.Record(&a)
		}
	})
}
