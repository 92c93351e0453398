package metrics

import (
	"context"
	"testing"
)

// testProcess is a fresh pipeline (the process-wide one is shared by the
// tests of New); its OTLP setup follows the test's environment.
func testProcess(tb testing.TB) *process {
	tb.Helper()
	p, err := newProcess()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.mu.Lock()
		if p.server != nil {
			p.server.stop()
		}
		p.mu.Unlock()
		p.provider.Shutdown(context.Background())
	})
	return p
}
