// Command mockprovider serves one mock LLM provider (see package mockprovider) for the
// docker compose demo. Every flag can also be set through the environment variable named
// in its help text, which is how compose configures it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aigw/aigw/test/mockprovider"
)

type config struct {
	listen, controlListen string
	opts                  mockprovider.Options
	healthcheck           bool
}

// env returns the environment override for a flag default.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("mockprovider", flag.ContinueOnError)
	var c config
	var schema, keyFile, models, failStatus string
	fs.StringVar(&c.listen, "listen", env("MOCK_LISTEN", ":8080"), "API listen address ($MOCK_LISTEN)")
	fs.StringVar(&c.controlListen, "control-listen", env("MOCK_CONTROL_LISTEN", ""), "control API listen address, empty disables ($MOCK_CONTROL_LISTEN)")
	fs.StringVar(&schema, "schema", env("MOCK_SCHEMA", "openai"), "openai | azure_openai | anthropic ($MOCK_SCHEMA)")
	fs.StringVar(&c.opts.Name, "name", env("MOCK_NAME", "mock"), "backend name echoed in X-Mock-Backend ($MOCK_NAME)")
	fs.StringVar(&keyFile, "key-file", env("MOCK_KEY_FILE", ""), "file holding the expected API key, empty disables auth ($MOCK_KEY_FILE)")
	fs.StringVar(&models, "models", env("MOCK_MODELS", ""), "comma-separated accepted models / Azure deployments, empty accepts any ($MOCK_MODELS)")
	fs.StringVar(&c.opts.APIVersion, "api-version", env("MOCK_API_VERSION", ""), "required Azure api-version / anthropic-version ($MOCK_API_VERSION)")
	fs.StringVar(&c.opts.PathPrefix, "path-prefix", env("MOCK_PATH_PREFIX", ""), "API path prefix, default per schema ($MOCK_PATH_PREFIX)")
	fs.StringVar(&failStatus, "fail-status", env("MOCK_FAIL_STATUS", "0"), "answer every request with this status, 0 = healthy ($MOCK_FAIL_STATUS)")
	fs.BoolVar(&c.healthcheck, "healthcheck", false, "probe the -listen address's /healthz and exit 0 when healthy (for container health checks)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var ok bool
	if c.opts.Schema, ok = mockprovider.ParseSchema(schema); !ok {
		return c, fmt.Errorf("unknown schema %q", schema)
	}
	st, err := strconv.Atoi(failStatus)
	if err != nil || st < 0 || (st != 0 && (st < 100 || st > 599)) {
		return c, fmt.Errorf("fail status %q: want 0 or an HTTP status code", failStatus)
	}
	c.opts.FailStatus = st
	for _, m := range strings.Split(models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			c.opts.Models = append(c.opts.Models, m)
		}
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			// The error names the file only; the file's content is never printed.
			return c, fmt.Errorf("reading key file %s: %w", keyFile, err)
		}
		c.opts.APIKey = strings.TrimSpace(string(b))
		if c.opts.APIKey == "" {
			return c, fmt.Errorf("key file %s is empty", keyFile)
		}
	}
	return c, nil
}

// statusWriter captures the status for the access log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// handler wraps the mock with /healthz and a log line per request. The log names method,
// path and status only: headers (which carry credentials) and bodies are never logged.
func handler(s *mockprovider.Server, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		s.ServeHTTP(sw, r)
		logger.Printf("%s %s %s -> %d", s.Name(), r.Method, r.URL.Path, sw.status)
	})
}

// probe implements -healthcheck: distroless images have no curl.
func probe(listen string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz status %d", resp.StatusCode)
	}
	return nil
}

func main() {
	c, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "mockprovider:", err)
		os.Exit(2)
	}
	if c.healthcheck {
		if err := probe(c.listen); err != nil {
			fmt.Fprintln(os.Stderr, "mockprovider: unhealthy:", err)
			os.Exit(1)
		}
		return
	}
	logger := log.New(os.Stdout, "", log.LstdFlags)
	s := mockprovider.New(c.opts)
	servers := []*http.Server{{Addr: c.listen, Handler: handler(s, logger), ReadHeaderTimeout: 10 * time.Second}}
	if c.controlListen != "" {
		servers = append(servers, &http.Server{Addr: c.controlListen, Handler: s.ControlHandler(), ReadHeaderTimeout: 10 * time.Second})
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ListenAndServe() }()
	}
	logger.Printf("mockprovider %s (%s) listening on %s, auth %v, fail status %d, control %q",
		c.opts.Name, c.opts.Schema, c.listen, c.opts.APIKey != "", c.opts.FailStatus, c.controlListen)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-errc:
		logger.Printf("server stopped: %v", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdown)
	}
}
