// Package upstream is the per-attempt logic of aigw's upstream phase: the
// filter Envoy runs in a cluster's upstream http_filters after the load
// balancer picked an endpoint (and so a priority). It is pure Go: Envoy is
// reached only through the small interfaces below, which internal/dynmod
// implements over the dynamic-modules ABI and the tests implement with fakes.
//
// One Filter serves one upstream attempt. Envoy creates a new filter instance
// for every retry, so every attempt starts from the original request and
// failover between priorities needs no state here.
package upstream

import (
	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/translate"
)

// HeaderMap is one header map of the attempt (request or response).
type HeaderMap interface {
	// Get returns the first value of key (lower case).
	Get(key string) (string, bool)
	// Set replaces every value of key with value. The request header map is
	// shared by all attempts of a request, so headers are only ever set or
	// removed, never added: a retry must not see two values.
	Set(key, value string)
	// Remove deletes every value of key.
	Remove(key string)
}

// HeaderListRemover is a HeaderMap that can remove a list of headers in
// one write (Remove for each name, in order), which an adapter whose every
// write is a call into Envoy makes cheaper than one Remove per name.
type HeaderListRemover interface {
	RemoveAll(keys []string)
}

// Body is the request or response body as Envoy holds it during a hook.
type Body interface {
	// Bytes returns the body Envoy currently holds for this hook: the whole
	// buffered body, or the current chunk when nothing was buffered. When
	// Envoy holds it in one slice the result is a view of Envoy's memory
	// (no copy); otherwise it is one contiguous copy. Either way it is valid
	// only until the hook returns or the body is replaced: never keep it.
	Bytes() []byte
	// Replace swaps the body Bytes returned for b. b may alias Bytes'
	// result: the implementation copies b in before releasing the old data.
	// It keeps no reference to b: when it returns, b's memory is the
	// caller's again (a translated body's pooled buffer is released then:
	// translate.BodyBuffer).
	Replace(b []byte)
	// Edit replaces the body Bytes returned with that body with edits
	// applied (translate.ApplyEdits, the edits sorted and within it). The
	// bytes kept are copied from the body itself, not from Go: an
	// implementation over Envoy's buffer appends the new body from its own
	// slices and then drains the old one, so the new body costs no Go
	// memory however large it is.
	Edit(edits []translate.Edit)
}

// SlicedBody is a Body that shows the bytes Envoy holds as Envoy holds
// them, a list of slices, without joining them into one (what Bytes does
// for a body in more than one slice): an attempt that needs only a few of
// the body's bytes (translate.SlicedEditedRequest) or a hash of them
// (bodyscan.RecallSlices) reads them there and copies nothing. Like
// http.Flusher for an http.ResponseWriter, it is found by a type assertion:
// Body stays what every implementation must do.
type SlicedBody interface {
	// Slices returns the body Bytes would return, as its slices in order
	// (some may be empty); ok is false when it cannot be read (Bytes
	// then returns nil). The slices are views of Envoy's memory, and the
	// list is the implementation's own, reused: both are valid only until
	// the hook returns or the body is changed. Never keep them, never hand
	// them to another goroutine.
	Slices() (slices [][]byte, ok bool)
}

// Header is one header name and value: the same type translate and the
// adapter use, so header lists pass between them without copies.
type Header = translate.Header

// Attempt is the host side of one upstream attempt.
type Attempt interface {
	RequestHeaders() HeaderMap
	ResponseHeaders() HeaderMap
	RequestBody() Body
	ResponseBody() Body

	// EndpointMetadata reads a string from the chosen endpoint's
	// metadata.filter_metadata[ns][key]; ok is false when it is absent or
	// not a string.
	EndpointMetadata(ns, key string) (value string, ok bool)
	// DynamicMetadata reads a string from the stream's dynamic metadata
	// (what the router phase recorded); ok is false when it is absent or not
	// a string.
	DynamicMetadata(ns, key string) (value string, ok bool)
	// SetDynamicMetadata sets a string in the stream's dynamic metadata.
	// Upstream filters share the downstream stream info, so the router-phase
	// filter and access logs see it.
	SetDynamicMetadata(ns, key, value string)
	// SetDynamicMetadataNumber sets a number in the stream's dynamic metadata.
	SetDynamicMetadataNumber(ns, key string, value float64)
	// DynamicMetadataNumber reads a number from the stream's dynamic
	// metadata (the router phase's quota ticket).
	DynamicMetadataNumber(ns, key string) (float64, bool)
	// AddCounter adds n to one of the Counters (Envoy stats).
	AddCounter(c Counter, n uint64)

	// FilterState reads a string the request's filter state holds under key;
	// SetFilterState stores one. The filter state belongs to the downstream
	// request, so it survives from one attempt to the next (unlike the
	// filter instance) and is not sent anywhere.
	FilterState(key string) (string, bool)
	SetFilterState(key, value string)

	// Log writes one line to Envoy's log. Never pass credentials.
	Log(level LogLevel, msg string)

	// SendResponse answers the whole downstream request and ends it: no
	// retry, no other priority. It is the only local answer the upstream
	// phase gives (Filter.end says why there is no per-attempt one).
	SendResponse(status int, headers []Header, body []byte)
}

// LogLevel values are envoy_dynamic_module_type_log_level.
type LogLevel int

const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

// Action is a hook's answer, in the upstream phase's own words; the adapter
// maps it to the status enum of the ABI hook it serves.
type Action uint8

const (
	// Continue passes what the hook got on.
	Continue Action = iota
	// Hold keeps it: request or response headers wait for their body
	// (whose hooks still run), a body is buffered until a later body hook
	// of the same direction continues.
	Hold
	// Answered stops the attempt: the request was answered locally
	// (SendResponse) and nothing more may reach the codec or be buffered.
	Answered
	// Await holds the complete request as Hold does, waiting for the
	// backend's credential (docs/attempts.md): the adapter registers with
	// Filter.AwaitCredential and calls Filter.Resume on the worker once
	// woken. Envoy's per-try timeout fails the held attempt over to the next
	// priority when no credential comes.
	Await
)

// Dynamic metadata the upstream phase writes (namespace and keys are a
// contract with the router phase and the access log config).
const (
	MetadataNamespace   = config.DynamicMetadataNamespace
	MetadataBackendName = "backend_name"
	MetadataInputToken  = "llm_input_token"
	MetadataOutputToken = "llm_output_token"
	MetadataTotalToken  = "llm_total_token"
	// Envoy AI Gateway's names for the cache counts (v0.5+).
	MetadataCachedInputToken        = "llm_cached_input_token"
	MetadataCacheCreationInputToken = "llm_cache_creation_input_token"
	// aigw's own, named like the others (Envoy AI Gateway has none).
	MetadataReasoningToken = "llm_reasoning_token"
)

// MetadataUsageKeys are the dynamic metadata numbers of an attempt's usage,
// in UsageMetadata's order.
var MetadataUsageKeys = [...]string{MetadataInputToken, MetadataOutputToken, MetadataTotalToken,
	MetadataCachedInputToken, MetadataCacheCreationInputToken, MetadataReasoningToken}

// UsageMetadata are the values of MetadataUsageKeys.
type UsageMetadata [len(MetadataUsageKeys)]float64

// UsageMetadataSetter is an Attempt that sets an attempt's usage numbers in
// one write: SetDynamicMetadataNumber(MetadataNamespace, MetadataUsageKeys[i],
// v[i]) for each i in order, which an adapter whose every write is a call
// into Envoy makes cheaper than six writes.
type UsageMetadataSetter interface {
	SetUsageMetadata(v UsageMetadata)
}

// Counter is one of the upstream phase's Envoy stats. They are counted here,
// where the provider's usage is known, rather than read back from dynamic
// metadata by the router phase: a metadata read costs the router a protobuf
// decode per request.
type Counter int

const (
	CounterInputTokens Counter = iota
	CounterOutputTokens
	CounterCachedInputTokens
	NumCounters
)

// CounterNames are the stats names, indexed by Counter. No label ever holds a
// credential or a client-chosen string.
var CounterNames = [NumCounters]string{
	CounterInputTokens:       "aigw_input_tokens_total",
	CounterOutputTokens:      "aigw_output_tokens_total",
	CounterCachedInputTokens: "aigw_cached_input_tokens_total",
}

// ReadKind is where a value the filter reads comes from.
type ReadKind uint8

const (
	ReadRequestHeader ReadKind = iota
	ReadResponseHeader
	ReadFilterState      // Attempt.FilterState(Key)
	ReadDynamicMetadata  // Attempt.DynamicMetadata(NS, Key)
	ReadEndpointMetadata // Attempt.EndpointMetadata(NS, Key)
)

// Read is one string value the filter reads from the host in a hook.
type Read struct {
	Kind    ReadKind
	NS, Key string
}

// RequestReads lists every string value OnRequestHeaders reads (the client's
// request line, its metric attributes, the router phase's digest, the
// endpoint's backend), so that an adapter whose every read is a call into
// Envoy can fetch them all in one call. A read not listed still works, in a
// call of its own; TestRequestHooksReadOnlyTheListedValues keeps the list
// complete. Call it after SetRecorder. The list is in the order the hook
// reads the request line (a first attempt's headers, a retry's filter
// state), the digest and the endpoint, which an adapter searching it from
// its last hit finds first; the header attributes (read before them) come
// last, so an adapter that fetches only part of a long list fetches these.
func (c *Config) RequestReads() []Read {
	reads := []Read{
		{Kind: ReadRequestHeader, Key: ":method"},
		{Kind: ReadFilterState, Key: stateKeyPath},
		{Kind: ReadRequestHeader, Key: ":path"},
		{Kind: ReadRequestHeader, Key: ":authority"},
		{Kind: ReadFilterState, Key: stateKeyAuthority},
		{Kind: ReadDynamicMetadata, NS: MetadataNamespace, Key: config.MetaConfigDigest},
		{Kind: ReadEndpointMetadata, NS: c.metadataNamespace, Key: c.metadataKey},
	}
	for _, h := range c.rec.Headers() {
		reads = append(reads, Read{Kind: ReadRequestHeader, Key: h.Header})
	}
	return reads
}

// ResponseReads lists the string values OnResponseHeaders reads, as
// RequestReads does for the request.
var ResponseReads = []Read{
	{Kind: ReadResponseHeader, Key: ":status"},
	{Kind: ReadResponseHeader, Key: "content-type"},
	{Kind: ReadResponseHeader, Key: "content-encoding"},
}
