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
			r := newResults()
			if err := r.parse(strings.NewReader(tc.in)); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := r.render(&out); err != nil {
				t.Fatal(err)
			}
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
	r := newResults()
	in := "pkg: github.com/aigw/aigw/bench\nBenchmarkRouteDecide-2 1 67 ns/op 0 B/op 0 allocs/op\n" +
		"pkg: github.com/aigw/aigw/internal/translate\nBenchmarkAnthropicRequest/1KiB-2 1 11500 ns/op 6000 B/op 80 allocs/op\n"
	if err := r.parse(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := r.render(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	up := strings.Index(s, "| upstream phase (internal/translate)")
	if up < 0 || !strings.Contains(s[up:], "AnthropicRequest/1KiB | 11500 | 6000 | 80") || strings.Contains(s[up:], "RouteDecide") {
		t.Errorf("translate benchmarks not in their own table:\n%s", s)
	}
}
