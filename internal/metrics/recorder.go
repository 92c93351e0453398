package metrics

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
)

// HeaderAttribute maps a request header to a metric attribute.
type HeaderAttribute struct {
	Header    string // lower-case header name, e.g. x-api-key-id
	Attribute string // attribute key, e.g. api_key_id
}

// Spec is what one loaded config asks of the metrics.
type Spec struct {
	// ListenAddress serves Prometheus text ("" = DefaultListenAddress,
	// ListenOff = no server).
	ListenAddress string
	Path          string // "" = DefaultPath
	Headers       []HeaderAttribute
	// MaxValuesPerAttribute caps distinct values per client-chosen
	// attribute (header attributes, request and response model), 0 = default.
	MaxValuesPerAttribute int
	// BackendAttributes are static attributes per backend name.
	BackendAttributes map[string]map[string]string
}

// Recorder records attempts for one loaded config. Safe for concurrent use.
// A nil *Recorder records nothing.
type Recorder struct {
	proc    *process
	headers []HeaderAttribute
	static  map[string][]attribute.KeyValue
	maxVals int
	seed    maphash.Seed
	shards  [cacheShards]cacheShard
	// last is the entry the previous Record found under its own tuple:
	// most attempts repeat the previous one's tuple, and comparing it is
	// cheaper than hashing the tuple for the shard and the map.
	last   atomic.Pointer[entry]
	mu     sync.Mutex // serialises the slow path
	closed atomic.Bool
}

// Headers are the request headers whose values go into Attempt.Headers, in
// that order.
func (r *Recorder) Headers() []HeaderAttribute {
	if r == nil {
		return nil
	}
	return r.headers
}

// Record records one attempt. It does not block on the network.
func (r *Recorder) Record(a *Attempt) {
	if r == nil || a == nil {
		return
	}
	k := key{
		op: a.Operation, provider: a.Provider, reqModel: a.RequestModel, respModel: a.ResponseModel,
		backend: a.Backend, errType: a.ErrorType, hdr: a.Headers,
	}
	for i := len(r.headers); i < MaxHeaderAttributes; i++ {
		k.hdr[i] = "" // values beyond the configured headers are ignored
	}
	e := r.lookup(&k)
	if e == nil {
		e = r.slow(k)
	}
	r.proc.inst.record(e, a)
}

// Close releases the recorder's hold on the process's exporter; the last
// one stops the Prometheus listener. Recording after Close still works.
func (r *Recorder) Close() {
	if r == nil || !r.closed.CompareAndSwap(false, true) {
		return
	}
	r.proc.release()
}

type key struct {
	op, provider, reqModel, respModel, backend, errType string
	hdr                                                 [MaxHeaderAttributes]string
}

const cacheShards = 16

// cacheShard is a copy-on-write map: readers load it without a lock.
type cacheShard struct {
	m atomic.Pointer[map[key]*entry]
}

func (r *Recorder) shard(k *key) *cacheShard {
	h := maphash.String(r.seed, k.reqModel) ^ maphash.String(r.seed, k.hdr[0]) ^ uint64(len(k.backend))
	return &r.shards[h%cacheShards]
}

func (r *Recorder) lookup(k *key) *entry {
	if e := r.last.Load(); e != nil && e.k == *k {
		return e
	}
	if m := r.shard(k).m.Load(); m != nil {
		if e := (*m)[*k]; e != nil {
			r.last.Store(e)
			return e
		}
	}
	return nil
}

func (r *Recorder) store(k key, e *entry) {
	s := r.shard(&k)
	old := s.m.Load()
	var n map[key]*entry
	if old == nil {
		n = map[key]*entry{k: e}
	} else {
		n = make(map[key]*entry, len(*old)+1)
		for kk, v := range *old {
			n[kk] = v
		}
		n[k] = e
	}
	s.m.Store(&n)
}

// slow admits the tuple's client-chosen values against the caps, builds its
// attribute sets and caches them. A tuple whose values were all admitted is
// cached under itself; one with a folded value only under the folded tuple
// (caching every raw value would let clients grow the cache without bound),
// so such requests take this path (a mutex, no allocation once the folded
// tuple exists).
func (r *Recorder) slow(raw key) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.lookup(&raw); e != nil {
		return e
	}
	k := raw
	k.reqModel = r.proc.values.admit(AttrRequestModel, k.reqModel, r.maxVals)
	k.respModel = r.proc.values.admit(AttrResponseModel, k.respModel, r.maxVals)
	for i, h := range r.headers {
		k.hdr[i] = r.proc.values.admit(h.Attribute, k.hdr[i], r.maxVals)
	}
	e := r.lookup(&k)
	if e == nil {
		e = r.proc.inst.newEntry(r.attributes(&k), k.backend)
		e.k = k
		r.store(k, e)
	}
	return e
}

func (r *Recorder) attributes(k *key) []attribute.KeyValue {
	kvs := make([]attribute.KeyValue, 0, 6+len(r.headers)+len(r.static[k.backend]))
	add := func(name, v string) {
		if v != "" {
			kvs = append(kvs, attribute.String(name, v))
		}
	}
	add(AttrOperation, k.op)
	add(AttrProvider, k.provider)
	add(AttrRequestModel, k.reqModel)
	add(AttrResponseModel, k.respModel)
	add(AttrErrorType, k.errType)
	for i, h := range r.headers {
		add(h.Attribute, k.hdr[i])
	}
	return append(kvs, r.static[k.backend]...)
}

// valueSets holds the admitted values per attribute, process-wide so a
// reload does not reset the caps (the exporter keeps every series it saw).
type valueSets struct {
	mu   sync.Mutex
	sets map[string]map[string]struct{}
}

// admit returns v, or RedactedValue for a credential-looking value, or
// OverflowValue once attr has max distinct values or v is too long.
func (s *valueSets) admit(attr, v string, max int) string {
	if v == "" {
		return v
	}
	if LooksLikeCredential(v) {
		return RedactedValue
	}
	if len(v) > MaxValueLen {
		return OverflowValue
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.sets[attr]
	if set == nil {
		if s.sets == nil {
			s.sets = map[string]map[string]struct{}{}
		}
		set = map[string]struct{}{}
		s.sets[attr] = set
	}
	if _, ok := set[v]; ok {
		return v
	}
	if len(set) >= max {
		return OverflowValue
	}
	set[v] = struct{}{}
	return v
}

// LooksLikeCredential reports whether an attribute value looks like a key
// or token (an Authorization value, an OpenAI/Anthropic style key, a JWT).
func LooksLikeCredential(v string) bool {
	for _, p := range [...]string{"bearer ", "basic ", "sk-", "sk_", "eyj"} {
		if len(v) >= len(p) && strings.EqualFold(v[:len(p)], p) {
			return true
		}
	}
	return false
}

// Validate checks a spec's attribute names (the config loader names the
// fields in its own errors).
func (s *Spec) Validate() error {
	if len(s.Headers) > MaxHeaderAttributes {
		return fmt.Errorf("at most %d header attributes", MaxHeaderAttributes)
	}
	if s.MaxValuesPerAttribute < 0 {
		return errors.New("max values per attribute must not be negative")
	}
	seen := map[string]bool{}
	for _, h := range s.Headers {
		if err := ValidAttributeName(h.Attribute); err != nil {
			return err
		}
		if seen[h.Attribute] {
			return fmt.Errorf("attribute %q is used twice", h.Attribute)
		}
		seen[h.Attribute] = true
	}
	for _, attrs := range s.BackendAttributes {
		for name := range attrs {
			if err := ValidAttributeName(name); err != nil {
				return err
			}
			if seen[name] {
				return fmt.Errorf("attribute %q is also a header attribute", name)
			}
		}
	}
	return nil
}

// ValidAttributeName accepts [a-zA-Z_][a-zA-Z0-9_.]* that is not one of
// the attributes the recorder sets itself (gen_ai.*, error.type, aigw.*).
func ValidAttributeName(name string) error {
	if name == "" {
		return errors.New("empty attribute name")
	}
	for i, c := range []byte(name) {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c == '.' || c >= '0' && c <= '9')
		if !ok {
			return fmt.Errorf("attribute name %q: only letters, digits, '_' and '.', not starting with a digit or '.'", name)
		}
	}
	if strings.HasPrefix(name, "gen_ai.") || strings.HasPrefix(name, "aigw.") || name == AttrErrorType || strings.HasPrefix(name, "otel_") || strings.HasPrefix(name, "__") {
		return fmt.Errorf("attribute name %q is reserved", name)
	}
	return nil
}

func staticAttributes(m map[string]map[string]string) map[string][]attribute.KeyValue {
	out := make(map[string][]attribute.KeyValue, len(m))
	for backend, attrs := range m {
		kvs := make([]attribute.KeyValue, 0, len(attrs))
		for k, v := range attrs {
			kvs = append(kvs, attribute.String(k, v))
		}
		sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
		out[backend] = kvs
	}
	return out
}
