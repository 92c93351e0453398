package metrics

import "testing"

// BenchmarkRecord is the per-attempt cost on the hot path in the steady
// state (label tuple already seen): a streamed chat attempt with usage,
// TTFT, TPOT and two header attributes.
func BenchmarkRecord(b *testing.B) {
	p := testProcess(b)
	r := p.newRecorder(Spec{ListenAddress: ListenOff, Headers: []HeaderAttribute{{"x-api-key-id", "api_key_id"}, {"x-team", "team"}},
		BackendAttributes: map[string]map[string]string{"primary": {"aim_service_id": "svc-1"}}})
	defer r.Close()
	a := streamed("key-7", "search")
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
	a := streamed("key-7")
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
