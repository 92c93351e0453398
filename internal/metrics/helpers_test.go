package metrics

import (
	"context"
	"testing"
	"time"
)

// streamed is a successful streamed chat attempt with every token category.
func streamed(headers ...string) Attempt {
	t0 := time.Now()
	a := Attempt{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06", Backend: "primary",
		Usage: Usage{Input: 120, Output: 40, CachedInput: 64, CacheCreationInput: 8, Reasoning: 8, Reported: true},
		Start: t0, FirstToken: t0.Add(150 * time.Millisecond), End: t0.Add(900 * time.Millisecond), Streaming: true}
	copy(a.Headers[:], headers)
	return a
}

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
