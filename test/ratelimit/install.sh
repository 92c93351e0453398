#!/usr/bin/env bash
# Installs what the distributed-quota tests (test/ratelimit) start on loopback:
#   - Envoy's rate limit service (github.com/envoyproxy/ratelimit, the Go
#     module pinned in test/ratelimit/VERSION: it serves
#     envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit, the API
#     Envoy 1.36's envoy.filters.http.ratelimit calls, with per-descriptor
#     hits_addend) from the Go module proxy, into
#     $(go env GOPATH)/aigw-tools/ratelimit@VERSION/service_cmd;
#   - redis-server (Debian package) when it is missing.
# Idempotent: a second run does nothing. Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")"
version=$(cat VERSION)
dir="$(go env GOPATH)/aigw-tools/ratelimit@${version}"
if [ ! -x "$dir/service_cmd" ]; then
  mkdir -p "$dir"
  GOBIN="$dir" GOFLAGS=-buildvcs=false go install "github.com/envoyproxy/ratelimit/src/service_cmd@${version}"
fi
echo "ratelimit service: $dir/service_cmd"
if ! command -v redis-server >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server
fi
echo "redis-server: $(command -v redis-server)"
