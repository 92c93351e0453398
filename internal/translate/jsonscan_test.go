package translate

import (
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/bodyscan"
)

// One definition of valid for both phases: the translators' scanner rejects
// exactly the bodies the router phase rejects, including those a lenient
// structural walk would take (a bare "tru", an invalid escape, a raw control
// byte in a string), and a duplicate model is never rewritten as if it
// were one.
func TestOneScannerForBothPhases(t *testing.T) {
	cases := []struct {
		body string
		want string // "" for valid; else the client error's message
	}{
		{`{"model":"gpt-4o","messages":[]}`, ""},
		{` {"mod\u0065l":"gpt-4o"} `, ""},
		{`{}`, ""},
		{`{"model":"gpt-4o","x":tru}`, "request body is not a valid JSON object"},
		{`{"model":"gpt-4o","x":"a\qb"}`, "request body is not a valid JSON object"},
		{"{\"model\":\"gpt-4o\",\"x\":\"a\nb\"}", "request body is not a valid JSON object"},
		{`{"model":"gpt-4o","x":01}`, "request body is not a valid JSON object"},
		{`{"model":"gpt-4o"} x`, "request body is not a valid JSON object"},
		{`{"model":"a","model":"b"}`, `request body has more than one top-level "model" member`},
	}
	for _, tc := range cases {
		_, routerErr := bodyscan.Scan([]byte(tc.body), "backend")
		tr, err := New(Target{DefaultModel: "override"}, "/v1/chat/completions")
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.RequestBody([]byte(tc.body))
		if tc.want == "" {
			if err != nil || routerErr != nil {
				t.Errorf("%s: translator %v, router %v: want both to accept", tc.body, err, routerErr)
			} else if !strings.Contains(string(res.Body), `:"override"`) {
				t.Errorf("%s: body %s not rewritten", tc.body, res.Body)
			}
			continue
		}
		e, ok := AsError(err, KindInvalid)
		if !ok || e.Message != tc.want || routerErr == nil {
			t.Errorf("%s: translator %v (body %s), router %v: want both to reject with %q", tc.body, err, res.Body, routerErr, tc.want)
		}
	}
}
