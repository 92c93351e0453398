package bench

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aigw/aigw/test/host"
)

// quotaJSON is the bench's quota member: three in-process rules (per-client
// enforce, per-model shadow, a 60-sub-bucket sliding global enforce) with
// limits no run reaches, so every request reserves, settles and writes its
// cost and ticket metadata.
const quotaJSON = `{"budgets":[
  {"name":"bench-client","per":"client","limit":4000000000,"window":"1h","mode":"enforce"},
  {"name":"bench-model","per":"model","limit":4000000000,"window":"24h","mode":"shadow"}],
  "global":{"name":"bench-global","limit":4000000000,"window":"1h","window_type":"sliding","sub_buckets":60,"mode":"enforce"}}`

// BenchmarkInProcessABIQuota is BenchmarkInProcessABI (one worker, the
// smallest body) without and with in-process budgets, through the built .so
// in the host's router bench mode: the difference is the budget check's cost
// on the router phase's hot path (CPU per request, every thread).
func BenchmarkInProcessABIQuota(b *testing.B) {
	body := ChatBody(Sizes[0].Bytes)
	for _, withQuota := range []bool{false, true} {
		name := "no-quota"
		if withQuota {
			name = "budgets"
		}
		b.Run(name, func(b *testing.B) {
			spec, err := abiSpec(1, body)
			if err != nil {
				b.Fatal(err)
			}
			if withQuota {
				var doc map[string]json.RawMessage
				if err := json.Unmarshal([]byte(ConfigJSON), &doc); err != nil {
					b.Fatal(err)
				}
				doc["quota"] = json.RawMessage(quotaJSON)
				js, err := json.Marshal(doc)
				if err != nil {
					b.Fatal(err)
				}
				if spec.PluginConfig, err = host.StringValueAny(js); err != nil {
					b.Fatal(err)
				}
				spec.RequestHeaders = append(spec.RequestHeaders, [2]string{"x-api-key-id", "team-a"})
			}
			rb, err := host.StartRouterBench(context.Background(), spec)
			if err != nil {
				b.Fatal(err)
			}
			defer rb.Close()
			if _, err := rb.Run(200); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			res, err := rb.Run(b.N)
			if err != nil {
				b.Fatal(err)
			}
			if res.Failures > 0 {
				b.Fatalf("%d of %d requests failed the router check: %s", res.Failures, res.Requests, res.FirstFailure)
			}
			reportABI(b, res)
			if p := rb.Problems(); len(p) > 0 {
				b.Errorf("host problems: %v", p)
			}
		})
	}
}
