package route

import (
	"net/http"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/oaierr"
)

// Hygiene says what happens to a client's routing headers on a request the
// router phase does not inspect (anything but a POST to an inference path).
// Envoy's routes match on those headers and the upstream phase injects the
// chosen backend's key, so a header the gateway did not set or allow must
// not survive: otherwise GET /v1/files with x-ai-eg-backend: openai-primary
// reaches that provider with the gateway's key.
type Hygiene struct {
	// DelModel: remove the model header. The router phase sets it only from
	// an inspected body, so a client's is always removed.
	DelModel bool
	// DelBackend: remove the backend header (client_backend_selection off).
	DelBackend bool
}

// Changed reports whether a header is removed, so the route cache must be
// cleared for Envoy to match again without it.
func (h Hygiene) Changed() bool { return h.DelModel || h.DelBackend }

// Uninspected decides the routing headers of an uninspected request from
// which the client sent and the backend header's value. The backend header
// follows client_backend_selection as on inspected requests: off removes
// it; configured keeps a configured backend and refuses any other with the
// same 404 backend_not_found an inspected request gets, rather than removing
// it and letting the request go wherever a request without it goes (a
// silent re-route the client never learns about); any keeps it. An empty
// backend header is refused (400) under configured and any, as on inspected
// requests.
func Uninspected(cfg *config.Config, hasModel bool, backend string, hasBackend bool) (Hygiene, *oaierr.Error) {
	h := Hygiene{DelModel: hasModel}
	if !hasBackend {
		return h, nil
	}
	switch {
	case cfg.ClientBackendSelection == config.SelectOff:
		h.DelBackend = true
	case backend == "":
		return h, errEmptyBackendHeader(cfg)
	}
	// A kept header is checked as on inspected requests (Decide): the
	// name becomes the route's header value and is logged.
	if e := checkBackendHeader(cfg, backend); e != nil {
		return h, e
	}
	switch {
	case cfg.ClientBackendSelection == config.SelectConfigured:
		if _, ok := cfg.Backend(backend); !ok {
			return h, errBackendNotFound(backend)
		}
	}
	return h, nil
}

// errBackendNotFound answers a client backend choice that
// client_backend_selection: configured does not allow, on every path.
func errBackendNotFound(backend string) *oaierr.Error {
	return oaierr.New(http.StatusNotFound, "invalid_request_error", "backend_not_found", "backend %q is not configured", backend)
}

func errEmptyBackendHeader(cfg *config.Config) *oaierr.Error {
	return oaierr.InvalidRequest("", "header %s is empty", cfg.BackendHeader)
}
