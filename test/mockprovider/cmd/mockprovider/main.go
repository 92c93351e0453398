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
	// bedrock: the mock is Amazon Bedrock (schema aws_bedrock or
	// aws_bedrock_anthropic), configured by bedrockOpts instead of opts.
	bedrock     bool
	bedrockOpts mockprovider.BedrockOptions
	// serviceAccount (Vertex AI schemas): the key file's service-account
	// JSON; the mock serves a fake Google token endpoint for it at /token and
	// accepts only the tokens that endpoint issued.
	serviceAccount []byte
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
	var schema, keyFile, models, failStatus, region, project, awsKeyID, awsSecret string
	fs.StringVar(&c.listen, "listen", env("MOCK_LISTEN", ":8080"), "API listen address ($MOCK_LISTEN)")
	fs.StringVar(&c.controlListen, "control-listen", env("MOCK_CONTROL_LISTEN", ""), "control API listen address, empty disables ($MOCK_CONTROL_LISTEN)")
	fs.StringVar(&schema, "schema", env("MOCK_SCHEMA", "openai"), "openai | azure_openai | anthropic ($MOCK_SCHEMA)")
	fs.StringVar(&c.opts.Name, "name", env("MOCK_NAME", "mock"), "backend name echoed in X-Mock-Backend ($MOCK_NAME)")
	fs.StringVar(&keyFile, "key-file", env("MOCK_KEY_FILE", ""), "file holding the expected API key, empty disables auth ($MOCK_KEY_FILE)")
	fs.StringVar(&models, "models", env("MOCK_MODELS", ""), "comma-separated accepted models / Azure deployments, empty accepts any ($MOCK_MODELS)")
	fs.StringVar(&c.opts.APIVersion, "api-version", env("MOCK_API_VERSION", ""), "required Azure api-version / anthropic-version ($MOCK_API_VERSION)")
	fs.StringVar(&c.opts.PathPrefix, "path-prefix", env("MOCK_PATH_PREFIX", ""), "API path prefix, default per schema ($MOCK_PATH_PREFIX)")
	fs.StringVar(&failStatus, "fail-status", env("MOCK_FAIL_STATUS", "0"), "answer every request with this status, 0 = healthy ($MOCK_FAIL_STATUS)")
	fs.StringVar(&region, "region", env("MOCK_REGION", ""), "Bedrock signing region (default us-east-1) or Vertex AI region ($MOCK_REGION)")
	fs.StringVar(&project, "project", env("MOCK_PROJECT", ""), "Vertex AI project ($MOCK_PROJECT)")
	fs.StringVar(&awsKeyID, "aws-access-key-id", env("MOCK_AWS_ACCESS_KEY_ID", ""), "Bedrock: the access key id requests must be signed with ($MOCK_AWS_ACCESS_KEY_ID)")
	fs.StringVar(&awsSecret, "aws-secret-access-key", env("MOCK_AWS_SECRET_ACCESS_KEY", ""), "Bedrock: its secret access key ($MOCK_AWS_SECRET_ACCESS_KEY)")
	fs.BoolVar(&c.healthcheck, "healthcheck", false, "probe the -listen address's /healthz and exit 0 when healthy (for container health checks)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	st, err := strconv.Atoi(failStatus)
	if err != nil || st < 0 || (st != 0 && (st < 100 || st > 599)) {
		return c, fmt.Errorf("fail status %q: want 0 or an HTTP status code", failStatus)
	}
	for _, m := range strings.Split(models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			c.opts.Models = append(c.opts.Models, m)
		}
	}
	if schema == "aws_bedrock" || schema == "aws_bedrock_anthropic" {
		if awsKeyID == "" || awsSecret == "" || keyFile != "" {
			return c, errors.New("a Bedrock mock needs -aws-access-key-id and -aws-secret-access-key (and no -key-file)")
		}
		c.bedrock = true
		c.bedrockOpts = mockprovider.BedrockOptions{Name: c.opts.Name, Region: region, Models: c.opts.Models,
			Keys: map[string]mockprovider.AWSKey{awsKeyID: {AccessKeyID: awsKeyID, SecretAccessKey: awsSecret}}}
		c.opts = mockprovider.Options{FailStatus: st}
		return c, nil
	}
	var ok bool
	if c.opts.Schema, ok = mockprovider.ParseSchema(schema); !ok {
		return c, fmt.Errorf("unknown schema %q", schema)
	}
	c.opts.FailStatus = st
	if c.opts.Schema == mockprovider.SchemaVertexGemini || c.opts.Schema == mockprovider.SchemaVertexAnthropic {
		if project == "" || region == "" || keyFile == "" {
			return c, errors.New("a Vertex AI mock needs -project, -region and -key-file (the service-account JSON key)")
		}
		c.opts.Project, c.opts.Region = project, region
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return c, fmt.Errorf("reading key file %s: %w", keyFile, err)
		}
		c.serviceAccount = b
		return c, nil
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

// handler wraps the mock named name with /healthz, the token endpoint at /token when
// token is set, and a log line per request. The log names method, path and status only:
// headers (which carry credentials) and bodies are never logged.
func handler(name string, s, token http.Handler, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if token != nil && r.URL.Path == "/token" {
			token.ServeHTTP(sw, r)
		} else {
			s.ServeHTTP(sw, r)
		}
		logger.Printf("%s %s %s -> %d", name, r.Method, r.URL.Path, sw.status)
	})
}

// mock builds the configured mock: its API handler, its control API and, for Vertex AI,
// the token endpoint.
func mock(c config) (name string, api, control, token http.Handler, err error) {
	if c.bedrock {
		b := mockprovider.NewBedrock(c.bedrockOpts)
		b.SetFailStatus(c.opts.FailStatus)
		return c.bedrockOpts.Name, b, b.ControlHandler(), nil, nil
	}
	if c.serviceAccount != nil {
		g, err := mockprovider.NewGoogleToken(c.serviceAccount, time.Hour)
		if err != nil {
			return "", nil, nil, nil, err
		}
		c.opts.TokenCheck, token = g.Check, g
	}
	s := mockprovider.New(c.opts)
	return s.Name(), s, s.ControlHandler(), token, nil
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
	name, api, control, token, err := mock(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mockprovider:", err)
		os.Exit(2)
	}
	servers := []*http.Server{{Addr: c.listen, Handler: handler(name, api, token, logger), ReadHeaderTimeout: 10 * time.Second}}
	if c.controlListen != "" {
		servers = append(servers, &http.Server{Addr: c.controlListen, Handler: control, ReadHeaderTimeout: 10 * time.Second})
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ListenAndServe() }()
	}
	logger.Printf("mockprovider %s (%s) listening on %s, fail status %d, control %q",
		name, schemaOf(c), c.listen, c.opts.FailStatus, c.controlListen)

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

func schemaOf(c config) string {
	if c.bedrock {
		return "aws_bedrock"
	}
	return string(c.opts.Schema)
}
