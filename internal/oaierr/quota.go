package oaierr

import "net/http"

// QuotaExceeded is the error of a request an in-process token budget
// refused (a 429) or of a stream it ended (the error event): OpenAI's
// rate limit error, naming the rule (a config name, never client data).
func QuotaExceeded(rule string, retryAfter int64) *Error {
	return New(http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded",
		"token quota %q exceeded; retry after %d seconds", rule, max(retryAfter, 1))
}
