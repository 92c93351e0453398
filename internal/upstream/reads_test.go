package upstream

import (
	"slices"
	"testing"

	"github.com/aigw/aigw/config"
)

// readLog wraps a fakeAttempt and records every string read by kind.
type readLog struct {
	*fakeAttempt
	reads []Read
}

type loggedHeaders struct {
	HeaderMap
	l    *readLog
	kind ReadKind
}

func (h loggedHeaders) Get(k string) (string, bool) {
	h.l.reads = append(h.l.reads, Read{Kind: h.kind, Key: k})
	return h.HeaderMap.Get(k)
}

func (l *readLog) RequestHeaders() HeaderMap {
	return loggedHeaders{l.fakeAttempt.RequestHeaders(), l, ReadRequestHeader}
}

func (l *readLog) ResponseHeaders() HeaderMap {
	return loggedHeaders{l.fakeAttempt.ResponseHeaders(), l, ReadResponseHeader}
}

func (l *readLog) FilterState(key string) (string, bool) {
	l.reads = append(l.reads, Read{Kind: ReadFilterState, Key: key})
	return l.fakeAttempt.FilterState(key)
}

func (l *readLog) DynamicMetadata(ns, key string) (string, bool) {
	l.reads = append(l.reads, Read{Kind: ReadDynamicMetadata, NS: ns, Key: key})
	return l.fakeAttempt.DynamicMetadata(ns, key)
}

func (l *readLog) EndpointMetadata(ns, key string) (string, bool) {
	l.reads = append(l.reads, Read{Kind: ReadEndpointMetadata, NS: ns, Key: key})
	return l.fakeAttempt.EndpointMetadata(ns, key)
}

// readsCases are the attempts the read tests run: a first attempt, a retry
// (its originals in filter state, :path rewritten by the first attempt),
// and a first attempt with metric header attributes.
var readsCases = []struct {
	name           string
	retry, headers bool
}{{"first", false, false}, {"retry", true, false}, {"attributes", false, true}}

// readsAttempt is tc's configuration and its logged attempt.
func readsAttempt(t *testing.T, retry, headers bool) (*Config, *readLog) {
	t.Helper()
	cfg := pipelineConfig(t)
	if headers {
		recordWithHeader(t, cfg)
	}
	a := clientRequest("oai", "/v1/chat/completions", chatBody)
	a.dynMD[MetadataNamespace+"/"+config.MetaConfigDigest] = cfg.digest
	if retry {
		a.state[stateKeyPath], a.state[stateKeyAuthority] = "/v1/chat/completions", "gateway.local"
		a.reqH[":path"] = "/v1/rewritten-by-the-first-attempt"
	}
	return cfg, &readLog{fakeAttempt: a}
}

// The adapter fetches RequestReads and ResponseReads in one call per hook
// (dynmod's read sets), so every string value the request headers hook reads
// must be in RequestReads, and the request body hook, which runs when the
// request is complete, reads none: the request line came with the headers.
// Each read outside the lists is a cgo call of its own in Envoy. First
// attempts and retries (which read the originals from filter state), with
// and without metric header attributes.
func TestRequestHooksReadOnlyTheListedValues(t *testing.T) {
	for _, tc := range readsCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, l := readsAttempt(t, tc.retry, tc.headers)
			a := l.fakeAttempt
			f := NewFilter(cfg, l)
			if act := f.OnRequestHeaders(false); act != Hold {
				t.Fatalf("request headers: %v (responses %v)", act, a.responses)
			}
			listed := cfg.RequestReads()
			for _, r := range l.reads {
				if !slices.Contains(listed, r) {
					t.Errorf("request headers hook read %+v, not in RequestReads %+v", r, listed)
				}
			}
			if len(l.reads) == 0 {
				t.Fatal("no reads recorded: the log is not wired")
			}
			l.reads = nil
			if act := f.OnRequestBody(true); act != Continue {
				t.Fatalf("request body: %v (responses %v)", act, a.responses)
			}
			if len(l.reads) != 0 {
				t.Errorf("request body hook read %+v: the request line is read with the headers", l.reads)
			}
			if got := a.reqH[":path"]; got != "/v1/chat/completions" {
				t.Errorf(":path %q: the originals were not used", got)
			}
			l.reads = nil
			f.OnResponseHeaders(false)
			for _, r := range l.reads {
				if !slices.Contains(ResponseReads, r) {
					t.Errorf("response headers hook read %+v, not in ResponseReads", r)
				}
			}
		})
	}
}

// The request headers hook reads RequestReads' values in the list's order
// (the header attributes, read first, aside), so an adapter searching the
// list from its last hit finds each next one first: first attempts and
// retries, with and without metric header attributes.
func TestRequestReadsInTheHooksOrder(t *testing.T) {
	for _, tc := range readsCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, l := readsAttempt(t, tc.retry, tc.headers)
			a := l.fakeAttempt
			if act := NewFilter(cfg, l).OnRequestHeaders(false); act != Hold {
				t.Fatalf("request headers: %v (responses %v)", act, a.responses)
			}
			listed := cfg.RequestReads()
			at, n := 0, 0
			for _, r := range l.reads {
				i := slices.Index(listed, r)
				if i < 0 || i >= len(listed)-len(cfg.rec.Headers()) {
					continue
				}
				if i < at {
					t.Errorf("read %+v comes before %+v in RequestReads, after it in the hook", r, listed[at])
				}
				at, n = i, n+1
			}
			if n < 4 {
				t.Fatalf("only %d listed reads seen: %+v", n, l.reads)
			}
		})
	}
}
