package metrics

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Exporter defaults.
const (
	DefaultListenAddress = ":1064"
	DefaultPath          = "/metrics"
	// ListenOff as the listen address serves no Prometheus endpoint.
	ListenOff = "off"
	// ScopeName is the instrumentation scope (otel_scope_name).
	ScopeName = "aigw"
	// seriesLimit is the SDK's cap on series per instrument (its default,
	// 2000, is below what the attribute caps allow).
	seriesLimit = 100000
)

// Logf receives the exporter's log lines (bind retries, OTLP setup).
// Adapters may point it at Envoy's log; it never receives a credential.
var Logf = log.Printf

// process is the one metrics pipeline of the process: one MeterProvider,
// one Prometheus registry and listener, one OTLP reader.
type process struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
	inst     instruments
	values   valueSets
	otlp     string // "", "grpc" or "http/protobuf"

	mu     sync.Mutex
	refs   int
	server *promServer
	addr   string // the current server's configured address and path
	path   string
}

var (
	globalMu sync.Mutex
	global   *process
)

// New returns a Recorder for one loaded config. The first call in the
// process creates the pipeline (OTLP push per the environment); every call
// points the Prometheus listener at spec's address, so the most recently
// loaded config's address applies (configs of one Envoy should agree). A
// busy address is retried in the background: New never fails for it.
func New(spec Spec) (*Recorder, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	globalMu.Lock()
	defer globalMu.Unlock()
	if global == nil {
		p, err := newProcess()
		if err != nil {
			return nil, err
		}
		global = p
	}
	return global.newRecorder(spec), nil
}

// ServingAddress is the address the process's Prometheus listener is bound
// to, "" while it is not (off, or still retrying).
func ServingAddress() string {
	globalMu.Lock()
	p := global
	globalMu.Unlock()
	if p == nil {
		return ""
	}
	return p.servingAddress()
}

func newProcess() (*process, error) {
	p := &process{registry: prometheus.NewRegistry()}
	prom, err := otelprom.New(otelprom.WithRegisterer(p.registry))
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	res, err := resource.New(context.Background(), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		res = resource.Default()
	}
	opts := []sdkmetric.Option{
		sdkmetric.WithReader(prom),
		sdkmetric.WithResource(res),
		sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter),
		sdkmetric.WithCardinalityLimit(seriesLimit),
	}
	proto, err := otlpProtocol(os.Getenv)
	if err != nil {
		Logf("aigw metrics: %v; OTLP push is off", err)
	}
	if proto != "" {
		exp, err := newOTLPExporter(proto)
		if err != nil {
			Logf("aigw metrics: OTLP %s exporter: %v; OTLP push is off", proto, err)
		} else {
			// The periodic reader reads OTEL_METRIC_EXPORT_INTERVAL and
			// OTEL_METRIC_EXPORT_TIMEOUT and pushes on its own goroutine.
			opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
			p.otlp = proto
		}
	}
	p.provider = sdkmetric.NewMeterProvider(opts...)
	p.inst, err = newInstruments(p.provider.Meter(ScopeName))
	if err != nil {
		return nil, fmt.Errorf("metrics: instruments: %w", err)
	}
	if err := registerQuota(p.provider.Meter(ScopeName)); err != nil {
		return nil, fmt.Errorf("metrics: quota counter: %w", err)
	}
	return p, nil
}

func newOTLPExporter(proto string) (sdkmetric.Exporter, error) {
	ctx := context.Background()
	if proto == "grpc" {
		return otlpmetricgrpc.New(ctx)
	}
	return otlpmetrichttp.New(ctx)
}

// otlpProtocol decides from the standard variables whether to push OTLP and
// how: OTEL_METRICS_EXPORTER "none" (or a list without "otlp") is off, one
// listing "otlp" is on; unset, it is on when an OTLP endpoint variable is
// set (so nothing is pushed to a default localhost collector nobody set
// up). The protocol is OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, else
// OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf (the specification's
// default).
func otlpProtocol(getenv func(string) string) (string, error) {
	on := false
	if v := strings.TrimSpace(getenv("OTEL_METRICS_EXPORTER")); v != "" {
		for _, e := range strings.Split(v, ",") {
			if strings.TrimSpace(e) == "otlp" {
				on = true
			}
		}
	} else {
		on = getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != ""
	}
	if !on {
		return "", nil
	}
	proto := getenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "", "http/protobuf":
		return "http/protobuf", nil
	case "grpc":
		return "grpc", nil
	}
	return "", fmt.Errorf("OTLP protocol %q is not grpc or http/protobuf", proto)
}

func (p *process) newRecorder(spec Spec) *Recorder {
	r := &Recorder{
		proc:    p,
		headers: append([]HeaderAttribute(nil), spec.Headers...),
		static:  staticAttributes(spec.BackendAttributes),
		maxVals: spec.MaxValuesPerAttribute,
		seed:    maphash.MakeSeed(),
	}
	if r.maxVals == 0 {
		r.maxVals = DefaultMaxValuesPerAttribute
	}
	addr, path := spec.ListenAddress, spec.Path
	if addr == "" {
		addr = DefaultListenAddress
	}
	if path == "" {
		path = DefaultPath
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refs++
	if p.server == nil || p.addr != addr || p.path != path {
		if p.server != nil {
			p.server.stop()
			p.server = nil
		}
		p.addr, p.path = addr, path
		if addr != ListenOff {
			p.server = startServer(addr, path, promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{}))
		}
	}
	return r
}

func (p *process) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refs--
	if p.refs == 0 && p.server != nil {
		p.server.stop()
		p.server = nil
		p.addr, p.path = "", ""
	}
}

func (p *process) servingAddress() string {
	p.mu.Lock()
	s := p.server
	p.mu.Unlock()
	if s == nil {
		return ""
	}
	return s.boundAddress()
}

// flush pushes pending OTLP data now (tests).
func (p *process) flush(ctx context.Context) error { return p.provider.ForceFlush(ctx) }

// promServer serves /metrics on its own goroutine, binding in the
// background: during Envoy's hot restart the draining process still holds
// the port, so a failed bind is retried (250 ms doubling to 5 s) until it
// succeeds or the server is stopped.
type promServer struct {
	done  chan struct{}
	mu    sync.Mutex
	bound string
	srv   *http.Server
}

var (
	retryMin = 250 * time.Millisecond
	retryMax = 5 * time.Second
)

func startServer(addr, path string, h http.Handler) *promServer {
	mux := http.NewServeMux()
	mux.Handle(path, h)
	s := &promServer{done: make(chan struct{}), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go s.run(addr)
	return s
}

func (s *promServer) run(addr string) {
	wait := retryMin
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			s.mu.Lock()
			select {
			case <-s.done:
				s.mu.Unlock()
				ln.Close()
				return
			default:
			}
			s.bound = ln.Addr().String()
			s.mu.Unlock()
			if attempt > 0 {
				Logf("aigw metrics: serving %s after %d retries", addr, attempt)
			}
			if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				Logf("aigw metrics: listener %s: %v", addr, err)
			}
			return
		}
		if attempt == 0 {
			Logf("aigw metrics: cannot listen on %s (%v); retrying in the background", addr, err)
		}
		select {
		case <-s.done:
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, retryMax)
	}
}

func (s *promServer) stop() {
	s.mu.Lock()
	close(s.done)
	s.bound = ""
	s.mu.Unlock()
	s.srv.Close()
}

func (s *promServer) boundAddress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}
