package upstream

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/translate"
)

// failure is a decision to fail an attempt: what the client may see (err)
// and what the operator should read in the log (log).
type failure struct {
	err *oaierr.Error
	log string
}

// resolveBackend maps the chosen endpoint's metadata value to a configured
// backend. Both failures are configuration errors of this one endpoint, so
// they are 503s another priority may not share.
func (c *Config) resolveBackend(value string, found bool) (*Backend, *failure) {
	if !found || value == "" {
		return nil, &failure{
			err: oaierr.New(http.StatusServiceUnavailable, "server_error", "backend_not_configured",
				"the selected upstream endpoint is not bound to an aigw backend"),
			log: fmt.Sprintf("aigw-upstream: the chosen endpoint has no string metadata filter_metadata[%q][%q]; "+
				"failing this attempt with 503 so the retry policy can try another priority",
				c.metadataNamespace, c.metadataKey),
		}
	}
	if b, ok := c.backends[value]; ok {
		return b, nil
	}
	return nil, &failure{
		err: oaierr.New(http.StatusServiceUnavailable, "server_error", "backend_not_configured",
			"the selected upstream endpoint names backend %q, which is not configured", value),
		log: fmt.Sprintf("aigw-upstream: the chosen endpoint's filter_metadata[%q][%q] names backend %q, "+
			"which is not in the config; failing this attempt with 503 so the retry policy can try another priority",
			c.metadataNamespace, c.metadataKey, value),
	}
}

// clientCredentialHeaders are removed from every attempt: a client's key is
// never forwarded, whichever backend the attempt goes to.
var clientCredentialHeaders = [...]string{"authorization", "api-key", "x-api-key"}

// credentialHeader is the header carrying the backend's own key ("" for auth
// type none). The key is read per attempt so a rotated key file takes effect
// without a reload.
func credentialHeader(b *Backend) (name, value string, f *failure) {
	a := b.Conf.Auth
	if a == nil || a.Type == config.AuthNone {
		return "", "", nil
	}
	switch a.Type {
	case config.AuthBearer:
		name = "authorization"
	case config.AuthAzureAPIKey:
		name = "api-key"
	case config.AuthAnthropicAPIKey:
		name = "x-api-key"
	default:
		return "", "", misconfigured(b, fmt.Sprintf("auth type %q has no header", a.Type))
	}
	key := a.Key()
	if key.Empty() {
		return "", "", misconfigured(b, "its key is empty")
	}
	if a.Type == config.AuthBearer {
		return name, "Bearer " + key.Reveal(), nil
	}
	return name, key.Reveal(), nil
}

// misconfigured fails an attempt because of its backend's own config, which
// another priority's backend may not share: a retryable 503.
func misconfigured(b *Backend, why string) *failure {
	return &failure{
		err: oaierr.New(http.StatusServiceUnavailable, "server_error", "backend_misconfigured",
			"backend %q cannot be used", b.Name),
		log: fmt.Sprintf("aigw-upstream: backend %q cannot be used: %s; failing this attempt with 503 so the retry policy can try another priority", b.Name, why),
	}
}

// translateFailure decides what a request the backend's translator refused
// becomes. final means no backend could do better, so the whole request is
// answered (SendResponse); otherwise only this attempt fails (FailAttempt)
// and a retry may reach a backend of another schema.
func (c *Config) translateFailure(b *Backend, err error, path string, body []byte, haveBody bool) (f *failure, final bool) {
	var invalid *translate.InvalidRequestError
	if errors.As(err, &invalid) {
		// The client's request is malformed: the same for every backend.
		return &failure{
			err: &oaierr.Error{Status: invalid.Status, Type: "invalid_request_error", Param: invalid.Param, Code: invalid.Code, Message: invalid.Message},
			log: fmt.Sprintf("aigw-upstream: invalid request for backend %q: %v", b.Name, err),
		}, true
	}
	var unsupported *translate.UnsupportedError
	if errors.As(err, &unsupported) {
		e := &oaierr.Error{Status: unsupported.Status, Type: "invalid_request_error", Param: unsupported.Param, Code: unsupported.Code, Message: unsupported.Message}
		if c.otherSchemaAccepts(b.Target.Schema, path, body, haveBody) {
			// A configured backend of another schema can express it: let
			// the retry policy look for it. The router retries 5xx only.
			e.Status = http.StatusServiceUnavailable
			return &failure{err: e, log: fmt.Sprintf("aigw-upstream: backend %q (%s) cannot express the request (%v); "+
				"failing this attempt with 503 because a backend of another schema can", b.Name, b.Target.Schema, err)}, false
		}
		return &failure{err: e, log: fmt.Sprintf("aigw-upstream: no configured backend can express the request: %v", err)}, true
	}
	return misconfigured(b, err.Error()), false
}

// otherSchemaAccepts reports whether a backend of a schema other than schema
// translates the request without error. Only the error path pays for it.
func (c *Config) otherSchemaAccepts(schema, path string, body []byte, haveBody bool) bool {
	for s, ob := range c.schemas {
		if s == schema {
			continue
		}
		tr, err := translate.New(ob.Target, path)
		if err != nil {
			continue
		}
		if !haveBody {
			return true
		}
		if _, err := tr.RequestBody(body); err == nil {
			return true
		}
	}
	return false
}
