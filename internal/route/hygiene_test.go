package route

import (
	"strings"
	"testing"
)

func TestUninspected(t *testing.T) {
	cases := []struct {
		sel      string
		model    bool
		backend  *string
		want     Hygiene
		status   int
		code     string
		sameAsIn bool // the inspected path answers this header the same way
	}{
		{sel: "configured", want: Hygiene{}},
		{sel: "any", want: Hygiene{}},
		{sel: "off", want: Hygiene{}},
		{sel: "configured", model: true, want: Hygiene{DelModel: true}},
		{sel: "any", model: true, want: Hygiene{DelModel: true}},
		{sel: "off", model: true, want: Hygiene{DelModel: true}},

		{sel: "configured", backend: ptr("deploy-a"), want: Hygiene{}},
		{sel: "configured", model: true, backend: ptr("deploy-a"), want: Hygiene{DelModel: true}},
		{sel: "configured", backend: ptr("openai-primary"), status: 404, code: "backend_not_found", sameAsIn: true},
		{sel: "configured", model: true, backend: ptr("openai-primary"), status: 404, code: "backend_not_found", sameAsIn: true},
		{sel: "configured", backend: ptr(""), status: 400, sameAsIn: true},

		{sel: "any", backend: ptr("deploy-a"), want: Hygiene{}},
		{sel: "any", backend: ptr("elsewhere"), want: Hygiene{}},
		{sel: "any", model: true, backend: ptr("elsewhere"), want: Hygiene{DelModel: true}},
		{sel: "any", backend: ptr(""), status: 400, sameAsIn: true},
		{sel: "any", backend: ptr(strings.Repeat("b", 513)), status: 400, sameAsIn: true},
		{sel: "configured", backend: ptr(strings.Repeat("b", 513)), status: 400, sameAsIn: true},
		{sel: "any", backend: ptr("a\x7fb"), status: 400, sameAsIn: true},

		{sel: "off", backend: ptr("deploy-a"), want: Hygiene{DelBackend: true}},
		{sel: "off", backend: ptr("elsewhere"), want: Hygiene{DelBackend: true}},
		{sel: "off", backend: ptr(""), want: Hygiene{DelBackend: true}},
		{sel: "off", model: true, backend: ptr("deploy-a"), want: Hygiene{DelModel: true, DelBackend: true}},
	}
	for _, tc := range cases {
		name := tc.sel
		if tc.model {
			name += "/model"
		}
		if tc.backend != nil {
			name += "/backend=" + *tc.backend
		}
		t.Run(name, func(t *testing.T) {
			cfg := mustConfig(t, tc.sel)
			b, has := "", tc.backend != nil
			if has {
				b = *tc.backend
			}
			h, e := Uninspected(cfg, tc.model, b, has)
			if tc.status != 0 {
				if e == nil || e.Status != tc.status || e.Code != tc.code {
					t.Fatalf("got %+v %+v, want error %d %q", h, e, tc.status, tc.code)
				}
				if tc.sameAsIn {
					// The same header on an inspected request gets the same answer.
					_, ie := Decide(cfg, Input{HeaderBackend: b, HasHeaderBackend: true})
					if ie == nil || *ie != *e {
						t.Fatalf("inspected path answers %+v, uninspected %+v", ie, e)
					}
				}
				return
			}
			if e != nil {
				t.Fatalf("unexpected error %+v", e)
			}
			if h != tc.want {
				t.Fatalf("got %+v, want %+v", h, tc.want)
			}
			if h.Changed() != (tc.want.DelModel || tc.want.DelBackend) {
				t.Fatalf("Changed() = %v for %+v", h.Changed(), h)
			}
		})
	}
}
