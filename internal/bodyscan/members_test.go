package bodyscan

import (
	"strings"
	"testing"
)

// TestWalkTrustedNested: a nested object of a validated document (a
// response's usage) walks like Walk walks a document; what is not an
// object is an error.
func TestWalkTrustedNested(t *testing.T) {
	cases := []struct {
		obj     string
		want    string // key=value;...
		wantErr Kind
	}{
		{`{"a":1,"b":{"c":[1,2]},"d":"x\"y"}`, `a=1;b={"c":[1,2]};d="x\"y";`, 0},
		{` { "a" : null } `, `a=null;`, 0},
		{`{"k\u0065y":true}`, `key=true;`, 0},
		{`{}`, ``, 0},
		{`[1]`, ``, NotObject},
		{`5`, ``, NotObject},
		{`  `, ``, Empty},
	}
	for _, c := range cases {
		var got strings.Builder
		err := WalkTrusted([]byte(c.obj), func(key string, vs, ve int) error {
			got.WriteString(key + "=" + c.obj[vs:ve] + ";")
			return nil
		})
		if c.wantErr != 0 {
			if !IsKind(err, c.wantErr) {
				t.Errorf("%s: err %v, want kind %v", c.obj, err, c.wantErr)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.obj, got.String(), err, c.want)
		}
	}
}

// TestKeyEscapesAnyLength: keys are unescaped whether the scan for a
// backslash takes the short loop or IndexByte (over 32 bytes).
func TestKeyEscapesAnyLength(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 33, 100} {
		pad := strings.Repeat("k", n)
		for _, c := range []struct{ raw, want string }{
			{pad, pad},
			{pad + `\u0041`, pad + "A"},
			{`\"` + pad, `"` + pad},
		} {
			body := []byte(`{"` + c.raw + `":1}`)
			var got []string
			if err := Walk(body, func(k string, _, _ int) error { got = append(got, strings.Clone(k)); return nil }); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if len(got) != 1 || got[0] != c.want {
				t.Fatalf("%s: keys %q, want %q", body, got, c.want)
			}
		}
	}
}
