package bodyscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aigw/aigw/bench"
	"github.com/aigw/aigw/internal/testbodies"
)

func TestScan(t *testing.T) {
	cases := []struct {
		name        string
		body        string
		model       string
		modelType   ValueType
		backend     string
		backendType ValueType
		errKind     Kind
		errMember   string
		removed     string // body after removing the backend member; "" = unchanged
	}{
		{name: "model only", body: `{"model":"gpt-4o","messages":[]}`, model: "gpt-4o", modelType: TypeString},
		{name: "backend first", body: `{"backend":"deploy-b","model":"gpt-4o"}`, model: "gpt-4o", modelType: TypeString, backend: "deploy-b", backendType: TypeString, removed: `{"model":"gpt-4o"}`},
		{name: "backend middle", body: `{"model":"m", "backend" : "b" , "n":1}`, model: "m", modelType: TypeString, backend: "b", backendType: TypeString, removed: `{"model":"m", "n":1}`},
		{name: "backend last", body: "{\"model\":\"m\",\n  \"backend\": \"b\"\n}", model: "m", modelType: TypeString, backend: "b", backendType: TypeString, removed: "{\"model\":\"m\"\n}"},
		{name: "backend only member", body: ` { "backend":"b" } `, backend: "b", backendType: TypeString, removed: ` {  } `},
		{name: "unicode escape in model", body: `{"model":"gpt\u002d4o\u00e9"}`, model: "gpt-4oé", modelType: TypeString},
		{name: "escaped key is the model", body: `{"mod\u0065l":"x"}`, model: "x", modelType: TypeString},
		{name: "model strings inside messages are not the model", body: `{"messages":[{"role":"user","content":"\"model\":\"evil\"","model":"evil"}],"metadata":{"model":"evil2","backend":"evil3"},"model":"good"}`, model: "good", modelType: TypeString},
		{name: "model number", body: `{"model":42}`, modelType: TypeNumber},
		{name: "model null", body: `{"model":null}`, modelType: TypeNull},
		{name: "backend object", body: `{"backend":{"a":1},"model":"m"}`, model: "m", modelType: TypeString, backendType: TypeObject, removed: `{"model":"m"}`},
		{name: "empty object", body: `{}`},
		{name: "empty", body: ``, errKind: Empty},
		{name: "whitespace", body: " \n\t", errKind: Empty},
		{name: "array", body: `[{"model":"m"}]`, errKind: NotObject},
		{name: "string", body: `"model"`, errKind: NotObject},
		{name: "invalid after object", body: `{"model":"m"} x`, errKind: Invalid},
		{name: "two objects", body: `{"model":"m"}{}`, errKind: Invalid},
		{name: "truncated", body: `{"model":"m"`, errKind: Invalid},
		{name: "trailing comma", body: `{"model":"m",}`, errKind: Invalid},
		{name: "bad nested", body: `{"model":"m","messages":[1,2,}`, errKind: Invalid},
		{name: "bad nested object", body: `{"messages":{"a" 1},"model":"m"}`, errKind: Invalid},
		{name: "unquoted key", body: `{model:"m"}`, errKind: Invalid},
		{name: "control char in key", body: "{\"mo\x01del\":\"m\"}", errKind: Invalid},
		{name: "not json", body: `model=gpt-4`, errKind: Invalid},
		{name: "invalid utf-8 model", body: "{\"model\":\"\xa5\"}", errKind: BadEncoding, errMember: "model"},
		{name: "invalid utf-8 elsewhere is forwarded", body: "{\"x\":\"\xa5\",\"model\":\"m\"}", model: "m", modelType: TypeString},
		{name: "duplicate model", body: `{"model":"a","model":"b"}`, errKind: Duplicate, errMember: "model"},
		{name: "duplicate model escaped", body: `{"model":"a","m\u006fdel":"b"}`, errKind: Duplicate, errMember: "model"},
		{name: "duplicate backend", body: `{"backend":"a","model":"m","backend":"b"}`, errKind: Duplicate, errMember: "backend"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			r, err := Scan(body, "backend")
			if tc.errKind != 0 {
				if !IsKind(err, tc.errKind) {
					t.Fatalf("err = %v, want kind %d", err, tc.errKind)
				}
				if tc.errMember != "" && err.(*Error).Member != tc.errMember {
					t.Fatalf("member = %q, want %q", err.(*Error).Member, tc.errMember)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if r.Model.Type != tc.modelType || r.Model.Value != tc.model || r.Model.Present != (tc.modelType != TypeNone) {
				t.Errorf("model = %+v, want %q (%v)", r.Model, tc.model, tc.modelType)
			}
			if r.Backend.Type != tc.backendType || r.Backend.Value != tc.backend {
				t.Errorf("backend = %+v, want %q (%v)", r.Backend, tc.backend, tc.backendType)
			}
			out := RemoveMember(body, r.Backend)
			want := tc.removed
			if want == "" {
				want = tc.body
			}
			if string(out) != want {
				t.Errorf("after removal %q, want %q", out, want)
			}
			if !json.Valid(out) {
				t.Errorf("removal left invalid JSON %q", out)
			}
		})
	}
}

func TestCustomBackendField(t *testing.T) {
	r, err := Scan([]byte(`{"backend":"ignored","target":"b","model":"m"}`), "target")
	if err != nil || r.Backend.Value != "b" {
		t.Fatalf("got %+v, %v", r, err)
	}
}

// A 1 MiB body whose model comes last must be found.
func TestLargeBodyModelLast(t *testing.T) {
	body := LargeChatBody(1<<20, true)
	r, err := Scan(body, "backend")
	if err != nil {
		t.Fatal(err)
	}
	if r.Model.Value != "gpt-4o-mini" || r.Backend.Value != "deploy-b" {
		t.Fatalf("got %+v", r)
	}
	// Memory per scan is a benchmark figure (BenchmarkScan's B/op), not a
	// test assertion: under -race sync.Pool drops pooled parser state on
	// purpose, so byte counts here would measure the race detector.
}

// LargeChatBody is testbodies.Chat, short for this package's tests.
func LargeChatBody(size int, withBackend bool) []byte { return testbodies.Chat(size, withBackend) }

func FuzzScan(f *testing.F) {
	for _, s := range []string{`{"model":"m"}`, `{"backend":"b","model":"m"}`, `[]`, `{"a":[1,{"b":null}],"model":"\u0041"}`, `{"model":"a","model":"b"}`, ``, `{`, `{"x":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := append([]byte(nil), body...)
		r, err := Scan(body, "backend")
		if !bytes.Equal(body, orig) {
			t.Fatal("Scan modified its input")
		}
		checkWalkAgrees(t, body, err)
		valid := json.Valid(body)
		if err != nil {
			if valid && IsKind(err, BadEncoding) {
				return // encoding/json accepts invalid UTF-8 (replacing it); we refuse to route on it
			}
			if valid && IsKind(err, Invalid) {
				t.Fatalf("valid JSON %q reported invalid: %v", body, err)
			}
			return
		}
		if !valid {
			t.Fatalf("invalid JSON %q accepted", body)
		}
		// Oracle: encoding/json keeps the last duplicate, Scan rejects
		// duplicates, so on success the decoded map must agree with Scan.
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("Scan accepted %q which is not an object: %v", body, err)
		}
		checkMember(t, doc, "model", r.Model)
		checkMember(t, doc, "backend", r.Backend)
		out := RemoveMember(body, r.Backend)
		var after map[string]json.RawMessage
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("removal broke JSON: %q -> %q", orig, out)
		}
		if _, ok := after["backend"]; ok {
			t.Fatalf("backend survived removal: %q", out)
		}
		if len(after) != len(doc)-btoi(r.Backend.Present) {
			t.Fatalf("removal changed other members: %q -> %q", orig, out)
		}
	})
}

func checkMember(t *testing.T, doc map[string]json.RawMessage, name string, m Member) {
	raw, ok := doc[name]
	if ok != m.Present {
		t.Fatalf("%s presence: json %v, scan %v", name, ok, m.Present)
	}
	if m.Type == TypeString {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s != m.Value {
			t.Fatalf("%s: json %q (%v), scan %q", name, s, err, m.Value)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// BenchmarkScan is the router phase's scan on the escape-dense bench body
// (bench.ChatBody: \n, \", \\, \uXXXX and brackets inside strings) and on
// the plainer testbodies one.
func BenchmarkScan(b *testing.B) {
	for _, kind := range []struct {
		name string
		body func(int) []byte
	}{{"bench", bench.ChatBody}, {"chat", func(n int) []byte { return LargeChatBody(n, true) }}} {
		for _, size := range []struct {
			name string
			n    int
		}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"100KiB", 100 << 10}, {"1MiB", 1 << 20}} {
			body := kind.body(size.n)
			b.Run(kind.name+"/"+size.name, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Scan(body, "backend"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// checkWalkAgrees: Walk (the translators' scanner) judges a body exactly as
// Scan does; only Scan's own member rules (Duplicate, BadEncoding of the
// members it routes on) are Scan's alone.
func checkWalkAgrees(t *testing.T, body []byte, scanErr error) {
	t.Helper()
	n := 0
	werr := Walk(body, func(string, int, int) error { n++; return nil })
	switch {
	case scanErr == nil || IsKind(scanErr, Duplicate) || IsKind(scanErr, BadEncoding):
		if werr != nil {
			t.Fatalf("Scan accepted %q as JSON, Walk did not: %v", body, werr)
		}
	default:
		var se, we *Error
		if !errors.As(scanErr, &se) || !errors.As(werr, &we) || se.Kind != we.Kind || n != 0 {
			t.Fatalf("%q: Scan %v, Walk %v after %d members (Walk must reject before its first call)", body, scanErr, werr, n)
		}
	}
}

func TestWalkAndFind(t *testing.T) {
	body := []byte(` {"a":1, "mod\u0065l" : "m" ,"b":[{"model":2}],"c":{}} `)
	var keys []string
	if err := Walk(body, func(k string, vs, ve int) error {
		keys = append(keys, k+"="+string(body[vs:ve]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, " "); got != `a=1 model="m" b=[{"model":2}] c={}` {
		t.Fatalf("members %s", got)
	}
	stop := errors.New("stop")
	if err := Walk(body, func(string, int, int) error { return stop }); err != stop {
		t.Fatalf("the visitor's error is returned as is: %v", err)
	}
	cases := []struct {
		body, key, want string
		kind            Kind
	}{
		{`{"a":1,"model":"x"}`, "model", `"x"`, 0},
		{`{"a":1}`, "model", "", 0},
		{`{"model":"x","mod\u0065l":"y"}`, "model", "", Duplicate},
		{`{"model":"x","a":tru}`, "model", "", Invalid},
		{`{"model":"a\q"}`, "model", "", Invalid},
		{`["model"]`, "model", "", NotObject},
		{`  `, "model", "", Empty},
	}
	for _, tc := range cases {
		vs, ve, found, err := Find([]byte(tc.body), tc.key)
		switch {
		case tc.kind != 0:
			if !IsKind(err, tc.kind) || found {
				t.Errorf("%s: found %v err %v, want kind %d", tc.body, found, err, tc.kind)
			}
		case err != nil || found != (tc.want != "") || (found && tc.body[vs:ve] != tc.want):
			t.Errorf("%s: %d:%d found %v err %v, want %s", tc.body, vs, ve, found, err, tc.want)
		}
	}
}

func TestElements(t *testing.T) {
	stop := errors.New("stop")
	tests := []struct {
		name    string
		arr     string
		stopAt  int // fn returns stop at this index; -1 never
		want    []string
		wantErr error // nil, stop, or any *Error (Invalid)
	}{
		{"empty", `[]`, -1, nil, nil},
		{"empty with spaces", " [ ] ", -1, nil, nil},
		{"scalars and nesting", `[1, "a,]", {"k":[2,3]} ,[],null]`, -1, []string{`1`, `"a,]"`, `{"k":[2,3]}`, `[]`, `null`}, nil},
		{"fn error ends the walk", `[1,2,3]`, 1, []string{`1`, `2`}, stop},
		{"not an array", `{"a":1}`, -1, nil, &Error{}},
		{"empty input", ``, -1, nil, &Error{}},
		{"missing comma", `[1 2]`, -1, []string{`1`}, &Error{}},
		{"unterminated", `[1,`, -1, []string{`1`}, &Error{}},
		{"trailing bytes", `[1] x`, -1, []string{`1`}, &Error{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := Elements([]byte(tc.arr), func(i, vs, ve int) error {
				if i != len(got) {
					t.Fatalf("index %d, want %d", i, len(got))
				}
				got = append(got, tc.arr[vs:ve])
				if i == tc.stopAt {
					return stop
				}
				return nil
			})
			var se *Error
			switch {
			case tc.wantErr == nil && err != nil, tc.wantErr == stop && err != stop:
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			case tc.wantErr != nil && tc.wantErr != stop && (!errors.As(err, &se) || se.Kind != Invalid):
				t.Fatalf("err = %v, want an Invalid *Error", err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("elements %q, want %q", got, tc.want)
			}
		})
	}
}

func TestScanMaxTokens(t *testing.T) {
	cases := []struct {
		body string
		want int64
	}{
		{`{"model":"m"}`, -1},
		{`{"model":"m","max_tokens":400}`, 400},
		{`{"max_completion_tokens": 7 ,"model":"m"}`, 7},
		{`{"max_tokens":10,"max_completion_tokens":300}`, 300},
		{`{"max_tokens":300,"max_completion_tokens":10}`, 300},
		{`{"max_tokens":0}`, 0},
		{`{"max_tokens":-5}`, -1},
		{`{"max_tokens":1.5}`, -1},
		{`{"max_tokens":1e3}`, -1},
		{`{"max_tokens":"400"}`, -1},
		{`{"max_tokens":null}`, -1},
		{`{"max_tokens":9007199254740993}`, -1},
		{`{"messages":[{"max_tokens":99}],"model":"m"}`, -1},
		{`{"max_tokens":5,"max_tokens":9}`, 9},
	}
	for _, tc := range cases {
		r, err := Scan([]byte(tc.body), "backend")
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if r.MaxTokens != tc.want {
			t.Errorf("%s: MaxTokens %d, want %d", tc.body, r.MaxTokens, tc.want)
		}
	}
}

// BenchmarkWalkSmall: Walk over the small documents a provider sends many
// of (a streamed event, a short completion), where the pass's fixed cost
// weighs most.
func BenchmarkWalkSmall(b *testing.B) {
	for _, c := range []struct{ name, doc string }{
		{"event", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"token 12 \"caf\u00e9\"\n"}}`},
		{"completion", `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18",` +
			`"choices":[{"index":0,"message":{"role":"assistant","content":"ok, here is the summary"},"finish_reason":"stop"}],` +
			`"usage":{"prompt_tokens":812,"completion_tokens":6,"total_tokens":818}}`},
	} {
		doc := []byte(c.doc)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				if err := Walk(doc, func(string, int, int) error { n++; return nil }); err != nil || n < 3 {
					b.Fatal(n, err)
				}
			}
		})
	}
}
