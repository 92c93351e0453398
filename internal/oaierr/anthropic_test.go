package oaierr

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestAnthropicJSON(t *testing.T) {
	cases := []struct {
		e        *Error
		wantType string
	}{
		{New(http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded", "quota \"a\" exceeded"), "rate_limit_error"},
		{Internal("boom"), "api_error"},
		{&Error{Status: http.StatusBadRequest, Message: "bad \x01"}, "invalid_request_error"},
	}
	for _, tc := range cases {
		var doc struct {
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(tc.e.AnthropicJSON(), &doc); err != nil {
			t.Fatalf("%s: %v", tc.e.AnthropicJSON(), err)
		}
		if doc.Type != "error" || doc.Error.Type != tc.wantType || doc.Error.Message != tc.e.Message {
			t.Errorf("%s: got %+v", tc.e.AnthropicJSON(), doc)
		}
	}
}
