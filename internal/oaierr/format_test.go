package oaierr

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestFormatFor(t *testing.T) {
	for _, tc := range []struct {
		path string
		want Format
	}{
		{"/v1/messages", FormatAnthropic},
		{"/v1/messages/", FormatAnthropic},
		{"/v1/messages?beta=true", FormatAnthropic},
		{"/v1/chat/completions", FormatOpenAI},
		{"/v1/embeddings", FormatOpenAI},
		{"/v1/messages/count_tokens", FormatOpenAI},
		{"", FormatOpenAI},
	} {
		if got := FormatFor(tc.path); got != tc.want {
			t.Errorf("FormatFor(%q) = %d, want %d", tc.path, got, tc.want)
		}
	}
}

func TestRenderAnthropic(t *testing.T) {
	for _, tc := range []struct {
		e        *Error
		wantType string
	}{
		{InvalidRequest("model", "model is required"), "invalid_request_error"},
		{New(http.StatusNotFound, "invalid_request_error", "backend_not_found", "no backend"), "not_found_error"},
		{New(http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "too big"), "request_too_large"},
		{New(http.StatusServiceUnavailable, "server_error", "gateway_overloaded", "busy \"now\""), "overloaded_error"},
		{Internal("internal"), "api_error"},
		{New(http.StatusTooManyRequests, "rate_limit_error", "", "slow down"), "rate_limit_error"},
		{New(http.StatusUnauthorized, "", "", "no key"), "authentication_error"},
	} {
		var got struct {
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		b := tc.e.Render(FormatAnthropic)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if got.Type != "error" || got.Error.Type != tc.wantType || got.Error.Message != tc.e.Message {
			t.Errorf("%s: got %+v, want type %s message %q", b, got, tc.wantType, tc.e.Message)
		}
		if string(tc.e.Render(FormatOpenAI)) != string(tc.e.JSON()) {
			t.Errorf("OpenAI rendering differs from JSON()")
		}
	}
}
