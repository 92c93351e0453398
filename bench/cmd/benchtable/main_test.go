package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct{ in, golden string }{
		{"results.txt", "table.golden"},
		{"extproc-only.txt", "extproc-only.golden"},
		{"path.txt", "path.golden"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			in, err := os.Open(filepath.Join("testdata", tc.in))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			r := newResults()
			if err := r.parse(in); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := r.render(&out); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("table differs from %s (run with -update to accept):\n%s", golden, out.String())
			}
		})
	}
}

func TestMedian(t *testing.T) {
	r := newResults()
	in := "BenchmarkA-2 1 3 ns/op\nBenchmarkA-2 1 1 ns/op\nBenchmarkA-2 1 2 ns/op\nBenchmarkB 1 1 ns/op\nBenchmarkB 1 4 ns/op\n"
	if err := r.parse(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want float64
		ok   bool
	}{{"BenchmarkA", 2, true}, {"BenchmarkB", 2.5, true}, {"BenchmarkC", 0, false}} {
		got, ok := r.median(tc.name, "ns/op")
		if got != tc.want || ok != tc.ok {
			t.Errorf("median(%s) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseSkipsNonResults(t *testing.T) {
	r := newResults()
	in := "BenchmarkX is not a result line\nBenchmarkY-2 notanumber 1 ns/op\ngoos: linux\n"
	if err := r.parse(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if len(r.order) != 0 {
		t.Errorf("parsed %v from non-result lines", r.order)
	}
	if err := r.parse(strings.NewReader("BenchmarkZ-2 10 x ns/op\n")); err == nil {
		t.Error("bad value accepted")
	}
}

func TestTrimProcs(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkA/b-2":      "BenchmarkA/b",
		"BenchmarkA/b-c":      "BenchmarkA/b-c",
		"BenchmarkA":          "BenchmarkA",
		"BenchmarkA/x-16-128": "BenchmarkA/x-16",
	} {
		if got := trimProcs(in); got != want {
			t.Errorf("trimProcs(%q) = %q, want %q", in, got, want)
		}
	}
}

// render parses in and renders the tables.
func render(t *testing.T, in string) *bytes.Buffer {
	t.Helper()
	r := newResults()
	if err := r.parse(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := r.render(&out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// The issue-4 verdict uses the smallest ratio over every baseline row at a
// size: one baseline row under the bound makes it "not met".
func TestTargetVerdict(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"met", "BenchmarkExtProc/tcp/1KiB-2 1 1 ns/op 600 cpu-ns/op\nBenchmarkExtProc/uds/1KiB-2 1 1 ns/op 550 cpu-ns/op\nBenchmarkInProcessABI/1KiB-2 1 10 ns/op 10 cpu-ns/op\n",
			[]string{"1KiB: target ≥ 50×, measured 55.0×–60.0× over 2 baseline rows: **met**"}},
		{"one row short", "BenchmarkExtProc/tcp/1KiB-2 1 1 ns/op 600 cpu-ns/op\nBenchmarkExtProc/uds/1KiB-2 1 1 ns/op 450 cpu-ns/op\nBenchmarkInProcessABI/1KiB-2 1 10 ns/op 10 cpu-ns/op\n",
			[]string{"1KiB: target ≥ 50×, measured 45.0×–60.0× over 2 baseline rows: **not met**"}},
		{"1MiB behind", "BenchmarkExtProc/tcp/1MiB-2 1 1 ns/op 900 cpu-ns/op\nBenchmarkInProcessABI/1MiB-2 1 1000 ns/op 1000 cpu-ns/op\n",
			[]string{"1MiB: target > 1× (still ahead), measured 0.9×–0.9× over 1 baseline rows: **not met**"}},
		{"HTTP-stack side does not count", "BenchmarkExtProc/tcp/1KiB-2 1 1 ns/op 600 cpu-ns/op\nBenchmarkInProcess/1KiB-2 1 1 ns/op 1 cpu-ns/op\n",
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := render(t, tc.in)
			if tc.want == nil && strings.Contains(out.String(), "Issue 4 target") {
				t.Errorf("verdict without an ABI row:\n%s", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("missing %q in:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestTranslateBenchmarksGoToUpstreamTable(t *testing.T) {
	in := "pkg: github.com/aigw/aigw/bench\nBenchmarkRouteDecide-2 1 67 ns/op 0 B/op 0 allocs/op\n" +
		"pkg: github.com/aigw/aigw/internal/translate\nBenchmarkAnthropicRequest/1KiB-2 1 11500 ns/op 6000 B/op 80 allocs/op\n"
	s := render(t, in).String()
	up := strings.Index(s, "| upstream phase (internal/translate)")
	if up < 0 || !strings.Contains(s[up:], "AnthropicRequest/1KiB | 11500 | 6000 | 80") || strings.Contains(s[up:], "RouteDecide") {
		t.Errorf("translate benchmarks not in their own table:\n%s", s)
	}
}

// The issue-17 verdicts report both figures: ext_proc ÷ the whole host CPU
// and ÷ the CPU aigw adds (whole host − Envoy alone), each judged on its
// worst row; the ≤ ~600 µs line likewise. Without Envoy-alone rows only the
// whole-host figure is judged; an Envoy-alone figure at or above the whole
// host's (noise) gives no ratio and is not judged.
func TestPathTargetVerdict(t *testing.T) {
	const (
		ext1K   = "BenchmarkExtProcPath/openai/1KiB-2 1 1 ns/op 2000000 cpu-ns/op\n"
		abi1K   = "BenchmarkWholePathABI/openai/1KiB-2 1 1 ns/op 40000 cpu-ns/op\n"
		env1K   = "BenchmarkWholePathEnvoy/openai/1KiB-2 1 1 ns/op 25000 cpu-ns/op\n"
		ext1M   = "BenchmarkExtProcPath/stream/1MiB-2 1 1 ns/op 8000000 cpu-ns/op\nBenchmarkExtProcPathParallel/stream/1MiB-2 1 1 ns/op 6000000 cpu-ns/op\n"
		abi1M   = "BenchmarkWholePathABI/stream/1MiB-2 1 1 ns/op 1000000 cpu-ns/op\nBenchmarkWholePathABIParallel/stream/1MiB-2 1 1 ns/op 800000 cpu-ns/op\n"
		env1M   = "BenchmarkWholePathEnvoy/stream/1MiB-2 1 1 ns/op 450000 cpu-ns/op\nBenchmarkWholePathEnvoyParallel/stream/1MiB-2 1 1 ns/op 250000 cpu-ns/op\n"
		noise1K = "BenchmarkWholePathEnvoy/openai/1KiB-2 1 1 ns/op 41000 cpu-ns/op\n"
	)
	for _, tc := range []struct {
		name, in  string
		want, not []string
	}{
		{"both figures", ext1K + abi1K + env1K + ext1M + abi1M + env1M, []string{
			"| openai | 1KiB | 1 | ext_proc uds, 2 hops | in-process: whole path via ABI | 50.0× | 25.0 | 15.0 | 133.3× |",
			"- 1KiB, ext_proc ÷ in-process ≥ 100×:\n  - ÷ whole host CPU: openai/1w 50.0×: **not met**\n" +
				"  - ÷ CPU aigw adds (whole host − Envoy alone): openai/1w 133.3×: **met**",
			"- 1MiB, ext_proc ÷ in-process ≥ 10×:\n  - ÷ whole host CPU: stream/1w 8.0×, stream/2w 7.5×: **not met**\n" +
				"  - ÷ CPU aigw adds (whole host − Envoy alone): stream/1w 14.5×, stream/2w 10.9×: **met**",
			"- 1MiB, in-process CPU per request ≤ ~600 µs (both phases):\n  - whole host CPU: stream/1w 1000 µs, stream/2w 800 µs: **not met**\n" +
				"  - CPU aigw adds (whole host − Envoy alone): stream/1w 550 µs, stream/2w 550 µs: **met**",
		}, nil},
		{"at the bounds", ext1M + abi1M + strings.Replace(env1M, "250000", "200000", 1), []string{
			"  - ÷ CPU aigw adds (whole host − Envoy alone): stream/1w 14.5×, stream/2w 10.0×: **met**",
			"  - CPU aigw adds (whole host − Envoy alone): stream/1w 550 µs, stream/2w 600 µs: **met**",
		}, nil},
		{"one row short of the added targets", ext1M + abi1M + strings.Replace(env1M, "250000", "100000", 1), []string{
			"  - ÷ CPU aigw adds (whole host − Envoy alone): stream/1w 14.5×, stream/2w 8.6×: **not met**",
			"  - CPU aigw adds (whole host − Envoy alone): stream/1w 550 µs, stream/2w 700 µs: **not met**",
		}, nil},
		{"without Envoy alone", ext1K + abi1K, []string{
			"| openai | 1KiB | 1 | ext_proc uds, 2 hops | in-process: whole path via ABI | 50.0× | – | – | – |",
			"  - ÷ whole host CPU: openai/1w 50.0×: **not met**",
		}, []string{"- ÷ CPU aigw adds", "- CPU aigw adds"}},
		{"without a baseline", abi1K + env1K, []string{
			"| openai | 1KiB | 1 | – | in-process: whole path via ABI | – | 25.0 | 15.0 | – | – | – |",
		}, []string{"ext_proc ÷ in-process ≥"}},
		{"added at or below zero", ext1K + abi1K + noise1K, []string{
			"| 50.0× | 41.0 | -1.0 | – |",
			"  - ÷ CPU aigw adds (whole host − Envoy alone): openai/1w – (added ≤ 0: noise): no figure",
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := render(t, tc.in)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("missing %q in:\n%s", w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("unexpected %q in:\n%s", n, out.String())
				}
			}
		})
	}
}
