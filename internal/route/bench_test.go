package route

import (
	"testing"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/testbodies"
)

// BenchmarkRouteDecision is the router phase's whole per-request work on the
// body Envoy hands over: copy it in (Envoy's Bytes() copy, into a reused
// buffer here), scan, decide, strip the backend member in place.
func BenchmarkRouteDecision(b *testing.B) {
	cfg, err := config.Parse([]byte(`{"backends":[{"name":"deploy-a","models":["gpt-4o-mini"]},{"name":"deploy-b","models":["gpt-4o-mini"]}]}`))
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []struct {
		name string
		n    int
	}{{"1KiB", 1 << 10}, {"100KiB", 100 << 10}, {"1MiB", 1 << 20}} {
		body := testbodies.Chat(size.n, true)
		buf := make([]byte, len(body))
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, body)
				r, err := bodyscan.Scan(buf, cfg.BackendField)
				if err != nil {
					b.Fatal(err)
				}
				d, e := Decide(cfg, Input{Body: r})
				if e != nil || d.Backend != "deploy-b" {
					b.Fatal(e)
				}
				if out := bodyscan.RemoveMember(buf, r.Backend); len(out) >= len(body) {
					b.Fatal("not removed")
				}
			}
		})
	}
}
