package filter

import "github.com/envoyproxy/envoy/contrib/golang/common/go/api"

// What the router phase needs from Envoy, as plain Go interfaces. The
// golang-filter ABI adapter (internal/golangabi) implements them on Envoy's
// C API (contrib/golang/common/go/api/api.h); the tests use fakes. They are
// narrower than the Go SDK's api.FilterCallbackHandler on purpose: each
// method is one call into Envoy, and nothing is copied that the filter does
// not read (the SDK copies the whole header map on the first Get or Set).
// Statuses, log levels and metrics are Envoy's Go API types (api.StatusType,
// api.LogType, api.CounterMetric).

// RequestHeaders is the request header map Envoy handed DecodeHeaders. It
// stays writable through DecodeData while the filter holds the request
// (StopAndBuffer), and must not be touched once the request continues.
type RequestHeaders interface {
	// Get returns the first value of a header (lower-case name) and whether
	// the header is present. The value is a copy in Go memory that is valid
	// until the current callback returns.
	Get(name string) (value string, ok bool)
	// Set replaces every value of the header with one value.
	Set(name, value string)
	// Del removes the header.
	Del(name string)
}

// Body is the request body Envoy buffered (DecodeData).
type Body interface {
	// Len is the buffered length, without copying.
	Len() int
	// Bytes copies the body into Go memory: the one copy the ABI forces, so
	// call it once. The slice may be modified in place and is valid until
	// the current callback returns.
	Bytes() []byte
	// Set replaces Envoy's buffer with b (Envoy copies it). b must stay
	// unchanged until the callback returns: the adapter may hand it to
	// Envoy with the callback's other writes.
	Set(b []byte)
}

// Stream is the rest of what the filter reads or changes on the request.
type Stream interface {
	// SendLocalReply answers the client with a JSON body
	// (content-type: application/json); details become Envoy's
	// %RESPONSE_CODE_DETAILS%. The caller then returns api.LocalReply.
	SendLocalReply(status int, body string, details string)
	// SendRetryLater is SendLocalReply plus a Retry-After header of
	// RetryAfterSeconds (OpenAI's SDKs wait that long, then retry).
	SendRetryLater(status int, body string, details string)
	// SendLocalReplyHeaders answers the client with body and the given
	// headers (name, value pairs, content-type included).
	SendLocalReplyHeaders(status int, body, details string, headers []string)
	// ClearRouteCache makes Envoy's router match again on the new headers.
	ClearRouteCache()
	// SetMetadata sets a string in dynamic metadata namespace
	// config.DynamicMetadataNamespace (access logs read it).
	SetMetadata(key, value string)
	// SetMetadataNumber sets a number in the same namespace (the rate limit
	// filter's hits_addend reads costs as numbers).
	SetMetadataNumber(key string, value float64)
	// ResponseCode is the response status, once there is one.
	ResponseCode() (int, bool)
	// Log writes to Envoy's log.
	Log(level api.LogType, msg string)
}
