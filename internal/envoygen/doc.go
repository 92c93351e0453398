// Package envoygen generates the Envoy v1.36.2 bootstrap that runs aigw, from one aigw
// document plus a small deployment section (Deployment), so that the document, the routes
// and the clusters can never disagree. cmd/aigw-envoygen is its command line; the shipped
// envoy.yaml, examples/production/envoy.yaml and the Helm chart's files/envoy.yaml are its
// output (golden_test.go fails when one differs; go test ./internal/envoygen/ -update
// rewrites them), and test/envoyconfig runs the L3 and hardening checks on them.
//
// # Inputs
//
// A deployment file (deploy/*/deployment.yaml) names its aigw JSON document (aigw_config)
// and says what the document does not: the listener, the admin/ops surface, how upstreams
// are reached (protocol, DNS, CA bundle), the retry/timeout/circuit-breaker/outlier numbers
// (Policy, defaults as in docs/production.md) and, per backend, its endpoints, its priority
// and its TLS name.
//
// # What is generated
//
//   - One aigw document, written from one value into the golang filter's plugin_config and
//     every cluster's dynamic-module filter_config (aigwDocument). The library also checks
//     at run time that both phases loaded the same one (config.Digest): an attempt routed by
//     a router phase running another document is answered 500 config_mismatch.
//   - Routes, in this order: one per backend (backend header), one per model (model
//     header), "no-backend" (404 model_not_found), "not-served" (404 unknown_url), each of
//     the two preceded by a "-messages" twin answering a /v1/messages client in Anthropic's
//     error shape. Every provider route requires POST and one of the document's paths.
//   - Clusters: one per backend (what a named backend reaches), and one per model served by
//     several backends: "model-<m>" when they share a priority (traffic spread, a retry
//     goes to another host), "failover-<m>" when they have several (a retry leaves the
//     failed priorities: one retry per priority after the first).
//     A model with one backend routes to that backend's cluster.
//   - Envoy's own local replies in the client's error format: Anthropic's for a
//     /v1/messages client, OpenAI's for every other (localReplyConfig).
//   - Quotas (quota.go), when the deployment has api_key_auth and/or rate_limit (both need
//     the document's quota member): api_key_auth first in the chain, forwarding the client id
//     as quota.identity_header; Envoy's rate limit filter between the golang filter and the
//     router (test/ratelimit/filter.yaml), with its "ratelimit" gRPC cluster; 429 and 401
//     local replies as OpenAI JSON; the access log's client_id, costs and quota_overrun.
//
// # Older and newer deployments of a model
//
// A model may be served by several backends, e.g. while a new deployment replaces an old
// one. There is exactly one route per model, so no route of one deployment can capture
// another's traffic, whatever the order of the backends list; which deployment serves is
// decided inside the model's one cluster by endpoint priority. "Newer" is the backend with
// the lower BackendDeployment.Priority: it takes all the model's traffic while healthy, the
// older one only on failover. Equal priorities share the traffic (a canary). Priorities are
// renumbered 0, 1, 2... per model, as Envoy requires.
//
// # Adding a piece
//
// Every Envoy object has one function on gen (aigwListener, aigwHCM, accessLog,
// localReplyConfig, golangFilter, routing, route, retryPolicy, cluster, discovery,
// upstreamOptions, tlsMatches, opsListener, adminCluster...). To add one:
//
//  1. Add its inputs to Deployment (with a default in defaults and a check in check), or
//     read them from the aigw document (in.Config), never both.
//  2. Write one function building the go-control-plane proto, and call it from its parent.
//     Examples: a downstream filter such as api_key_auth or ratelimit goes into the list
//     in aigwHCM, between golangFilter and routerFilter (or before golangFilter if it must
//     run before the body is buffered), with its cluster (the rate limit service) appended
//     in bootstrap; a metrics listener is a listener next to opsListener; a new provider
//     schema's TLS/host default is a default in check/defaults keyed on the backend's
//     schema.
//  3. Import the extension's go-control-plane package in test/envoyconfig/envoyconfig.go
//     (Any types must be registered to be checked), run go test ./internal/envoygen/
//     -update, and extend test/envoyconfig's checks with what must hold.
//
// No text templates: the output is the protojson form of the proto, rendered as YAML
// (Render), so whatever is generated is a valid v3 config by construction.
package envoygen
