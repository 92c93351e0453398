package oaierr

// AnthropicJSON renders e in Anthropic's error format,
// {"type":"error","error":{"type","message"}}, for clients of the Anthropic
// API the gateway answers itself (POST /v1/messages). Anthropic's error
// types match OpenAI's for the statuses aigw answers (rate_limit_error,
// invalid_request_error, api_error for 5xx).
func (e *Error) AnthropicJSON() []byte {
	typ := e.Type
	if typ == "" {
		typ = TypeForStatus(e.Status)
	}
	if typ == "server_error" {
		typ = "api_error"
	}
	b := append(make([]byte, 0, 64+len(e.Message)), `{"type":"error","error":{"type":`...)
	b = AppendString(b, typ)
	b = append(b, `,"message":`...)
	b = AppendString(b, e.Message)
	return append(b, "}}"...)
}
