package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RouterBenchConfig describes a host started in router-phase benchmark mode (csrc/bench.c):
// no listener and no upstream; each request is the golang filter's per-request sequence
// driven in memory through the ABI of the .so (decode headers, the whole body, encode
// headers and body, stream complete, log, destroy; memory released when Go calls Finalize).
type RouterBenchConfig struct {
	// SO is the shared object; default BuildSO().
	SO string
	// Workers is the number of worker threads, also the golang filter's concurrency.
	Workers int
	// PluginConfig is the golang filter's plugin_config (see StringValueAny).
	PluginConfig []byte
	// BufferLimit is the per-request buffer limit (default Envoy's 1 MiB).
	BufferLimit int
	// RequestHeaders is the request header map the codec hands the filter, in order.
	RequestHeaders [][2]string
	// Body is the request body, delivered at once with end_stream.
	Body []byte
	// ExpectBody is the body the router must receive; ExpectHeader the routing header
	// (name, value) it must see, AbsentHeader a header it must not see. Every request is
	// checked; a request that fails is counted in RouterBenchResult.Failures.
	ExpectBody   []byte
	ExpectHeader [2]string
	AbsentHeader string
	// ResponseHeaders and ResponseBody are the upstream's answer (default a 200 with a small
	// JSON body).
	ResponseHeaders [][2]string
	ResponseBody    []byte
	// LogLevel of the host and Go (default error: the hot path must not log).
	LogLevel string

	// Whole-path mode (--bench-path, set by WholePath): the router phase, then the router and
	// per attempt the dynamic module's upstream phase (UpstreamConfig, Clusters, Routes as in
	// Config) with an in-memory upstream that answers ResponseHeaders and ResponseBody, the
	// body handed on one read per 16 KiB or, with SSE, one read per event. ExpectBody and
	// AbsentHeader are not used: the routing header is checked at the router, every upstream
	// request against UpstreamExpect and against the first one byte for byte (the first is in
	// UpstreamCapture for the caller to check), every client response against ResponseExpect
	// and ExpectEvents (the first is in ResponseCapture).
	WholePath      bool
	UpstreamConfig []byte
	Clusters       []Cluster
	Routes         []Route
	Env            []string // added to the host's environment (keys, GODEBUG)
	SSE            bool
	// UpstreamExpect: (name, value) the upstream request must carry; an empty value: the
	// header must be absent.
	UpstreamExpect [][2]string
	ResponseExpect []string // substrings of every client response body
	ExpectEvents   int      // "data: " lines in every client response body (0: unchecked)

	// EnvoyAlone (with WholePath: --bench-bare) runs the whole path's per-request sequence
	// through the same host code for an Envoy with the same Routes and Clusters but without
	// aigw: no golang filter before the router, no dynamic module in the upstream filter
	// chain, the .so not loaded (PluginConfig and UpstreamConfig unused). No filter sets the
	// routing header, so RequestHeaders carry the one the route matches (ExpectHeader is
	// checked at the router as in WholePath). Every request is checked: the route's cluster
	// is ExpectCluster, the upstream request's body is ExpectBody byte for byte (and the
	// whole request equals the first one, in UpstreamCapture; UpstreamExpect as in
	// WholePath), the client response is ResponseBody byte for byte with ExpectEvents
	// "data: " lines (0: unchecked), or ExpectResponse when set. ResponseExpect is not used.
	EnvoyAlone     bool
	ExpectCluster  string
	ExpectResponse []byte
}

// RouterBenchResult is one run's BENCH_RESULT line.
type RouterBenchResult struct {
	Requests  uint64
	Workers   int
	Wall      time.Duration // from releasing the workers to the last one finishing
	CPU       time.Duration // CLOCK_PROCESS_CPUTIME_ID: every thread, Go's GC included
	WorkerCPU time.Duration // CLOCK_THREAD_CPUTIME_ID of the worker threads only
	// DecodeP50/P99: from decodeHeaders until the router holds the routed request (the
	// latency the filter adds before routing). SeqP50/P99: the whole per-request sequence.
	DecodeP50, DecodeP99 time.Duration
	SeqP50, SeqP99       time.Duration
	PeakRSS              uint64 // VmHWM of the host process
	Created, Finalized   uint64 // filter objects created / released by Go (Finalize) during the run
	Outstanding          uint64 // created but not yet finalized, since the process started
	Failures             uint64
	FirstFailure         string
	// Chunks and ChunkTime (whole-path mode): response body reads handed to the upstream
	// encoder chain and the worker time spent in those calls (both phases' response work for
	// the chunk, through to the downstream codec).
	Chunks    uint64
	ChunkTime time.Duration
	// SOCalls: calls the worker threads made into the .so's entry points during the run
	// (golang filter hooks, dynamic-module hooks, filter creation and destruction); 0 in
	// EnvoyAlone mode.
	SOCalls uint64
}

// RouterBench is a running host in router-phase benchmark mode.
type RouterBench struct {
	cmd    *exec.Cmd
	dir    string
	stdin  io.WriteCloser
	lines  chan string
	mu     sync.Mutex
	stderr []string
	done   chan struct{}
}

func writeHeaders(path string, hs [][2]string) error {
	var b strings.Builder
	for _, h := range hs {
		if strings.ContainsAny(h[0], " \n") || strings.Contains(h[1], "\n") {
			return fmt.Errorf("host: header %q cannot be written", h[0])
		}
		fmt.Fprintf(&b, "%s %s\n", h[0], h[1])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// BenchWrapEnv, when set, is a command the bench host runs under (split at
// spaces), e.g. "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p":
// instruction counts compare two builds on a machine too busy for timings.
const BenchWrapEnv = "AIGW_BENCH_WRAP"

// StartRouterBench builds what is needed, starts the host in router-phase benchmark mode and
// waits until its workers are ready.
func StartRouterBench(ctx context.Context, c RouterBenchConfig) (*RouterBench, error) {
	var err error
	if c.EnvoyAlone && !c.WholePath {
		return nil, errors.New("host: EnvoyAlone is a variant of WholePath")
	}
	if c.SO == "" {
		if c.SO, err = BuildSO(ctx); err != nil {
			return nil, err
		}
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.LogLevel == "" {
		c.LogLevel = "error"
	}
	if c.ResponseHeaders == nil {
		c.ResponseBody = []byte(`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`)
		c.ResponseHeaders = [][2]string{{":status", "200"}, {"content-type", "application/json"},
			{"content-length", strconv.Itoa(len(c.ResponseBody))}}
	}
	bin, err := BuildHost(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "aigw-bench-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	path := func(n string) string { return filepath.Join(dir, n) }
	cfg := Config{SO: c.SO, Workers: c.Workers, LogLevel: c.LogLevel, BufferLimit: c.BufferLimit,
		PluginConfig: c.PluginConfig, DisableUpstream: !c.WholePath || c.EnvoyAlone, NoAccessLog: true,
		UpstreamConfig: c.UpstreamConfig, Clusters: c.Clusters, Routes: c.Routes,
		DynmodSearchPath: filepath.Dir(c.SO)}
	writes := []func() error{
		func() error { return writeConfig(path("host.conf"), cfg) },
		func() error { return os.WriteFile(path("body"), c.Body, 0o644) },
		func() error { return os.WriteFile(path("expect"), c.ExpectBody, 0o644) },
		func() error { return os.WriteFile(path("resp-body"), c.ResponseBody, 0o644) },
		func() error { return writeHeaders(path("req-headers"), c.RequestHeaders) },
		func() error { return writeHeaders(path("resp-headers"), c.ResponseHeaders) },
	}
	mode := "--bench-router"
	var whole []string
	if c.WholePath {
		mode = "--bench-path"
		var up strings.Builder
		for _, h := range c.UpstreamExpect {
			if strings.ContainsAny(h[0], " \n") || strings.Contains(h[1], "\n") {
				cleanup()
				return nil, fmt.Errorf("host: upstream header %q cannot be written", h[0])
			}
			up.WriteString(strings.TrimSuffix(h[0]+" "+h[1], " ") + "\n")
		}
		for _, r := range c.ResponseExpect {
			if r == "" || strings.Contains(r, "\n") {
				cleanup()
				return nil, fmt.Errorf("host: response substring %q cannot be written", r)
			}
		}
		writes = append(writes,
			func() error { return os.WriteFile(path("upstream-expect"), []byte(up.String()), 0o644) },
			func() error {
				return os.WriteFile(path("resp-expect"), []byte(strings.Join(c.ResponseExpect, "\n")+"\n"), 0o644)
			})
		whole = []string{"--upstream-expect", path("upstream-expect"), "--resp-expect", path("resp-expect"),
			"--expect-events", strconv.Itoa(c.ExpectEvents), "--upstream-capture", path("upstream-capture"),
			"--resp-capture", path("resp-capture")}
		if c.SSE {
			whole = append(whole, "--sse")
		}
		if c.EnvoyAlone {
			mode = "--bench-bare"
			whole = append(whole, "--expect-cluster", c.ExpectCluster)
			if c.ExpectResponse != nil {
				writes = append(writes, func() error { return os.WriteFile(path("expect-resp"), c.ExpectResponse, 0o644) })
				whole = append(whole, "--expect-resp-body", path("expect-resp"))
			}
		}
	}
	for _, w := range writes {
		if err := w(); err != nil {
			cleanup()
			return nil, err
		}
	}
	args := []string{mode, "--body", path("body"), "--expect-body", path("expect"),
		"--req-headers", path("req-headers"), "--resp-headers", path("resp-headers"),
		"--resp-body", path("resp-body"), "--expect-header", c.ExpectHeader[0] + "=" + c.ExpectHeader[1]}
	if c.AbsentHeader != "" {
		args = append(args, "--absent-header", c.AbsentHeader)
	}
	args = append(args, whole...)
	argv := append([]string{bin}, append(args, path("host.conf"))...)
	if w := strings.Fields(os.Getenv(BenchWrapEnv)); len(w) > 0 {
		argv = append(w, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), c.Env...), "LD_BIND_NOW=1",
		// Envoy allocates with tcmalloc (bazel/envoy_internal.bzl:103-111), whose per-CPU
		// caches keep many freed objects of each small size for the next allocation.
		// glibc's per-thread cache keeps 7 per size; a request's header entries and buffer
		// descriptors (dozens of the same size, alive together) overflow it into the
		// fastbins and malloc_consolidate, a cost the bench would count as Envoy's. Set
		// at exec: glibc reads its tunables only at startup (see also malloc_like_envoy
		// in csrc/bench.c).
		"GLIBC_TUNABLES=glibc.malloc.tcache_count=1024")
	if sanitize() {
		// As in Start: the Go runtime handles its own signals, and leak checking would
		// report the Go heap.
		cmd.Env = append(cmd.Env, "ASAN_OPTIONS=detect_leaks=0:handle_segv=0:allow_user_segv_handler=1:abort_on_error=1",
			"UBSAN_OPTIONS=print_stacktrace=1")
	}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cleanup()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cleanup()
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		cleanup()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cleanup()
		return nil, err
	}
	rb := &RouterBench{cmd: cmd, dir: dir, stdin: stdin, lines: make(chan string, 64), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			rb.lines <- sc.Text()
		}
		close(rb.lines)
	}()
	go func() {
		defer close(rb.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			rb.mu.Lock()
			rb.stderr = append(rb.stderr, sc.Text())
			rb.mu.Unlock()
		}
	}()
	if _, err := rb.waitLine("BENCH_READY", 90*time.Second); err != nil {
		rb.Close()
		return nil, err
	}
	return rb, nil
}

// PID of the host process.
func (rb *RouterBench) PID() int { return rb.cmd.Process.Pid }

// Stderr is everything the host logged so far.
func (rb *RouterBench) Stderr() []string {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return append([]string(nil), rb.stderr...)
}

// Problems are the stderr lines that must fail a benchmark: HOST-VIOLATION lines and Go
// panics, as for the normal mode.
func (rb *RouterBench) Problems() []string {
	var p []string
	for _, l := range rb.Stderr() {
		if strings.Contains(l, "HOST-VIOLATION") || strings.HasPrefix(l, "panic:") || strings.Contains(l, "fatal error:") {
			p = append(p, l)
		}
	}
	return p
}

func (rb *RouterBench) waitLine(prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-rb.lines:
			if !ok {
				return "", fmt.Errorf("host: exited before %s; stderr:\n%s", prefix, strings.Join(rb.Stderr(), "\n"))
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
			if strings.HasPrefix(l, "BENCH_ERROR") {
				return "", errors.New("host: " + l)
			}
		case <-t.C:
			return "", fmt.Errorf("host: no %s within %v", prefix, timeout)
		}
	}
}

// Run drives n requests spread over the workers and returns the host's measurement.
func (rb *RouterBench) Run(n int) (RouterBenchResult, error) {
	if n <= 0 {
		return RouterBenchResult{}, errors.New("host: Run needs n > 0")
	}
	if _, err := fmt.Fprintf(rb.stdin, "run %d\n", n); err != nil {
		return RouterBenchResult{}, err
	}
	var failure string
	for {
		// A run of 1 MiB bodies can take minutes under -race or on a loaded machine.
		l, err := rb.waitLine("BENCH_", 10*time.Minute)
		if err != nil {
			return RouterBenchResult{}, err
		}
		if f, ok := strings.CutPrefix(l, "BENCH_FAIL "); ok {
			failure = f
			continue
		}
		if !strings.HasPrefix(l, "BENCH_RESULT ") {
			continue
		}
		r, err := ParseRouterBenchResult(l)
		r.FirstFailure = failure
		return r, err
	}
}

// UpstreamCapture is the first upstream request of the process (HTTP/1.1 as the host's codec
// serialized it), the reference every later request was compared with; ResponseCapture is the
// first client response body. Both exist once a run has finished.
func (rb *RouterBench) UpstreamCapture() ([]byte, error) {
	return os.ReadFile(filepath.Join(rb.dir, "upstream-capture"))
}

// ResponseCapture: see UpstreamCapture.
func (rb *RouterBench) ResponseCapture() ([]byte, error) {
	return os.ReadFile(filepath.Join(rb.dir, "resp-capture"))
}

// MemReport is a BENCH_HELD / BENCH_RELEASED / BENCH_MEM line (whole-path mode's hold runs).
type MemReport struct {
	Streams     uint64
	RSS         uint64 // VmRSS of the host process
	Malloc      uint64 // bytes in use from the C allocator (mallinfo2: the host's side, not Go's heap)
	Outstanding uint64 // golang filter objects not yet finalized
	Failures    uint64 // held streams whose checks failed so far
}

func (rb *RouterBench) memCommand(cmd, prefix string) (MemReport, error) {
	if _, err := fmt.Fprintln(rb.stdin, cmd); err != nil {
		return MemReport{}, err
	}
	l, err := rb.waitLine(prefix, 10*time.Minute)
	if err != nil {
		return MemReport{}, err
	}
	var m MemReport
	for _, f := range strings.Fields(l)[1:] {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return MemReport{}, fmt.Errorf("host: %q: %w", l, err)
		}
		switch k {
		case "streams":
			m.Streams = n
		case "rss_bytes":
			m.RSS = n
		case "malloc_bytes":
			m.Malloc = n
		case "outstanding":
			m.Outstanding = n
		case "failures":
			m.Failures = n
		}
	}
	return m, nil
}

// Hold opens n streamed requests (whole-path mode, SSE) and leaves them open after their
// response headers and first event; Release ends them (the rest of each stream, checks,
// complete, destroy) and reports after Go finalized them. Mem reports without changing state.
func (rb *RouterBench) Hold(n int) (MemReport, error) {
	return rb.memCommand(fmt.Sprintf("hold %d", n), "BENCH_HELD")
}

// Release: see Hold.
func (rb *RouterBench) Release() (MemReport, error) {
	return rb.memCommand("release", "BENCH_RELEASED")
}

// Mem: see Hold.
func (rb *RouterBench) Mem() (MemReport, error) { return rb.memCommand("mem", "BENCH_MEM") }

// ParseRouterBenchResult parses a BENCH_RESULT line (key=value fields, integers).
func ParseRouterBenchResult(line string) (RouterBenchResult, error) {
	rest, ok := strings.CutPrefix(line, "BENCH_RESULT ")
	if !ok {
		return RouterBenchResult{}, fmt.Errorf("host: not a BENCH_RESULT line: %q", line)
	}
	var r RouterBenchResult
	ns := func(v uint64) time.Duration { return time.Duration(v) }
	fields := map[string]func(uint64){
		"requests":       func(v uint64) { r.Requests = v },
		"workers":        func(v uint64) { r.Workers = int(v) },
		"wall_ns":        func(v uint64) { r.Wall = ns(v) },
		"cpu_ns":         func(v uint64) { r.CPU = ns(v) },
		"worker_cpu_ns":  func(v uint64) { r.WorkerCPU = ns(v) },
		"decode_p50_ns":  func(v uint64) { r.DecodeP50 = ns(v) },
		"decode_p99_ns":  func(v uint64) { r.DecodeP99 = ns(v) },
		"seq_p50_ns":     func(v uint64) { r.SeqP50 = ns(v) },
		"seq_p99_ns":     func(v uint64) { r.SeqP99 = ns(v) },
		"peak_rss_bytes": func(v uint64) { r.PeakRSS = v },
		"created":        func(v uint64) { r.Created = v },
		"finalized":      func(v uint64) { r.Finalized = v },
		"outstanding":    func(v uint64) { r.Outstanding = v },
		"failures":       func(v uint64) { r.Failures = v },
		"chunks":         func(v uint64) { r.Chunks = v },
		"chunk_ns":       func(v uint64) { r.ChunkTime = ns(v) },
		"so_calls":       func(v uint64) { r.SOCalls = v },
	}
	seen := map[string]bool{}
	for _, f := range strings.Fields(rest) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return RouterBenchResult{}, fmt.Errorf("host: bad field %q in %q", f, line)
		}
		set, known := fields[k]
		if !known {
			continue // fields added later (maxrss_bytes...) are informative
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return RouterBenchResult{}, fmt.Errorf("host: field %s: %w", k, err)
		}
		set(n)
		seen[k] = true
	}
	for k := range fields {
		if !seen[k] {
			return RouterBenchResult{}, fmt.Errorf("host: BENCH_RESULT without %s: %q", k, line)
		}
	}
	return r, nil
}

// Close stops the host and reports how it ended.
func (rb *RouterBench) Close() error {
	defer os.RemoveAll(rb.dir)
	fmt.Fprintln(rb.stdin, "quit")
	rb.stdin.Close()
	// The host exits after at most ~1 s of waiting for finalizers; a hung host is killed.
	kill := time.AfterFunc(60*time.Second, func() { rb.cmd.Process.Kill() })
	defer kill.Stop()
	var exitLine string
	for l := range rb.lines {
		if strings.HasPrefix(l, "EXIT") {
			exitLine = l
		}
	}
	<-rb.done
	err := rb.cmd.Wait()
	if err != nil {
		return fmt.Errorf("host: %w; stderr:\n%s", err, strings.Join(rb.Stderr(), "\n"))
	}
	if exitLine != "EXIT ok" {
		return fmt.Errorf("host: no clean exit; stderr:\n%s", strings.Join(rb.Stderr(), "\n"))
	}
	return nil
}
