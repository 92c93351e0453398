// Package oaierrtest checks, in tests, that a body is an error a client
// reads in its own format (oaierr.Format).
package oaierrtest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aigw/aigw/internal/oaierr"
)

// Validate reports why body is not an error in format f: OpenAI's
// {"error":{"message","type","param","code"}} with every member present and
// a message and type, or Anthropic's {"type":"error","error":{"type",
// "message"}} with both set.
func Validate(f oaierr.Format, body []byte) error {
	var doc struct {
		Type  *string         `json:"type"`
		Error json.RawMessage `json:"error"`
	}
	var e map[string]any
	if json.Unmarshal(body, &doc) != nil || json.Unmarshal(doc.Error, &e) != nil || e == nil {
		return fmt.Errorf("not an error object: %q", body)
	}
	msg, _ := e["message"].(string)
	typ, _ := e["type"].(string)
	if msg == "" || typ == "" {
		return fmt.Errorf("error without a message or a type: %q", body)
	}
	if f == oaierr.FormatAnthropic {
		if doc.Type == nil || *doc.Type != "error" {
			return fmt.Errorf("not Anthropic's error shape: %q", body)
		}
		return nil
	}
	if doc.Type != nil {
		return fmt.Errorf("not OpenAI's error shape: %q", body)
	}
	for _, k := range []string{"param", "code"} {
		if _, ok := e[k]; !ok {
			return fmt.Errorf("error member %q missing: %q", k, body)
		}
	}
	return nil
}

// Check fails t unless body is an error in format f (Validate).
func Check(t testing.TB, f oaierr.Format, body []byte) {
	t.Helper()
	if err := Validate(f, body); err != nil {
		t.Fatal(err)
	}
}
