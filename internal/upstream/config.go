package upstream

import (
	"github.com/aigw/aigw/config"
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
}

// clientCredentialHeaders are the headers a client may carry its own key in.
var clientCredentialHeaders = [...]string{"authorization", "api-key", "x-api-key"}

// Backend is one configured backend as the upstream phase uses it.
type Backend struct {
	Name string
	// Conf is the backend's entry in the loaded config.
	Conf *config.Backend
	// Target is what translate needs to know about the backend.
	Target translate.Target
}

// NewConfig indexes a loaded (validated, defaulted) config.
func NewConfig(c *config.Config) (*Config, error) {
	uc := &Config{
		metadataNamespace: c.EndpointMetadataNamespace,
		metadataKey:       c.EndpointMetadataKey,
		backends:          make(map[string]*Backend, len(c.Backends)),
		digest:            c.Digest(),
	}
	uc.removeHeaders = append(uc.removeHeaders, clientCredentialHeaders[:]...)
	for _, h := range [...]string{c.BackendHeader, c.ModelHeader} {
		if h != "" {
			uc.removeHeaders = append(uc.removeHeaders, h)
		}
	}
	uc.removeHeaders = append(uc.removeHeaders, translate.ProviderHeaders()...)
	for _, b := range c.Backends {
		ub := &Backend{Name: b.Name, Conf: b, Target: b.Target()}
		uc.backends[b.Name] = ub
	}
	return uc, nil
}
