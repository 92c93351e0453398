// Package route makes the router phase's one decision: which single routing
// header a request carries. It is a pure function of the config, the
// client's backend header and the scanned body, so every rule is a table
// test and no rule depends on Envoy.
package route

import (
	"unicode"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/oaierr"
)

// Decision says how to route one request. Exactly one of Backend and Model
// becomes a routing header: with two, Envoy's first matching rule wins and
// an older deployment's model rule can take a request meant for a named
// backend.
type Decision struct {
	// Backend, when not empty, is set as the backend header and the model
	// header is removed.
	Backend string
	// Model is the body's model: the model header when Backend is empty,
	// and recorded for access logs either way.
	Model string
	// RemoveBackendMember: the body names a backend member that providers
	// would reject as an unknown parameter.
	RemoveBackendMember bool
}

// Input is what the router phase knows when it decides.
type Input struct {
	// HeaderBackend is the client's backend header, if it sent one.
	HeaderBackend    string
	HasHeaderBackend bool
	// Body is the scan of the request body.
	Body bodyscan.Result
}

// Decide applies the routing rules. It returns an OpenAI-format error for
// input that must not reach any backend.
func Decide(cfg *config.Config, in Input) (Decision, *oaierr.Error) {
	var d Decision
	body := in.Body
	field := cfg.BackendField

	// The body's members are checked whatever decides the route: a request
	// with a malformed model or backend is malformed for every backend.
	if body.Backend.Present {
		if body.Backend.Type != bodyscan.TypeString || body.Backend.Value == "" {
			return d, oaierr.InvalidRequest(field, "%q must be a non-empty string naming a backend, got %s", field, describe(body.Backend))
		}
		if e := checkName(cfg, field, "", body.Backend.Value); e != nil {
			return d, e
		}
		d.RemoveBackendMember = true
	}
	if body.Model.Present {
		if body.Model.Type != bodyscan.TypeString {
			return d, oaierr.InvalidRequest("model", "\"model\" must be a string, got %s", body.Model.Type)
		}
		if body.Model.Value == "" {
			return d, oaierr.InvalidRequest("model", "\"model\" must not be empty")
		}
		if e := checkName(cfg, "model", "", body.Model.Value); e != nil {
			return d, e
		}
		d.Model = body.Model.Value
	}

	backend, fromHeader := "", false
	if cfg.ClientBackendSelection != config.SelectOff {
		switch {
		case in.HasHeaderBackend:
			if in.HeaderBackend == "" {
				return d, errEmptyBackendHeader(cfg)
			}
			if e := checkBackendHeader(cfg, in.HeaderBackend); e != nil {
				return d, e
			}
			backend, fromHeader = in.HeaderBackend, true
		case body.Backend.Present:
			backend = body.Backend.Value
		}
	}
	if backend != "" {
		if cfg.ClientBackendSelection == config.SelectConfigured {
			if _, ok := cfg.Backend(backend); !ok {
				e := errBackendNotFound(backend)
				if !fromHeader {
					e.Param = field
				}
				return d, e
			}
		}
		d.Backend = backend
		return d, nil
	}
	if !body.Model.Present {
		return d, oaierr.InvalidRequest("model", "you must provide a model parameter")
	}
	return d, nil
}

// ScanError turns a body scan failure into the client's error.
func ScanError(err error) *oaierr.Error {
	e, ok := err.(*bodyscan.Error)
	if !ok {
		return oaierr.InvalidRequest("", "request body could not be read: %v", err)
	}
	switch e.Kind {
	case bodyscan.Duplicate, bodyscan.BadEncoding:
		return oaierr.InvalidRequest(e.Member, "%s", e.Error())
	default:
		return oaierr.InvalidRequest("", "%s", e.Error())
	}
}

// checkName rejects a model or backend name that must not become a header
// value, a dynamic-metadata value or an access-log field: one longer than
// max_name_bytes, or one holding a control character (C0, DEL or C1; the body
// scan has already unescaped JSON, so "\r" and "\u0000" are caught too). A
// debug Envoy asserts on CR, LF or NUL in a header value and a release one
// keeps an invalid header. The message names the member, never the value.
func checkName(cfg *config.Config, param, header, v string) *oaierr.Error {
	// what names the value in a message, built only on the error path (the
	// check runs on every routed request).
	what := func() string {
		if header != "" {
			return "header " + header
		}
		return `"` + param + `"`
	}
	if max := int(cfg.MaxNameBytes); len(v) > max {
		return oaierr.InvalidRequest(param, "%s is %d bytes long; the limit is %d bytes", what(), len(v), max)
	}
	// Printable ASCII byte by byte (the usual name); from the first other
	// byte on, rune by rune (C1 controls are two-byte runes).
	i := 0
	for i < len(v) && v[i] >= 0x20 && v[i] < 0x7f {
		i++
	}
	for _, r := range v[i:] {
		if unicode.IsControl(r) {
			return oaierr.InvalidRequest(param, "%s must not contain control characters (%U)", what(), r)
		}
	}
	return nil
}

// checkBackendHeader checks a client's backend header value like a name
// from the body.
func checkBackendHeader(cfg *config.Config, v string) *oaierr.Error {
	return checkName(cfg, "", cfg.BackendHeader, v)
}

func describe(m bodyscan.Member) string {
	if m.Type == bodyscan.TypeString {
		return "an empty string"
	}
	return m.Type.String()
}
