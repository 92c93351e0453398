// Package config is aigw's one configuration schema and its one loader,
// shared by the router phase (Go HTTP filter) and the upstream phase
// (dynamic module), so both always read the same document the same way.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aigw/aigw/internal/credentials"
	"github.com/aigw/aigw/internal/metrics"
)

// Selection is how far a client may choose the backend itself.
type Selection string

const (
	// SelectConfigured lets a client name only a backend listed in backends.
	SelectConfigured Selection = "configured"
	// SelectAny lets a client name any backend; Envoy's routes decide.
	SelectAny Selection = "any"
	// SelectOff ignores a client's backend choice and removes its header.
	SelectOff Selection = "off"
)

// SchemaOpenAI is the default schema. The translators (internal/translate)
// own the schemas: the upstream phase, which builds their targets, checks a
// backend's schema and its rules (upstream.NewConfig); config does not
// import them.
const SchemaOpenAI = "openai"

// Auth types.
const (
	AuthNone            = "none"
	AuthBearer          = "bearer"
	AuthAzureAPIKey     = "azure_api_key"
	AuthAnthropicAPIKey = "anthropic_api_key"
)

// Defaults.
const (
	DefaultModelHeader      = "x-ai-eg-model"
	DefaultBackendHeader    = "x-ai-eg-backend"
	DefaultBackendField     = "backend"
	DefaultMaxRequestBody   = 32 << 20
	DefaultMaxBufferedBytes = 512 << 20
	// DefaultMaxNameBytes is generous for real model ids and ARNs (Bedrock
	// inference-profile ARNs are under 200 bytes).
	DefaultMaxNameBytes = 512
	// DefaultMaxStreamEventBytes bounds one server-sent event line or event
	// from a provider (the largest real events, a whole tool-call argument
	// or a base64 image chunk, are far below).
	// The upstream phase's tests check the two response limits equal
	// translate's defaults.
	DefaultMaxStreamEventBytes = 4 << 20
	// DefaultMaxDecodedResponseBytes bounds a gzip-decoded provider
	// response (a whole buffered body; for a stream, the whole stream).
	DefaultMaxDecodedResponseBytes = 64 << 20
	DefaultMetadataNamespace       = "aigw"
	DefaultMetadataKey             = "backend"
	DynamicMetadataNamespace       = "io.envoy.ai_gateway"
)

// DefaultPaths are the inference endpoints the router phase inspects.
var DefaultPaths = []string{"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages"}

// Config is the parsed, validated, defaulted document.
type Config struct {
	Backends               []*Backend `json:"backends"`
	ClientBackendSelection Selection  `json:"client_backend_selection"`
	ModelHeader            string     `json:"model_header"`
	BackendHeader          string     `json:"backend_header"`
	BackendField           string     `json:"backend_field"`
	MaxRequestBodyBytes    ByteSize   `json:"max_request_body_bytes"`
	// MaxNameBytes is the longest model or client-chosen backend name.
	MaxNameBytes ByteSize `json:"max_name_bytes"`
	// MaxStreamEventBytes is the longest provider SSE line or event.
	MaxStreamEventBytes ByteSize `json:"max_stream_event_bytes"`
	// MaxDecodedResponseBytes is the most a gzip provider response may
	// decode to.
	MaxDecodedResponseBytes ByteSize `json:"max_decoded_response_bytes"`
	// MaxBufferedBytes caps the request-body bytes the router phase has
	// Envoy hold buffered across all requests of the process; past it a new
	// inference request is answered 503 with Retry-After.
	MaxBufferedBytes ByteSize `json:"max_buffered_bytes"`
	Paths            []string `json:"paths"`
	// Where the upstream phase finds the chosen endpoint's backend name:
	// LbEndpoint.metadata.filter_metadata[namespace][key].
	EndpointMetadataNamespace string `json:"endpoint_metadata_namespace"`
	EndpointMetadataKey       string `json:"endpoint_metadata_key"`
	// Metrics: the gen_ai.* metrics' exporter and attributes (README
	// "Metrics"); absent means the defaults (Prometheus on :1064/metrics).
	Metrics *Metrics `json:"metrics"`
	// Quota is client identity, request costs and in-process budgets
	// (config/quota.go, docs/quotas.md); nil without a "quota" member.
	Quota *Quota `json:"quota"`

	byName map[string]*Backend
	paths  map[string]struct{}
	models []string
}

// Backend is one provider deployment.
type Backend struct {
	Name          string        `json:"name"`
	Models        []string      `json:"models"`
	Schema        string        `json:"schema"`
	ModelOverride ModelOverride `json:"model_override"`
	PathPrefix    string        `json:"path_prefix"`
	APIVersion    string        `json:"api_version"`
	Host          string        `json:"host"`
	Auth          *Auth         `json:"auth"`
	// Project is the Google Cloud project of a Vertex AI backend
	// (config/gcp.go). Region is the backend's cloud region: Vertex AI's
	// location (config/gcp.go), or AWS's default signing region and the
	// Bedrock runtime host (config/aws.go).
	Project string `json:"project"`
	Region  string `json:"region"`
	// MetricAttributes are static attributes on every metric of an attempt
	// this backend served, e.g. {"aim_service_id": "svc-1"}.
	MetricAttributes map[string]string `json:"metric_attributes"`
}

// Metrics configures the process's metrics (one exporter per process: the
// most recently loaded config's listen_address and path apply).
type Metrics struct {
	// ListenAddress serves Prometheus text: host:port, default ":1064";
	// "off" serves nothing.
	ListenAddress string `json:"listen_address"`
	// Path of the Prometheus endpoint, default "/metrics".
	Path string `json:"path"`
	// HeaderAttributes maps a request header to a metric attribute, e.g.
	// {"x-api-key-id": "api_key_id"}. A credential header is refused.
	HeaderAttributes map[string]string `json:"header_attributes"`
	// MaxValuesPerAttribute caps distinct values per client-chosen
	// attribute (header attributes, request and response model); the rest
	// become "_overflow". Default 1000.
	MaxValuesPerAttribute Count `json:"max_values_per_attribute"`
}

// Count is a whole, non-negative number (as ByteSize, which it decodes like).
type Count int64

func (n *Count) UnmarshalJSON(b []byte) error {
	var s ByteSize
	if err := s.UnmarshalJSON(b); err != nil {
		return errors.New("must be a whole, non-negative number")
	}
	*n = Count(s)
	return nil
}

// Auth says how the upstream phase authenticates to a backend.
type Auth struct {
	Type    string `json:"type"`
	KeyFile string `json:"key_file"`
	KeyEnv  string `json:"key_env"`
	// Token auth types (config/gcp.go): Entra's tenant and app, a token
	// endpoint override, scopes (defaults per type).
	TenantID string   `json:"tenant_id"`
	ClientID string   `json:"client_id"`
	TokenURL string   `json:"token_url"`
	Scopes   []string `json:"scopes"`
	// AWSAuth: region, service, profile, role_arn (type aws_sigv4).
	AWSAuth

	source credentials.Source
}

// Key is the backend's current key; the zero Secret for auth type none or
// before LoadKeys.
func (a *Auth) Key() credentials.Secret {
	if a == nil || a.source == nil {
		return credentials.Secret{}
	}
	return a.source.Key()
}

// ModelOverride renames the client's model for one backend: either one
// model for every request, or a map from client model to backend model.
type ModelOverride struct {
	All     string
	ByModel map[string]string
}

// UnmarshalJSON accepts a string or an object of strings.
func (m *ModelOverride) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &m.All)
	}
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, &m.ByModel)
	}
	if string(b) == "null" {
		return nil
	}
	return errors.New("must be a string or an object mapping client model to backend model")
}

// ByteSize is a byte count that also accepts integral JSON numbers in
// exponent form, which is how a google.protobuf.Struct renders large numbers.
type ByteSize int64

func (s *ByteSize) UnmarshalJSON(b []byte) error {
	f, err := wholeNumber(b)
	if err != nil {
		return badValue("must be a whole, non-negative number of bytes", s)
	}
	*s = ByteSize(f)
	return nil
}

// badValue is a custom unmarshaler's error, as a json.UnmarshalTypeError so
// that the decoder adds the field path (describeJSONError prints it).
func badValue(must string, v any) error {
	return &json.UnmarshalTypeError{Value: must, Type: reflect.TypeOf(v).Elem()}
}

// wholeNumber reads a whole, non-negative JSON number up to MaxInt64/2,
// in exponent form too.
func wholeNumber(b []byte) (float64, error) {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f < 0 || f > math.MaxInt64/2 {
		return 0, errors.New("not whole and non-negative")
	}
	return f, nil
}

// Parse reads a JSON config document: unknown fields are errors, defaults
// are filled in, and every rule is checked; errors name the field. No key is
// read: the router phase never uses them, and the upstream phase loads them
// with LoadKeys.
func Parse(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("aigw config: %s", describeJSONError(err))
	}
	if dec.More() {
		return nil, errors.New("aigw config: trailing data after the JSON document")
	}
	if err := c.finish(); err != nil {
		return nil, fmt.Errorf("aigw config: %w", err)
	}
	return &c, nil
}

func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" && strings.HasPrefix(te.Value, "must ") {
		return fmt.Sprintf("field %q: %s", te.Field, te.Value)
	}
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	return err.Error()
}

func (c *Config) finish() error {
	if c.ClientBackendSelection == "" {
		c.ClientBackendSelection = SelectConfigured
	}
	switch c.ClientBackendSelection {
	case SelectConfigured, SelectAny, SelectOff:
	default:
		return fmt.Errorf("client_backend_selection: %q is not one of configured, any, off", c.ClientBackendSelection)
	}
	for _, h := range []struct {
		field string
		v     *string
		def   string
	}{
		{"model_header", &c.ModelHeader, DefaultModelHeader},
		{"backend_header", &c.BackendHeader, DefaultBackendHeader},
		{"endpoint_metadata_namespace", &c.EndpointMetadataNamespace, DefaultMetadataNamespace},
		{"endpoint_metadata_key", &c.EndpointMetadataKey, DefaultMetadataKey},
	} {
		if *h.v == "" {
			*h.v = h.def
		}
		if strings.HasPrefix(h.field, "model_") || strings.HasPrefix(h.field, "backend_") {
			if !validHeaderName(*h.v) {
				return fmt.Errorf("%s: %q is not a lower-case HTTP header name", h.field, *h.v)
			}
		}
	}
	if c.ModelHeader == c.BackendHeader {
		return fmt.Errorf("model_header and backend_header are both %q", c.ModelHeader)
	}
	if c.BackendField == "" {
		c.BackendField = DefaultBackendField
	}
	if c.BackendField == "model" {
		return errors.New(`backend_field: "model" is the model member`)
	}
	if c.MaxRequestBodyBytes == 0 {
		c.MaxRequestBodyBytes = DefaultMaxRequestBody
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = max(DefaultMaxBufferedBytes, c.MaxRequestBodyBytes)
	}
	if c.MaxBufferedBytes < c.MaxRequestBodyBytes {
		return fmt.Errorf("max_buffered_bytes: %d is below max_request_body_bytes (%d): a body the gateway accepts could never be admitted", int64(c.MaxBufferedBytes), int64(c.MaxRequestBodyBytes))
	}
	if c.MaxNameBytes == 0 {
		c.MaxNameBytes = DefaultMaxNameBytes
	}
	if c.MaxStreamEventBytes == 0 {
		c.MaxStreamEventBytes = DefaultMaxStreamEventBytes
	}
	if c.MaxDecodedResponseBytes == 0 {
		c.MaxDecodedResponseBytes = DefaultMaxDecodedResponseBytes
	}
	if c.Paths == nil {
		c.Paths = append([]string(nil), DefaultPaths...)
	}
	c.paths = make(map[string]struct{}, len(c.Paths))
	for i, p := range c.Paths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ") {
			return fmt.Errorf("paths[%d]: %q must be an absolute path without query", i, p)
		}
		c.paths[p] = struct{}{}
	}
	c.byName = make(map[string]*Backend, len(c.Backends))
	seenModel := map[string]bool{}
	for i, b := range c.Backends {
		if b == nil {
			return fmt.Errorf("backends[%d]: must be an object", i)
		}
		if err := b.finish(); err != nil {
			return fmt.Errorf("backends[%d] (%s): %w", i, b.Name, err)
		}
		if _, dup := c.byName[b.Name]; dup {
			return fmt.Errorf("backends[%d].name: %q is used twice", i, b.Name)
		}
		c.byName[b.Name] = b
		for _, m := range b.Models {
			if !seenModel[m] {
				seenModel[m] = true
				c.models = append(c.models, m)
			}
		}
	}
	sort.Strings(c.models)
	if c.Quota != nil {
		if err := c.Quota.finish(); err != nil {
			return err
		}
	}
	return c.finishMetrics()
}

func (c *Config) finishMetrics() error {
	if c.Metrics == nil {
		c.Metrics = &Metrics{}
	}
	m := c.Metrics
	if m.ListenAddress == "" {
		m.ListenAddress = metrics.DefaultListenAddress
	}
	if m.ListenAddress != metrics.ListenOff {
		host, port, err := net.SplitHostPort(m.ListenAddress)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 || strings.ContainsAny(host, "/ ") {
			return fmt.Errorf("metrics.listen_address: %q is not host:port (or %q)", m.ListenAddress, metrics.ListenOff)
		}
	}
	if m.Path == "" {
		m.Path = metrics.DefaultPath
	}
	if !strings.HasPrefix(m.Path, "/") || strings.ContainsAny(m.Path, "?# ") {
		return fmt.Errorf("metrics.path: %q must be an absolute path without query", m.Path)
	}
	if m.MaxValuesPerAttribute == 0 {
		m.MaxValuesPerAttribute = metrics.DefaultMaxValuesPerAttribute
	}
	if len(m.HeaderAttributes) > metrics.MaxHeaderAttributes {
		return fmt.Errorf("metrics.header_attributes: %d headers, at most %d", len(m.HeaderAttributes), metrics.MaxHeaderAttributes)
	}
	attrs := map[string]string{}
	for _, h := range slices.Sorted(maps.Keys(m.HeaderAttributes)) {
		a := m.HeaderAttributes[h]
		if !validHeaderName(h) {
			return fmt.Errorf("metrics.header_attributes: %q is not a lower-case HTTP header name", h)
		}
		if credentials.IsCredentialHeader(h) {
			return fmt.Errorf("metrics.header_attributes[%q]: the header may carry a credential and can never be a metric attribute", h)
		}
		if err := metrics.ValidAttributeName(a); err != nil {
			return fmt.Errorf("metrics.header_attributes[%q]: %w", h, err)
		}
		if other, dup := attrs[a]; dup {
			return fmt.Errorf("metrics.header_attributes[%q]: attribute %q is also set from %q", h, a, other)
		}
		attrs[a] = h
	}
	for i, b := range c.Backends {
		for a, v := range b.MetricAttributes {
			if v == "" || metrics.LooksLikeCredential(v) {
				return fmt.Errorf("backends[%d] (%s).metric_attributes[%q]: the value must be non-empty and not a credential", i, b.Name, a)
			}
			if err := metrics.ValidAttributeName(a); err != nil {
				return fmt.Errorf("backends[%d] (%s).metric_attributes: %w", i, b.Name, err)
			}
			if h, dup := attrs[a]; dup {
				return fmt.Errorf("backends[%d] (%s).metric_attributes[%q]: also set from header %q", i, b.Name, a, h)
			}
		}
	}
	return nil
}

// MetricsSpec is what metrics.New needs from this config. Header
// attributes are ordered by header name (Attempt.Headers follows it).
func (c *Config) MetricsSpec() metrics.Spec {
	m := c.Metrics
	if m == nil {
		m = &Metrics{}
	}
	s := metrics.Spec{ListenAddress: m.ListenAddress, Path: m.Path, MaxValuesPerAttribute: int(m.MaxValuesPerAttribute)}
	for _, h := range slices.Sorted(maps.Keys(m.HeaderAttributes)) {
		s.Headers = append(s.Headers, metrics.HeaderAttribute{Header: h, Attribute: m.HeaderAttributes[h]})
	}
	for _, b := range c.Backends {
		if len(b.MetricAttributes) > 0 {
			if s.BackendAttributes == nil {
				s.BackendAttributes = map[string]map[string]string{}
			}
			s.BackendAttributes[b.Name] = b.MetricAttributes
		}
	}
	return s
}

func (b *Backend) finish() error {
	if b.Name == "" {
		return errors.New("name: required")
	}
	for j, m := range b.Models {
		if m == "" {
			return fmt.Errorf("models[%d]: empty model name", j)
		}
	}
	if b.Schema == "" {
		b.Schema = SchemaOpenAI
	}
	if b.PathPrefix != "" && (!strings.HasPrefix(b.PathPrefix, "/") || strings.ContainsAny(b.PathPrefix, "?# ")) {
		return fmt.Errorf("path_prefix: %q must be an absolute path without query", b.PathPrefix)
	}
	b.PathPrefix = strings.TrimSuffix(b.PathPrefix, "/")
	if strings.ContainsAny(b.Host, "/ ?#@") {
		return fmt.Errorf("host: %q must be a host[:port]", b.Host)
	}
	for from, to := range b.ModelOverride.ByModel {
		if from == "" || to == "" {
			return errors.New("model_override: empty model name")
		}
	}
	if err := b.finishCloud(); err != nil {
		return err
	}
	if b.Auth == nil {
		b.Auth = &Auth{Type: AuthNone}
	}
	if b.Auth.Type == AuthAWSSigV4 {
		return b.finishAWS()
	}
	if b.Auth.AWSAuth != (AWSAuth{}) {
		return fmt.Errorf("auth: region, service, profile and role_arn belong to type %s", AuthAWSSigV4)
	}
	return b.Auth.finish()
}

func (a *Auth) finish() error {
	if a.isOAuth() {
		return a.finishOAuth()
	}
	if a.TenantID != "" || a.ClientID != "" || a.TokenURL != "" || len(a.Scopes) > 0 {
		return fmt.Errorf("auth: tenant_id, client_id, token_url and scopes are not for type %q", a.Type)
	}
	switch a.Type {
	case AuthNone:
		if a.KeyFile != "" || a.KeyEnv != "" {
			return errors.New("auth: type none takes no key_file or key_env")
		}
		return nil
	case AuthBearer, AuthAzureAPIKey, AuthAnthropicAPIKey:
	case "":
		return errors.New("auth.type: required (bearer, azure_api_key, anthropic_api_key, gcp_service_account, gcp_adc, azure_entra, aws_sigv4 or none)")
	default:
		return fmt.Errorf("auth.type: %q is not one of bearer, azure_api_key, anthropic_api_key, gcp_service_account, gcp_adc, azure_entra, aws_sigv4, none", a.Type)
	}
	switch {
	case a.KeyFile != "" && a.KeyEnv != "":
		return errors.New("auth: set key_file or key_env, not both")
	case a.KeyFile == "" && a.KeyEnv == "":
		return fmt.Errorf("auth: type %s needs key_file or key_env", a.Type)
	}
	return nil
}

// LoadKeys reads every backend's key file (re-read on rotation) or variable,
// so a missing or empty key fails the load. Only
// the upstream phase, which sends the keys, calls it; errors name the
// backend and the field, never a key.
func (c *Config) LoadKeys() error {
	for i, b := range c.Backends {
		if err := b.Auth.load(); err != nil {
			return fmt.Errorf("aigw config: backends[%d] (%s): %w", i, b.Name, err)
		}
	}
	return nil
}

func (a *Auth) load() error {
	switch {
	case a.Type == AuthNone:
	case a.isOAuth():
		return a.loadOAuth()
	case a.Type == AuthAWSSigV4:
		return a.loadAWS()
	case a.KeyFile != "":
		f, err := credentials.FromFile(a.KeyFile, nil)
		if err != nil {
			return fmt.Errorf("auth.key_file: %w", err)
		}
		a.source = f
	case a.KeyEnv != "":
		s, err := credentials.FromEnv(a.KeyEnv)
		if err != nil {
			return fmt.Errorf("auth.key_env: %w", err)
		}
		a.source = s
	}
	return nil
}

// Backend finds a configured backend by name.
func (c *Config) Backend(name string) (*Backend, bool) {
	b, ok := c.byName[name]
	return b, ok
}

// IsInferencePath reports whether the router phase inspects requests to path
// (without query string).
func (c *Config) IsInferencePath(path string) bool {
	_, ok := c.paths[path]
	return ok
}

// Models lists every configured model once, sorted.
func (c *Config) Models() []string { return c.models }

func validHeaderName(h string) bool {
	if h == "" || strings.HasPrefix(h, ":") {
		return false
	}
	for _, c := range []byte(h) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return http.CanonicalHeaderKey(h) != ""
}
