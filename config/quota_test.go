package config

import (
	"strings"
	"testing"
	"time"

	"github.com/aigw/aigw/internal/cost"
	"github.com/aigw/aigw/internal/quota"
)

func parseQuota(t *testing.T, q string) (*Config, error) {
	t.Helper()
	return Parse([]byte(`{"backends":[{"name":"a","models":["m"]}],"quota":` + q + `}`))
}

func TestQuotaDefaults(t *testing.T) {
	c, err := parseQuota(t, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	q := c.Quota
	if q.IdentityHeader != "x-api-key-id" || q.DefaultIdentity != "anonymous" || q.DefaultOutputTokens != 1024 ||
		q.BudgetCost != "total_tokens" || q.Engine() != nil {
		t.Fatalf("%+v", q)
	}
	if q.Identity("") != "anonymous" || q.Identity("team-a") != "team-a" {
		t.Fatal("identity")
	}
	var got []string
	q.CostValues(cost.Usage{Input: 3, Output: 4}, func(k string, v uint64, err error) {
		got = append(got, k)
		if v != 7 || err != nil {
			t.Errorf("%s=%d %v", k, v, err)
		}
	})
	if strings.Join(got, ",") != "total_tokens" {
		t.Fatal(got)
	}
	if c, _ := Parse([]byte(`{"backends":[]}`)); c.Quota != nil {
		t.Fatal("no quota member must mean no quota")
	}
}

func TestQuotaFull(t *testing.T) {
	doc := `{"identity_header":"x-client","default_identity":"nobody","default_output_tokens":2e3,
	  "costs":[{"name":"total","type":"total"},{"name":"weighted","type":"cel","cel":"input_tokens + output_tokens * 4"}],
	  "budget_cost":"weighted",
	  "budgets":[
	    {"name":"per-key","per":"client","limit":1e6,"window":"1h","window_type":"sliding","sub_buckets":12,"mode":"enforce","max_keys":500},
	    {"name":"per-model","per":"model","limit":5000000,"window":"60s","mode":"shadow"}],
	  "global":{"limit":1e8,"window":"24h","mode":"shadow"}}`
	c, err := parseQuota(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	q := c.Quota
	rules := q.Engine().Rules()
	want := []quota.Rule{
		{Name: "per-key", Scope: quota.PerClient, Limit: 1e6, Window: time.Hour, SubBuckets: 12, Mode: quota.Enforce, MaxKeys: 500},
		{Name: "per-model", Scope: quota.PerModel, Limit: 5e6, Window: time.Minute, SubBuckets: 1, Mode: quota.Shadow, MaxKeys: quota.DefaultMaxKeys},
		{Name: "global", Scope: quota.Global, Limit: 1e8, Window: 24 * time.Hour, SubBuckets: 1, Mode: quota.Shadow, MaxKeys: 1},
	}
	if len(rules) != len(want) {
		t.Fatal(rules)
	}
	for i := range want {
		if rules[i] != want[i] {
			t.Errorf("rule %d: %+v, want %+v", i, rules[i], want[i])
		}
	}
	// 400 bytes ≈ 100 input tokens; output 50 → 100 + 50*4.
	if got := q.Estimate(400, 50); got != 300 {
		t.Errorf("estimate %d", got)
	}
	if got := q.Estimate(400, -1); got != 100+2000*4 {
		t.Errorf("estimate with default output %d", got)
	}
	vals := map[string]uint64{}
	q.CostValues(cost.Usage{Input: 10, Output: 5}, func(k string, v uint64, err error) { vals[k] = v })
	if vals["total"] != 15 || vals["weighted"] != 30 || len(vals) != 2 {
		t.Fatal(vals)
	}
	// The same rules in another parse (the other phase, a reload) share counters.
	c2, err := parseQuota(t, doc)
	if err != nil || c2.Quota.Engine() != q.Engine() {
		t.Fatal("engines not shared", err)
	}
	c3, _ := parseQuota(t, strings.Replace(doc, "1e6", "2e6", 1))
	if c3.Quota.Engine() == q.Engine() {
		t.Fatal("different rules share an engine")
	}
}

func TestQuotaErrorsNameTheField(t *testing.T) {
	rule := func(extra string) string {
		return `{"budgets":[{"name":"r","per":"client","limit":10,"window":"1m","mode":"enforce"` + extra + `}]}`
	}
	for _, tc := range []struct{ doc, want string }{
		{`{"identity_header":"X-Key"}`, "quota.identity_header"},
		{`{"default_output_tokens":-1}`, `field "quota.default_output_tokens": must be a whole`},
		{`{"default_output_tokens":1.5}`, `field "quota.default_output_tokens"`},
		{`{"costs":[{"name":"a.b","type":"total"}]}`, "quota.costs[0].name"},
		{`{"costs":[{"name":"a","type":"total"},{"name":"a","type":"input"}]}`, `quota.costs[1].name: "a" is used twice`},
		{`{"costs":[{"name":"a","type":"bogus"}]}`, "quota.costs[0].type"},
		{`{"costs":[{"name":"a","type":"cel","cel":"input_tokens > 1"}]}`, "quota.costs[0].cel"},
		{`{"costs":[{"name":"a","type":"cel","cel":"nope"}]}`, "quota.costs[0].cel"},
		{`{"costs":[{"name":"a","type":"cel"}]}`, "quota.costs[0].cel: required"},
		{`{"budget_cost":"zzz"}`, "quota.budget_cost"},
		{`{"budgets":[{"per":"client","limit":10,"window":"1m","mode":"enforce"}]}`, "quota.budgets[0].name: required"},
		{rule(`,"per":"user"`), `quota.budgets[0].per: "user"`}, // a repeated key: the last one counts
		{`{"budgets":[{"name":"r","limit":10,"window":"1m","mode":"enforce"}]}`, "quota.budgets[0].per: required"},
		{`{"budgets":[{"name":"r","per":"team","limit":10,"window":"1m","mode":"enforce"}]}`, "quota.budgets[0].per"},
		{`{"budgets":[{"name":"r","per":"client","limit":10,"window":"1m"}]}`, "quota.budgets[0].mode: required"},
		{rule(`,"mode":"warn"`), "quota.budgets[0].mode"},
		{`{"budgets":[{"name":"r","per":"client","limit":10,"mode":"enforce"}]}`, "quota.budgets[0].window: required"},
		{rule(`,"window":"soon"`), `field "quota.budgets.window": must be a duration such as "60s" or "1h", not "soon"`},
		{rule(`,"window":"500ms"`), "quota.budgets[0].window: must be at least 1s"},
		{rule(`,"limit":0`), "quota.budgets[0].limit"},
		{rule(`,"limit":5e9`), "quota.budgets[0].limit"},
		{rule(`,"window_type":"rolling"`), "quota.budgets[0].window_type"},
		{rule(`,"sub_buckets":4`), "quota.budgets[0].sub_buckets: only for window_type sliding"},
		{rule(`,"window_type":"sliding","sub_buckets":1`), "quota.budgets[0].sub_buckets"},
		{rule(`,"window_type":"sliding","sub_buckets":61`), "quota.budgets[0].sub_buckets"},
		{rule(`,"window_type":"sliding","sub_buckets":7`), "quota.budgets[0].window"},
		{rule(`,"max_keys":-3`), "quota.budgets[0].max_keys"},
		{`{"global":{"per":"client","limit":1,"window":"1s","mode":"shadow"}}`, "quota.global.per"},
		{`{"global":{"limit":1,"window":"1s","mode":"both"}}`, "quota.global.mode"},
		{`{"budgets":[{"name":"global","per":"client","limit":1,"window":"1s","mode":"shadow"}],"global":{"limit":1,"window":"1s","mode":"shadow"}}`, `name "global" is used twice`},
		{`{"budgets":[` + strings.Repeat(`{"name":"x","per":"client","limit":1,"window":"1s","mode":"shadow"},`, 8) + `{"name":"y","per":"client","limit":1,"window":"1s","mode":"shadow"}]}`, "at most 8 rules"},
		{`{"unknown":1}`, `unknown field "unknown"`},
	} {
		_, err := parseQuota(t, tc.doc)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.doc, err, tc.want)
		}
	}
}
