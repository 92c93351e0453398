package upstream

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/credentials"
	"github.com/aigw/aigw/internal/metrics"
	"github.com/aigw/aigw/internal/translate"
)

// Config is the upstream phase's view of the gateway config. It is built once
// per filter config on Envoy's main thread, so that an attempt does lookups
// only.
type Config struct {
	metadataNamespace string
	metadataKey       string
	backends          map[string]*Backend
	// removeHeaders are removed from every attempt's request before its
	// plan sets anything (the config only accepts lower-case header names):
	//   - the client's credential headers: a client's key is never
	//     forwarded, whichever backend the attempt goes to;
	//   - the router phase's backend and model headers: they only steer
	//     Envoy's route match, which is over by the time an attempt exists
	//     (retries reuse the route), so no provider is sent them;
	//   - the headers one schema's translator sets (e.g. anthropic-version):
	//     every attempt removes them from the header map it shares with
	//     earlier attempts before its own translator sets its own.
	removeHeaders []string
	// digest is config.Digest of the document this phase runs; the router
	// phase records its own (checkDigest).
	digest string
	// rec records the gen_ai metrics of every attempt (nil: none).
	rec *metrics.Recorder
	// quota is the quota member (nil: no costs, no budgets).
	quota *config.Quota
}

// SetRecorder makes the config's attempts record their metrics with rec.
// The adapter calls it once, after NewConfig and before any attempt: the
// recorder belongs to the filter config (the adapter closes it when Envoy
// destroys the config), the exporters behind it to the process.
func (c *Config) SetRecorder(rec *metrics.Recorder) { c.rec = rec }

// Close releases the config's recorder (Envoy destroyed the config; its
// attempts are gone).
func (c *Config) Close() { c.rec.Close() }

// Backend is one configured backend as the upstream phase uses it.
type Backend struct {
	Name string
	// Conf is the backend's entry in the loaded config.
	Conf *config.Backend
	// Target is what translate needs to know about the backend.
	Target translate.Target
	// bearer is the authorization value of the backend's current key,
	// built once per key rather than once per attempt (bearerFor).
	bearer atomic.Pointer[bearerValue]
}

// bearerValue is "Bearer " + key for one key.
type bearerValue struct{ key, value string }

// bearerFor is the authorization header value for key: the cached one
// while the key is the same (a rotated or refreshed key builds a new one).
// Workers race only to store equal values.
func (b *Backend) bearerFor(key string) string {
	if c := b.bearer.Load(); c != nil && c.key == key {
		return c.value
	}
	c := &bearerValue{key: key, value: "Bearer " + key}
	b.bearer.Store(c)
	return c.value
}

// NewConfig indexes a parsed (validated, defaulted) config for the upstream
// phase: it builds each backend's translate.Target and checks it against the
// translator registry (which owns the schemas and their rules: config does
// not import the translators), then loads the keys, which only this phase
// uses. Errors read like config.Parse's, naming the backend and the field.
func NewConfig(c *config.Config) (*Config, error) {
	uc := &Config{
		metadataNamespace: c.EndpointMetadataNamespace,
		metadataKey:       c.EndpointMetadataKey,
		backends:          make(map[string]*Backend, len(c.Backends)),
		digest:            c.Digest(),
		quota:             c.Quota,
	}
	uc.removeHeaders = append(uc.removeHeaders, credentials.RequestCredentialHeaders[:]...)
	for _, h := range [...]string{c.BackendHeader, c.ModelHeader} {
		if h != "" {
			uc.removeHeaders = append(uc.removeHeaders, h)
		}
	}
	uc.removeHeaders = append(uc.removeHeaders, translate.ProviderHeaders()...)
	// A SigV4 signature's headers.
	uc.removeHeaders = append(uc.removeHeaders, credentials.SignedHeaders...)
	// Each name once (authorization and x-amz-security-token are credential
	// headers too): a second removal is a second search of Envoy's map.
	seen := make(map[string]bool, len(uc.removeHeaders))
	uc.removeHeaders = slices.DeleteFunc(uc.removeHeaders, func(h string) bool {
		dup := seen[h]
		seen[h] = true
		return dup
	})
	limits := translate.Limits{MaxEventBytes: int(c.MaxStreamEventBytes), MaxDecodedBytes: int64(c.MaxDecodedResponseBytes)}
	for i, b := range c.Backends {
		ub := &Backend{Name: b.Name, Conf: b, Target: target(b, limits)}
		if err := checkTarget(ub.Target); err != nil {
			return nil, fmt.Errorf("aigw config: backends[%d] (%s): %w", i, b.Name, err)
		}
		uc.backends[b.Name] = ub
	}
	if err := c.LoadKeys(); err != nil {
		return nil, err
	}
	return uc, nil
}

// Backend finds a configured backend by name.
func (c *Config) Backend(name string) (*Backend, bool) {
	b, ok := c.backends[name]
	return b, ok
}

// target is the backend as the translators see it.
func target(b *config.Backend, limits translate.Limits) translate.Target {
	return translate.Target{
		Schema:        b.Schema,
		ModelOverride: b.ModelOverride.ByModel,
		DefaultModel:  b.ModelOverride.All,
		PathPrefix:    b.PathPrefix,
		APIVersion:    b.APIVersion,
		Project:       b.Project,
		Region:        b.Region,
		Limits:        limits,
	}
}

// checkTarget reports a schema the translators do not register, or a target
// its translator rejects (Azure's api_version, a deployment name), so a
// config fails at load rather than on the first request.
func checkTarget(t translate.Target) error {
	if !slices.Contains(translate.Schemas(), t.Schema) {
		return fmt.Errorf("schema: %q is not a supported schema (%s)", t.Schema, strings.Join(translate.Schemas(), ", "))
	}
	if err := translate.Check(t); err != nil {
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "translate: "))
	}
	return nil
}
