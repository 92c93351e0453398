package route

import (
	"strings"
	"testing"
	"unicode"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
)

func mustConfig(t *testing.T, sel string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`{"client_backend_selection":"` + sel + `","backends":[
		{"name":"deploy-a","models":["gpt-4o-mini"]},{"name":"deploy-b","models":["gpt-4o-mini"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name    string
		sel     string
		header  *string
		body    string
		backend string
		model   string
		remove  bool
		status  int
		param   string
		code    string
	}{
		{name: "model only", sel: "configured", body: `{"model":"gpt-4o-mini"}`, model: "gpt-4o-mini"},
		{name: "two deployments same model: body backend wins over model", sel: "configured", body: `{"model":"gpt-4o-mini","backend":"deploy-b"}`, backend: "deploy-b", model: "gpt-4o-mini", remove: true},
		{name: "header backend", sel: "configured", header: ptr("deploy-a"), body: `{"model":"gpt-4o-mini"}`, backend: "deploy-a", model: "gpt-4o-mini"},
		{name: "header beats body", sel: "configured", header: ptr("deploy-a"), body: `{"model":"gpt-4o-mini","backend":"deploy-b"}`, backend: "deploy-a", model: "gpt-4o-mini", remove: true},
		{name: "backend without model", sel: "configured", body: `{"backend":"deploy-b","input":"x"}`, backend: "deploy-b", remove: true},
		{name: "unknown backend in body", sel: "configured", body: `{"model":"m","backend":"nope"}`, status: 404, param: "backend", code: "backend_not_found"},
		{name: "unknown backend in header", sel: "configured", header: ptr("nope"), body: `{"model":"m"}`, status: 404, code: "backend_not_found"},
		{name: "any allows unknown", sel: "any", body: `{"model":"m","backend":"elsewhere"}`, backend: "elsewhere", model: "m", remove: true},
		{name: "off ignores header", sel: "off", header: ptr("deploy-a"), body: `{"model":"m"}`, model: "m"},
		{name: "off ignores body backend but still strips it", sel: "off", body: `{"model":"m","backend":"deploy-a"}`, model: "m", remove: true},
		{name: "off needs a model", sel: "off", body: `{"backend":"deploy-a"}`, status: 400, param: "model"},
		{name: "missing model", sel: "configured", body: `{"messages":[]}`, status: 400, param: "model"},
		{name: "model number", sel: "configured", body: `{"model":4}`, status: 400, param: "model"},
		{name: "model number with backend", sel: "configured", body: `{"model":4,"backend":"deploy-a"}`, status: 400, param: "model"},
		{name: "model empty", sel: "configured", body: `{"model":""}`, status: 400, param: "model"},
		{name: "backend not string", sel: "configured", body: `{"model":"m","backend":1}`, status: 400, param: "backend"},
		{name: "backend empty", sel: "configured", body: `{"model":"m","backend":""}`, status: 400, param: "backend"},
		{name: "backend null", sel: "any", body: `{"model":"m","backend":null}`, status: 400, param: "backend"},
		{name: "empty header", sel: "configured", header: ptr(""), body: `{"model":"m"}`, status: 400},
		{name: "unicode model", sel: "configured", body: `{"model":"gpt\u002d4o\u002dmini"}`, model: "gpt-4o-mini"},
		// Values that become headers, metadata and log fields.
		{name: "model with CRLF", sel: "configured", body: `{"model":"m\r\nx-injected: 1"}`, status: 400, param: "model"},
		{name: "model with escaped NUL", sel: "configured", body: `{"model":"m\u0000"}`, status: 400, param: "model"},
		{name: "model with tab", sel: "configured", body: `{"model":"m\tx"}`, status: 400, param: "model"},
		{name: "model with DEL", sel: "configured", body: `{"model":"m\u007f"}`, status: 400, param: "model"},
		{name: "model with C1 control", sel: "configured", body: `{"model":"m\u0085"}`, status: 400, param: "model"},
		{name: "model with control and a backend", sel: "any", body: `{"model":"m\n","backend":"b"}`, status: 400, param: "model"},
		{name: "model at the length cap", sel: "configured", body: `{"model":"` + strings.Repeat("m", 512) + `"}`, model: strings.Repeat("m", 512)},
		{name: "model over the length cap", sel: "configured", body: `{"model":"` + strings.Repeat("m", 513) + `"}`, status: 400, param: "model"},
		{name: "ARN model", sel: "configured", body: `{"model":"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"}`, model: "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"},
		{name: "any: body backend with LF", sel: "any", body: `{"model":"m","backend":"b\nx"}`, status: 400, param: "backend"},
		{name: "any: body backend with escaped NUL", sel: "any", body: `{"model":"m","backend":"b\u0000"}`, status: 400, param: "backend"},
		{name: "any: body backend over the cap", sel: "any", body: `{"model":"m","backend":"` + strings.Repeat("b", 513) + `"}`, status: 400, param: "backend"},
		{name: "any: header backend with a control byte", sel: "any", header: ptr("b\x01"), body: `{"model":"m"}`, status: 400},
		{name: "any: header backend over the cap", sel: "any", header: ptr(strings.Repeat("b", 513)), body: `{"model":"m"}`, status: 400},
		{name: "off: header backend is not checked (removed)", sel: "off", header: ptr(strings.Repeat("b", 513)), body: `{"model":"m"}`, model: "m"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustConfig(t, tc.sel)
			r, err := bodyscan.Scan([]byte(tc.body), "backend")
			if err != nil {
				t.Fatal(err)
			}
			in := Input{Body: r}
			if tc.header != nil {
				in.HeaderBackend, in.HasHeaderBackend = *tc.header, true
			}
			d, e := Decide(cfg, in)
			if tc.status != 0 {
				if e == nil {
					t.Fatalf("decision %+v, want error %d", d, tc.status)
				}
				if e.Status != tc.status || e.Param != tc.param || e.Code != tc.code {
					t.Fatalf("error %+v, want %d param=%q code=%q", e, tc.status, tc.param, tc.code)
				}
				return
			}
			if e != nil {
				t.Fatalf("unexpected error %+v", e)
			}
			if d.Backend != tc.backend || d.Model != tc.model || d.RemoveBackendMember != tc.remove {
				t.Fatalf("decision %+v, want backend=%q model=%q remove=%v", d, tc.backend, tc.model, tc.remove)
			}
		})
	}
}

func TestScanError(t *testing.T) {
	_, err := bodyscan.Scan([]byte(`{"model":"a","model":"b"}`), "backend")
	if e := ScanError(err); e.Status != 400 || e.Param != "model" {
		t.Fatalf("%+v", e)
	}
	_, err = bodyscan.Scan([]byte(`[]`), "backend")
	if e := ScanError(err); e.Status != 400 || e.Message != "request body must be a JSON object" {
		t.Fatalf("%+v", e)
	}
}

func ptr(s string) *string { return &s }

// The length cap is the config's max_name_bytes; errors never echo the value.
func TestNameCapConfigurable(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"client_backend_selection":"any","max_name_bytes":8}`))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 9)
	r, _ := bodyscan.Scan([]byte(`{"model":"`+long+`"}`), "backend")
	_, e := Decide(cfg, Input{Body: r})
	if e == nil || e.Status != 400 || e.Param != "model" || strings.Contains(e.Message, long) || !strings.Contains(e.Message, "8 bytes") {
		t.Fatalf("%+v", e)
	}
	r, _ = bodyscan.Scan([]byte(`{"model":"12345678"}`), "backend")
	if d, e := Decide(cfg, Input{Body: r}); e != nil || d.Model != "12345678" {
		t.Fatalf("%+v %+v", d, e)
	}
	r, _ = bodyscan.Scan([]byte(`{"model":"m"}`), "backend")
	_, e = Decide(cfg, Input{Body: r, HeaderBackend: "b\r\nx", HasHeaderBackend: true})
	if e == nil || e.Status != 400 || !strings.Contains(e.Message, cfg.BackendHeader) {
		t.Fatalf("%+v", e)
	}
}

// checkName refuses exactly the names holding a control character
// (unicode.IsControl: C0, DEL, C1), wherever it is: every rune, and every
// lone byte (invalid UTF-8 is not a control character), after a printable
// ASCII prefix or at the start.
func TestCheckNameControlCharacters(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"max_name_bytes":64}`))
	if err != nil {
		t.Fatal(err)
	}
	check := func(v string, want bool) {
		if got := checkName(cfg, "model", "", v) != nil; got != want {
			t.Fatalf("checkName(%q) refused %v, want %v", v, got, want)
		}
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue // not encodable
		}
		ctl := unicode.IsControl(r)
		check(string(r), ctl)
		check("gpt-4o"+string(r), ctl)
		check(string(r)+"-mini", ctl)
	}
	for b := 0; b < 256; b++ {
		ctl := b < 0x20 || b == 0x7f
		check(string([]byte{byte(b)}), ctl)
		check("gpt"+string([]byte{byte(b)})+"4o", ctl)
	}
}
