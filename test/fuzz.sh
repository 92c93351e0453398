#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (make fuzz).
#
# Go's fuzzing coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime expires while a worker is mid-call (a race between
# the deadline's parent and child contexts in internal/fuzz; seen on loaded
# 2-core machines). That failure writes no input and means nothing was found.
# So a target fails this script when go test fails for any other reason, or
# when it wrote a failing input to testdata/fuzz; a bare deadline failure is
# reported as such, and the target's corpus is then replayed as plain tests
# to confirm there is nothing to reproduce.
#
# Minimization is capped at FUZZMINIMIZETIME executions (default 50x): Go
# minimizes every new-coverage input for up to 60 s by default, and in a
# package whose test binary instruments large dependencies (the AWS SDK,
# sonic, OpenTelemetry in internal/translate) each execution snapshots all
# their coverage counters, so minimizing one multi-KB seed (an eventstream
# of several frames) took the whole FUZZTIME: FuzzBedrockEventStream made
# 14 executions in 20 s, against ~1,500/s with the cap.
set -uo pipefail
FUZZTIME=${FUZZTIME:-20s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-50x}
GO=${GO:-go}
cd "$(dirname "$0")/.."

failed=0
for pkg in $($GO list ./...); do
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  for t in $($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz'); do
    echo "== $pkg $t"
    corpus="$dir/testdata/fuzz/$t"
    before=$(ls "$corpus" 2>/dev/null | sort)
    out=$($GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg" 2>&1)
    rc=$?
    echo "$out" | tail -n 3
    [ $rc -eq 0 ] && continue
    after=$(ls "$corpus" 2>/dev/null | sort)
    if [ "$before" != "$after" ]; then
      echo "FAIL: $t wrote a failing input:"; comm -13 <(echo "$before") <(echo "$after") | sed "s|^|  $corpus/|"
      failed=1; continue
    fi
    # Only the coordinator's deadline error, nothing else reported by the target.
    if echo "$out" | grep -q '^    context deadline exceeded$' && ! echo "$out" | grep -q 'panic:\|Error\|failing input'; then
      echo "note: $t hit Go's fuzz-coordinator deadline race (no input written); replaying its corpus"
      if ! $GO test -count=1 -run "^$t\$" "$pkg"; then failed=1; fi
      continue
    fi
    echo "$out"
    failed=1
  done
done
exit $failed
