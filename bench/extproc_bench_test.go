package bench

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/aigw/aigw/bench/extproc"
)

// BenchmarkExtProc measures the ext_proc baseline with one worker: one
// sequential request at a time, like one Envoy worker thread serving one
// request at a time. One op is one HTTP request's whole ext_proc exchange
// (stream open, headers round trip, body round trip, stream close).
func BenchmarkExtProc(b *testing.B) { benchExtProc(b, 1) }

// BenchmarkExtProcParallel is BenchmarkExtProc with two workers, each with its
// own gRPC connection as each Envoy worker thread has; ns/op is wall time
// divided by requests, so it is the inverse of throughput.
func BenchmarkExtProcParallel(b *testing.B) { benchExtProc(b, 2) }

func benchExtProc(b *testing.B, workers int) {
	for _, tr := range []struct{ name, network string }{{"tcp", "tcp"}, {"uds", "unix"}} {
		b.Run(tr.name, func(b *testing.B) {
			for _, size := range Sizes {
				body := ChatBody(size.Bytes)
				headers := extproc.RequestHeaders(len(body))
				// One fresh server process per size, so its peak RSS
				// belongs to this size.
				var srv *serverProc
				b.Run(size.Name, func(b *testing.B) {
					if srv == nil {
						var err error
						if srv, err = startServerProc(tr.network); err != nil {
							b.Fatal(err)
						}
					}
					runExtProc(b, srv, workers, headers, body)
				})
				if srv != nil {
					if err := srv.stop(); err != nil {
						b.Errorf("server exit: %v", err)
					}
				}
			}
		})
	}
}

// runExtProc is one benchmark run of b.N requests spread over workers.
func runExtProc(b *testing.B, srv *serverProc, workers int, headers []extproc.Header, body []byte) {
	ctx := context.Background()
	runExtProcOps(b, srv, workers, len(body), func(c *extproc.Client) (time.Duration, error) {
		start := time.Now()
		res, err := c.Do(ctx, headers, body)
		return res.Decided.Sub(start), err
	})
}

// runExtProcOps runs b.N ops spread over workers, each worker with its own
// gRPC connection and client (warmed up with 20 ops), and reports the shared
// metrics; op does one request and returns the latency it added.
func runExtProcOps(b *testing.B, srv *serverProc, workers, bodyLen int, op func(*extproc.Client) (time.Duration, error)) {
	clients := make([]*extproc.Client, workers)
	conns := make([]*grpc.ClientConn, workers)
	for i := range clients {
		cc, err := extproc.Dial(srv.target)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = cc
		clients[i] = extproc.NewClient(cc)
		// Warm up: connect, and let both ends size their buffers.
		for range 20 {
			if _, err := op(clients[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	defer func() {
		for _, cc := range conns {
			cc.Close()
		}
	}()

	// Latency samples, preallocated so recording costs no allocation.
	lat := make([][]time.Duration, workers)
	for i := range lat {
		lat[i] = make([]time.Duration, 0, b.N/workers+1)
	}
	errs := make(chan error, workers)
	if err := resetPeakRSS(); err != nil {
		b.Fatal(err)
	}
	srvBefore, err := srv.stats()
	if err != nil {
		b.Fatal(err)
	}
	selfBefore := selfStats()
	b.ReportAllocs()
	b.SetBytes(int64(bodyLen))
	b.ResetTimer()

	var wg sync.WaitGroup
	for w := range workers {
		n := b.N / workers
		if w < b.N%workers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w]
			for range n {
				l, err := op(c)
				if err != nil {
					errs <- err
					return
				}
				lat[w] = append(lat[w], l)
			}
		}()
	}
	wg.Wait()

	b.StopTimer()
	self := selfStats().sub(selfBefore)
	srvAfter, err := srv.stats()
	if err != nil {
		b.Fatal(err)
	}
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	server := srvAfter.sub(srvBefore)
	reportCommon(b, self, server, srvAfter.maxRSSBytes, slices.Concat(lat...))
}

// reportCommon reports the metrics every benchmark in this directory shares,
// so benchstat and run.sh can put both sides in one table:
//
//	cpu-ns/op         CPU time of every process involved, per request
//	client-cpu-ns/op  the benchmark process (the Envoy stand-in), per request
//	server-cpu-ns/op  the ext_proc server process, per request (0 in-process)
//	server-B/op       heap bytes the server allocated per request
//	server-allocs/op  heap objects the server allocated per request
//	p50-ns, p99-ns    latency until the request may continue to the router
//	client-peak-B     peak RSS of the benchmark process during the run
//	server-peak-B     peak RSS of the server process
//
// B/op and allocs/op (from ReportAllocs) are the benchmark process's.
func reportCommon(b *testing.B, self, server procStats, serverPeak uint64, lat []time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(self.cpu+server.cpu)/n, "cpu-ns/op")
	b.ReportMetric(float64(self.cpu)/n, "client-cpu-ns/op")
	b.ReportMetric(float64(server.cpu)/n, "server-cpu-ns/op")
	b.ReportMetric(float64(server.allocBytes)/n, "server-B/op")
	b.ReportMetric(float64(server.allocObjs)/n, "server-allocs/op")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
		b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ns")
	}
	b.ReportMetric(float64(peakRSS()), "client-peak-B")
	b.ReportMetric(float64(serverPeak), "server-peak-B")
}
