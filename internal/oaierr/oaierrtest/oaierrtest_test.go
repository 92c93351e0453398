package oaierrtest

import (
	"testing"

	"github.com/aigw/aigw/internal/oaierr"
)

func TestValidate(t *testing.T) {
	e := oaierr.InvalidRequest("model", "model is required")
	for _, tc := range []struct {
		name string
		f    oaierr.Format
		body string
		ok   bool
	}{
		{"OpenAI's, rendered", oaierr.FormatOpenAI, string(e.Render(oaierr.FormatOpenAI)), true},
		{"Anthropic's, rendered", oaierr.FormatAnthropic, string(e.Render(oaierr.FormatAnthropic)), true},
		{"Anthropic's for an OpenAI client", oaierr.FormatOpenAI, string(e.Render(oaierr.FormatAnthropic)), false},
		{"OpenAI's for an Anthropic client", oaierr.FormatAnthropic, string(e.Render(oaierr.FormatOpenAI)), false},
		{"OpenAI's without param", oaierr.FormatOpenAI, `{"error":{"message":"m","type":"t","code":null}}`, false},
		{"no message", oaierr.FormatAnthropic, `{"type":"error","error":{"type":"api_error","message":""}}`, false},
		{"no type", oaierr.FormatOpenAI, `{"error":{"message":"m","param":null,"code":null}}`, false},
		{"a string", oaierr.FormatOpenAI, `{"error":"m"}`, false},
		{"not JSON", oaierr.FormatOpenAI, `<html>`, false},
	} {
		if err := Validate(tc.f, []byte(tc.body)); (err == nil) != tc.ok {
			t.Errorf("%s: Validate(%s) = %v", tc.name, tc.body, err)
		}
	}
}
