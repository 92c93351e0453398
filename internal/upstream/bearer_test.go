package upstream

import (
	"sync"
	"testing"
)

// The bearer value is built once per key: an attempt with the same key
// allocates nothing for it, a new key (rotation, refresh) gets its own
// value, and workers racing on a rotation always get their key's value.
func TestBearerValuePerKey(t *testing.T) {
	b := &Backend{Name: "oai"}
	if got := b.bearerFor("k1"); got != "Bearer k1" {
		t.Fatalf("%q", got)
	}
	if n := testing.AllocsPerRun(100, func() { b.bearerFor("k1") }); n != 0 {
		t.Errorf("%.1f allocations for an unchanged key", n)
	}
	if got := b.bearerFor("k2"); got != "Bearer k2" {
		t.Fatalf("after rotation: %q", got)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				key := []string{"k1", "k2", "k3"}[(i+w)%3]
				if got := b.bearerFor(key); got != "Bearer "+key {
					t.Errorf("bearerFor(%q) = %q", key, got)
					return
				}
			}
		}(w)
	}
	wg.Wait()
}

// credentialFor a bearer backend allocates nothing per attempt.
func TestBearerCredentialAllocatesNothing(t *testing.T) {
	cfg := pipelineConfig(t)
	b := cfg.backends["oai"]
	c := credentialFor(b)
	if c.name != "authorization" || c.value != "Bearer sk-openai-secret" {
		t.Fatalf("credential %q", c.name)
	}
	if n := testing.AllocsPerRun(100, func() { credentialFor(b) }); n != 0 {
		t.Errorf("%.1f allocations per attempt", n)
	}
}
