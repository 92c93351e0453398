package host

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// The host's buffers take the slice shapes Envoy's Buffer::OwnedImpl takes
// (test/host/csrc/util.c, buf_add and buf_read, with the Envoy source they
// cite): a body a filter sets in one call is one slice, and so is the
// router's copy of it for an attempt, while a body read off a connection is
// in 16 KiB slices. The upstream phase reads a one-slice body in place and
// copies a multi-slice one, so the whole-path bench depends on this.
func TestHostBuffersTakeEnvoysSliceShapes(t *testing.T) {
	bin, err := BuildHost(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--check-buffers").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []string{"add-1MiB", "read-40000", "copy-of-add", "copy-of-read", "copy-of-read-last", "add-fills-room"}
	for _, name := range want {
		if !strings.Contains(string(out), "BUFFER "+name+" ") {
			t.Errorf("no line for %s in\n%s", name, out)
		}
	}
	if strings.Contains(string(out), "WRONG") || !strings.Contains(string(out), "BUFFERS ok") {
		t.Errorf("buffer shapes:\n%s", out)
	}
}
