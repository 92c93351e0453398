package golangabi

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// Envoy stats the router defines (aigw_requests_total, ...) are counted in
// Go and added to Envoy's in batches. Each call into Envoy's metrics API
// takes a mutex on the filter config that every worker shares
// (golang_filter.cc FilterConfig::incrementMetric) plus a hash lookup and a
// weak_ptr lock: three increments per request would put every worker's
// requests through that one lock. Here each worker adds to a slot of its
// own (an uncontended atomic add on its own cache line); a background
// goroutine moves the sums into Envoy every statsFlushInterval, and a
// config's sums are moved before Envoy's config object is released. Envoy's
// admin /stats therefore lags by at most the interval.
const statsFlushInterval = 500 * time.Millisecond

// metric is one Envoy stat the filter defined: filter.ShardedCounter.
type metric struct {
	slots []slot // one per Envoy worker; slot 0 also takes unsharded increments
	c     unsafe.Pointer
	id    uint32
	name  string
}

// slot is one worker's pending sum, alone on its cache line.
type slot struct {
	n atomic.Int64
	_ [56]byte
}

// metricShard is a metric as one worker counts into it.
type metricShard struct {
	*metric
	s *slot
}

func (m metricShard) Increment(offset int64) { m.s.n.Add(offset) }

var (
	statsMu      sync.Mutex
	statsByOwner = map[unsafe.Pointer][]*metric{} // Envoy's httpConfig -> its stats
	flusherOnce  sync.Once
)

func newMetric(c unsafe.Pointer, id uint32, name string, workers int) *metric {
	m := &metric{slots: make([]slot, max(workers, 1)), c: c, id: id, name: name}
	statsMu.Lock()
	statsByOwner[c] = append(statsByOwner[c], m)
	statsMu.Unlock()
	flusherOnce.Do(func() { go flushStatsEvery(statsFlushInterval) })
	return m
}

func (m *metric) Increment(offset int64) { m.slots[0].n.Add(offset) }

// Shard is the view worker i counts through (filter.Metrics.ForWorker). A
// worker Envoy did not announce shares slot 0: still exact, only slower.
func (m *metric) Shard(i int) api.CounterMetric {
	if i < 0 || i >= len(m.slots) {
		return m
	}
	return metricShard{m, &m.slots[i]}
}

// Record and Get are rare (the router uses neither): they move the pending
// sum first, so they see every Increment made before them.
func (m *metric) Record(v uint64) {
	statsMu.Lock()
	defer statsMu.Unlock()
	m.flushLocked()
	m.check(recordMetric(m.c, m.id, v))
}

func (m *metric) Get() uint64 {
	statsMu.Lock()
	defer statsMu.Unlock()
	m.flushLocked()
	v, st := getMetric(m.c, m.id)
	m.check(st)
	return v
}

// flushLocked moves the pending sum into Envoy. A failure (Envoy's config
// already gone) is logged, never a panic: losing a count must not fail a
// request.
func (m *metric) flushLocked() {
	var d int64
	for i := range m.slots {
		d += m.slots[i].n.Swap(0)
	}
	if d != 0 {
		m.check(incrementMetric(m.c, m.id, d))
	}
}

func (m *metric) check(st capiStatus) {
	if st != capiOK {
		logf(api.Warn, fmt.Sprintf("aigw: stat %s: envoy C API status %d", m.name, int(st)))
	}
}

func flushStatsEvery(d time.Duration) {
	for range time.Tick(d) {
		flushStats()
	}
}

func flushStats() {
	statsMu.Lock()
	defer statsMu.Unlock()
	for _, ms := range statsByOwner {
		for _, m := range ms {
			m.flushLocked()
		}
	}
}

// releaseStats moves the last sums of one config's stats into Envoy and
// forgets them, before the config object they live in is released.
func releaseStats(c unsafe.Pointer) {
	statsMu.Lock()
	defer statsMu.Unlock()
	for _, m := range statsByOwner[c] {
		m.flushLocked()
	}
	delete(statsByOwner, c)
}
