package host_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/mockprovider"
)

// TestHandoffAcrossABIsE2E: the router phase's findings reach the attempts across the two
// ABIs on both of the host's workers. Each of them keeps its streams' findings under the
// number internal/cthread gives its thread; the golang filter's side and the dynamic module's
// read that number apart (golangabi's worker, filter.c's aigw_filter), so were they to differ
// every attempt would scan the body again, forwarding the same bytes. What tells them apart:
// an attempt of a backend with a model override that has the findings edits the body in
// Envoy's buffer, appending the body's kept bytes from the buffer's own slices
// (aigw_body_edit), while one that scanned replaces the body from Go memory; the host counts
// both kinds of appended bytes (host.dynmod.request_body_appended*).
func TestHandoffAcrossABIsE2E(t *testing.T) {
	e := newTrEnv(t, trOptions{backends: []trBackend{
		{name: "primary", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o"},
			override: map[string]string{"gpt-4o": "gpt-4o-2024-08-06"}, mockModels: []string{"gpt-4o-2024-08-06"},
			key: "sk-primary-CANARY-3f9a0c55"},
	}})
	const requests = 16
	text := strings.Repeat("words for a long prompt ", 2000) // ~48 KiB: three slices
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A connection per request: the kernel spreads them over the workers' sockets
			// (SO_REUSEPORT).
			c := e.client(option.WithHTTPClient(oneShot), option.WithHeader("x-ai-eg-backend", "primary"))
			p := openai.ChatCompletionNewParams{Model: "gpt-4o",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text + strconv.Itoa(i))}}
			if _, err := c.Chat.Completions.New(ctxT(t), p); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	stats, err := e.h.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"0", "1"} {
		if n, _ := strconv.Atoi(stats["host.worker."+w+".requests"]); n == 0 {
			t.Fatalf("worker %s served no request (stats %v): the test needs both", w, stats)
		}
	}
	appended, _ := strconv.Atoi(stats["host.dynmod.request_body_appended"])
	own, _ := strconv.Atoi(stats["host.dynmod.request_body_appended_from_own_slices"])
	if appended < requests*len(text) {
		t.Fatalf("%d bytes appended to %d request bodies of %d bytes", appended, requests, len(text))
	}
	// All but each request's new model string comes from the buffer's own slices.
	if appended-own > requests*64 {
		t.Fatalf("%d of %d appended bytes came from Go memory: attempts scanned the body instead of using the router phase's findings", appended-own, appended)
	}
	if p := e.h.Problems(); len(p) > 0 {
		t.Errorf("host problems: %v", p)
	}
}
