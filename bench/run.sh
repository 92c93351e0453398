#!/usr/bin/env bash
# bench/run.sh — the side-by-side benchmark behind `make bench`.
#
# Builds the bench test binary once, runs the router-phase benchmarks of
# bench/ COUNT times (enough samples for benchstat's confidence intervals),
# then the whole-path benchmarks (COUNT rounds of one run each, PBENCHTIME
# each: the in-process rows and the Envoy-alone rows subtracted from them
# alternate over the run, so both see the same machine), then the
# upstream phase's translation microbenchmarks of internal/translate (same
# COUNT, TBENCHTIME each), then the memory-per-open-stream run
# (TestStreamMemory with STREAMS held streams), then writes to
# $OUT (default bench/out, git-ignored):
#   raw.txt        go test -bench output, the input of everything below
#   benchstat.txt  benchstat summary: median ± CI per benchmark and unit
#   table.md       medians laid out side by side (bench/cmd/benchtable):
#                  router phase alone, then the whole path
#   memory.txt     the STREAM_MEMORY line of the memory run
#   machine.txt    nproc, CPU model, go version, kernel, load average
# and prints benchstat's summary, the tables and the memory line.
#
# Knobs (environment):
#   COUNT=6        runs per benchmark; benchstat wants >= 6 for a 95% CI
#   BENCHTIME=1s   go test -benchtime per run of the router-phase benchmarks
#   BENCH=...      go test -bench regexp of the router-phase set, e.g.
#                  'ExtProc/uds' or 'InProcessABI'; BENCH=none skips it
#   PBENCH=...     -bench regexp of the whole-path set (BenchmarkExtProcPath,
#                  BenchmarkWholePathABI, BenchmarkWholePathEnvoy and their
#                  Parallel forms), e.g. 'WholePath(ABI|Envoy)/stream';
#                  PBENCH=none skips it
#   PBENCHTIME=300ms  -benchtime of the whole-path benchmarks
#   STREAMS=10000  held streams of the memory run; STREAMS=0 skips it
#   TBENCH=...     -bench regexp for internal/translate (default: OpenAI ->
#                  Anthropic request and response at 1 KiB and 100 KiB, the
#                  per-chunk stream benchmarks, OpenAI model override);
#                  TBENCH=none skips them
#   TBENCHTIME=500ms  -benchtime of the translate benchmarks
#   OUT=bench/out  output directory
#   BASE=file      earlier raw.txt to compare with (benchstat BASE raw.txt),
#                  e.g. BASE=bench/results/latest.txt
#
# With the defaults the run takes about 20 minutes on a 2-core machine.
set -euo pipefail

cd "$(dirname "$0")/.."
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-1s}
BENCH=${BENCH:-'^Benchmark(ExtProc|ExtProcParallel|InProcessABI|InProcessABIParallel|InProcess|InProcessParallel|RouterPhase|RouteDecide|TranslateRequest)$'}
PBENCH=${PBENCH:-'^Benchmark(ExtProcPath|ExtProcPathParallel|WholePathABI|WholePathEnvoy|WholePathABIParallel|WholePathEnvoyParallel)$'}
PBENCHTIME=${PBENCHTIME:-300ms}
STREAMS=${STREAMS:-10000}
TBENCH=${TBENCH:-'^Benchmark(AnthropicRequest|AnthropicResponse|AnthropicStreamChunk|OpenAIRequestOverride|OpenAIStreamChunk)$'}
TBENCHTIME=${TBENCHTIME:-500ms}
OUT=${OUT:-bench/out}
GO=${GO:-go}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# benchstat from golang.org/x/perf: on PATH, in GOBIN/GOPATH/bin, or installed.
gobin=$($GO env GOBIN)
[ -n "$gobin" ] || gobin="$($GO env GOPATH)/bin"
if command -v benchstat >/dev/null 2>&1; then
	BENCHSTAT=$(command -v benchstat)
elif [ -x "$gobin/benchstat" ]; then
	BENCHSTAT="$gobin/benchstat"
else
	echo "== installing benchstat" >&2
	$GO install golang.org/x/perf/cmd/benchstat@latest
	BENCHSTAT="$gobin/benchstat"
fi

machine() {
	echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "nproc:   $(nproc)"
	echo "cpu:     $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "go:      $($GO version)"
	echo "kernel:  $(uname -sr)"
	echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}
machine >"$OUT/machine.txt"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== building the bench test binaries" >&2
$GO test -c -o "$tmp/bench.test" ./bench
[ "$TBENCH" = none ] || $GO test -c -o "$tmp/translate.test" ./internal/translate

# Run from the package directory, as go test does. The ext_proc benchmarks
# re-execute this binary as their server process. No -benchmem: the
# in-process benchmarks' own allocations are the HTTP load generator's, not
# aigw's; every benchmark whose allocations mean something reports them.
: >"$OUT/raw.txt"
if [ "$BENCH" != none ]; then
	echo "== running router-phase benchmarks (count=$COUNT, benchtime=$BENCHTIME, bench=$BENCH)" >&2
	(cd bench && "$tmp/bench.test" -test.run '^$' -test.bench "$BENCH" \
		-test.count "$COUNT" -test.benchtime "$BENCHTIME" \
		-test.timeout 60m) | tee -a "$OUT/raw.txt" >&2
fi
if [ "$PBENCH" != none ]; then
	# COUNT rounds of -test.count 1 rather than -test.count COUNT (which takes
	# a benchmark's samples back to back): every round runs each benchmark once,
	# in declaration order (bench/wholepath_test.go declares each Envoy-alone
	# benchmark right after its in-process one), so the samples whose medians
	# are subtracted ("aigw added") are taken alternately over the whole run.
	echo "== running whole-path benchmarks ($COUNT rounds, benchtime=$PBENCHTIME, bench=$PBENCH)" >&2
	for round in $(seq "$COUNT"); do
		echo "== whole-path round $round/$COUNT" >&2
		(cd bench && "$tmp/bench.test" -test.run '^$' -test.bench "$PBENCH" \
			-test.count 1 -test.benchtime "$PBENCHTIME" \
			-test.timeout 60m) | tee -a "$OUT/raw.txt" >&2
	done
fi
if [ "$TBENCH" != none ]; then
	echo "== running internal/translate benchmarks (count=$COUNT, benchtime=$TBENCHTIME, bench=$TBENCH)" >&2
	(cd internal/translate && "$tmp/translate.test" -test.run '^$' -test.bench "$TBENCH" \
		-test.count "$COUNT" -test.benchtime "$TBENCHTIME" \
		-test.timeout 30m) | tee -a "$OUT/raw.txt" >&2
fi
: >"$OUT/memory.txt"
if [ "$STREAMS" != 0 ]; then
	echo "== memory per open stream ($STREAMS streams held)" >&2
	(cd bench && AIGW_BENCH_STREAMS="$STREAMS" "$tmp/bench.test" -test.run '^TestStreamMemory$' -test.v \
		-test.timeout 30m) | tee "$tmp/memory.out" >&2
	grep -o 'STREAM_MEMORY.*' "$tmp/memory.out" >"$OUT/memory.txt"
fi
echo "load at end:   $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

"$BENCHSTAT" "$OUT/raw.txt" >"$OUT/benchstat.txt"
$GO run ./bench/cmd/benchtable "$OUT/raw.txt" >"$OUT/table.md"

echo
cat "$OUT/machine.txt"
echo
cat "$OUT/benchstat.txt"
echo
cat "$OUT/table.md"
echo
cat "$OUT/memory.txt"
if [ -n "${BASE:-}" ]; then
	echo
	echo "== benchstat $BASE (old) vs this run (new)"
	"$BENCHSTAT" old="$BASE" new="$OUT/raw.txt"
fi
