#!/usr/bin/env bash
# Where the CPU of one whole-path benchmark goes, by perf sampling: the host (the C stand-in
# for Envoy) built with frame pointers (AIGW_HOST_FRAME_POINTERS=1: build/host/aigw-host-fp),
# the .so built with frame pointers in its C parts too, so that each sample's stack runs from
# the host's C through the .so's Go and back. Prints the bench line, the hottest functions of
# the host process, and each sample attributed to the innermost aigw step on its stack (the
# router phase's body copy-out, validation, body set and handoff hash; the attempt's handoff
# recall, request translation, body to Envoy, response, metrics; Go's cgo entry and GC; the
# host itself) as a share of the host's samples and in µs per request (share × the cpu-ns/op
# measured under perf, which perf inflates by a few per cent).
#
#   bash bench/perf.sh '^BenchmarkWholePathABI$/anthropic/1MiB$'
#
# Needs perf and python3 (not needed by make test). Env: BENCHTIME (default 3s), FREQ (sampling
# rate, default 2000 Hz), OUT (default: a temporary directory, removed; set it to keep
# perf.data and the .so).
set -euo pipefail
bench=$1
root=$(cd "$(dirname "$0")/.." && pwd)
command -v perf >/dev/null || { echo "perf.sh: perf is not installed" >&2; exit 2; }
command -v python3 >/dev/null || { echo "perf.sh: python3 is not installed" >&2; exit 2; }
if [[ -n "${OUT:-}" ]]; then
	out=$OUT
	mkdir -p "$out"
else
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi
(cd "$root" && CGO_ENABLED=1 CGO_CFLAGS="-O2 -g -fno-omit-frame-pointer" \
	go build -buildmode=c-shared -o "$out/libaigw.so" .)
(cd "$root/bench" && go test -c -o "$out/bench.test" .)
AIGW_HOST_FRAME_POINTERS=1 AIGW_SO="$out/libaigw.so" perf record -q -F "${FREQ:-2000}" -g -o "$out/perf.data" \
	"$out/bench.test" -test.run '^$' -test.bench "$bench" -test.benchtime "${BENCHTIME:-3s}" >"$out/bench.log" 2>&1 ||
	{ cat "$out/bench.log" >&2; exit 1; }
grep '^Benchmark' "$out/bench.log"
cpu=$(grep '^Benchmark' "$out/bench.log" | tail -1 | awk '{for (i = 2; i < NF; i++) if ($(i+1) == "cpu-ns/op") print $i}')
# perf 6.1 sometimes reports the .so's frames as [unknown] although its symbol table is
# whole (perf probe --funcs lists it): those frames are named here from nm's table.
nm --defined-only -n "$out/libaigw.so" >"$out/syms.txt"
perf script -i "$out/perf.data" -F comm,ip,sym,dso 2>/dev/null | python3 -c '
import bisect, collections, sys

cpu_ns = float(sys.argv[1] or 0)
addrs, names = [], []
for line in open(sys.argv[2]):
    f = line.split(None, 2)
    if len(f) == 3 and f[1] in "tTwW":
        addrs.append(int(f[0], 16)); names.append(f[2].strip())
def name(frame):
    ip, _, rest = frame.strip().partition(" ")
    if rest.startswith("[unknown]") and "libaigw.so" in rest and addrs:
        i = bisect.bisect_right(addrs, int(ip, 16)) - 1
        if i >= 0:
            return names[i]
    return rest.rsplit(" (", 1)[0] if rest else "?"

# Scanning a stack from its leaf, the first frame that matches a marker names the step. The
# host runs the rest of the filter chain inside a call the router phase makes (fm_continue
# under aigw_ops, as Envoy continues a chain), so fm_continue marks the host own work.
steps = [
    ("host (Envoy stand-in) and the rest", "fm_continue"),
    ("router: body copy-out (golang ABI GetBuffer)", "envoyGoFilterHttpGetBuffer"),
    ("router: body set (golang ABI SetBuffer)", "envoyGoFilterHttpSetBufferHelper"),
    ("router: validation (bodyscan.Scan)", "bodyscan.Scan"),
    ("router: handoff hash (bodyscan.Remember)", "bodyscan.Remember"),
    ("attempt: handoff recall (bodyscan.RecallSlices)", "bodyscan.RecallSlices"),
    ("attempt: body to Envoy (aigw_body_replace)", "aigw_body_replace"),
    ("attempt: request translation (upstream.requestBody)", "upstream.requestBody"),
    ("attempt: metrics (metrics.(*Recorder).Record)", "metrics.(*Recorder).Record"),
    ("attempt: response (upstream.(*Filter).responseBody)", "upstream.(*Filter).responseBody"),
    ("attempt: calls into Envoy (dynmod ABI)", "dynmod._Cfunc_"),
    ("attempt: other", "dynmod.(*streamHook).run"),
    ("router: calls into Envoy (golang ABI)", "golangabi._Cfunc_"),
    ("router: other", "golangabi.envoyGoFilterOn"),
    ("router: other", "golangabi.aigwOnHttp"),  # the request hooks behind entry.c
    ("Go: GC and scheduler", "runtime.gcBgMarkWorker"),
    ("Go: cgo entry (cgocallback, outside the handlers)", "crosscall2"),
]
host = ("wrk:", "aigw-host")
samples, stack, comm = [], [], None
def flush():
    if comm is not None and comm.startswith(host):
        samples.append(stack)
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.strip():
        flush(); stack, comm = [], None
        continue
    if not line.startswith((" ", "\t")):
        flush(); stack, comm = [], line.split()[0]
        continue
    stack.append(name(line))
flush()
n = len(samples)
if n == 0:
    sys.exit("perf.sh: no samples of the host process")
by_step, leaf = collections.Counter(), collections.Counter()
for s in samples:
    leaf[s[0] if s else "?"] += 1
    name = "host (Envoy stand-in) and the rest"
    for f in s:
        hit = next((st for st, m in steps if m in f), None)
        if hit:
            name = hit
            break
    by_step[name] += 1
us = lambda k: cpu_ns * k / n / 1000
print(f"\n{n} samples of the host process; cpu-ns/op under perf: {cpu_ns:.0f}\n")
print("hottest functions (self):")
for f, k in leaf.most_common(15):
    print(f"  {100*k/n:5.1f}%  {us(k):8.1f} µs  {f[:110]}")
print("\nby step (each sample to the innermost step on its stack):")
for st, k in sorted(by_step.items(), key=lambda x: -x[1]):
    print(f"  {100*k/n:5.1f}%  {us(k):8.1f} µs  {st}")
' "${cpu:-0}" "$out/syms.txt"
