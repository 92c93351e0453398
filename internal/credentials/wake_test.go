package credentials

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/aigw/aigw/internal/credentials/credtest"
)

// TestWakeList: every waiter registered before a wake is called once;
// cancelled ones and those registered after are not; a waiter may register
// again from its own wake.
func TestWakeList(t *testing.T) {
	var l wakeList
	var a, b, c atomic.Int32
	l.add(func() { a.Add(1) })
	cancelB := l.add(func() { b.Add(1) })
	cancelB()
	cancelB() // idempotent
	var again func()
	again = func() {
		c.Add(1)
		if c.Load() < 2 {
			l.add(again)
		}
	}
	l.add(again)
	l.wake()
	if a.Load() != 1 || b.Load() != 0 || c.Load() != 1 || l.waiting() != 1 {
		t.Fatalf("after the first wake: a=%d b=%d c=%d waiting=%d", a.Load(), b.Load(), c.Load(), l.waiting())
	}
	l.wake()
	l.wake()
	if a.Load() != 1 || c.Load() != 2 || l.waiting() != 0 {
		t.Fatalf("later wakes: a=%d c=%d waiting=%d", a.Load(), c.Load(), l.waiting())
	}
}

// waitWoken waits for a wake-up; a credential that never wakes its waiters
// fails here.
func waitWoken(t *testing.T, woken <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: waiter not woken", what)
	}
}

// TestTokenCacheWakesWaiters: a request that found no token registers and
// is woken by the refresher right after it stores the first token, which is
// then valid; a cancelled waiter is not woken.
func TestTokenCacheWakesWaiters(t *testing.T) {
	fastPolling(t)
	e := credtest.NewEntraEndpoint(t, "app", EntraScope, func() string { return "s3cret" })
	e.Block() // the first fetch is under way and has not answered
	c, err := AzureEntra("wake-tenant", "app", e.TokenURL("wake-tenant"), nil, &Static{s: NewSecret("s3cret")}, "test:wake")
	if err != nil {
		t.Fatal(err)
	}
	var aw Awaitable = c
	if aw.Valid() {
		t.Fatal("valid before the first fetch answered")
	}
	woken := make(chan struct{})
	var cancelledWoken atomic.Bool
	aw.Await(func() { close(woken) })
	cancel := aw.Await(func() { cancelledWoken.Store(true) })
	cancel()
	e.Unblock()
	waitWoken(t, woken, "first token")
	if !aw.Valid() || cancelledWoken.Load() {
		t.Fatalf("valid=%v cancelled waiter woken=%v", aw.Valid(), cancelledWoken.Load())
	}
	if _, ok := e.Issued(c.Key().Reveal()); !ok {
		t.Fatal("the cached token was not issued by the endpoint")
	}
}

// flakyProvider fails until ok is set.
type flakyProvider struct{ ok atomic.Bool }

func (p *flakyProvider) Retrieve(context.Context) (aws.Credentials, error) {
	if !p.ok.Load() {
		return aws.Credentials{}, errors.New("sts unavailable")
	}
	return aws.Credentials{AccessKeyID: "A", SecretAccessKey: "S", CanExpire: true, Expires: time.Now().Add(time.Hour)}, nil
}

// TestAWSWakesWaiters: the same for AWS credentials, after failed fetches.
func TestAWSWakesWaiters(t *testing.T) {
	p := &flakyProvider{}
	a, err := NewAWS(AWSOptions{Region: "us-east-1", Provider: p, Log: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewSigV4(a, "bedrock")
	var aw Awaitable = s.Credentials()
	if aw.Valid() {
		t.Fatal("valid before any fetch succeeded")
	}
	woken := make(chan struct{})
	aw.Await(func() { close(woken) })
	time.Sleep(100 * time.Millisecond) // the first fetch failed: no wake
	select {
	case <-woken:
		t.Fatal("woken by a failed fetch")
	default:
	}
	p.ok.Store(true)
	waitWoken(t, woken, "aws credentials")
	if !aw.Valid() {
		t.Fatal("not valid after the wake")
	}
	if _, err := s.Sign("POST", "h", "/p", nil); err != nil {
		t.Fatal(err)
	}
}
