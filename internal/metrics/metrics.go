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
	"sync"
	"sync/atomic"
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
	Operation     string // gen_ai.operation.name: translate.OperationName
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

// instruments are created once per process. The histograms are the SDK's
// synchronous instruments; the counters are observable counters over
// per-tuple atomics (one atomic add per category on the hot path instead of
// an SDK measurement each), observed when a reader collects.
type instruments struct {
	tokenUsage           metric.Int64Histogram
	duration, ttft, tpot metric.Float64Histogram
	counts               *countRegistry
}

// counterNames in tupleCounts.v order; the last is NameAttempts.
var counterNames = [...]struct{ name, desc string }{
	{NameUsageInput, "The number of input (prompt) tokens used, including cached tokens."},
	{NameUsageOutput, "The number of output (completion) tokens used, including reasoning tokens."},
	{NameUsageCacheRead, "The number of input tokens read from a provider-managed cache."},
	{NameUsageCacheWrite, "The number of input tokens written to a provider-managed cache."},
	{NameUsageReasoning, "The number of output tokens spent on reasoning."},
	{NameAttempts, "Upstream attempts by the backend that served them; error.type set on a failed attempt."},
}

const (
	cIn = iota
	cOut
	cCacheRead
	cCacheWrite
	cReasoning
	cAttempts
	nCounters
)

// tupleCounts are cumulative counters shared by every entry (of every
// recorder) with the same attributes: the token counters of a base
// attribute set (attempts unused), or the attempts of a base set and a
// backend (tokens unused). Keeping them apart means one observation per
// attribute set and instrument, though two backends share a base set.
type tupleCounts struct {
	v        [nCounters]atomic.Int64
	attempts bool
	opt      metric.ObserveOption
}

type countKey struct {
	base     attribute.Distinct
	backend  string
	attempts bool
}

// countRegistry holds every tuple's counters for the life of the process.
type countRegistry struct {
	mu   sync.Mutex
	byK  map[countKey]*tupleCounts
	list []*tupleCounts
}

func (r *countRegistry) get(k countKey, mk func() *tupleCounts) *tupleCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.byK[k]; ok {
		return c
	}
	c := mk()
	r.byK[k] = c
	r.list = append(r.list, c)
	return c
}

func (r *countRegistry) snapshot() []*tupleCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.list
}

func newInstruments(m metric.Meter) (instruments, error) {
	in := instruments{counts: &countRegistry{byK: map[countKey]*tupleCounts{}}}
	var errs [4 + nCounters + 1]error
	in.tokenUsage, errs[0] = m.Int64Histogram(NameTokenUsage, metric.WithUnit("{token}"),
		metric.WithDescription("Number of input and output tokens used."), metric.WithExplicitBucketBoundaries(TokenBuckets...))
	in.duration, errs[1] = m.Float64Histogram(NameRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Generative AI server request duration such as time-to-last byte or last output token."), metric.WithExplicitBucketBoundaries(DurationBuckets...))
	in.ttft, errs[2] = m.Float64Histogram(NameTTFT, metric.WithUnit("s"),
		metric.WithDescription("Time to generate first token for successful responses."), metric.WithExplicitBucketBoundaries(TTFTBuckets...))
	in.tpot, errs[3] = m.Float64Histogram(NameTPOT, metric.WithUnit("s"),
		metric.WithDescription("Time per output token generated after the first token for successful responses."), metric.WithExplicitBucketBoundaries(TPOTBuckets...))
	var ctrs [nCounters]metric.Int64ObservableCounter
	insts := make([]metric.Observable, nCounters)
	for i, c := range counterNames {
		unit := "{token}"
		if i == cAttempts {
			unit = "{attempt}"
		}
		ctrs[i], errs[4+i] = m.Int64ObservableCounter(c.name, metric.WithUnit(unit), metric.WithDescription(c.desc))
		insts[i] = ctrs[i]
	}
	_, errs[4+nCounters] = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, c := range in.counts.snapshot() {
			if c.attempts {
				o.ObserveInt64(ctrs[cAttempts], c.v[cAttempts].Load(), c.opt)
				continue
			}
			// Input and output exist for every tuple seen; the subsets
			// once non-zero.
			for i := range cAttempts {
				if v := c.v[i].Load(); i == cIn || i == cOut || v > 0 {
					o.ObserveInt64(ctrs[i], v, c.opt)
				}
			}
		}
		return nil
	}, insts...)
	for _, err := range errs {
		if err != nil {
			return in, err
		}
	}
	return in, nil
}

// entry is the pre-bound attribute sets of one label tuple.
type entry struct {
	// k is the tuple the entry is cached under (Recorder.lookup).
	k      key
	base   []metric.RecordOption // duration, ttft, tpot
	tokIn  []metric.RecordOption
	tokOut []metric.RecordOption
	tokens *tupleCounts
	att    *tupleCounts
}

func (in *instruments) newEntry(kvs []attribute.KeyValue, backend string) *entry {
	with := func(extra ...attribute.KeyValue) metric.MeasurementOption {
		all := make([]attribute.KeyValue, 0, len(kvs)+len(extra))
		all = append(append(all, kvs...), extra...)
		return metric.WithAttributeSet(attribute.NewSet(all...))
	}
	base := with()
	set := attribute.NewSet(kvs...)
	tokens := in.counts.get(countKey{base: set.Equivalent()}, func() *tupleCounts {
		return &tupleCounts{opt: with(attribute.String(AttrTokenModality, "unknown"))}
	})
	att := in.counts.get(countKey{base: set.Equivalent(), backend: backend, attempts: true}, func() *tupleCounts {
		opt := base
		if backend != "" {
			opt = with(attribute.String(AttrBackend, backend))
		}
		return &tupleCounts{attempts: true, opt: opt}
	})
	return &entry{
		base:   []metric.RecordOption{base},
		tokIn:  []metric.RecordOption{with(attribute.String(AttrTokenType, "input"))},
		tokOut: []metric.RecordOption{with(attribute.String(AttrTokenType, "output"))},
		tokens: tokens,
		att:    att,
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
	// Input and output count for every attempt, 0 without usage (the
	// conventions ask for it); a negative count (a provider's bug) adds 0.
	c := &e.tokens.v
	c[cIn].Add(max(u.Input, 0))
	c[cOut].Add(max(u.Output, 0))
	if u.CachedInput > 0 {
		c[cCacheRead].Add(u.CachedInput)
	}
	if u.CacheCreationInput > 0 {
		c[cCacheWrite].Add(u.CacheCreationInput)
	}
	if u.Reasoning > 0 {
		c[cReasoning].Add(u.Reasoning)
	}
	e.att.v[cAttempts].Add(1)
}
