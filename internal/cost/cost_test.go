package cost

import (
	"math"
	"strings"
	"testing"
)

func TestCompileErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		expr string
		want string
	}{
		{"", "", "type: required"},
		{"tokens", "", `type: "tokens" is not one of input, output, total, cached_input, reasoning, cel`},
		{Input, "input_tokens", `cel: only for type "cel"`},
		{CEL, "", "cel: required"},
		{CEL, "  ", "cel: required"},
		{CEL, "input_tokens +", "cel: "},
		{CEL, "prompt_tokens * 2", "undeclared reference to 'prompt_tokens'"},
		{CEL, "input_tokens > 3", "has type bool, want int, uint or double"},
		{CEL, `"x"`, "has type string"},
		{CEL, "[input_tokens]", "has type list(int)"},
	} {
		_, err := Compile(tc.kind, tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: err %v, want %q", tc.kind, tc.expr, err, tc.want)
		}
	}
}

func TestOf(t *testing.T) {
	u := Usage{Input: 100, Output: 40, Total: 150, CachedInput: 60, Reasoning: 7}
	noTotal := Usage{Input: 100, Output: 40}
	for _, tc := range []struct {
		kind Kind
		expr string
		u    Usage
		want uint64
	}{
		{Input, "", u, 100},
		{Output, "", u, 40},
		{Total, "", u, 150},
		{Total, "", noTotal, 140},
		{CachedInput, "", u, 60},
		{Reasoning, "", u, 7},
		{Total, "", Usage{}, 0},
		{CEL, "input_tokens - cached_input_tokens + output_tokens * 4", u, 200},
		{CEL, "total_tokens", noTotal, 140},
		{CEL, "uint(output_tokens) + 1u", u, 41},
		{CEL, "double(input_tokens) * 0.25 + double(reasoning_tokens) * 0.1", u, 26}, // 25.7 rounds up
		{CEL, "cached_input_tokens - input_tokens", u, 0},                            // negative is 0
		{CEL, "-1.5", u, 0},
		{CEL, "input_tokens > 50 ? output_tokens : 0", u, 40},
		{CEL, "0", Usage{}, 0},
	} {
		c, err := Compile(tc.kind, tc.expr)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.kind, tc.expr, err)
		}
		got, err := c.Of(tc.u)
		if err != nil || got != tc.want {
			t.Errorf("%s %q on %+v: %d, %v; want %d", tc.kind, tc.expr, tc.u, got, err, tc.want)
		}
	}
	var zero Cost
	if got, _ := zero.Of(u); got != 150 || zero.Kind() != Total {
		t.Errorf("zero Cost: %d %s", got, zero.Kind())
	}
}

func TestOfEvalErrorIsZero(t *testing.T) {
	c, err := Compile(CEL, "input_tokens * 9223372036854775807")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Of(Usage{Input: 3})
	if got != 0 || err == nil || !strings.Contains(err.Error(), "overflow") {
		t.Fatalf("%d %v", got, err)
	}
	c, _ = Compile(CEL, "double(input_tokens) * 1e300 * 1e300")
	if got, err := c.Of(Usage{Input: 1}); got != math.MaxUint64 || err != nil {
		t.Fatalf("+Inf: %d %v", got, err)
	}
}

func TestOfAllocations(t *testing.T) {
	u := Usage{Input: 1000, Output: 300}
	c, _ := Compile(Total, "")
	if n := testing.AllocsPerRun(100, func() { c.Of(u) }); n != 0 {
		t.Errorf("total: %v allocs", n)
	}
	c, _ = Compile(CEL, "input_tokens + output_tokens * 4")
	n := testing.AllocsPerRun(100, func() { c.Of(u) })
	t.Logf("cel: %v allocs per evaluation", n)
	if n > 8 {
		t.Errorf("cel: %v allocs per evaluation", n)
	}
}

func BenchmarkOfCEL(b *testing.B) {
	c, err := Compile(CEL, "input_tokens - cached_input_tokens + output_tokens * 4")
	if err != nil {
		b.Fatal(err)
	}
	u := Usage{Input: 1000, Output: 300, CachedInput: 200}
	b.ReportAllocs()
	for b.Loop() {
		c.Of(u)
	}
}
