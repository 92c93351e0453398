package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aigw/aigw/internal/cost"
	"github.com/aigw/aigw/internal/quota"
)

// Quota defaults.
const (
	DefaultIdentityHeader    = "x-api-key-id"
	DefaultIdentity          = "anonymous"
	DefaultOutputTokens      = 1024
	DefaultSlidingSubBuckets = 10
	DefaultCostName          = "total_tokens"
	WindowFixed              = "fixed"
	WindowSliding            = "sliding"
	ModeShadow               = "shadow"
	ModeEnforce              = "enforce"
	maxCostNameLen           = 64
)

// Quota is the "quota" member: who the client is, what a request costs,
// and the in-process budgets. Absent means no quotas (and no cost metadata).
type Quota struct {
	// IdentityHeader carries the client id (Envoy's api_key_auth filter
	// forwards the matched client there; see docs/quotas.md).
	IdentityHeader string `json:"identity_header"`
	// DefaultIdentity is the client id of requests without the header.
	DefaultIdentity string `json:"default_identity"`
	// DefaultOutputTokens is the output estimate of a request without
	// max_tokens / max_completion_tokens.
	DefaultOutputTokens Tokens `json:"default_output_tokens"`
	// Costs are written into dynamic metadata (namespace
	// io.envoy.ai_gateway, key = name) for every request, as numbers: the
	// rate limit filter's hits_addend reads them. The first one (or
	// total_tokens when none is given) is what the budgets charge unless
	// budget_cost names another.
	Costs      []*CostSpec `json:"costs"`
	BudgetCost string      `json:"budget_cost"`
	// Budgets are the in-process rules (at most quota.MaxRules with Global).
	Budgets []*BudgetSpec `json:"budgets"`
	// Global is the optional process-wide bucket, with its own mode.
	Global *BudgetSpec `json:"global"`

	costs  []cost.Cost
	budget int // index into costs
	engine *quota.Engine
}

// CostSpec is one named cost.
type CostSpec struct {
	Name string    `json:"name"`
	Type cost.Kind `json:"type"`
	CEL  string    `json:"cel"`
}

// BudgetSpec is one in-process budget rule.
type BudgetSpec struct {
	Name string `json:"name"`
	// Per is client, model or backend (not set for global).
	Per        string   `json:"per"`
	Limit      Tokens   `json:"limit"`
	Window     Duration `json:"window"`
	WindowType string   `json:"window_type"`
	SubBuckets int      `json:"sub_buckets"`
	Mode       string   `json:"mode"`
	MaxKeys    int      `json:"max_keys"`
}

// Tokens is a whole number of tokens (integral JSON numbers in exponent
// form accepted, as a google.protobuf.Struct renders them).
type Tokens uint64

func (t *Tokens) UnmarshalJSON(b []byte) error {
	f, err := wholeNumber(b)
	if err != nil {
		return badValue("must be a whole, non-negative number of tokens", t)
	}
	*t = Tokens(f)
	return nil
}

// Duration is a Go duration string ("1h", "30s").
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return badValue(`must be a duration string such as "60s" or "1h"`, d)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return badValue(fmt.Sprintf(`must be a duration such as "60s" or "1h", not %q`, s), d)
	}
	*d = Duration(v)
	return nil
}

func (q *Quota) finish() error {
	if q.IdentityHeader == "" {
		q.IdentityHeader = DefaultIdentityHeader
	}
	if !validHeaderName(q.IdentityHeader) {
		return fmt.Errorf("quota.identity_header: %q is not a lower-case HTTP header name", q.IdentityHeader)
	}
	if q.DefaultIdentity == "" {
		q.DefaultIdentity = DefaultIdentity
	}
	if q.DefaultOutputTokens == 0 {
		q.DefaultOutputTokens = DefaultOutputTokens
	}
	if len(q.Costs) == 0 {
		q.Costs = []*CostSpec{{Name: DefaultCostName, Type: cost.Total}}
	}
	seen := map[string]int{}
	for i, c := range q.Costs {
		field := fmt.Sprintf("quota.costs[%d]", i)
		if c == nil {
			return fmt.Errorf("%s: must be an object", field)
		}
		if c.Name == "" || len(c.Name) > maxCostNameLen || strings.ContainsAny(c.Name, ". \t\"") {
			return fmt.Errorf("%s.name: %q must be 1..%d characters without dots, spaces or quotes (a metadata key)", field, c.Name, maxCostNameLen)
		}
		if _, dup := seen[c.Name]; dup {
			return fmt.Errorf("%s.name: %q is used twice", field, c.Name)
		}
		seen[c.Name] = i
		cc, err := cost.Compile(c.Type, c.CEL)
		if err != nil {
			return fmt.Errorf("%s.%w", field, err)
		}
		q.costs = append(q.costs, cc)
	}
	if q.BudgetCost == "" {
		q.BudgetCost = q.Costs[0].Name
	}
	i, ok := seen[q.BudgetCost]
	if !ok {
		return fmt.Errorf("quota.budget_cost: %q is not the name of one of quota.costs", q.BudgetCost)
	}
	q.budget = i
	var rules []quota.Rule
	for i, b := range q.Budgets {
		field := fmt.Sprintf("quota.budgets[%d]", i)
		if b == nil {
			return fmt.Errorf("%s: must be an object", field)
		}
		var scope quota.Scope
		switch b.Per {
		case "client":
			scope = quota.PerClient
		case "model":
			scope = quota.PerModel
		case "backend":
			scope = quota.PerBackend
		case "":
			return fmt.Errorf("%s.per: required (client, model or backend)", field)
		default:
			return fmt.Errorf("%s.per: %q is not one of client, model, backend", field, b.Per)
		}
		r, err := b.rule(field, scope)
		if err != nil {
			return err
		}
		rules = append(rules, r)
	}
	if q.Global != nil {
		if q.Global.Per != "" {
			return errors.New("quota.global.per: not for the global bucket")
		}
		if q.Global.Name == "" {
			q.Global.Name = "global"
		}
		r, err := q.Global.rule("quota.global", quota.Global)
		if err != nil {
			return err
		}
		rules = append(rules, r)
	}
	if len(rules) > quota.MaxRules {
		return fmt.Errorf("quota.budgets: at most %d rules including quota.global, got %d", quota.MaxRules, len(rules))
	}
	seenRule := map[string]bool{}
	for _, r := range rules {
		if seenRule[r.Name] {
			return fmt.Errorf("quota.budgets: name %q is used twice", r.Name)
		}
		seenRule[r.Name] = true
	}
	if len(rules) > 0 {
		e, err := sharedEngine(rules)
		if err != nil {
			return fmt.Errorf("quota.budgets: %w", err)
		}
		q.engine = e
	}
	return nil
}

func (b *BudgetSpec) rule(field string, scope quota.Scope) (quota.Rule, error) {
	if b.Name == "" {
		return quota.Rule{}, fmt.Errorf("%s.name: required", field)
	}
	r := quota.Rule{Name: b.Name, Scope: scope, Limit: uint64(b.Limit), Window: time.Duration(b.Window), MaxKeys: b.MaxKeys}
	switch b.Mode {
	case ModeShadow:
		r.Mode = quota.Shadow
	case ModeEnforce:
		r.Mode = quota.Enforce
	case "":
		return r, fmt.Errorf("%s.mode: required (shadow or enforce)", field)
	default:
		return r, fmt.Errorf("%s.mode: %q is not one of shadow, enforce", field, b.Mode)
	}
	switch b.WindowType {
	case "", WindowFixed:
		if b.SubBuckets != 0 {
			return r, fmt.Errorf("%s.sub_buckets: only for window_type sliding", field)
		}
		r.SubBuckets = 1
	case WindowSliding:
		r.SubBuckets = b.SubBuckets
		if r.SubBuckets == 0 {
			r.SubBuckets = DefaultSlidingSubBuckets
		}
		if r.SubBuckets < 2 {
			return r, fmt.Errorf("%s.sub_buckets: a sliding window needs at least 2", field)
		}
	default:
		return r, fmt.Errorf("%s.window_type: %q is not one of fixed, sliding", field, b.WindowType)
	}
	if b.Window == 0 {
		return r, fmt.Errorf("%s.window: required", field)
	}
	if _, err := quota.New([]quota.Rule{r}, nil); err != nil {
		// quota's messages start with "rules[0] (name): field: ..."
		msg := err.Error()
		if i := strings.Index(msg, "): "); i >= 0 {
			msg = msg[i+3:]
		}
		return r, fmt.Errorf("%s.%s", field, msg)
	}
	return r, nil
}

// Engine is the in-process budgets' engine (nil without budget rules). Configs
// with the same rules share one engine in the process, so the router and
// upstream phases (which parse the document separately) and a reload that
// keeps the rules charge the same counters.
func (q *Quota) Engine() *quota.Engine { return q.engine }

// Identity is the client id of a request whose identity header has value
// v (empty when absent).
func (q *Quota) Identity(v string) string {
	if v == "" {
		return q.DefaultIdentity
	}
	return v
}

// Estimate is what the budgets reserve for a request: its estimated usage
// (input from the body size, output from maxTokens or
// default_output_tokens when maxTokens < 0) priced by the budget cost.
func (q *Quota) Estimate(bodyBytes int, maxTokens int64) uint64 {
	in := quota.Estimate(bodyBytes, -1, 0)
	all := quota.Estimate(bodyBytes, maxTokens, uint64(q.DefaultOutputTokens))
	return q.BudgetCharge(cost.Usage{Input: in, Output: all - in, Total: all})
}

// BudgetCharge is the budgets' price of usage (0 when the cost expression
// fails; use Costs to see the error).
func (q *Quota) BudgetCharge(u cost.Usage) uint64 {
	v, _ := q.costs[q.budget].Of(u)
	return v
}

// CostValues calls emit once per configured cost, in order, with its
// metadata key and value (always a number: 0 when unknown or when its
// expression fails, err then says why).
func (q *Quota) CostValues(u cost.Usage, emit func(key string, value uint64, err error)) {
	for i, c := range q.costs {
		v, err := c.Of(u)
		emit(q.Costs[i].Name, v, err)
	}
}

var (
	enginesMu sync.Mutex
	engines   = map[string]*quota.Engine{}
)

func sharedEngine(rules []quota.Rule) (*quota.Engine, error) {
	key := fmt.Sprintf("%+v", rules)
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if e, ok := engines[key]; ok {
		return e, nil
	}
	e, err := quota.New(rules, nil)
	if err != nil {
		return nil, err
	}
	engines[key] = e
	return e, nil
}
