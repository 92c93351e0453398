package config_test

import (
	"fmt"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/cost"
	"github.com/aigw/aigw/internal/quota"
)

// The calls the request path makes (issue 15, second part).
func ExampleQuota() {
	c, _ := config.Parse([]byte(`{"backends":[{"name":"oa","models":["gpt"]}],
	  "quota":{"budgets":[{"name":"per-key","per":"client","limit":1000,"window":"1h","mode":"enforce"}]}}`))
	q := c.Quota
	eng := q.Engine() // nil when no budgets are configured

	// Router phase, body read: identity header value, model, backend, body size, max_tokens (-1 if absent).
	key := quota.Key{Client: q.Identity("team-a"), Model: "gpt", Backend: "oa"}
	res, d := eng.Reserve(key, q.Estimate(2000, 400)) // 500 input + 400 output
	fmt.Println("allowed:", d.Allowed, "remaining:", d.Remaining)
	_, d2 := eng.Reserve(key, q.Estimate(2000, 400))
	fmt.Println("second allowed:", d2.Allowed, "retry-after:", d2.RetryAfter > 0, "rule:", eng.Rules()[d2.Rule].Name)

	// Streaming: after each usage update, charge what was delivered so far.
	if d := eng.Charge(&res, q.BudgetCharge(cost.Usage{Input: 500, Output: 100})); !d.Allowed {
		fmt.Println("cut the stream")
	}
	// A failed attempt calls eng.Release(&res) instead of Settle.
	// Response complete: settle to the reported usage; write every cost to dynamic metadata.
	u := cost.Usage{Input: 480, Output: 120}
	eng.Settle(&res, q.BudgetCharge(u))
	q.CostValues(u, func(key string, v uint64, err error) { fmt.Println("metadata", key, v) })
	// Output:
	// allowed: true remaining: 100
	// second allowed: false retry-after: true rule: per-key
	// metadata total_tokens 600
}
