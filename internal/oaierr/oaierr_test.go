package oaierr

import (
	"encoding/json"
	"testing"
)

func TestJSONIsOpenAIShape(t *testing.T) {
	cases := []struct {
		name string
		err  *Error
		want map[string]any
	}{
		{"param and code", &Error{Status: 404, Type: "invalid_request_error", Param: "backend", Code: "backend_not_found", Message: `backend "x" is not configured`},
			map[string]any{"message": `backend "x" is not configured`, "type": "invalid_request_error", "param": "backend", "code": "backend_not_found"}},
		{"nulls and default type", &Error{Status: 503, Message: "no upstream"},
			map[string]any{"message": "no upstream", "type": "server_error", "param": nil, "code": nil}},
		{"internal", Internal("the gateway failed to process this request"),
			map[string]any{"message": "the gateway failed to process this request", "type": "server_error", "param": nil, "code": "internal_error"}},
		{"escapes and bad utf8", &Error{Status: 400, Message: "a\"b\\c\n\x01<\xff\u2028"},
			map[string]any{"message": "a\"b\\c\n\x01<\ufffd\u2028", "type": "invalid_request_error", "param": nil, "code": nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var doc struct {
				Error map[string]any `json:"error"`
			}
			if err := json.Unmarshal(tc.err.JSON(), &doc); err != nil {
				t.Fatalf("not JSON: %v: %s", err, tc.err.JSON())
			}
			if len(doc.Error) != len(tc.want) {
				t.Fatalf("got %v want %v", doc.Error, tc.want)
			}
			for k, v := range tc.want {
				if doc.Error[k] != v {
					t.Errorf("%s = %#v, want %#v", k, doc.Error[k], v)
				}
			}
		})
	}
}

func TestInvalidRequest(t *testing.T) {
	e := InvalidRequest("model", "model must be a string, got %s", "number")
	if e.Status != 400 || e.Param != "model" || e.Type != "invalid_request_error" || e.Message != "model must be a string, got number" {
		t.Fatalf("unexpected %+v", e)
	}
}

func TestAppendStringContents(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"q\"b\\", `q\"b\\`},
		{"\n\r\t\b\f\x01\x7f", `\n\r\t\u0008\u000c\u0001` + "\x7f"},
		{"é \u2028 😀", "é \u2028 😀"},
		{"bad \xff \xe2\x82", `bad \ufffd \ufffd\ufffd`},
	}
	for _, tc := range tests {
		if got := string(AppendStringContents([]byte("x"), tc.in)); got != "x"+tc.want {
			t.Errorf("AppendStringContents(%q) = %q, want %q", tc.in, got, "x"+tc.want)
		}
		if got := string(AppendString(nil, tc.in)); got != `"`+tc.want+`"` {
			t.Errorf("AppendString(%q) = %q", tc.in, got)
		}
	}
}
