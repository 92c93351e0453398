// Package cost turns a request's token usage into the number a budget is
// charged: one of the usage counts, or a CEL expression over them. The
// in-process budgets (internal/quota) and the distributed path (the numeric
// dynamic metadata Envoy's rate limit filter reads as hits_addend) use the
// same compiled Cost, so both always charge the same number.
package cost

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Usage is what a provider reported (or what a stream delivered so far).
// Unknown counts are 0.
type Usage struct {
	Input, Output, Total, CachedInput, Reasoning uint64
}

// Kind is what a Cost charges.
type Kind string

const (
	Input       Kind = "input"
	Output      Kind = "output"
	Total       Kind = "total"
	CachedInput Kind = "cached_input"
	Reasoning   Kind = "reasoning"
	CEL         Kind = "cel"
)

// Kinds lists the kinds a config may name.
var Kinds = []Kind{Input, Output, Total, CachedInput, Reasoning, CEL}

// The CEL variables, one per usage count (type int).
const (
	VarInput       = "input_tokens"
	VarOutput      = "output_tokens"
	VarTotal       = "total_tokens"
	VarCachedInput = "cached_input_tokens"
	VarReasoning   = "reasoning_tokens"
)

// Cost is a compiled cost; the zero value charges Total.
type Cost struct {
	kind Kind
	expr string
	prg  cel.Program
}

var env = func() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable(VarInput, cel.IntType),
		cel.Variable(VarOutput, cel.IntType),
		cel.Variable(VarTotal, cel.IntType),
		cel.Variable(VarCachedInput, cel.IntType),
		cel.Variable(VarReasoning, cel.IntType),
	)
	if err != nil {
		panic(err)
	}
	return e
}()

// Compile checks a cost at config load. expr is required for kind cel (and
// must type-check to int, uint or double) and refused for the others.
// Errors name the field: "type" or "cel".
func Compile(kind Kind, expr string) (Cost, error) {
	switch kind {
	case Input, Output, Total, CachedInput, Reasoning:
		if expr != "" {
			return Cost{}, fmt.Errorf("cel: only for type %q, not %q", CEL, kind)
		}
		return Cost{kind: kind}, nil
	case CEL:
	case "":
		return Cost{}, errors.New("type: required (" + kindList() + ")")
	default:
		return Cost{}, fmt.Errorf("type: %q is not one of %s", kind, kindList())
	}
	if strings.TrimSpace(expr) == "" {
		return Cost{}, errors.New("cel: required for type cel")
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return Cost{}, fmt.Errorf("cel: %q: %s", expr, strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	switch ast.OutputType() {
	case cel.IntType, cel.UintType, cel.DoubleType:
	default:
		return Cost{}, fmt.Errorf("cel: %q has type %s, want int, uint or double", expr, ast.OutputType())
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return Cost{}, fmt.Errorf("cel: %q: %v", expr, err)
	}
	return Cost{kind: CEL, expr: expr, prg: prg}, nil
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Kind is the cost's kind (Total for the zero Cost).
func (c Cost) Kind() Kind {
	if c.kind == "" {
		return Total
	}
	return c.kind
}

// Of is the cost of u: always a number, 0 when nothing is known. A CEL
// result that is negative, not finite or fails to evaluate (an overflow)
// is 0, so a bad expression can never make a budget grow; its error is
// returned for the caller to count.
func (c Cost) Of(u Usage) (uint64, error) {
	switch c.kind {
	case Input:
		return u.Input, nil
	case Output:
		return u.Output, nil
	case "", Total:
		if u.Total == 0 {
			return u.Input + u.Output, nil
		}
		return u.Total, nil
	case CachedInput:
		return u.CachedInput, nil
	case Reasoning:
		return u.Reasoning, nil
	}
	v, _, err := c.prg.Eval(activation{u})
	if err != nil {
		return 0, fmt.Errorf("cost %q: %v", c.expr, err)
	}
	switch x := v.(type) {
	case types.Int:
		return uint64(max(int64(x), 0)), nil
	case types.Uint:
		return uint64(x), nil
	case types.Double:
		f := float64(x)
		if math.IsNaN(f) || f <= 0 {
			return 0, nil
		}
		if f >= math.MaxUint64 {
			return math.MaxUint64, nil
		}
		return uint64(math.Ceil(f)), nil
	}
	return 0, fmt.Errorf("cost %q: result %s", c.expr, v.Type())
}

// activation resolves the usage variables without building a map.
type activation struct{ u Usage }

func clampInt(v uint64) ref.Val { return types.Int(min(v, math.MaxInt64)) }

func (a activation) ResolveName(name string) (any, bool) {
	switch name {
	case VarInput:
		return clampInt(a.u.Input), true
	case VarOutput:
		return clampInt(a.u.Output), true
	case VarTotal:
		t := a.u.Total
		if t == 0 {
			t = a.u.Input + a.u.Output
		}
		return clampInt(t), true
	case VarCachedInput:
		return clampInt(a.u.CachedInput), true
	case VarReasoning:
		return clampInt(a.u.Reasoning), true
	}
	return nil, false
}

func (a activation) Parent() interpreter.Activation { return nil }
