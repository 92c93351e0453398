package mockprovider

import (
	"net/http"
	"strconv"
)

// openAIError writes OpenAI's error envelope; empty param/code are sent as JSON null, as
// OpenAI does.
func openAIError(w http.ResponseWriter, status int, message, typ, param, code string) {
	if typ == "" {
		typ = openAIErrorType(status)
	}
	e := map[string]any{"message": message, "type": typ, "param": nil, "code": nil}
	if param != "" {
		e["param"] = param
	}
	if code != "" {
		e["code"] = code
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func openAIErrorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "requests"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// azureError writes the envelope Azure's front door uses for auth, routing and throttling
// errors (validation errors of the model itself use OpenAI's envelope).
func azureError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": message}})
}

// anthropicError writes Anthropic's error envelope.
func anthropicError(w http.ResponseWriter, status int, typ, message string) {
	if typ == "" {
		typ = anthropicErrorType(status)
	}
	writeJSON(w, status, map[string]any{
		"type":  "error",
		"error": map[string]any{"type": typ, "message": message},
	})
}

// anthropicErrorType follows https://docs.anthropic.com/en/api/errors.
func anthropicErrorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// writeError writes a generic error in the configured provider's format.
func (s *Server) writeError(w http.ResponseWriter, status int, message, param, code string) {
	switch s.opts.Schema {
	case SchemaAnthropic:
		anthropicError(w, status, "", message)
	default:
		openAIError(w, status, message, "", param, code)
	}
}

// writeFailure answers a forced failure the way the provider reports an outage.
func (s *Server) writeFailure(w http.ResponseWriter, status int) {
	msg := "mock backend " + s.opts.Name + " forced failure"
	switch s.opts.Schema {
	case SchemaAnthropic:
		if status == 529 {
			msg = "Overloaded"
		}
		anthropicError(w, status, "", msg)
	case SchemaAzure:
		azureError(w, status, strconv.Itoa(status), msg)
	case SchemaVertexGemini, SchemaVertexAnthropic:
		googleError(w, status, googleStatus(status), msg)
	default:
		code := ""
		if status == http.StatusTooManyRequests {
			code = "rate_limit_exceeded"
		}
		openAIError(w, status, msg, "", "", code)
	}
}
