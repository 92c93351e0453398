package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aigw/aigw/bench/extproc"
)

// serveEnv, when set in the environment, turns the test binary into the
// ext_proc server process (see TestMain). Its value is the network.
const serveEnv = "AIGW_BENCH_EXTPROC_SERVE"

func TestMain(m *testing.M) {
	if network := os.Getenv(serveEnv); network != "" {
		if err := serveChild(network, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "extproc server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// procStats is one process's resource use so far.
type procStats struct {
	cpu         time.Duration // user + system CPU time, all threads
	allocBytes  uint64        // cumulative heap allocation
	allocObjs   uint64
	maxRSSBytes uint64 // peak resident set size
}

func (a procStats) sub(b procStats) procStats {
	return procStats{
		cpu:        a.cpu - b.cpu,
		allocBytes: a.allocBytes - b.allocBytes,
		allocObjs:  a.allocObjs - b.allocObjs,
	}
}

func (s procStats) String() string {
	return fmt.Sprintf("%d %d %d %d", s.cpu.Nanoseconds(), s.allocBytes, s.allocObjs, s.maxRSSBytes)
}

// selfStats reads this process's stats: getrusage for CPU time,
// runtime/metrics (no stop-the-world) for allocations, VmHWM for peak RSS.
func selfStats() procStats {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	samples := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}
	metrics.Read(samples)
	return procStats{
		cpu:         time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		allocBytes:  samples[0].Value.Uint64(),
		allocObjs:   samples[1].Value.Uint64(),
		maxRSSBytes: peakRSS(),
	}
}

// serveChild runs the ext_proc server in this process: it prints the gRPC
// target on out, then answers every "stats" line on in with its procStats and
// exits when in closes (the benchmark ended or died).
func serveChild(network string, in io.Reader, out io.Writer) error {
	dir, err := os.MkdirTemp("", "aigw-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lis, target, err := extproc.Listen(network, dir)
	if err != nil {
		return err
	}
	srv := extproc.NewServer(Config())
	if os.Getenv(servePathEnv) != "" {
		if srv, err = newPathServer(); err != nil {
			return err
		}
	}
	gs := extproc.NewGRPCServer(srv)
	go gs.Serve(lis)
	defer gs.Stop()

	w := bufio.NewWriter(out)
	fmt.Fprintln(w, target)
	if err := w.Flush(); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() != "stats" {
			return fmt.Errorf("unknown command %q", sc.Text())
		}
		fmt.Fprintln(w, selfStats())
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return sc.Err()
}

// serverProc is the ext_proc server running as a child process, as it would
// be in production: its own Go runtime, scheduler and GC, apart from the
// process standing in for Envoy.
type serverProc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	target string
}

func startServerProc(network string, env ...string) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), env...), serveEnv+"="+network)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProc{cmd: cmd, in: in, out: bufio.NewReader(stdout)}
	line, err := p.out.ReadString('\n')
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("server did not start: %w", err)
	}
	p.target = strings.TrimSpace(line)
	return p, nil
}

func (p *serverProc) stats() (procStats, error) {
	var s procStats
	if _, err := io.WriteString(p.in, "stats\n"); err != nil {
		return s, err
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return s, err
	}
	f := strings.Fields(line)
	if len(f) != 4 {
		return s, fmt.Errorf("bad stats line %q", line)
	}
	var v [4]uint64
	for i := range f {
		if v[i], err = strconv.ParseUint(f[i], 10, 64); err != nil {
			return s, err
		}
	}
	return procStats{cpu: time.Duration(v[0]), allocBytes: v[1], allocObjs: v[2], maxRSSBytes: v[3]}, nil
}

func (p *serverProc) stop() error {
	p.in.Close()
	return p.cmd.Wait()
}

// resetPeakRSS restarts this process's peak-RSS accounting (VmHWM), so each
// sub-benchmark reports its own peak and not the largest body's so far.
// Linux >= 4.0.
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS is this process's peak RSS; see vmHWM.
func peakRSS() uint64 {
	v, err := vmHWM("self")
	if err != nil {
		panic(err)
	}
	return v
}

// vmHWM reads VmHWM, the peak RSS of a process's address space, from
// /proc/<proc>/status (proc is a pid or "self"). getrusage's ru_maxrss is
// not usable: Linux carries it across exec, so the server child would report
// the benchmark process's peak, and resetPeakRSS does not reset it.
func vmHWM(proc string) (uint64, error) {
	data, err := os.ReadFile("/proc/" + proc + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM line %q: %w", line, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%s/status", proc)
}

func TestServerProcess(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			p, err := startServerProc(network)
			if err != nil {
				t.Fatal(err)
			}
			before, err := p.stats()
			if err != nil {
				t.Fatal(err)
			}
			c, err := extproc.Dial(p.target)
			if err != nil {
				t.Fatal(err)
			}
			body := ChatBody(16 << 10)
			res, err := extproc.NewClient(c).Do(t.Context(), extproc.RequestHeaders(len(body)), body)
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.Body.GetRequestBody().GetResponse().GetBodyMutation() == nil {
				t.Errorf("no body mutation from the server process: %v", res.Body)
			}
			after, err := p.stats()
			if err != nil {
				t.Fatal(err)
			}
			if d := after.sub(before); d.cpu <= 0 || d.allocBytes == 0 || after.maxRSSBytes == 0 {
				t.Errorf("server stats did not move: before %v after %v", before, after)
			}
			if err := p.stop(); err != nil {
				t.Errorf("server exit: %v", err)
			}
		})
	}
}

func TestProcessCPU(t *testing.T) {
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn some CPU so both clocks move well past their resolution.
	x := 0
	for i := range 50_000_000 {
		x += i ^ (x >> 3)
	}
	after, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("process CPU clock did not advance: %v -> %v (%d)", before, after, x)
	}
	if own := selfStats().cpu; after > own+50*time.Millisecond || after < own-50*time.Millisecond {
		t.Errorf("process CPU clock %v disagrees with getrusage %v", after, own)
	}
	if _, err := vmHWM(strconv.Itoa(os.Getpid())); err != nil {
		t.Error(err)
	}
}
