package host

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Endpoint is one LbEndpoint of a cluster: a loopback address in a priority, with
// filter_metadata (namespace -> key -> string value).
type Endpoint struct {
	Priority int
	Addr     string // host:port, loopback only
	Metadata map[string]map[string]string
}

// Cluster is a static cluster with the aigw upstream filter in its http_filters.
type Cluster struct {
	Name      string
	Endpoints []Endpoint
}

// HeaderMatch is an exact header match of a route.
type HeaderMatch struct{ Name, Value string }

// DirectResponse is a route's direct_response.
type DirectResponse struct {
	Status  int
	Body    string
	Headers []HeaderMatch // response_headers_to_add
}

// Route is one entry of the ordered route table; the first match wins.
type Route struct {
	Name    string
	Headers []HeaderMatch
	Prefix  string
	Cluster string
	Direct  *DirectResponse
	Retries int
	RetryOn []string // 5xx, reset, connect-failure, retriable-status-codes
	// RetriableStatusCodes for retriable-status-codes.
	RetriableStatusCodes []int
	// PreviousPriorities is retry_priority envoy.retry_priorities.previous_priorities
	// (update_frequency 1).
	PreviousPriorities bool
	// PreviousHosts is retry_host_predicate previous_hosts with this
	// host_selection_retry_max_attempts (0: predicate off).
	PreviousHosts int
	TimeoutMS     int // 0: Envoy's default 15s
	// PerTryIdleTimeoutMS is retry_policy.per_try_idle_timeout (0: none): an attempt's
	// response silent that long, counted from when its connection is ready and the request
	// complete, is reset and retried per RetryOn (reset, 5xx), else answered 504.
	PerTryIdleTimeoutMS int
}

// Config describes one host process.
type Config struct {
	// SO is the shared object; default BuildSO().
	SO string
	// Workers is the number of worker threads, also the golang filter's concurrency.
	Workers int
	// LogLevel for both ABIs: trace, debug, info, warn, error, critical, off (default info).
	LogLevel string
	// BufferLimit is the per-request buffer limit (default Envoy's 1 MiB).
	BufferLimit int
	// RetryBackoffMS between attempts (default 25, Envoy's base interval).
	RetryBackoffMS int
	// PluginConfig is the golang filter's plugin_config as a serialized google.protobuf.Any
	// (see StringValueAny).
	PluginConfig []byte
	// UpstreamConfig is the dynamic-modules filter_config as Envoy passes it to the module
	// (a StringValue is unwrapped to its bytes: the JSON document).
	UpstreamConfig []byte
	// DisableUpstream runs without the dynamic-modules filter.
	DisableUpstream bool
	// GolangFirst loads the golang filter before the dynamic module (default: the dynamic
	// module first, as Envoy builds clusters before listeners).
	GolangFirst bool
	// DynmodSearchPath is $ENVOY_DYNAMIC_MODULES_SEARCH_PATH (default: the SO's directory,
	// the module name being aigw, so lib<name>.so is the SO itself).
	DynmodSearchPath string
	// NoAccessLog suppresses the per-request ACCESS lines (long runs).
	NoAccessLog bool
	Clusters    []Cluster
	Routes      []Route
	// Env is added to the host's environment (LD_BIND_NOW=1 is always set).
	Env []string
	// ExpectProblems are substrings of stderr lines a test provokes on purpose (through a
	// request header x-aigw-host-fault): Problems leaves those lines out.
	ExpectProblems []string
}

// StringValueAny serializes plugin_config the way Envoy hands it to Go: a google.protobuf.Any
// holding a google.protobuf.StringValue whose value is the JSON document.
func StringValueAny(json []byte) ([]byte, error) {
	a, err := anypb.New(wrapperspb.String(string(json)))
	if err != nil {
		return nil, err
	}
	return proto.Marshal(a)
}

// AccessLog is one ACCESS line: what the host's access logger saw at the end of a stream
// (after the golang filter's OnStreamComplete and OnLog).
type AccessLog struct {
	ID               uint64   `json:"id"`
	Worker           int      `json:"worker"`
	Status           int      `json:"status"`
	Attempts         int      `json:"attempts"`
	Method           string   `json:"method"`
	Path             string   `json:"path"`
	RequestID        string   `json:"request_id"`
	Route            string   `json:"route"`
	Cluster          string   `json:"cluster"`
	UpstreamHosts    []string `json:"upstream_hosts"`
	Details          string   `json:"details"`
	RouteCacheClears int      `json:"route_cache_clears"`
	UpstreamFrames   int      `json:"upstream_frames"`
	BytesReceived    uint64   `json:"bytes_received"`
	BytesSent        uint64   `json:"bytes_sent"`
	Reset            bool     `json:"reset"`
	DurationMS       uint64   `json:"duration_ms"`
	// BackendHeader and ModelHeader are the routing headers when the router matched the
	// route (nil: absent), i.e. what the router phase decided.
	BackendHeader   *string                   `json:"x-ai-eg-backend"`
	ModelHeader     *string                   `json:"x-ai-eg-model"`
	DynamicMetadata map[string]map[string]any `json:"dynamic_metadata"`

	// InitialRoute is the route matched when the request headers arrived, before any
	// filter ran (HCM refreshCachedRoute); Route differs only after a route-cache clear.
	InitialRoute string `json:"initial_route"`
}

// Host is a running host process.
type Host struct {
	cmd     *exec.Cmd
	dir     string
	addr    string
	admin   string
	mu      sync.Mutex
	stdout  []string
	stderr  []string
	access  []AccessLog
	changed chan struct{}
	exited  chan struct{}
	waitErr error
	stopped bool
	expect  []string
}

func q(s string) string { return url.PathEscape(s) }

func writeConfig(path string, c Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "workers %d\n", c.Workers)
	fmt.Fprintf(&b, "log_level %s\n", q(c.LogLevel))
	if c.BufferLimit > 0 {
		fmt.Fprintf(&b, "buffer_limit %d\n", c.BufferLimit)
	}
	if c.RetryBackoffMS > 0 {
		fmt.Fprintf(&b, "retry_backoff_ms %d\n", c.RetryBackoffMS)
	}
	if c.NoAccessLog {
		b.WriteString("access_log off\n")
	}
	fmt.Fprintf(&b, "golang_lib %s\n", q(c.SO))
	fmt.Fprintf(&b, "golang_plugin aigw\n")
	fmt.Fprintf(&b, "golang_config_hex %s\n", hex.EncodeToString(c.PluginConfig))
	if c.DisableUpstream {
		b.WriteString("dynmod_disabled\n")
	} else {
		fmt.Fprintf(&b, "dynmod_search_path %s\n", q(c.DynmodSearchPath))
		fmt.Fprintf(&b, "dynmod_name aigw\n")
		fmt.Fprintf(&b, "dynmod_filter_name aigw-upstream\n")
		fmt.Fprintf(&b, "dynmod_config_hex %s\n", hex.EncodeToString(c.UpstreamConfig))
	}
	if c.GolangFirst {
		b.WriteString("load_order golang_first\n")
	} else {
		b.WriteString("load_order dynmod_first\n")
	}
	for _, cl := range c.Clusters {
		fmt.Fprintf(&b, "cluster %s\n", q(cl.Name))
		for _, e := range cl.Endpoints {
			if !strings.HasPrefix(e.Addr, "127.") {
				return fmt.Errorf("host: endpoint %s is not a loopback address", e.Addr)
			}
			fmt.Fprintf(&b, "endpoint %s %d %s", q(cl.Name), e.Priority, q(e.Addr))
			nss := make([]string, 0, len(e.Metadata))
			for ns := range e.Metadata {
				nss = append(nss, ns)
			}
			sort.Strings(nss)
			for _, ns := range nss {
				keys := make([]string, 0, len(e.Metadata[ns]))
				for k := range e.Metadata[ns] {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(&b, " meta %s %s %s", q(ns), q(k), q(e.Metadata[ns][k]))
				}
			}
			b.WriteString("\n")
		}
	}
	for _, r := range c.Routes {
		fmt.Fprintf(&b, "route %s", q(r.Name))
		for _, h := range r.Headers {
			fmt.Fprintf(&b, " header %s %s", q(h.Name), q(h.Value))
		}
		if r.Prefix != "" {
			fmt.Fprintf(&b, " prefix %s", q(r.Prefix))
		}
		switch {
		case r.Direct != nil:
			fmt.Fprintf(&b, " direct %d %s", r.Direct.Status, hex.EncodeToString([]byte(r.Direct.Body)))
			for _, h := range r.Direct.Headers {
				fmt.Fprintf(&b, " resp_header %s %s", q(h.Name), q(h.Value))
			}
		case r.Cluster != "":
			fmt.Fprintf(&b, " cluster %s", q(r.Cluster))
		default:
			return fmt.Errorf("host: route %s has neither a cluster nor a direct response", r.Name)
		}
		if r.Retries > 0 {
			fmt.Fprintf(&b, " retries %d", r.Retries)
		}
		if len(r.RetryOn) > 0 {
			fmt.Fprintf(&b, " retry_on %s", q(strings.Join(r.RetryOn, ",")))
		}
		if len(r.RetriableStatusCodes) > 0 {
			codes := make([]string, len(r.RetriableStatusCodes))
			for i, c := range r.RetriableStatusCodes {
				codes[i] = strconv.Itoa(c)
			}
			fmt.Fprintf(&b, " retriable_status_codes %s", strings.Join(codes, ","))
		}
		if r.PreviousPriorities {
			b.WriteString(" previous_priorities")
		}
		if r.PreviousHosts > 0 {
			fmt.Fprintf(&b, " previous_hosts %d", r.PreviousHosts)
		}
		if r.TimeoutMS > 0 {
			fmt.Fprintf(&b, " timeout_ms %d", r.TimeoutMS)
		}
		if r.PerTryIdleTimeoutMS > 0 {
			fmt.Fprintf(&b, " per_try_idle_timeout_ms %d", r.PerTryIdleTimeoutMS)
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// Start builds what is needed (the .so and the C host), writes the configuration, starts the
// host with LD_BIND_NOW=1 and waits until it listens.
func Start(ctx context.Context, c Config) (*Host, error) {
	var err error
	if c.SO == "" {
		if c.SO, err = BuildSO(ctx); err != nil {
			return nil, err
		}
	}
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	// AIGW_HOST_LOG_LEVEL overrides the level of every host (debugging a failing test).
	if l := os.Getenv("AIGW_HOST_LOG_LEVEL"); l != "" {
		c.LogLevel = l
	}
	if c.DynmodSearchPath == "" {
		c.DynmodSearchPath = filepath.Dir(c.SO)
	}
	bin, err := BuildHost(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "aigw-host-")
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "host.conf")
	if err := writeConfig(cfgPath, c); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, cfgPath)
	cmd.Env = append(append(os.Environ(), "LD_BIND_NOW=1"), c.Env...)
	if sanitize() {
		// The Go runtime handles its own signals; leak checking would report the Go heap.
		cmd.Env = append(cmd.Env, "ASAN_OPTIONS=detect_leaks=0:handle_segv=0:allow_user_segv_handler=1:abort_on_error=1",
			"UBSAN_OPTIONS=print_stacktrace=1")
	}
	cmd.Dir = dir
	// A killed test binary must not leave a host behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	h := &Host{cmd: cmd, dir: dir, changed: make(chan struct{}, 1), exited: make(chan struct{}), expect: c.ExpectProblems}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go h.read(stdout, true, &readers)
	go h.read(stderr, false, &readers)
	go func() {
		readers.Wait()
		err := cmd.Wait()
		h.mu.Lock()
		h.waitErr = err
		h.mu.Unlock()
		close(h.exited)
	}()
	deadline := time.NewTimer(90 * time.Second)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		addr := h.addr
		h.mu.Unlock()
		if addr != "" {
			return h, nil
		}
		select {
		case <-h.changed:
		case <-h.exited:
			return nil, fmt.Errorf("host: exited before listening (%v)\nstdout:\n%s\nstderr:\n%s", h.waitErr,
				strings.Join(h.Stdout(), "\n"), strings.Join(h.Stderr(), "\n"))
		case <-deadline.C:
			h.kill()
			return nil, fmt.Errorf("host: not listening after 90s\nstderr:\n%s", strings.Join(h.Stderr(), "\n"))
		case <-ctx.Done():
			h.kill()
			return nil, ctx.Err()
		}
	}
}

func (h *Host) read(r io.Reader, isStdout bool, wg *sync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		h.mu.Lock()
		if isStdout {
			switch {
			case strings.HasPrefix(line, "ACCESS "):
				var a AccessLog
				if err := json.Unmarshal([]byte(line[len("ACCESS "):]), &a); err == nil {
					h.access = append(h.access, a)
				} else {
					h.stdout = append(h.stdout, "UNPARSABLE "+line)
				}
			case strings.HasPrefix(line, "LISTEN "):
				h.addr = strings.TrimPrefix(line, "LISTEN ")
				h.stdout = append(h.stdout, line)
			case strings.HasPrefix(line, "ADMIN "):
				h.admin = strings.TrimPrefix(line, "ADMIN ")
				h.stdout = append(h.stdout, line)
			default:
				h.stdout = append(h.stdout, line)
			}
		} else {
			h.stderr = append(h.stderr, line)
		}
		h.mu.Unlock()
		select {
		case h.changed <- struct{}{}:
		default:
		}
	}
}

// URL is the listener's base URL (http://127.0.0.1:port).
func (h *Host) URL() string { return "http://" + h.addr }

// Addr is the listener's host:port.
func (h *Host) Addr() string { return h.addr }

// PID of the host process.
func (h *Host) PID() int { return h.cmd.Process.Pid }

// Stdout returns the stdout lines seen so far, ACCESS lines excepted.
func (h *Host) Stdout() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.stdout...)
}

// Stderr returns the stderr lines (logs of the host, of Go via envoyGoFilterLog and of the
// module via envoy_dynamic_module_callback_log).
func (h *Host) Stderr() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.stderr...)
}

// StdoutValue returns the rest of the first stdout line starting with prefix.
func (h *Host) StdoutValue(prefix string) (string, bool) {
	for _, l := range h.Stdout() {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimPrefix(l, prefix), true
		}
	}
	return "", false
}

// AccessLogs returns every ACCESS line so far.
func (h *Host) AccessLogs() []AccessLog {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]AccessLog(nil), h.access...)
}

// WaitAccess waits for the access log of the request with this x-request-id. The log is
// written when the stream completes, which may be just after the client got its response.
func (h *Host) WaitAccess(requestID string, timeout time.Duration) (AccessLog, error) {
	deadline := time.Now().Add(timeout)
	for {
		for _, a := range h.AccessLogs() {
			if a.RequestID == requestID {
				return a, nil
			}
		}
		if time.Now().After(deadline) {
			return AccessLog{}, fmt.Errorf("host: no access log for request %s", requestID)
		}
		select {
		case <-h.exited:
			return AccessLog{}, fmt.Errorf("host: exited without an access log for %s", requestID)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// WaitStderr waits for a stderr line containing s.
func (h *Host) WaitStderr(s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, l := range h.Stderr() {
			if strings.Contains(l, s) {
				return true
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// Problems returns the lines that show the .so misbehaving through an ABI or crashing:
// HOST-VIOLATION lines, Go panics and fatal errors, and recovered filter panics.
func (h *Host) Problems() []string {
	var out []string
	for _, l := range h.Stderr() {
		if strings.HasPrefix(l, "HOST-VIOLATION") || strings.HasPrefix(l, "panic:") ||
			strings.HasPrefix(l, "fatal error:") || strings.Contains(l, "filter paniced") ||
			strings.HasPrefix(l, "SIGSEGV") || strings.Contains(l, "[go][critical]") ||
			strings.Contains(l, "ERROR: AddressSanitizer") || strings.Contains(l, "runtime error:") {
			if !h.expected(l) {
				out = append(out, l)
			}
		}
	}
	return out
}

func (h *Host) expected(line string) bool {
	for _, e := range h.expect {
		if strings.Contains(line, e) {
			return true
		}
	}
	return false
}

// RSS is the host's resident set size in KiB (VmRSS of /proc/<pid>/status).
func (h *Host) RSS() (int64, error) {
	return RSSOf(h.PID())
}

// RSSOf reads VmRSS (KiB) of a process.
func RSSOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				return strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return 0, errors.New("host: no VmRSS line")
}

// Stats asks the host to print its STATS lines and returns them parsed (name -> value text).
func (h *Host) Stats() (map[string]string, error) {
	before := len(h.Stdout())
	resp, err := http.Get("http://" + h.admin + "/stats")
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		lines := h.Stdout()
		for i := before; i < len(lines); i++ {
			if lines[i] == "STATS_END" {
				return parseStats(lines[before:i]), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil, errors.New("host: stats not printed")
}

func parseStats(lines []string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		if !strings.HasPrefix(l, "STATS ") {
			continue
		}
		f := strings.SplitN(strings.TrimPrefix(l, "STATS "), " ", 2)
		if len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}

func (h *Host) kill() {
	h.cmd.Process.Kill()
	<-h.exited
	os.RemoveAll(h.dir)
}

// Stop sends SIGTERM and waits for a clean exit (the host prints EXIT ok after joining its
// workers and destroying both filter configurations).
func (h *Host) Stop() error {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return nil
	}
	h.stopped = true
	h.mu.Unlock()
	defer os.RemoveAll(h.dir)
	select {
	case <-h.exited:
		return fmt.Errorf("host: exited on its own: %v", h.waitErr)
	default:
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(20 * time.Second):
		h.cmd.Process.Kill()
		<-h.exited
		return errors.New("host: did not stop within 20s after SIGTERM")
	}
	if h.waitErr != nil {
		return fmt.Errorf("host: %w", h.waitErr)
	}
	if _, ok := h.StdoutValue("EXIT ok"); !ok {
		return errors.New("host: no EXIT ok line")
	}
	return nil
}

// FinalStats returns the STATS lines printed at exit (after Stop).
func (h *Host) FinalStats() map[string]string { return parseStats(h.Stdout()) }

// Exited reports whether the process is gone.
func (h *Host) Exited() bool {
	select {
	case <-h.exited:
		return true
	default:
		return false
	}
}

// StartT starts a host for a test; at cleanup it stops the host and fails the test on any
// problem line (ABI violation, panic) or unclean exit, logging the host's stderr.
func StartT(t testing.TB, c Config) *Host {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h, err := Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := h.Stop()
		probs := h.Problems()
		if err != nil || len(probs) > 0 || t.Failed() {
			lines := h.Stderr()
			if len(lines) > 200 {
				lines = lines[len(lines)-200:]
			}
			t.Logf("host stderr (last %d lines):\n%s", len(lines), strings.Join(lines, "\n"))
		}
		if err != nil {
			t.Errorf("host stop: %v", err)
		}
		if len(probs) > 0 {
			t.Errorf("host reported %d problem(s):\n%s", len(probs), strings.Join(probs, "\n"))
		}
	})
	return h
}
