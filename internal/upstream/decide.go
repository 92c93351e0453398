package upstream

import (
	"fmt"
	"net/http"

	"github.com/aigw/aigw/internal/oaierr"
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
