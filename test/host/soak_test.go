package host_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// soakRequests is the number of requests of TestSoakRSS (100k, a few minutes at most on two
// cores under -race; the throughput is logged).
const soakRequests = 100_000

// 100k chat completions through both ABIs with 4 workers: every one succeeds, the RSS of the
// host is sampled every 10k requests and its growth after warm-up is logged and bounded, and
// Go's finalizers release the requests (envoyGoFilterHttpFinalize) so none leak.
func TestSoakRSS(t *testing.T) {
	const workers, concurrency, sample = 4, 8, 10_000
	e := newEnv(t, envOptions{workers: workers, noAccessLog: true})
	tr := &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"soak test message with a few words"}]}`)
	url := e.h.URL() + "/v1/chat/completions"

	var next, failures atomic.Int64
	var firstErr atomic.Value
	rss := map[int64]int64{}
	var rssMu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > soakRequests || failures.Load() > 0 {
					return // a broken .so fails once, not 100k times
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("content-type", "application/json")
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("request %d: %v", n, err))
				}
				if n%sample == 0 {
					kb, err := e.h.RSS()
					if err == nil {
						rssMu.Lock()
						rss[n] = kb
						rssMu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failures.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", f, soakRequests, firstErr.Load())
	}
	var line bytes.Buffer
	for n := int64(sample); n <= soakRequests; n += sample {
		fmt.Fprintf(&line, " %dk=%dMiB", n/1000, rss[n]/1024)
	}
	t.Logf("%d requests in %v (%.0f req/s, %d workers, %d client connections); host RSS:%s",
		soakRequests, elapsed.Round(time.Millisecond), float64(soakRequests)/elapsed.Seconds(), workers, concurrency, line.String())
	warm, last := rss[2*sample], rss[soakRequests]
	if warm == 0 || last == 0 {
		t.Fatalf("RSS samples missing: %v", rss)
	}
	growth := last - warm
	t.Logf("RSS growth from %dk to %dk requests: %d KiB", 2*sample/1000, soakRequests/1000, growth)
	// A per-request leak of even 1 KiB would add ~80 MiB here; allocator and GC noise stays
	// well under the bound.
	if growth > 48*1024 {
		t.Errorf("host RSS grew by %d KiB after warm-up", growth)
	}
	stats, err := e.h.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: requests=%s golang requests created=%s finalized=%s upstream filters created=%s destroyed=%s",
		stats["host.requests"], stats["host.golang.requests_created"], stats["host.golang.requests_finalized"],
		stats["host.dynmod.filters_created"], stats["host.dynmod.filters_destroyed"])
	if got, _ := strconv.Atoi(stats["host.requests"]); got < soakRequests {
		t.Errorf("host completed %d streams, want %d", got, soakRequests)
	}
	created, _ := strconv.Atoi(stats["host.golang.requests_created"])
	finalized, _ := strconv.Atoi(stats["host.golang.requests_finalized"])
	// Released when each stream is destroyed, not by a GC finalizer: only
	// streams still being torn down may be outstanding.
	if created-finalized > 2*workers {
		t.Errorf("Go finalized %d of %d requests: requests are not released", finalized, created)
	}
	fc, _ := strconv.Atoi(stats["host.dynmod.filters_created"])
	fd, _ := strconv.Atoi(stats["host.dynmod.filters_destroyed"])
	if fc != fd || fc < soakRequests {
		t.Errorf("upstream filters created %d destroyed %d", fc, fd)
	}
}
