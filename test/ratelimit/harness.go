// Package ratelimit starts the distributed-quota stack on loopback for tests:
// a real redis-server and Envoy's real rate limit service
// (github.com/envoyproxy/ratelimit, installed by test/ratelimit/install.sh),
// with a descriptor config generated from Limits; and Filter, which makes
// exactly the gRPC calls Envoy 1.36's envoy.filters.http.ratelimit makes
// (envoyfilter.go).
package ratelimit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Limit is one descriptor of the service's config: every value of Key is
// its own bucket of Tokens per Unit (second, minute, hour, day).
type Limit struct {
	Key    string
	Tokens uint32
	Unit   string
}

// Config is what Start runs.
type Config struct {
	Domain string
	Limits []Limit
	// Log receives the services' output lines (nil: dropped).
	Log func(string)
}

// Stack is a running redis-server and rate limit service.
type Stack struct {
	// GRPCAddr is the rate limit service's gRPC address (host:port).
	GRPCAddr  string
	RedisAddr string
	procs     []*proc
	dir       string
}

// proc is one process of the stack: its output is read (and its last lines
// kept for an error) and it is waited for by its own goroutine, which
// closes done when it exits.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's, once done is closed

	mu   sync.Mutex
	tail []string // the last tailLines lines of output
}

const tailLines = 20

// errExited: a process of the stack exited before the stack was ready.
var errExited = errors.New("exited before it was ready")

// pkgDir is this package's directory (VERSION and install.sh live there).
func pkgDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// ServiceBinary is where install.sh puts the rate limit service
// (AIGW_RATELIMIT_BIN overrides).
func ServiceBinary() (string, error) {
	if p := os.Getenv("AIGW_RATELIMIT_BIN"); p != "" {
		return p, nil
	}
	v, err := os.ReadFile(filepath.Join(pkgDir(), "VERSION"))
	if err != nil {
		return "", err
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(gopath)), "aigw-tools", "ratelimit@"+strings.TrimSpace(string(v)), "service_cmd"), nil
}

const installHint = "run test/ratelimit/install.sh (.ci/run does)"

// Start runs redis-server and the rate limit service on free loopback
// ports and waits until both answer. A missing binary is an error naming
// the install script. The ports are free when chosen but not held until
// the processes bind them, so another process (under make test, every
// package's tests run at once) may take one first: a process that exits
// before it is ready makes Start try again on new ports, up to three times.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	svc, err := ServiceBinary()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(svc); err != nil {
		return nil, fmt.Errorf("rate limit service not installed at %s: %s", svc, installHint)
	}
	redis, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found: %s", installHint)
	}
	for try := 1; ; try++ {
		s, err := start(ctx, cfg, redis, svc)
		if err == nil || !errors.Is(err, errExited) || try == 3 {
			return s, err
		}
	}
}

func start(ctx context.Context, cfg Config, redis, svc string) (*Stack, error) {
	dir, err := os.MkdirTemp("", "aigw-ratelimit-")
	if err != nil {
		return nil, err
	}
	s := &Stack{dir: dir}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	s.RedisAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	s.GRPCAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])

	rp, err := s.spawn(cfg.Log, "redis", exec.Command(redis, "--bind", "127.0.0.1", "--port", fmt.Sprint(ports[0]),
		"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes"))
	if err != nil {
		return nil, err
	}
	if err := waitRedis(ctx, rp, s.RedisAddr); err != nil {
		return nil, err
	}

	confDir := filepath.Join(dir, "runtime", "ratelimit", "config")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(confDir, "aigw.yaml"), []byte(DescriptorConfig(cfg.Domain, cfg.Limits)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(svc)
	cmd.Env = append(os.Environ(),
		"HOST=127.0.0.1", fmt.Sprintf("PORT=%d", ports[2]),
		"GRPC_HOST=127.0.0.1", fmt.Sprintf("GRPC_PORT=%d", ports[1]),
		"DEBUG_HOST=127.0.0.1", fmt.Sprintf("DEBUG_PORT=%d", ports[3]),
		"USE_STATSD=false", "LOG_LEVEL=warn", "BACKEND_TYPE=redis",
		"REDIS_SOCKET_TYPE=tcp", "REDIS_URL="+s.RedisAddr,
		"RUNTIME_ROOT="+filepath.Join(dir, "runtime"), "RUNTIME_SUBDIRECTORY=ratelimit",
		"RUNTIME_APPDIRECTORY=config", "RUNTIME_WATCH_ROOT=false", "RUNTIME_IGNOREDOTFILES=true",
	)
	sp, err := s.spawn(cfg.Log, "ratelimit", cmd)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, sp, "http://"+httpAddr+"/healthcheck"); err != nil {
		return nil, fmt.Errorf("rate limit service: %w", err)
	}
	// Both ready: redis must still be up too (the service reached it).
	if err := rp.exited(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// DescriptorConfig is the service's YAML for domain: one top-level
// descriptor per Limit, without a value (each value its own bucket).
func DescriptorConfig(domain string, limits []Limit) string {
	var b strings.Builder
	fmt.Fprintf(&b, "domain: %s\ndescriptors:\n", domain)
	for _, l := range limits {
		fmt.Fprintf(&b, "  - key: %s\n    rate_limit:\n      unit: %s\n      requests_per_unit: %d\n", l.Key, l.Unit, l.Tokens)
	}
	return b.String()
}

// Dial connects one gRPC client (one "gateway instance") to the service.
func (s *Stack) Dial() (rlsv3.RateLimitServiceClient, func() error, error) {
	cc, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return rlsv3.NewRateLimitServiceClient(cc), cc.Close, nil
}

// Stop kills both processes and removes their files.
func (s *Stack) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		if p := s.procs[i]; p.cmd.Process != nil {
			p.cmd.Process.Kill()
		}
	}
	for _, p := range s.procs {
		<-p.done
	}
	s.procs = nil
	os.RemoveAll(s.dir)
}

// spawn starts cmd; its output goes to log (when not nil) and to its tail.
func (s *Stack) spawn(log func(string), name string, cmd *exec.Cmd) (*proc, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	s.procs = append(s.procs, p)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if log != nil {
				log("[" + name + "] " + line)
			}
			p.mu.Lock()
			if len(p.tail) == tailLines {
				p.tail = append(p.tail[:0], p.tail[1:]...)
			}
			p.tail = append(p.tail, line)
			p.mu.Unlock()
		}
		p.err = cmd.Wait() // after the output is read, as exec requires
		close(p.done)
	}()
	return p, nil
}

// exited is nil while p runs, else an errExited naming how it ended and
// its last lines of output.
func (p *proc) exited() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Errorf("%s %w (%v); its last output:\n%s", p.name, errExited, p.err, strings.Join(p.tail, "\n"))
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// poll calls try until it succeeds, p exits or 20 s pass.
func poll(ctx context.Context, p *proc, what string, try func() error) error {
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = try(); err == nil {
			return nil
		}
		if exit := p.exited(); exit != nil {
			return exit
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after 20s: %w", what, err)
}

func waitRedis(ctx context.Context, p *proc, addr string) error {
	return poll(ctx, p, "redis-server", func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		if line != "+PONG\r\n" {
			return errors.New("answered " + line)
		}
		return nil
	})
}

func waitHTTP(ctx context.Context, p *proc, url string) error {
	cl := &http.Client{Timeout: time.Second}
	return poll(ctx, p, url, func() error {
		resp, err := cl.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}
