package bodyscan

import (
	"strings"
	"testing"
)

// TestMembers: a nested object of a validated document walks like Walk
// walks a document; what is not an object is an error.
func TestMembers(t *testing.T) {
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
		err := Members([]byte(c.obj), func(key string, vs, ve int) error {
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
