package golangabi

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aigw/aigw/filter"
)

// Plugin configs Envoy created, by the id Go returned for them. Envoy puts
// the id in each request (httpRequest.configId); requests look it up once,
// in their first callback.
var (
	configs      sync.Map // uint64 -> *filter.Config
	lastConfigID atomic.Uint64
)

// mergedConfigGrace is how long a merged config outlives Envoy's destroy call
// when Envoy asks for a delay: another worker may still hold the cached id
// and call into Go with it (golang_filter.cc RoutePluginConfig::getMergedConfigId; Envoy's
// Go SDK waits 2 s for the same reason).
const mergedConfigGrace = 2 * time.Second

func loadConfig(id uint64) *filter.Config {
	c, _ := configs.Load(id)
	cfg, _ := c.(*filter.Config)
	return cfg
}

func storeConfig(c *filter.Config) uint64 {
	id := lastConfigID.Add(1)
	configs.Store(id, c)
	return id
}

// newPluginConfig parses one plugin_config. Envoy passes the serialized
// google.protobuf.Any; the listener-level config (not per-route ones) comes
// with Envoy's config object, through which counters are defined.
func newPluginConfig(hc *cHTTPConfig) (uint64, error) {
	name := unsafe.String((*byte)(hc.pluginNamePtr), int(hc.pluginNameLen))
	if name != filter.Name {
		return 0, fmt.Errorf("plugin_name %q: this library serves only %q", name, filter.Name)
	}
	workers.ensure(int(hc.concurrency))
	var any anypb.Any
	raw := unsafe.Slice((*byte)(hc.configPtr), int(hc.configLen))
	if err := proto.Unmarshal(raw, &any); err != nil {
		return 0, fmt.Errorf("plugin_config is not a serialized google.protobuf.Any: %w", err)
	}
	var callbacks api.ConfigCallbacks
	if hc.isRouteConfig == 0 {
		callbacks = &metricDefiner{c: unsafe.Pointer(hc), workers: int(hc.concurrency)}
	}
	cfg, err := filter.Parser{}.Parse(&any, callbacks)
	if err != nil {
		if hc.isRouteConfig == 0 {
			finalizeConfig(unsafe.Pointer(hc))
		}
		return 0, err
	}
	if hc.isRouteConfig == 0 {
		// Envoy frees its httpConfig only when Go says so (cgo.cc
		// envoyGoConfigHttpFinalize); the counters use it until then.
		owners.Store(cfg, unsafe.Pointer(hc))
	}
	return storeConfig(cfg), nil
}

// owners maps a listener-level filter.Config to Envoy's httpConfig, so that
// destroying the config frees the C side too.
var owners sync.Map // *filter.Config -> unsafe.Pointer

func destroyPluginConfig(id uint64, delay bool) {
	destroy := func() {
		c, ok := configs.LoadAndDelete(id)
		if !ok {
			return
		}
		// A listener-level config's counters live in Envoy's FilterConfig, which
		// Envoy destroys only once no stream holds it: nothing can count on it now.
		if hc, ok := owners.LoadAndDelete(c); ok {
			releaseStats(hc.(unsafe.Pointer))
			finalizeConfig(hc.(unsafe.Pointer))
		}
	}
	if delay {
		time.AfterFunc(mergedConfigGrace, destroy)
		return
	}
	destroy()
}

func mergePluginConfig(name string, parentID, childID uint64) (uint64, error) {
	if name != filter.Name {
		return 0, fmt.Errorf("plugin_name %q: this library serves only %q", name, filter.Name)
	}
	parent, child := loadConfig(parentID), loadConfig(childID)
	if parent == nil || child == nil {
		return 0, errors.New("merging plugin configs: an id Envoy passed is unknown")
	}
	return storeConfig(filter.Parser{}.Merge(parent, child)), nil
}

// metricDefiner is api.ConfigCallbacks on Envoy's listener-level config.
type metricDefiner struct {
	c       unsafe.Pointer
	workers int
}

func (d *metricDefiner) DefineCounterMetric(name string) api.CounterMetric {
	return newMetric(d.c, defineMetric(d.c, api.Counter, name), name, d.workers)
}

func (d *metricDefiner) DefineGaugeMetric(name string) api.GaugeMetric {
	return newMetric(d.c, defineMetric(d.c, api.Gauge, name), name, d.workers)
}
