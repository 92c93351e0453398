package bench

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigw/aigw/bench/extproc"
	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/upstream"
	"github.com/aigw/aigw/test/host"
)

// The whole path over ext_proc: two hops per request (bench/extproc/path.go),
// the router phase and aigw's own upstream.Filter in the server process, the
// same scenarios, bodies, config and checks as BenchmarkWholePathABI.

// servePathEnv, set with serveEnv, makes the server child serve the whole
// path (newPathServer) instead of the router phase alone.
const servePathEnv = "AIGW_BENCH_EXTPROC_PATH"

func newPathServer() (*extproc.Server, error) {
	cfg, err := config.Parse([]byte(wholePathConfigJSON))
	if err != nil {
		return nil, err
	}
	up, err := upstream.NewConfig(cfg)
	if err != nil {
		return nil, err
	}
	return extproc.NewPathServer(extproc.NewServer(cfg), up), nil
}

// pathServerEnv is the server child's environment for the whole path: the
// mode and the backends' keys, as the in-process host gets them.
func pathServerEnv(spec host.RouterBenchConfig) []string {
	return append([]string{servePathEnv + "=1"}, spec.Env...)
}

// pathRequest is the ext_proc side of a scenario: the same request, endpoint
// and provider response as the in-process spec, the response cut into the
// same reads (one per event, or per 16 KiB).
func pathRequest(sc PathScenario, spec host.RouterBenchConfig) extproc.PathRequest {
	r := extproc.PathRequest{Body: spec.Body, Stream: sc.Stream,
		Endpoint: map[string]map[string]string{"aigw": {"backend": sc.Backend}}}
	for _, h := range spec.RequestHeaders {
		r.Headers = append(r.Headers, extproc.Header{Key: h[0], Value: h[1]})
	}
	for _, h := range spec.ResponseHeaders {
		r.ResponseHeaders = append(r.ResponseHeaders, extproc.Header{Key: h[0], Value: h[1]})
	}
	rest := spec.ResponseBody
	for len(rest) > 0 {
		n := min(len(rest), 16<<10)
		if sc.Stream {
			n = bytes.Index(rest, []byte("\n\n")) + 2
			if n < 2 {
				n = len(rest)
			}
		}
		r.ResponseChunks = append(r.ResponseChunks, rest[:n])
		rest = rest[n:]
	}
	return r
}

// pathChecker checks every ext_proc result as the host checks every
// in-process request: the upstream headers, the upstream request equal to the
// first one, the client response's parts and events.
type pathChecker struct {
	spec  host.RouterBenchConfig
	mu    sync.Mutex
	first []byte
}

func (c *pathChecker) check(res extproc.PathResult) error {
	for _, e := range c.spec.UpstreamExpect {
		v, ok := extproc.GetHeader(res.UpstreamHeaders, e[0])
		if e[1] == "" && ok || e[1] != "" && v != e[1] {
			return fmt.Errorf("upstream header %s: %q", e[0], v)
		}
	}
	if cl, _ := extproc.GetHeader(res.UpstreamHeaders, "content-length"); cl != strconv.Itoa(len(res.UpstreamBody)) {
		return fmt.Errorf("upstream content-length %s for %d bytes", cl, len(res.UpstreamBody))
	}
	c.mu.Lock()
	if c.first == nil {
		c.first = bytes.Clone(res.UpstreamBody)
	}
	first := c.first
	c.mu.Unlock()
	if !bytes.Equal(res.UpstreamBody, first) {
		return fmt.Errorf("upstream body differs from the first request's")
	}
	for _, s := range c.spec.ResponseExpect {
		if !bytes.Contains(res.ClientBody, []byte(s)) {
			return fmt.Errorf("client response lacks %q: %s", s, res.ClientBody)
		}
	}
	if n := c.spec.ExpectEvents; n > 0 && bytes.Count(res.ClientBody, []byte("data: ")) != n {
		return fmt.Errorf("client response has %d events, want %d", bytes.Count(res.ClientBody, []byte("data: ")), n)
	}
	return nil
}

// TestExtProcPath: the two-hop baseline does the upstream phase's work (make
// test): each scenario's result passes the same checks as the in-process
// side, its upstream body is what the in-process upstream got, and a wrong
// key fails the check.
func TestExtProcPath(t *testing.T) {
	for _, sc := range PathScenarios {
		t.Run(sc.Name, func(t *testing.T) {
			body := pathBody(sc, 4<<10)
			spec, err := pathSpec(sc, 1, body)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := startServerProc("unix", pathServerEnv(spec)...)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.stop()
			cc, err := extproc.Dial(srv.target)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			cl := extproc.NewClient(cc)
			chk := &pathChecker{spec: spec}
			var res extproc.PathResult
			for range 3 {
				if res, err = cl.DoPath(t.Context(), pathRequest(sc, spec)); err != nil {
					t.Fatal(err)
				}
				if err := chk.check(res); err != nil {
					t.Fatal(err)
				}
			}
			// The in-process side's upstream request, for the same input.
			spec.SO = soPath(t)
			rb, err := host.StartRouterBench(t.Context(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rb.Run(1); err != nil {
				t.Fatal(err)
			}
			up, err := rb.UpstreamCapture()
			rb.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(up, res.UpstreamBody) {
				t.Errorf("ext_proc upstream body differs from the in-process one")
			}
			bad := &pathChecker{spec: spec}
			bad.spec.UpstreamExpect = slices.Clone(spec.UpstreamExpect)
			for i, e := range bad.spec.UpstreamExpect {
				if e[0] == "authorization" || e[0] == "x-api-key" {
					bad.spec.UpstreamExpect[i][1] = "sk-other"
				}
			}
			if err := bad.check(res); err == nil || !strings.Contains(err.Error(), "upstream header") {
				t.Errorf("a wrong credential passed the check: %v", err)
			}
		})
	}
}

// BenchmarkExtProcPath: the two-hop ext_proc baseline of the whole path, one
// worker, over a Unix socket (TCP loopback measured within noise of it for
// the router phase). One op is one request with both streams.
func BenchmarkExtProcPath(b *testing.B) { benchExtProcPath(b, 1) }

// BenchmarkExtProcPathParallel: two workers, each with its own connection.
func BenchmarkExtProcPathParallel(b *testing.B) { benchExtProcPath(b, 2) }

func benchExtProcPath(b *testing.B, workers int) {
	for _, sc := range PathScenarios {
		b.Run(sc.Name, func(b *testing.B) {
			for _, size := range Sizes {
				body := pathBody(sc, size.Bytes)
				spec, err := pathSpec(sc, workers, body)
				if err != nil {
					b.Fatal(err)
				}
				var srv *serverProc
				b.Run(size.Name, func(b *testing.B) {
					if srv == nil {
						if srv, err = startServerProc("unix", pathServerEnv(spec)...); err != nil {
							b.Fatal(err)
						}
					}
					runExtProcPath(b, srv, workers, pathRequest(sc, spec), &pathChecker{spec: spec})
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

func runExtProcPath(b *testing.B, srv *serverProc, workers int, req extproc.PathRequest, chk *pathChecker) {
	ctx := context.Background()
	var chunkNS atomic.Int64
	runExtProcOps(b, srv, workers, len(req.Body), func(c *extproc.Client) (time.Duration, error) {
		start := time.Now()
		res, err := c.DoPath(ctx, req)
		if err == nil {
			err = chk.check(res)
		}
		chunkNS.Add(res.Chunks.Nanoseconds())
		return res.Forwarded.Sub(start), err
	})
	if req.Stream {
		// Warm-up ops count too: per chunk over every op of this run.
		ops := int64(b.N + 20*workers)
		b.ReportMetric(float64(chunkNS.Load())/float64(ops*int64(len(req.ResponseChunks))), "chunk-ns")
	}
}
