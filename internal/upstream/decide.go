package upstream

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/credentials"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/translate"
)

// failure is a decision to end a request in the upstream phase: what the
// client sees (err) and what the operator should read in the log (log).
//
// Every failure decided before the provider answered is sent with
// SendResponse, which ends the whole request: Envoy v1.36.2 gives an upstream
// filter no supported way to fail only its attempt at that point (see
// docs/attempts.md and Filter.end), so no failure here is retried on another
// priority. The one exception is a failure with await set: a missing
// credential that its refresher may still deliver. That attempt is held
// (Filter.wait) and either resumes with the credential or is failed over by
// Envoy's own per-try timeout; err is answered only when neither can happen.
type failure struct {
	err *oaierr.Error
	log string
	// await, when set, is the credential whose arrival would resolve this
	// failure.
	await credentials.Awaitable
}

// resolveBackend maps the chosen endpoint's metadata value to a configured
// backend. Both failures are configuration errors of this one endpoint: a
// 503 that names the problem.
func (c *Config) resolveBackend(value string, found bool) (*Backend, *failure) {
	if !found || value == "" {
		return nil, &failure{
			err: oaierr.New(http.StatusServiceUnavailable, "server_error", "backend_not_configured",
				"the selected upstream endpoint is not bound to an aigw backend"),
			log: fmt.Sprintf("aigw-upstream: the chosen endpoint has no string metadata filter_metadata[%q][%q]; "+
				"answering 503 (the request ends: no failover from the upstream phase before the provider answered)",
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
			"which is not in the config; answering 503 (the request ends: no failover from the upstream phase before the provider answered)",
			c.metadataNamespace, c.metadataKey, value),
	}
}

// checkDigest refuses an attempt whose request was routed by a router phase
// running another config than this upstream phase (config.Digest: the
// backends, headers, paths and endpoint metadata key both phases must agree
// on). Envoy hands each phase its own copy of the document (the golang
// filter's plugin_config, every cluster's dynamic module filter_config), so a
// hand-edited bootstrap can give them different ones: the router phase would
// then pick a backend or model this phase resolves to another backend, key
// or schema. The answer is a 500 before any provider is called; the request
// ends (no failover: every priority runs this same config).
//
// A request without a recorded digest did not go through aigw's router phase
// for its route (a listener without the golang filter, which the shipped
// configs' checks rule out): there is nothing to compare, and the endpoint's
// metadata decides as before.
func (c *Config) checkDigest(routerDigest string, routed bool) *failure {
	if !routed || routerDigest == c.digest {
		return nil
	}
	return &failure{
		err: oaierr.New(http.StatusInternalServerError, "server_error", "config_mismatch",
			"the gateway's router and upstream phases run different configurations; the request was not sent"),
		log: fmt.Sprintf("aigw-upstream: the router phase routed this request with config digest %q, this upstream filter runs %q: "+
			"give the golang filter's plugin_config and every cluster's dynamic module filter_config the same aigw document "+
			"(cmd/aigw-envoygen writes them from one); answering 500",
			routerDigest, c.digest),
	}
}

// credentialFor is the header carrying the backend's own key (no header for
// auth type none). The key is read per attempt so a rotated key file takes
// effect without a reload.
func credentialFor(b *Backend) credential {
	a := b.Conf.Auth
	if a == nil || a.Type == config.AuthNone {
		return credential{}
	}
	var name string
	switch {
	case a.Type == config.AuthAWSSigV4:
		// Signed once the final request is known (plan.signRequest).
		if s := a.Signer(); s != nil {
			return credential{sign: s}
		}
		return credential{fail: misconfigured(b, "its AWS signer is not loaded")}
	case a.IsBearer():
		name = "authorization"
	case a.Type == config.AuthAzureAPIKey:
		name = "api-key"
	case a.Type == config.AuthAnthropicAPIKey:
		name = "x-api-key"
	default:
		return credential{fail: misconfigured(b, fmt.Sprintf("auth type %q has no header", a.Type))}
	}
	key := a.Key()
	if key.Empty() && a.IsBearer() && a.Type != config.AuthBearer {
		return credential{fail: noCredential(b, "no valid token (see the token refresh log)", a.Awaitable())}
	}
	if key.Empty() {
		return credential{fail: misconfigured(b, "its key is empty")}
	}
	if a.IsBearer() {
		return credential{name: name, value: b.bearerFor(key.Reveal())}
	}
	return credential{name: name, value: key.Reveal()}
}

// noCredential is an attempt whose backend holds no valid keyless
// credential right now: its token cache has no valid bearer token, or its
// AWS signer no valid credentials (the first fetch has not succeeded yet, or
// refreshes failed until they expired; the refresher logs why). With the
// credential's refresher (aw) the attempt waits for it (Filter.wait,
// docs/attempts.md): it resumes when one is stored, and Envoy's per-try
// timeout fails it over to the next priority when none comes. Without one,
// or when waiting is impossible, the answer is a 503 the client may retry,
// naming the backend, with the reason (never a credential) in the log.
func noCredential(b *Backend, why string, aw credentials.Awaitable) *failure {
	return &failure{
		err: oaierr.New(http.StatusServiceUnavailable, "server_error", "credential_unavailable",
			"backend %q has no valid credential at the moment", b.Name),
		log:   fmt.Sprintf("aigw-upstream: backend %q: %s; answering 503 (the request ends: no failover from the upstream phase before the provider answered)", b.Name, why),
		await: aw,
	}
}

// misconfigured ends a request because of its backend's own config: a 503
// naming the backend, never the reason (which may concern its key).
func misconfigured(b *Backend, why string) *failure {
	return &failure{
		err: oaierr.New(http.StatusServiceUnavailable, "server_error", "backend_misconfigured",
			"backend %q cannot be used", b.Name),
		log: fmt.Sprintf("aigw-upstream: backend %q cannot be used: %s; answering 503", b.Name, why),
	}
}

// translateFailure decides what a request the attempt's backend cannot take
// becomes; the request ends either way (SendResponse). retry reports that an
// earlier attempt of this request went to a provider, so the request was
// valid for that backend.
//
//   - malformed (translate.KindInvalid): the client's error for every
//     backend, with the translator's status;
//   - not expressible by this backend's schema (translate.KindUnsupported,
//     including an endpoint the schema does not define): on the first attempt
//     the translator's precise 4xx, because every identical request reaches
//     the same backend first and retrying cannot help; on a retry a 503,
//     because the backend that could serve it failed and a later request may
//     succeed;
//   - anything else is the backend's configuration: 503.
func (c *Config) translateFailure(b *Backend, err error, retry bool) *failure {
	var te *translate.Error
	if !errors.As(err, &te) || (te.Kind != translate.KindInvalid && te.Kind != translate.KindUnsupported) {
		return misconfigured(b, err.Error())
	}
	e := te.OpenAI()
	switch {
	case te.Kind == translate.KindInvalid:
		return &failure{err: e, log: fmt.Sprintf("aigw-upstream: invalid request for backend %q: %v", b.Name, err)}
	case retry:
		e.Status, e.Type = http.StatusServiceUnavailable, "server_error"
		e.Message = fmt.Sprintf("the backend tried first failed, and the fallback backend %q cannot serve this request: %s", b.Name, te.Message)
		return &failure{err: e,
			log: fmt.Sprintf("aigw-upstream: retry on backend %q (%s) cannot express the request (%v); answering 503", b.Name, b.Target.Schema, err)}
	}
	return &failure{err: e, log: fmt.Sprintf("aigw-upstream: backend %q (%s) cannot express the request: %v", b.Name, b.Target.Schema, err)}
}

// responseFailure is the client's error for a backend response the gateway
// cannot translate: the translator's KindProvider error in its OpenAI form
// (translate.Error.OpenAI, the one mapping), a response it could not decode
// or parse named by its backend (the translator knows no backend names, and
// the client never sees why: that is in the log, from err).
func responseFailure(b *Backend, err error) *oaierr.Error {
	te, ok := translate.AsError(err, translate.KindProvider)
	if !ok {
		// Translators return only *translate.Error; anything else is
		// still the provider's response the gateway could not handle.
		te = &translate.Error{Kind: translate.KindProvider, Status: http.StatusBadGateway, Code: translate.CodeBadResponse}
	}
	e := te.OpenAI()
	if te.Code == translate.CodeBadResponse {
		e.Message = fmt.Sprintf("backend %q sent a response the gateway cannot translate", b.Name)
	}
	return e
}

// mayRetry reports whether Envoy's router may retry an attempt on a response
// with this status, so the response headers must never be held by the
// filter: the router takes its retry-or-forward decision on the headers
// (Router::Filter::onUpstreamHeaders, source/common/router/router.cc:1760-1774:
// reset and unlink the attempt), and headers held until the body is complete
// are released together with the body (source/common/http/filter_manager.cc:
// 104-140), so the body would reach the router for an attempt it no longer
// tracks (router.cc:1865-1879). The set covers every retry_on condition that
// looks at a status: 5xx and gateway-error (any status >= 500),
// retriable-4xx (409), and the codes a retriable_status_codes list names in
// aigw's configs and docs (408, 429). A route whose retriable_status_codes
// names another code must add it here.
func mayRetry(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusConflict || status == http.StatusTooManyRequests
}
