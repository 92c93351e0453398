package credentials

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// AWS credentials for SigV4 (sigv4.go signs with them): the AWS SDK's
// default chain (static keys from the environment, the shared config and
// credentials files with a profile, web identity / IRSA from a token file,
// ECS/EKS container credentials, EC2 instance metadata), optionally assuming
// a role on top, fetched and refreshed by a background goroutine only. A
// request reads the current credentials with one atomic load and never
// waits for the network: with none (not fetched yet, or expired because
// refreshes failed) it fails (ErrNoAWSCredentials).
//
// Refresh: RefreshBefore (at most half the lifetime) before credentials
// expire; credentials that do not expire (static keys) are re-read every
// StaticRefresh so a rotated credentials file takes effect; a failed fetch is
// retried with backoff from RetryMin to RetryMax while the current
// credentials stay in use until they expire. Errors and logs name the
// failure, never a key.

// AWSOptions configure the credential chain.
type AWSOptions struct {
	// Region is the signing region (also the SDK's region for STS).
	Region string
	// Profile selects a shared config profile; empty is the default chain's
	// choice (AWS_PROFILE or "default").
	Profile string
	// RoleARN, when set, is assumed (STS AssumeRole) with the chain's
	// credentials.
	RoleARN string
	// Provider replaces the default chain (tests).
	Provider aws.CredentialsProvider
	// Log receives refresh failures (never a key); nil logs to stderr.
	Log func(msg string)
}

// Refresh timing (variables so tests can shorten them).
var (
	RefreshBefore = 5 * time.Minute
	StaticRefresh = 5 * time.Minute
	RetryMin      = time.Second
	RetryMax      = 30 * time.Second
	fetchTimeout  = 30 * time.Second
)

// ErrNoAWSCredentials is a request finding no valid AWS credentials.
var ErrNoAWSCredentials = errors.New("no valid AWS credentials (not fetched yet, or expired and the refresh failed)")

// AWS holds the current credentials of one backend. Its refresher stops
// when the AWS value becomes unreachable (the config that held it was
// replaced).
type AWS struct {
	region string
	st     *awsState
}

// awsState is what the refresher goroutine holds (not the AWS itself, so
// that the AWS can be collected and its cleanup stop the goroutine).
type awsState struct {
	cur      atomic.Pointer[aws.Credentials]
	fetched  chan struct{} // closed after the first successful fetch
	provider aws.CredentialsProvider
	log      func(string)
	now      func() time.Time
	// waiters are held requests to wake when credentials are stored.
	waiters wakeList
}

// NewAWS resolves the credential chain (reading local config files only, no
// network) and starts the background refresher, whose first fetch begins at
// once.
func NewAWS(o AWSOptions) (*AWS, error) {
	if o.Region == "" {
		return nil, errors.New("aws: region is required")
	}
	provider := o.Provider
	if provider == nil {
		opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(o.Region)}
		if o.Profile != "" {
			opts = append(opts, awsconfig.WithSharedConfigProfile(o.Profile))
		}
		cfg, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
		if err != nil {
			// The SDK's errors name files and profiles, not keys.
			return nil, fmt.Errorf("aws credential chain: %w", err)
		}
		provider = cfg.Credentials
		if o.RoleARN != "" {
			provider = stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), o.RoleARN)
		}
		if provider == nil {
			return nil, errors.New("aws credential chain: no credential source")
		}
	}
	log := o.Log
	if log == nil {
		log = func(msg string) { fmt.Fprintln(reloadLog, msg) }
	}
	st := &awsState{provider: provider, log: log, now: time.Now, fetched: make(chan struct{})}
	a := &AWS{region: o.Region, st: st}
	stop := make(chan struct{})
	runtime.AddCleanup(a, func(stop chan struct{}) { close(stop) }, stop)
	go st.run(stop)
	return a, nil
}

// Credentials returns the current credentials, or ErrNoAWSCredentials when
// none are valid now. One atomic load; no network.
func (a *AWS) Credentials() (aws.Credentials, error) {
	c := a.st.cur.Load()
	if c == nil || c.CanExpire && !a.st.now().Before(c.Expires) {
		return aws.Credentials{}, ErrNoAWSCredentials
	}
	return *c, nil
}

// Valid reports whether valid credentials are cached (Awaitable).
func (a *AWS) Valid() bool {
	_, err := a.Credentials()
	return err == nil
}

// Await registers wake for the next stored credentials (Awaitable).
func (a *AWS) Await(wake func()) (cancel func()) { return a.st.waiters.add(wake) }

// Region is the signing region.
func (a *AWS) Region() string { return a.region }

// WaitFetched waits until the first fetch succeeded (tests, and callers
// that may block: never a worker).
func (a *AWS) WaitFetched(ctx context.Context) error {
	select {
	case <-a.st.fetched:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *awsState) run(stop chan struct{}) {
	backoff := RetryMin
	first := true
	for {
		wait := st.refresh()
		if wait < 0 {
			wait, backoff = backoff, min(2*backoff, RetryMax)
		} else {
			backoff = RetryMin
			if first {
				first = false
				close(st.fetched)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refresh fetches credentials once and returns the wait before the next
// refresh, or -1 after a failure.
func (st *awsState) refresh() time.Duration {
	// The SDK caches in front of most providers: drop its copy so the
	// fetch reaches the source (a rotated token file, a new role session).
	if c, ok := st.provider.(*aws.CredentialsCache); ok {
		c.Invalidate()
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	c, err := st.provider.Retrieve(ctx)
	cancel()
	if err == nil && (c.AccessKeyID == "" || c.SecretAccessKey == "") {
		err = errors.New("the source returned empty credentials")
	}
	if err != nil {
		st.log("aigw: AWS credentials could not be refreshed, keeping the current ones until they expire: " + firstErrorLine(err))
		return -1
	}
	st.cur.Store(&c)
	st.waiters.wake()
	if !c.CanExpire {
		return StaticRefresh
	}
	life := c.Expires.Sub(st.now())
	wait := life - min(RefreshBefore, life/2)
	return max(wait, RetryMin)
}

// firstErrorLine keeps a fetch error's first line (the SDK's errors can
// carry response bodies on later lines).
func firstErrorLine(err error) string {
	s := err.Error()
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
