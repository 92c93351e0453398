package upstream

import (
	"github.com/aigw/aigw/config"
)

// Config is the upstream phase's view of the gateway config. It is built once
// per filter config on Envoy's main thread, so that an attempt does lookups
// only.
type Config struct {
	metadataNamespace string
	metadataKey       string
	backends          map[string]*Backend
}

// Backend is one configured backend as the upstream phase uses it.
type Backend struct {
	Name string
	// Conf is the backend's entry in the loaded config.
	Conf *config.Backend
}

// NewConfig indexes a loaded (validated, defaulted) config.
func NewConfig(c *config.Config) (*Config, error) {
	uc := &Config{
		metadataNamespace: c.EndpointMetadataNamespace,
		metadataKey:       c.EndpointMetadataKey,
		backends:          make(map[string]*Backend, len(c.Backends)),
	}
	for _, b := range c.Backends {
		uc.backends[b.Name] = &Backend{Name: b.Name, Conf: b}
	}
	return uc, nil
}
