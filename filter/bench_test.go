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
