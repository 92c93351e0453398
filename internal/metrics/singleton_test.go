package metrics

import (
	"net"
	"testing"
	"time"
)

func waitGlobal(t *testing.T, want func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a := ServingAddress(); want(a) {
			return a
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("serving %q", ServingAddress())
	return ""
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// One pipeline and one listener per process across config loads and
// reloads: the newest config's address applies, the data survive a reload,
// the last Close stops the listener and the next load starts it again.
func TestOneExporterAcrossLoads(t *testing.T) {
	addrA, addrB := freeAddr(t), freeAddr(t)
	spec := Spec{ListenAddress: addrA}
	r1, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	proc := global
	waitGlobal(t, func(a string) bool { return a == addrA })
	r1.Record(&Attempt{Operation: "chat", Provider: "openai", Backend: "x", Start: time.Now(), End: time.Now()})

	// A second listener's config and a reload of the first: same process
	// pipeline, same listener, no second bind.
	r2, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if global != proc || r2.proc != proc {
		t.Fatal("a second config load made a second pipeline")
	}
	srv := proc.server
	r3, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if proc.server != srv {
		t.Fatal("a reload with the same address restarted the listener")
	}
	r1.Close()
	r1.Close() // idempotent
	r2.Close()
	if proc.server != srv || ServingAddress() != addrA {
		t.Fatal("closing older configs stopped the listener a live config uses")
	}
	r3.Record(&Attempt{Operation: "chat", Provider: "openai", Backend: "x", Start: time.Now(), End: time.Now()})
	if got := series(t, scrape(t, "http://"+addrA+"/metrics"), "aigw_upstream_attempts_total"); got["aigw_backend_name=x,gen_ai_operation_name=chat,gen_ai_provider_name=openai"] != 2 {
		t.Fatalf("attempts across the reload: %v", got)
	}

	// A reload that moves the address: the newest config's address wins.
	r4, err := New(Spec{ListenAddress: addrB, Path: "/m"})
	if err != nil {
		t.Fatal(err)
	}
	waitGlobal(t, func(a string) bool { return a == addrB })
	if _, err := net.DialTimeout("tcp", addrA, time.Second); err == nil {
		t.Error("the old address is still served")
	}
	if got := series(t, scrape(t, "http://"+addrB+"/m"), "aigw_upstream_attempts_total"); len(got) != 1 {
		t.Fatalf("attempts at the new address: %v", got)
	}
	r3.Close()
	r4.Close()
	if ServingAddress() != "" {
		t.Fatal("the listener outlived every config")
	}
	// Off: no listener, recording still works.
	r5, err := New(Spec{ListenAddress: ListenOff})
	if err != nil {
		t.Fatal(err)
	}
	defer r5.Close()
	if ServingAddress() != "" || global != proc {
		t.Fatal("listen address off still serves, or the pipeline was replaced")
	}
	r5.Record(&Attempt{})
	if _, err := New(Spec{Headers: []HeaderAttribute{{"x", "gen_ai.x"}}}); err == nil {
		t.Fatal("an invalid spec was accepted")
	}
}
