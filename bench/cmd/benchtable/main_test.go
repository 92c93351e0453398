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
