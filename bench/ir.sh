#!/usr/bin/env bash
# Instructions per request of the bench host (C stand-in for Envoy plus libaigw.so) for one or
# more builds of the .so, counted by valgrind's callgrind: a comparison that holds on a machine
# too busy for timings (valgrind lacks AVX-512, so the AVX2 paths run; read the result as a
# relative one). Each build runs N1 and N2 requests after the bench's warm-up; the difference
# divided by N2-N1 is the per-request count.
#
#   bash bench/ir.sh '^BenchmarkWholePathABI$/stream/1KiB$' build /path/to/other/build
#
# Needs valgrind (not needed by make test). Env: N1 (default 100), N2 (default 600).
set -euo pipefail
bench=$1
shift
dirs=()
for d in "$@"; do dirs+=("$(realpath "$d")"); done
cd "$(dirname "$0")"
n1=${N1:-100}
n2=${N2:-600}
command -v valgrind >/dev/null || { echo "ir.sh: valgrind is not installed" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go test -c -o "$out/bench.test" .
count() { # so-dir n
	rm -f "$out"/cg.*
	GODEBUG=asyncpreemptoff=1 AIGW_BENCH_WRAP="valgrind --tool=callgrind --callgrind-out-file=$out/cg.%p" \
		AIGW_SO="$1/libaigw.so" "$out/bench.test" -test.run '^$' -test.bench "$bench" -test.benchtime "${2}x" >"$out/log" 2>&1 ||
		{ cat "$out/log" >&2; exit 1; }
	# The host is the one process with a count (the bench binary itself is not wrapped).
	cat "$out"/cg.* | awk '/^(totals|summary):/ {print $2}' | sort -n | tail -1
}
for dir in "${dirs[@]}"; do
	a=$(count "$dir" "$n1")
	b=$(count "$dir" "$n2")
	echo "$dir $bench $(((b - a) / (n2 - n1))) instructions/request"
done
