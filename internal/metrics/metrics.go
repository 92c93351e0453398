// Package metrics records aigw's gen_ai.* metrics with the OpenTelemetry Go
// SDK, named per the OpenTelemetry GenAI semantic conventions as Envoy AI
// Gateway emits them, and exports them (Prometheus text on a listen address
// served inside Envoy, OTLP push when the standard OTEL_* variables ask for
// it) from one process-wide pipeline however many configs load.
//
// The upstream phase fills one Attempt per upstream attempt and calls
// Recorder.Record: the attribute sets of a label tuple are built once and
// cached (lock-free read path), so the steady state allocates nothing.
package metrics

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Instrument names (OpenTelemetry GenAI semantic conventions). The Prometheus
// exporter turns them into gen_ai_client_token_usage_*,
// gen_ai_server_request_duration_seconds_*, ..., and the counters into
// gen_ai_client_inference_usage_input_tokens_total etc.
const (
	NameTokenUsage      = "gen_ai.client.token.usage"
	NameRequestDuration = "gen_ai.server.request.duration"
	NameTTFT            = "gen_ai.server.time_to_first_token"
	NameTPOT            = "gen_ai.server.time_per_output_token"
	// Per-category token counters (semantic-conventions-genai,
	// gen-ai-token-metrics.md): cache_read, cache_write and reasoning are
	// subsets of input_tokens and output_tokens.
	NameUsageInput      = "gen_ai.client.inference.usage.input_tokens"
	NameUsageOutput     = "gen_ai.client.inference.usage.output_tokens"
	NameUsageCacheRead  = "gen_ai.client.inference.usage.cache_read.input_tokens"
	NameUsageCacheWrite = "gen_ai.client.inference.usage.cache_write.input_tokens"
	NameUsageReasoning  = "gen_ai.client.inference.usage.reasoning.output_tokens"
	// NameAttempts counts upstream attempts per backend that served them
	// (aigw's own), so a failover shows as a failed attempt on the primary
	// and a served one on the fallback.
	NameAttempts = "aigw.upstream.attempts"
)

// Attribute keys.
const (
	AttrOperation     = "gen_ai.operation.name"
	AttrProvider      = "gen_ai.provider.name"
	AttrRequestModel  = "gen_ai.request.model"
	AttrResponseModel = "gen_ai.response.model"
	AttrTokenType     = "gen_ai.token.type"
	AttrTokenModality = "gen_ai.token.modality"
	AttrErrorType     = "error.type"
	AttrBackend       = "aigw.backend.name"
)

// Operation names (gen_ai.operation.name well-known values).
const (
	OpChat           = "chat"
	OpTextCompletion = "text_completion"
	OpEmbeddings     = "embeddings"
)

// Values the recorder substitutes for a client-chosen attribute value.
const (
	// OverflowValue replaces a value once its attribute has
	// MaxValuesPerAttribute distinct values, or a value longer than
	// MaxValueLen bytes.
	OverflowValue = "_overflow"
	// RedactedValue replaces a value that looks like a credential.
	RedactedValue = "_redacted"
)

// Limits.
const (
	// MaxHeaderAttributes is the most header->attribute mappings a config may have.
	MaxHeaderAttributes = 8
	// DefaultMaxValuesPerAttribute is the default cap on distinct values per attribute.
	DefaultMaxValuesPerAttribute = 1000
	// MaxValueLen is the longest attribute value kept as is.
	MaxValueLen = 256
)

// Bucket boundaries the GenAI semantic conventions recommend.
var (
	TokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	DurationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	TTFTBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	TPOTBuckets     = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5}
)

// Usage is one attempt's token accounting, per the conventions: Input
// includes CachedInput and CacheCreationInput (Anthropic reports them apart
// from input_tokens: the caller adds them), Output includes Reasoning.
type Usage struct {
	Input, Output, CachedInput, CacheCreationInput, Reasoning int64
	// Reported is false when the provider sent no usage (failed or aborted
	// before it): the histogram is not recorded and the counters add 0.
	Reported bool
}

// Attempt is what the upstream phase knows at the end of one attempt.
type Attempt struct {
	Operation     string // OpChat, OpTextCompletion, OpEmbeddings
	Provider      string // gen_ai.provider.name (openai, anthropic, azure.ai.openai)
	RequestModel  string // the client's model
	ResponseModel string // the model the provider says answered
	Backend       string // the config's backend name that served the attempt
	// ErrorType is "" for success, else error.type: the provider's HTTP
	// status ("429", "503"), or a short aigw code ("client_abort",
	// "upstream_reset", "backend_not_configured").
	ErrorType string
	Usage     Usage
	// Start is when the attempt's request left; FirstToken when the first
	// content token reached the client (zero if none); End when the
	// attempt ended.
	Start, FirstToken, End time.Time
	// Streaming: TTFT and TPOT are recorded only for successful streams.
	Streaming bool
	// Headers holds the request's values of Recorder.Headers(), same index.
	Headers [MaxHeaderAttributes]string
}

// TTFT is the time to first token, or 0 when none was seen.
func (a *Attempt) TTFT() time.Duration {
	if a.FirstToken.IsZero() || a.Start.IsZero() || a.FirstToken.Before(a.Start) {
		return 0
	}
	return a.FirstToken.Sub(a.Start)
}

// TPOT is (end - first token) / (output tokens - 1), or 0 when fewer than
// two output tokens or no first token.
func (a *Attempt) TPOT() time.Duration {
	if a.FirstToken.IsZero() || a.Usage.Output < 2 || a.End.Before(a.FirstToken) {
		return 0
	}
	return a.End.Sub(a.FirstToken) / time.Duration(a.Usage.Output-1)
}

// instruments are created once per process.
type instruments struct {
	tokenUsage                                                   metric.Int64Histogram
	duration, ttft, tpot                                         metric.Float64Histogram
	usageIn, usageOut, usageCacheRead, usageCacheWrite, usageRsn metric.Int64Counter
	attempts                                                     metric.Int64Counter
}

func newInstruments(m metric.Meter) (instruments, error) {
	var in instruments
	var errs [10]error
	in.tokenUsage, errs[0] = m.Int64Histogram(NameTokenUsage, metric.WithUnit("{token}"),
		metric.WithDescription("Number of input and output tokens used."), metric.WithExplicitBucketBoundaries(TokenBuckets...))
	in.duration, errs[1] = m.Float64Histogram(NameRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Generative AI server request duration such as time-to-last byte or last output token."), metric.WithExplicitBucketBoundaries(DurationBuckets...))
	in.ttft, errs[2] = m.Float64Histogram(NameTTFT, metric.WithUnit("s"),
		metric.WithDescription("Time to generate first token for successful responses."), metric.WithExplicitBucketBoundaries(TTFTBuckets...))
	in.tpot, errs[3] = m.Float64Histogram(NameTPOT, metric.WithUnit("s"),
		metric.WithDescription("Time per output token generated after the first token for successful responses."), metric.WithExplicitBucketBoundaries(TPOTBuckets...))
	counter := func(name, desc string) (metric.Int64Counter, error) {
		return m.Int64Counter(name, metric.WithUnit("{token}"), metric.WithDescription(desc))
	}
	in.usageIn, errs[4] = counter(NameUsageInput, "The number of input (prompt) tokens used, including cached tokens.")
	in.usageOut, errs[5] = counter(NameUsageOutput, "The number of output (completion) tokens used, including reasoning tokens.")
	in.usageCacheRead, errs[6] = counter(NameUsageCacheRead, "The number of input tokens read from a provider-managed cache.")
	in.usageCacheWrite, errs[7] = counter(NameUsageCacheWrite, "The number of input tokens written to a provider-managed cache.")
	in.usageRsn, errs[8] = counter(NameUsageReasoning, "The number of output tokens spent on reasoning.")
	in.attempts, errs[9] = m.Int64Counter(NameAttempts, metric.WithUnit("{attempt}"),
		metric.WithDescription("Upstream attempts by the backend that served them; error.type set on a failed attempt."))
	for _, err := range errs {
		if err != nil {
			return in, err
		}
	}
	return in, nil
}

// entry is the pre-bound attribute sets of one label tuple.
type entry struct {
	base     []metric.RecordOption // duration, ttft, tpot
	tokIn    []metric.RecordOption
	tokOut   []metric.RecordOption
	counter  []metric.AddOption // per-category counters (modality unknown)
	attempts []metric.AddOption
}

func newEntry(kvs []attribute.KeyValue, backend string) *entry {
	with := func(extra ...attribute.KeyValue) metric.MeasurementOption {
		all := make([]attribute.KeyValue, 0, len(kvs)+len(extra))
		all = append(append(all, kvs...), extra...)
		return metric.WithAttributeSet(attribute.NewSet(all...))
	}
	base := with()
	ctr := with(attribute.String(AttrTokenModality, "unknown"))
	att := base
	if backend != "" {
		att = with(attribute.String(AttrBackend, backend))
	}
	return &entry{
		base:     []metric.RecordOption{base},
		tokIn:    []metric.RecordOption{with(attribute.String(AttrTokenType, "input"))},
		tokOut:   []metric.RecordOption{with(attribute.String(AttrTokenType, "output"))},
		counter:  []metric.AddOption{ctr},
		attempts: []metric.AddOption{att},
	}
}

// record writes one attempt's data points.
func (in *instruments) record(e *entry, a *Attempt) {
	ctx := context.Background()
	if !a.Start.IsZero() && !a.End.Before(a.Start) {
		in.duration.Record(ctx, a.End.Sub(a.Start).Seconds(), e.base...)
	}
	if a.ErrorType == "" && a.Streaming {
		if d := a.TTFT(); d > 0 {
			in.ttft.Record(ctx, d.Seconds(), e.base...)
		}
		if d := a.TPOT(); d > 0 {
			in.tpot.Record(ctx, d.Seconds(), e.base...)
		}
	}
	u := &a.Usage
	if u.Reported {
		in.tokenUsage.Record(ctx, u.Input, e.tokIn...)
		in.tokenUsage.Record(ctx, u.Output, e.tokOut...)
	}
	// Input and output are recorded for every attempt, 0 without usage (the
	// conventions ask for it); the subsets only when non-zero.
	in.usageIn.Add(ctx, u.Input, e.counter...)
	in.usageOut.Add(ctx, u.Output, e.counter...)
	if u.CachedInput > 0 {
		in.usageCacheRead.Add(ctx, u.CachedInput, e.counter...)
	}
	if u.CacheCreationInput > 0 {
		in.usageCacheWrite.Add(ctx, u.CacheCreationInput, e.counter...)
	}
	if u.Reasoning > 0 {
		in.usageRsn.Add(ctx, u.Reasoning, e.counter...)
	}
	in.attempts.Add(ctx, 1, e.attempts...)
}
