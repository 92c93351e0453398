// Package filter is the router phase: Envoy's Go HTTP filter
// (envoy.filters.http.golang) running on the downstream chain before the
// router. It buffers inference requests, makes the routing decision
// (internal/route) from one scan of the body (internal/bodyscan), sets
// exactly one routing header, strips the backend member and clears the route
// cache so Envoy's own router matches on the result.
package filter

import (
	"strconv"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/oaierr"
)

// Name is the plugin name the filter registers under (plugin_name in Envoy).
const Name = "aigw"

// Config is the parsed plugin config plus what is derived from it once.
type Config struct {
	*config.Config
	// modelsBody is the GET /v1/models answer, rendered once at load.
	modelsBody string
	// digest is config.Digest of the document, recorded for every request
	// that goes on to a route, so the upstream phase can check it runs the
	// same config.
	digest  string
	metrics *Metrics
	// budget counts the bytes buffered across all requests: the process's
	// one Budget, except in tests that need their own.
	budget *Budget
	// Reads are the request headers the filter reads in each callback.
	Reads HeaderReads
}

// HeaderReads lists the request headers the router reads in DecodeHeaders
// and in DecodeData, grouped by what one request reads together: an adapter
// whose every read is a call into Envoy can read a whole group in one call
// when the first of it is read (internal/golangabi). A header not listed is
// read alone. TestHeaderReadsListEveryRead keeps the lists complete.
type HeaderReads struct {
	Headers, Data [][]string
}

func headerReads(c *config.Config) HeaderReads {
	data := []string{c.BackendHeader}
	if c.Quota != nil && c.Quota.IdentityHeader != "" {
		data = append(data, c.Quota.IdentityHeader)
	}
	return HeaderReads{
		// An inference request's request line and length; the client's
		// routing headers of any other request (uninspected).
		Headers: [][]string{{":path", ":method", "content-length"}, {c.ModelHeader, c.BackendHeader}},
		Data:    [][]string{data},
	}
}

// NewConfig derives the filter's config; metrics may be nil (route-level
// configs and tests).
func NewConfig(c *config.Config, metrics *Metrics) *Config {
	return &Config{Config: c, modelsBody: modelList(c.Models(), time.Now().Unix()), digest: c.Digest(), metrics: metrics, budget: &buffered,
		Reads: headerReads(c)}
}

// ForWorker is c for the requests of one Envoy worker: the same config,
// with metrics that count into that worker's own memory (Metrics.ForWorker).
func (c *Config) ForWorker(worker int) *Config {
	cc := *c
	cc.metrics = c.metrics.ForWorker(worker)
	return &cc
}

// Parser parses the golang filter's plugin_config; the ABI adapter calls it
// for each listener-level and per-route config Envoy creates.
type Parser struct{}

// Parse loads plugin_config. callbacks is non-nil only for the listener-level
// config, which is the only place Envoy lets us define metrics.
func (Parser) Parse(any *anypb.Any, callbacks api.ConfigCallbacks) (*Config, error) {
	c, err := config.FromAny(any)
	if err != nil {
		return nil, err
	}
	var m *Metrics
	if callbacks != nil {
		m = NewMetrics(callbacks)
	}
	return NewConfig(c, m), nil
}

// Merge lets a per-route config replace the listener one whole: merging two
// backend lists member by member would be a guess at what the user meant.
// The listener-level metrics are kept.
func (Parser) Merge(p, c *Config) *Config {
	if c.metrics == nil {
		cc := *c
		cc.metrics = p.metrics
		return &cc
	}
	return c
}

func modelList(models []string, created int64) string {
	b := []byte(`{"object":"list","data":[`)
	for i, m := range models {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = oaierr.AppendString(b, m)
		b = append(b, `,"object":"model","created":`...)
		b = strconv.AppendInt(b, created, 10)
		b = append(b, `,"owned_by":"aigw"}`...)
	}
	return string(append(b, "]}"...))
}
