package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aigw/aigw/test/host"
)

// The in-process side: build/libaigw.so loaded by the C test host
// (test/host), which plays Envoy's side of the golang filter ABI with a real
// HTTP/1.1 listener and worker threads. The benchmark process is only the
// HTTP load generator; its CPU is not counted.
//
// A request routes when the filter set x-ai-eg-backend and cleared the route
// cache: the host's only 200 route matches on that header (a direct
// response, so no upstream is involved), anything else gets a 599.
//
// The figures include the host's own HTTP/1.1 handling (parse, direct
// response), which the ext_proc figures do not include for Envoy: the
// in-process side is charged more than its filter costs.

// BenchmarkInProcess: one worker thread in the host, one request at a time.
func BenchmarkInProcess(b *testing.B) { benchHost(b, 1) }

// BenchmarkInProcessParallel: two worker threads, two concurrent connections.
func BenchmarkInProcessParallel(b *testing.B) { benchHost(b, 2) }

const (
	inferencePath   = "/v1/chat/completions"
	routedStatus    = 200
	misroutedStatus = 599
)

func hostConfig(workers int) (host.Config, error) {
	plugin, err := host.StringValueAny([]byte(ConfigJSON))
	if err != nil {
		return host.Config{}, err
	}
	ok := &host.DirectResponse{Status: routedStatus, Body: `{"ok":true}`,
		Headers: []host.HeaderMatch{{Name: "content-type", Value: "application/json"}}}
	return host.Config{
		Workers:  workers,
		LogLevel: "error",
		// Large enough for the 1 MiB body plus headroom; deployments raise
		// Envoy's 1 MiB default for LLM bodies (the ext_proc side would
		// need the same).
		BufferLimit:     4 << 20,
		DisableUpstream: true,
		NoAccessLog:     true,
		PluginConfig:    plugin,
		Routes: []host.Route{
			{Name: "routed", Headers: []host.HeaderMatch{{Name: "x-ai-eg-backend", Value: DefaultBackend}}, Prefix: inferencePath, Direct: ok},
			{Name: "misrouted", Prefix: "/", Direct: &host.DirectResponse{Status: misroutedStatus, Body: "misrouted"}},
		},
	}, nil
}

func benchHost(b *testing.B, workers int) {
	for _, size := range Sizes {
		body := ChatBody(size.Bytes)
		var h *host.Host
		b.Run(size.Name, func(b *testing.B) {
			if h == nil {
				cfg, err := hostConfig(workers)
				if err != nil {
					b.Fatal(err)
				}
				if h, err = host.Start(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
			}
			runHost(b, h, workers, body)
		})
		if h != nil {
			if p := h.Problems(); len(p) > 0 {
				b.Errorf("host problems: %v", p)
			}
			if err := h.Stop(); err != nil {
				b.Errorf("host stop: %v", err)
			}
		}
	}
}

func runHost(b *testing.B, h *host.Host, workers int, body []byte) {
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: workers,
		DisableCompression:  true,
	}}
	defer client.CloseIdleConnections()
	url := h.URL() + inferencePath
	do := func() error {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("content-type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != routedStatus {
			return fmt.Errorf("POST %s: status %d", inferencePath, resp.StatusCode)
		}
		return err
	}
	// Warm up every connection and worker.
	var warm sync.WaitGroup
	warmErr := make(chan error, workers)
	for range workers {
		warm.Add(1)
		go func() {
			defer warm.Done()
			for range 20 {
				if err := do(); err != nil {
					warmErr <- err
					return
				}
			}
		}()
	}
	warm.Wait()
	close(warmErr)
	for err := range warmErr {
		b.Fatal(err)
	}

	lat := make([][]time.Duration, workers)
	for i := range lat {
		lat[i] = make([]time.Duration, 0, b.N/workers+1)
	}
	errs := make(chan error, workers)
	pid := h.PID()
	before, err := processCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
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
			for range n {
				start := time.Now()
				if err := do(); err != nil {
					errs <- err
					return
				}
				lat[w] = append(lat[w], time.Since(start))
			}
		}()
	}
	wg.Wait()

	b.StopTimer()
	after, err := processCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	peak, err := vmHWM(strconv.Itoa(pid))
	if err != nil {
		b.Fatal(err)
	}
	n := float64(b.N)
	// The host is the Envoy side; there is no server process.
	b.ReportMetric(float64(after-before)/n, "cpu-ns/op")
	b.ReportMetric(float64(after-before)/n, "client-cpu-ns/op")
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2]), "p50-ns")
	b.ReportMetric(float64(all[min(len(all)-1, len(all)*99/100)]), "p99-ns")
	b.ReportMetric(float64(peak), "client-peak-B")
}

// processCPU is another process's CPU time (all threads, live and exited)
// from its process CPU-time clock: clock_gettime with
// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) (linux/posix-timers.h), which has
// nanosecond resolution where /proc/<pid>/stat counts 10 ms ticks.
func processCPU(pid int) (time.Duration, error) {
	clock := (^int64(pid))<<3 | 2
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, fmt.Errorf("clock_gettime(process %d): %w", pid, errno)
	}
	return time.Duration(ts.Nano()), nil
}
