package filter

import (
	"testing"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The cost the router phase adds to a request it does not inspect: reading
// :path and :method and, since issue 11, the two routing headers (removed
// when the client sent them). Envoy's side of each header read is a cgo call
// the fakes do not model; test/host's router bench mode measures that.
func BenchmarkUninspected(b *testing.B) {
	a, _ := anypb.New(wrapperspb.String(testConfig))
	cfg, err := Parser{}.Parse(a, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, spoof := range []bool{false, true} {
		name := "no-routing-header"
		if spoof {
			name = "spoofed-model-header"
		}
		b.Run(name, func(b *testing.B) {
			h := newHeaders(":method", "GET", ":path", "/v1/files", "authorization", "Bearer sk-x")
			s := newStream()
			var r Router
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if spoof {
					h.h["x-ai-eg-model"] = []string{"gpt-4o"}
				}
				r.Init(cfg, s)
				r.DecodeHeaders(h, true)
			}
		})
	}
}

// The in-process budget check on the router phase's hot path: one routed
// request (headers, body scan, routing, reserve, stream complete with the
// settle and the cost metadata, destroy) without and with quota budgets
// (three rules: per-client enforce, per-model shadow, global enforce). The
// difference is what quotas cost a request; the fakes' own allocations
// (header and body copies) are in both.
func BenchmarkRoutedQuota(b *testing.B) {
	const backends = `"backends":[{"name":"deploy-a","models":["gpt-4o-mini"]}]`
	for _, tc := range []struct{ name, doc string }{
		{"no-quota", `{` + backends + `}`},
		{"budgets", `{` + backends + `,"quota":{"budgets":[
		  {"name":"bench-client","per":"client","limit":4000000000,"window":"1h","mode":"enforce"},
		  {"name":"bench-model","per":"model","limit":4000000000,"window":"24h","mode":"shadow"}],
		  "global":{"name":"bench-global","limit":4000000000,"window":"1h","window_type":"sliding","sub_buckets":60,"mode":"enforce"}}}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a, _ := anypb.New(wrapperspb.String(tc.doc))
			cfg, err := Parser{}.Parse(a, nil)
			if err != nil {
				b.Fatal(err)
			}
			body := []byte(`{"model":"gpt-4o-mini","max_tokens":256,"messages":[{"role":"user","content":"hello there"}]}`)
			h := post("/v1/chat/completions", "x-api-key-id", "team-a")
			s := newStream()
			buf := &fakeBuffer{b: body}
			var r Router
			b.ReportAllocs()
			for b.Loop() {
				r.Init(cfg, s)
				r.DecodeHeaders(h, false)
				r.DecodeData(buf, true)
				r.OnStreamComplete()
				r.OnDestroy()
			}
		})
	}
}
