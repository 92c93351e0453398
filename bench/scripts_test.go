package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The bench scripts parse: bash -n for each, and perf.sh's Python program
// (a single-quoted argument of python3 -c, so a quote in it ends the shell
// string) compiled by python3. make test never runs them; this catches an
// edit that breaks one.
func TestScriptsParse(t *testing.T) {
	scripts, err := filepath.Glob("*.sh")
	if err != nil || len(scripts) < 3 {
		t.Fatalf("bench scripts: %v %v", scripts, err)
	}
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s: bash -n: %v\n%s", s, err, out)
		}
	}
	src, err := os.ReadFile("perf.sh")
	if err != nil {
		t.Fatal(err)
	}
	const open = "python3 -c '"
	i := strings.Index(string(src), open)
	if i < 0 {
		t.Fatal("perf.sh: no python3 -c program")
	}
	prog := string(src[i+len(open):])
	j := strings.Index(prog, "'")
	if j < 0 {
		t.Fatal("perf.sh: the python3 -c program never ends")
	}
	prog = prog[:j]
	if !strings.Contains(prog, "by_step") {
		t.Fatalf("perf.sh: the python3 -c program ends early (a quote in it?):\n%s", prog)
	}
	cmd := exec.Command("python3", "-c", "import sys; compile(sys.stdin.read(), 'perf.sh', 'exec')")
	cmd.Stdin = strings.NewReader(prog)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("perf.sh's Python program does not compile: %v\n%s", err, out)
	}
}

// cores.sh's C program compiles without a warning.
func TestCoresProgramCompiles(t *testing.T) {
	src, err := os.ReadFile("cores.sh")
	if err != nil {
		t.Fatal(err)
	}
	_, prog, ok := strings.Cut(string(src), "<<'EOF'\n")
	if ok {
		prog, _, ok = strings.Cut(prog, "\nEOF\n")
	}
	if !ok || !strings.Contains(prog, "int main(") {
		t.Fatal("cores.sh: no C program in an EOF here-document")
	}
	cmd := exec.Command("gcc", "-fsyntax-only", "-Wall", "-Werror", "-x", "c", "-")
	cmd.Stdin = strings.NewReader(prog)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("cores.sh's C program: %v\n%s", err, out)
	}
}
