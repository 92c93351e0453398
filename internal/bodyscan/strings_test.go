package bodyscan

import (
	"slices"
	"strings"
	"testing"
)

// messageStringsOf lists the strings f.MessageStrings spans in body (as
// the router phase forwarded it).
func messageStringsOf(body []byte, f Findings) []string {
	var out []string
	for _, s := range f.MessageStrings.spans {
		out = append(out, string(body[f.MessagesStart+int(s.start):f.MessagesStart+int(s.end)]))
	}
	return out
}

// The findings hand over exactly the long string values inside the
// messages value (longString bytes and more, quotes included), keys and shorter
// values not, strings outside the messages not, whatever member the router
// phase cut before or after them; none when the cut took the messages.
func TestMessageStrings(t *testing.T) {
	long := func(c byte, n int) string { return `"` + strings.Repeat(string(c), n-2) + `"` }
	a, b, c := long('a', longString), long('b', 3*longString), long('c', longString-1)
	esc := `"` + strings.Repeat(`x\"y\\`, longString/6+1) + `"` // escapes
	tests := []struct {
		name   string
		body   string
		remove bool
		want   []string
	}{
		{"contents", `{"model":"m","messages":[{"role":"user","content":` + a + `},{"role":"user","content":` + c + `},{"role":"assistant","content":` + b + `}]}`, false, []string{a, b}},
		{"escapes, nested, a long key", `{"messages":[{"role":"user","content":[{"type":"text","text":` + esc + `}],` + a + `:1}]}`, false, []string{esc}},
		{"outside the messages", `{"user":` + a + `,"messages":[{"role":"user","content":` + b + `}],"metadata":{"x":` + a + `}}`, false, []string{b}},
		{"backend cut before", `{"backend":` + a + `,"messages":[{"content":` + b + `}]}`, true, []string{b}},
		{"backend cut after", `{"messages":[{"content":` + b + `}],"backend":"x"}`, true, []string{b}},
		{"the messages cut", `{"model":"m","backend":[{"content":` + b + `}]}`, true, nil},
		{"no messages", `{"model":` + a + `}`, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, f := forwarded(t, tc.body, tc.remove)
			if got := messageStringsOf(body, f); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("message strings %q, want %q", got, tc.want)
			}
		})
	}
}

// A walk that knows the long strings takes their ends from the cursor (it
// moves over each span it uses) and reads the same members as one that
// finds them; a span its bytes disagree with is not taken.
func TestObjectKnowStrings(t *testing.T) {
	a, b := `"`+strings.Repeat("a", longString)+`"`, `"`+strings.Repeat(`b\"`, longString/3+1)+`"`
	msgs := []byte(`[{"role":"user","content":` + a + `,"name":"n"},{"content":` + b + `}]`)
	r, err := Scan([]byte(`{"messages":`+string(msgs)+`}`), "backend")
	if err != nil {
		t.Fatal(err)
	}
	strs := FindingsOf(r, Member{}).MessageStrings
	if strs.Len() != 2 {
		t.Fatalf("%d message strings, want 2", strs.Len())
	}
	walk := func(c *StringCursor) (members []string, used []int) {
		arr := ArrayAt(msgs)
		for arr.Next() {
			var o Object
			o.Start(msgs, arr.At())
			if c != nil {
				o.KnowStrings(c)
			}
			for o.Next() {
				key, vs, ve := o.Member()
				members = append(members, key+"="+string(msgs[vs:ve]))
				if c != nil {
					used = append(used, c.next)
				}
			}
			end, err := o.End()
			if err != nil {
				t.Fatal(err)
			}
			arr.SetEnd(end)
		}
		return members, used
	}
	want, _ := walk(nil)
	cur := strs.Cursor()
	got, used := walk(&cur)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("members %q, want %q", got, want)
	}
	// role and content of the first message, name, content of the second:
	// the cursor is on the first span until the second is taken.
	if want := []int{0, 0, 1, 1}; !slices.Equal(used, want) {
		t.Fatalf("cursor positions %v, want %v", used, want)
	}
	// A second walk with the same cursor (the conversion's second pass)
	// searches back and takes the same ends.
	again, used := walk(&cur)
	if strings.Join(again, ",") != strings.Join(want, ",") || !slices.Equal(used, []int{0, 0, 1, 1}) {
		t.Fatalf("second walk: members %q, cursor positions %v", again, used)
	}
	// Bytes the spans do not describe (shifted by one): not taken, and the
	// walk reads them as they are.
	shifted := append([]byte(" "), msgs[:len(msgs)-1]...)
	c2 := strs.Cursor()
	for _, sp := range c2.spans {
		if e, ok := c2.end(shifted, int(sp.start)); ok {
			t.Fatalf("span %v taken on shifted bytes (end %d)", sp, e)
		}
	}
}
