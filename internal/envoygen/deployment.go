package envoygen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/aigw/aigw/config"
)

// Deployment is the deployment section: what the aigw document does not say
// about how Envoy reaches the providers and serves clients. It is read from a
// YAML file (deploy/*.yaml); unknown fields are errors. Every field has the
// default of the shipped configs, so a minimal deployment names only the
// backends' endpoints.
type Deployment struct {
	// AigwConfig is the aigw JSON document, relative to the deployment
	// file. It is embedded verbatim in both phases' filters.
	AigwConfig string `yaml:"aigw_config"`
	// Header is written as comment lines at the top of the output.
	Header string `yaml:"header"`
	// LibraryPath is libaigw.so in the image; the dynamic module is found as
	// $ENVOY_DYNAMIC_MODULES_SEARCH_PATH/libaigw.so, the same file.
	LibraryPath string `yaml:"library_path"`
	// Listener is where clients connect.
	Listener Address `yaml:"listener"`
	// Ops is Envoy's admin interface and the readiness/metrics listener.
	Ops Ops `yaml:"ops"`
	// MaxDownstreamConnections, when set, caps downstream connections
	// (overload manager, envoy.resource_monitors.global_downstream_max_connections).
	MaxDownstreamConnections uint64 `yaml:"max_downstream_connections"`
	// Upstream says how Envoy connects to providers.
	Upstream Upstream `yaml:"upstream"`
	// Policy holds the retry, timeout, circuit breaker and outlier numbers.
	Policy Policy `yaml:"policy"`
	// Backends maps each backend of the aigw document to its endpoints.
	Backends map[string]BackendDeployment `yaml:"backends"`
	// APIKeyAuth, when set, authenticates every client first (Envoy's
	// api_key_auth) and forwards its client id as the aigw document's
	// quota.identity_header. Needs the document's quota member.
	APIKeyAuth *APIKeyAuth `yaml:"api_key_auth"`
	// RateLimit, when set, adds Envoy's rate limit filter (the fleet-wide
	// token quota, docs/quotas.md) and the rate limit service's cluster.
	// Needs the document's quota member.
	RateLimit *RateLimit `yaml:"rate_limit"`
}

// APIKeyAuth is the client authentication of api_key_auth.
type APIKeyAuth struct {
	// Credentials are the accepted keys and the client id each stands for.
	// A file in a repository holds placeholders only: deliver real keys
	// through xDS (LDS or ECDS).
	Credentials []APIKeyCredential `yaml:"credentials"`
}

// APIKeyCredential is one client key.
type APIKeyCredential struct {
	Key    string `yaml:"key"`
	Client string `yaml:"client"`
}

// RateLimit is Envoy's rate limit service and what the filter sends it.
type RateLimit struct {
	// Service is the rate limit service's gRPC address (HTTP/2 cleartext).
	Service Address `yaml:"service"`
	// Domain is the descriptor domain of the service's config (default aigw).
	Domain string `yaml:"domain"`
	// Timeout bounds one call to the service (default 0.1s); the filter
	// fails open.
	Timeout Duration `yaml:"timeout"`
	// Cost is the aigw cost (quota.costs[].name) charged at stream done
	// (default the first cost).
	Cost string `yaml:"cost"`
}

// Address is a socket address.
type Address struct {
	Address string `yaml:"address"`
	Port    uint32 `yaml:"port"`
}

// Ops is the operations surface of the Envoy process.
type Ops struct {
	// Admin is Envoy's admin API. Bind it to loopback in production: it can
	// drain and quit the server.
	Admin Address `yaml:"admin"`
	// Listener, when its port is set, is a listener that proxies only
	// GET /ready and GET /stats/prometheus to the admin API, for probes and
	// scrapers that must not reach the admin API itself.
	Listener Address `yaml:"listener"`
	// MetricsPort is the port aigw's own Prometheus listener serves on
	// (internal/metrics, default 1064). The bootstrap does not carry it: the
	// Helm chart's container port and PodMonitor read it from here.
	MetricsPort uint32 `yaml:"metrics_port"`
}

// Upstream is how Envoy connects to the providers.
type Upstream struct {
	// Protocol: "http1" (plaintext HTTP/1.1, the compose mocks) or "auto"
	// (HTTP/2 when the provider's ALPN offers it, else HTTP/1.1).
	Protocol string `yaml:"protocol"`
	// DNS: "strict" (the cluster's own type STRICT_DNS) or "extension"
	// (the envoy.cluster.dns extension: logical DNS for a cluster with one
	// endpoint, strict for several, re-resolved at the record's TTL).
	DNS string `yaml:"dns"`
	// DNSLookupFamily is V4_ONLY, V4_PREFERRED, AUTO, V6_ONLY or ALL.
	DNSLookupFamily string `yaml:"dns_lookup_family"`
	// ConnectTimeout bounds a TCP (and TLS) connect.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// CAFile is the CA bundle upstream TLS verifies against.
	CAFile string `yaml:"ca_file"`
}

// Policy holds the numbers docs/production.md explains.
type Policy struct {
	PerTryIdleTimeout Duration `yaml:"per_try_idle_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	// RetryAfterMax is the longest Retry-After a 429/503 retry waits.
	RetryAfterMax Duration `yaml:"retry_after_max"`
	// MaxRequests sizes every circuit breaker threshold of a cluster.
	MaxRequests               uint32   `yaml:"max_requests"`
	Consecutive5xx            uint32   `yaml:"consecutive_5xx"`
	ConsecutiveGatewayFailure uint32   `yaml:"consecutive_gateway_failure"`
	OutlierInterval           Duration `yaml:"outlier_interval"`
	BaseEjectionTime          Duration `yaml:"base_ejection_time"`
}

// BackendDeployment is where one backend runs.
type BackendDeployment struct {
	// Endpoints of the backend (several: Envoy balances over them).
	Endpoints []Address `yaml:"endpoints"`
	// Priority orders the backends that serve one model: the model's route
	// sends to the lowest priority while it is healthy and fails over to the
	// next one (Envoy endpoint priorities). Backends of one model with the
	// same priority share its traffic. "Newer" and "older" deployments of a
	// model are told apart by this number only: the newer one has the lower
	// priority. See the package documentation.
	Priority uint32 `yaml:"priority"`
	// TLS, when set, is the upstream TLS of this backend's endpoints.
	TLS *TLS `yaml:"tls"`
}

// TLS is one provider's upstream TLS.
type TLS struct {
	// SNI is sent in the handshake and is the DNS SAN the certificate must
	// carry (a wildcard certificate name matches).
	SNI string `yaml:"sni"`
}

// Duration is a time.Duration written as "5s" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// Input is one generator input: the aigw document and its deployment.
type Input struct {
	// Aigw is the aigw JSON document as written.
	Aigw []byte
	// Config is Aigw decoded (defaults applied, keys not read).
	Config     *config.Config
	Deployment Deployment
}

// Load reads a deployment file and the aigw document it names.
func Load(path string) (*Input, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Deployment
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if d.AigwConfig == "" {
		return nil, fmt.Errorf("%s: aigw_config: required", path)
	}
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(path), d.AigwConfig))
	if err != nil {
		return nil, fmt.Errorf("%s: aigw_config: %w", path, err)
	}
	in, err := NewInput(doc, d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}

// NewInput checks an aigw document and a deployment against each other and
// applies the deployment's defaults.
func NewInput(aigw []byte, d Deployment) (*Input, error) {
	c, err := decodeAigw(aigw)
	if err != nil {
		return nil, err
	}
	d.defaults()
	if err := d.check(c); err != nil {
		return nil, err
	}
	return &Input{Aigw: bytes.TrimSpace(aigw), Config: c, Deployment: d}, nil
}

// decodeAigw decodes the document strictly into config.Config and fills in
// the defaults the generator depends on. It does not read keys: they exist
// only where Envoy runs. The L3 checks (test/envoyconfig) load the embedded
// document with config.Parse.
func decodeAigw(doc []byte) (*config.Config, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var c config.Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("aigw config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("aigw config: trailing data after the JSON document")
	}
	for _, f := range []struct {
		v   *string
		def string
	}{
		{&c.ModelHeader, config.DefaultModelHeader},
		{&c.BackendHeader, config.DefaultBackendHeader},
		{&c.EndpointMetadataNamespace, config.DefaultMetadataNamespace},
		{&c.EndpointMetadataKey, config.DefaultMetadataKey},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
	if c.MaxRequestBodyBytes == 0 {
		c.MaxRequestBodyBytes = config.DefaultMaxRequestBody
	}
	if c.Paths == nil {
		c.Paths = config.DefaultPaths
	}
	if len(c.Paths) == 0 {
		return nil, errors.New("aigw config: paths: empty, no request could reach a provider")
	}
	seen := map[string]bool{}
	for i, b := range c.Backends {
		if b == nil || b.Name == "" {
			return nil, fmt.Errorf("aigw config: backends[%d]: name required", i)
		}
		if seen[b.Name] {
			return nil, fmt.Errorf("aigw config: backends[%d]: name %q used twice", i, b.Name)
		}
		seen[b.Name] = true
	}
	return &c, nil
}

func (d *Deployment) defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defDur := func(p *Duration, v time.Duration) {
		if *p == 0 {
			*p = Duration(v)
		}
	}
	defU := func(p *uint32, v uint32) {
		if *p == 0 {
			*p = v
		}
	}
	def(&d.LibraryPath, "/usr/local/lib/aigw/libaigw.so")
	def(&d.Listener.Address, "0.0.0.0")
	defU(&d.Listener.Port, 10000)
	def(&d.Ops.Admin.Address, "127.0.0.1")
	defU(&d.Ops.Admin.Port, 9901)
	if d.Ops.Listener.Port != 0 {
		def(&d.Ops.Listener.Address, "0.0.0.0")
	}
	defU(&d.Ops.MetricsPort, 1064)
	def(&d.Upstream.Protocol, "auto")
	def(&d.Upstream.DNS, "extension")
	def(&d.Upstream.DNSLookupFamily, "V4_PREFERRED")
	defDur(&d.Upstream.ConnectTimeout, 5*time.Second)
	def(&d.Upstream.CAFile, "/etc/ssl/certs/ca-certificates.crt")
	p := &d.Policy
	defDur(&p.PerTryIdleTimeout, 120*time.Second)
	defDur(&p.IdleTimeout, 300*time.Second)
	defDur(&p.RetryAfterMax, 5*time.Second)
	defU(&p.MaxRequests, 8192)
	defU(&p.Consecutive5xx, 5)
	defU(&p.ConsecutiveGatewayFailure, 3)
	defDur(&p.OutlierInterval, 5*time.Second)
	defDur(&p.BaseEjectionTime, 30*time.Second)
	if rl := d.RateLimit; rl != nil {
		def(&rl.Domain, "aigw")
		defDur(&rl.Timeout, 100*time.Millisecond)
	}
}

func (d *Deployment) check(c *config.Config) error {
	switch d.Upstream.Protocol {
	case "http1", "auto":
	default:
		return fmt.Errorf("upstream.protocol: %q is not http1 or auto", d.Upstream.Protocol)
	}
	switch d.Upstream.DNS {
	case "strict", "extension":
	default:
		return fmt.Errorf("upstream.dns: %q is not strict or extension", d.Upstream.DNS)
	}
	if _, err := lookupFamily(d.Upstream.DNSLookupFamily); err != nil {
		return err
	}
	if d.Policy.IdleTimeout < 2*d.Policy.PerTryIdleTimeout {
		return fmt.Errorf("policy.idle_timeout %v must be at least two per_try_idle_timeout (%v): a retried attempt would be cut",
			time.Duration(d.Policy.IdleTimeout), time.Duration(d.Policy.PerTryIdleTimeout))
	}
	tls := 0
	for _, b := range c.Backends {
		bd, ok := d.Backends[b.Name]
		if !ok {
			return fmt.Errorf("backends: aigw backend %q has no deployment (endpoints)", b.Name)
		}
		if len(bd.Endpoints) == 0 {
			return fmt.Errorf("backends.%s.endpoints: at least one required", b.Name)
		}
		for i, e := range bd.Endpoints {
			if e.Address == "" || e.Port == 0 {
				return fmt.Errorf("backends.%s.endpoints[%d]: address and port required", b.Name, i)
			}
		}
		if bd.TLS != nil {
			if bd.TLS.SNI == "" {
				return fmt.Errorf("backends.%s.tls.sni: required", b.Name)
			}
			tls++
		}
	}
	if tls != 0 && tls != len(c.Backends) {
		// A cluster's default socket is the fail-closed TLS one: a plaintext
		// endpoint in it could never connect.
		return errors.New("backends: either every backend has tls or none has")
	}
	for name := range d.Backends {
		if _, ok := backendByName(c, name); !ok {
			return fmt.Errorf("backends.%s: not a backend of the aigw config", name)
		}
	}
	return d.checkQuota(c)
}

// checkQuota: api_key_auth and the rate limit filter forward and read the
// aigw document's quota identity header and costs.
func (d *Deployment) checkQuota(c *config.Config) error {
	if (d.APIKeyAuth != nil || d.RateLimit != nil) && c.Quota == nil {
		return errors.New("api_key_auth and rate_limit need the aigw config's quota member")
	}
	if a := d.APIKeyAuth; a != nil {
		if len(a.Credentials) == 0 {
			return errors.New("api_key_auth.credentials: at least one required")
		}
		for i, cr := range a.Credentials {
			if cr.Key == "" || cr.Client == "" {
				return fmt.Errorf("api_key_auth.credentials[%d]: key and client required", i)
			}
		}
	}
	if rl := d.RateLimit; rl != nil {
		if rl.Service.Address == "" || rl.Service.Port == 0 {
			return errors.New("rate_limit.service: address and port required")
		}
		if len(c.Quota.Costs) == 0 {
			return errors.New("rate_limit: the aigw config's quota has no costs to charge")
		}
		if rl.Cost == "" {
			rl.Cost = c.Quota.Costs[0].Name
		}
		found := false
		for _, cs := range c.Quota.Costs {
			found = found || cs.Name == rl.Cost
		}
		if !found {
			return fmt.Errorf("rate_limit.cost: %q is not one of the aigw config's quota costs", rl.Cost)
		}
	}
	return nil
}

func backendByName(c *config.Config, name string) (*config.Backend, bool) {
	for _, b := range c.Backends {
		if b.Name == name {
			return b, true
		}
	}
	return nil, false
}
