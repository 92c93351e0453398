package bench

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/aigw/aigw/bench/extproc"
	"github.com/aigw/aigw/test/host"
)

// The in-process router phase alone, like for like with the ext_proc
// exchange: the C test host in its router-phase bench mode (test/host,
// csrc/bench.c) drives build/libaigw.so through the golang filter ABI exactly
// as Envoy does per request (decode headers -> StopAndBuffer, the whole body
// -> Continue with the routing header set, the backend member removed and the
// route cache cleared; encode headers and body; stream complete, log,
// destroy; memory released when Go calls Finalize), with no sockets and no HTTP
// parsing. Every request is checked in the host (routing header, absent model
// header, new content-length, the exact expected body, dynamic metadata); a
// single failed check fails the benchmark.
//
// One op is one request. ns/op is the host process's CPU time per request
// (every thread: the worker threads plus Go's GC and background work), the
// figure compared with the ext_proc client+server CPU per request;
// wall-ns/op is elapsed time per request (with 2 workers, the inverse of
// throughput).

// BenchmarkInProcessABI: one worker thread.
func BenchmarkInProcessABI(b *testing.B) { benchABI(b, 1) }

// BenchmarkInProcessABIParallel: two worker threads (worker_id 0 and 1,
// concurrency 2), each driving its share of the requests.
func BenchmarkInProcessABIParallel(b *testing.B) { benchABI(b, 2) }

// abiSpec is the bench-mode host for one body: the same body, request headers
// and aigw config as the ext_proc side.
func abiSpec(workers int, body []byte) (host.RouterBenchConfig, error) {
	plugin, err := host.StringValueAny([]byte(ConfigJSON))
	if err != nil {
		return host.RouterBenchConfig{}, err
	}
	var hs [][2]string
	for _, h := range extproc.RequestHeaders(len(body)) {
		hs = append(hs, [2]string{h.Key, h.Value})
	}
	expect, err := expectedBody(body)
	if err != nil {
		return host.RouterBenchConfig{}, err
	}
	cfg := Config()
	return host.RouterBenchConfig{
		Workers:      workers,
		PluginConfig: plugin,
		// As for the HTTP-level in-process side: room for the 1 MiB body.
		BufferLimit:    4 << 20,
		RequestHeaders: hs,
		Body:           body,
		ExpectBody:     expect,
		ExpectHeader:   [2]string{cfg.BackendHeader, DefaultBackend},
		AbsentHeader:   cfg.ModelHeader,
	}, nil
}

// expectedBody is the body the router must receive: the input with the
// backend member removed (what the ext_proc server's body mutation carries).
// It is derived from how bodies.go writes the member (`"backend":"<name>",`
// in the tail, the only unescaped occurrence), not with the filter's own
// bodyscan code, so the check is independent of the code under test.
func expectedBody(body []byte) ([]byte, error) {
	member := []byte(strconv.Quote("backend") + ":" + strconv.Quote(DefaultBackend) + ",")
	i := bytes.LastIndex(body, member)
	if i < 0 {
		return nil, fmt.Errorf("body has no %s member", member)
	}
	return slices.Concat(body[:i], body[i+len(member):]), nil
}

func benchABI(b *testing.B, workers int) {
	for _, size := range Sizes {
		body := ChatBody(size.Bytes)
		// One host per size, so its peak RSS belongs to this size.
		var rb *host.RouterBench
		b.Run(size.Name, func(b *testing.B) {
			if rb == nil {
				spec, err := abiSpec(workers, body)
				if err != nil {
					b.Fatal(err)
				}
				if rb, err = host.StartRouterBench(context.Background(), spec); err != nil {
					b.Fatal(err)
				}
				// Warm up: every worker's Go M, the filter's pools, the heap.
				if _, err := rb.Run(200 * workers); err != nil {
					b.Fatal(err)
				}
				// The host's start and warm-up must not count in the
				// framework's estimate of how many requests fit b.N.
				b.ResetTimer()
			}
			res, err := rb.Run(b.N)
			if err != nil {
				b.Fatal(err)
			}
			if res.Failures > 0 {
				b.Fatalf("%d of %d requests failed the router check: %s", res.Failures, res.Requests, res.FirstFailure)
			}
			reportABI(b, res)
		})
		if rb != nil {
			if p := rb.Problems(); len(p) > 0 {
				b.Errorf("host problems: %v", p)
			}
			if err := rb.Close(); err != nil {
				b.Errorf("host: %v", err)
			}
		}
	}
}

// reportABI reports the shared metrics (see reportCommon) from the host's
// own measurement; ns/op is overridden with CPU per request.
func reportABI(b *testing.B, r host.RouterBenchResult) {
	n := float64(r.Requests)
	cpu := float64(r.CPU.Nanoseconds()) / n
	b.ReportMetric(cpu, "ns/op")
	b.ReportMetric(cpu, "cpu-ns/op")
	b.ReportMetric(cpu, "client-cpu-ns/op") // all of it is the Envoy side: there is no server
	b.ReportMetric(float64(r.WorkerCPU.Nanoseconds())/n, "worker-cpu-ns/op")
	b.ReportMetric(float64(r.Wall.Nanoseconds())/n, "wall-ns/op")
	b.ReportMetric(float64(r.DecodeP50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(r.DecodeP99.Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(r.SeqP50.Nanoseconds()), "seq-p50-ns")
	b.ReportMetric(float64(r.SeqP99.Nanoseconds()), "seq-p99-ns")
	b.ReportMetric(float64(r.PeakRSS), "client-peak-B")
}
