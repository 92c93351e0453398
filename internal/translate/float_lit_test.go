package translate

import (
	"github.com/aigw/aigw/internal/bodyscan"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// shortestDecimal is only true for literals appendFloat writes back as
// they are: checked on a table, on every short decimal over a few
// digits, on random ones and by FuzzShortestDecimal.
func TestShortestDecimal(t *testing.T) {
	for _, c := range []struct {
		lit  string
		want bool
	}{
		{"0", true}, {"-0", true}, {"1", true}, {"0.7", true}, {"0.2", true}, {"1.5", true}, {"-2.25", true},
		{"10", true}, {"100", true}, {"0.000001", true}, {"0.0000015", true}, {"123456789012345", true},
		{"0.123456789012345", true}, {"1.23456789012345", true},
		{"0.0000001", false}, {"1.0", false}, {"0.70", false}, {"-0.0", false}, {"01", false}, {"1.", false},
		{".5", false}, {"1e2", false}, {"1E2", false}, {"", false}, {"-", false}, {"1234567890123456", false},
		{"0.1234567890123456", false}, {"1.234567890123456", false}, {"0.30000000000000004", false}, {"+1", false},
		{"1000000000000000000000", false},
	} {
		if got := shortestDecimal([]byte(c.lit)); got != c.want {
			t.Errorf("shortestDecimal(%q) = %v, want %v", c.lit, got, c.want)
		}
		checkFloatLit(t, c.lit)
	}
	// Every decimal of up to 6 characters over these bytes.
	alphabet := "-0159."
	var gen func(prefix string)
	gen = func(prefix string) {
		checkFloatLit(t, prefix)
		if len(prefix) == 6 {
			return
		}
		for _, c := range alphabet {
			gen(prefix + string(c))
		}
	}
	gen("")
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var sb strings.Builder
		if r.IntN(4) == 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(strconv.Itoa(r.IntN(1 << uint(r.IntN(50)))))
		if r.IntN(3) > 0 {
			sb.WriteByte('.')
			for range 1 + r.IntN(17) {
				sb.WriteByte(byte('0' + r.IntN(10)))
			}
		}
		checkFloatLit(t, sb.String())
	}
}

// checkFloatLit: when shortestDecimal accepts lit, lit is a JSON number
// and appendFloatLit writes what appendFloat writes for its value.
func checkFloatLit(t *testing.T, lit string) {
	t.Helper()
	f, err := strconv.ParseFloat(lit, 64)
	if !shortestDecimal([]byte(lit)) {
		if err == nil {
			if got, want := string(appendFloatLit(nil, f, []byte(lit))), string(appendFloat(nil, f)); got != want {
				t.Fatalf("appendFloatLit(%q) = %q, appendFloat %q", lit, got, want)
			}
		}
		return
	}
	if err != nil || !isJSONNumber(lit) {
		t.Fatalf("shortestDecimal(%q) for a literal that is not a JSON number (%v)", lit, err)
	}
	if want := string(appendFloat(nil, f)); want != lit {
		t.Fatalf("shortestDecimal(%q), but appendFloat writes %q", lit, want)
	}
}

func isJSONNumber(s string) bool {
	var v any
	return jsonAPI.UnmarshalFromString(s, &v) == nil && !strings.ContainsAny(s, " \t\n")
}

func FuzzShortestDecimal(f *testing.F) {
	for _, s := range []string{"0.7", "1.0", "0.000001", "123456789012345", "-0", "0.30000000000000004"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) { checkFloatLit(t, lit) })
}

// The request's temperature and top_p are written as appendFloat writes
// their values, whether the client's literal goes out as it is or not.
func TestAnthropicRequestFloatLiterals(t *testing.T) {
	for _, lit := range []string{"0.7", "0.70", "1", "1.0", "0", "-0", "0.0000001", "0.000001", "5e-1", "0.123456789012345678", "null"} {
		body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":` + lit + `,"top_p":` + lit + `}`)
		want := ""
		if lit != "null" {
			f, _ := strconv.ParseFloat(lit, 64)
			v := string(appendFloat(nil, f))
			want = `,"temperature":` + v + `,"top_p":` + v
		}
		for _, scanned := range []bool{false, true} {
			tr := newAnthropicT(t, anthTarget)
			var res RequestResult
			var err error
			if scanned {
				r, serr := bodyscan.Scan(body, "backend")
				if serr != nil {
					t.Fatal(serr)
				}
				res, err = tr.(ScannedRequest).RequestBodyScanned(body, bodyscan.FindingsOf(r, bodyscan.Member{}))
			} else {
				res, err = tr.RequestBody(body)
			}
			if err != nil {
				t.Fatalf("%s: %v", lit, err)
			}
			got := string(res.Body)
			if want != "" && !strings.Contains(got, want+",") && !strings.Contains(got, want+"}") {
				t.Errorf("%s (scanned %v): %s, want %s", lit, scanned, got, want)
			}
			if want == "" && strings.Contains(got, "temperature") {
				t.Errorf("null: %s", got)
			}
			res.Release()
		}
	}
}

// bodyscan.SmallInt (intOption's) reads what strconv.ParseInt reads, where it answers.
func TestSmallInt(t *testing.T) {
	lits := []string{"", "-", "0", "-0", "7", "812", "-812", "00", "012", "1.5", "1e3", "+1", " 1", "999999999999999999",
		"-999999999999999999", "1000000000000000000", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "12a"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		lits = append(lits, strconv.FormatInt(r.Int64()>>uint(r.IntN(64)), 10))
	}
	for _, lit := range lits {
		checkSmallInt(t, lit)
	}
}

func checkSmallInt(t *testing.T, lit string) {
	t.Helper()
	n, ok := bodyscan.SmallInt([]byte(lit))
	if !ok {
		return
	}
	if want, err := strconv.ParseInt(lit, 10, 64); err != nil || n != want {
		t.Fatalf("SmallInt(%q) = %d, ParseInt %d %v", lit, n, want, err)
	}
}

func FuzzSmallInt(f *testing.F) {
	for _, s := range []string{"812", "-0", "999999999999999999", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) { checkSmallInt(t, lit) })
}
