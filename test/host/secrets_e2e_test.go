package host_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/test/mockprovider"
)

// leakSecrets are every distinctive secret of the leak test: the backends' keys (from key
// files and key_env) and what the client sends as its own credentials.
type leakSecrets struct {
	backend map[string]string // backend name -> key
	client  []string
}

// scanFor reports, for each secret, where it occurs in the named texts.
func scanFor(secrets []string, texts map[string][]byte) []string {
	var found []string
	for where, b := range texts {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				found = append(found, fmt.Sprintf("%q in %s", s, where))
			}
		}
	}
	return found
}

// TestCredentialsNeverLeakE2E configures distinctive secrets, runs normal, streamed,
// failing, failover, wrong-key and bad-input requests at debug log level, then scans
// everything the filter emitted (stdout, stderr, access logs with dynamic metadata, stats,
// every response body and header the client saw) and everything every provider received
// (except the single credential header each must get) for every secret. The client's own
// authorization / api-key / x-api-key never reach any provider.
func TestCredentialsNeverLeakE2E(t *testing.T) {
	backends := append(failoverBackends(),
		trBackend{name: "leak-azure", schema: mockprovider.SchemaAzure, serves: []string{"gpt-4o-mini"}, apiVersion: "2024-10-21",
			override: "dep-leak", mockModels: []string{"dep-leak"}, key: "az-CANARY-leak-5e71c9d0", toolArgs: weatherArgs},
		trBackend{name: "leak-claude", schema: mockprovider.SchemaAnthropic, serves: []string{"gpt-4o-mini"}, apiVersion: "2023-06-01",
			override: "claude-3-5-haiku-latest", mockModels: []string{"claude-3-5-haiku-latest"},
			key: "sk-ant-CANARY-leak-8841be03", keyFile: true, toolArgs: weatherArgs},
		// The provider expects another key than the gateway has: its 401 goes back to the client.
		trBackend{name: "leak-wrongkey", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o-mini"},
			key: "sk-CANARY-leak-wrongkey-77d1", keyFile: true, mockKey: "sk-the-provider-wants-another"},
	)
	o := trOptions{backends: backends, logLevel: "debug"}
	failoverTopology(&o)
	e := newTrEnv(t, o)
	secrets := leakSecrets{backend: map[string]string{}, client: []string{clientKey, "az-client-CANARY-93c1", "sk-ant-client-CANARY-4b2e"}}
	for _, b := range backends {
		secrets.backend[b.name] = b.key
	}
	var all []string
	for _, k := range secrets.backend {
		all = append(all, k)
	}
	all = append(all, secrets.client...)

	seen := map[string][]byte{} // what the client saw, by request
	record := func(label string, resp *http.Response, body []byte) {
		if resp != nil {
			var h bytes.Buffer
			resp.Header.Write(&h)
			seen[label+" headers"] = h.Bytes()
		}
		seen[label+" body"] = body
	}
	clientHeaders := map[string]string{"authorization": "Bearer " + clientKey, "api-key": "az-client-CANARY-93c1",
		"x-api-key": "sk-ant-client-CANARY-4b2e"}
	post := func(label, body string) {
		status, hdr, b := rawPost(t, e.h.URL()+"/v1/chat/completions", body, clientHeaders)
		record(label, &http.Response{StatusCode: status, Header: hdr}, b)
	}
	c := e.client(option.WithHeader("api-key", "az-client-CANARY-93c1"), option.WithHeader("x-api-key", "sk-ant-client-CANARY-4b2e"))
	sdk := func(label string, p openai.ChatCompletionNewParams, opts ...option.RequestOption) {
		var resp *http.Response
		out, err := c.Chat.Completions.New(ctxT(t), p, append(opts, option.WithResponseInto(&resp))...)
		var apiErr *openai.Error
		if errors.As(err, &apiErr) {
			record(label, apiErr.Response, []byte(apiErr.RawJSON()+" "+apiErr.Error()))
			return
		} else if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		record(label, resp, []byte(out.RawJSON()))
	}
	sdkStream := func(label string, p openai.ChatCompletionNewParams, opts ...option.RequestOption) {
		var resp *http.Response
		s := c.Chat.Completions.NewStreaming(ctxT(t), p, append(opts, option.WithResponseInto(&resp))...)
		var all bytes.Buffer
		for s.Next() {
			all.WriteString(s.Current().RawJSON())
		}
		if err := s.Err(); err != nil {
			all.WriteString(err.Error())
		}
		record(label, resp, all.Bytes())
	}

	// Normal, streamed and tool requests to every schema.
	for _, name := range []string{"leak-azure", "leak-claude"} {
		sdk(name+" completion", chatWithSystem(), to(name))
		sdkStream(name+" stream", chatWithSystem(), to(name))
		p := chatWithSystem()
		p.Tools = []openai.ChatCompletionToolUnionParam{weatherTool()}
		sdk(name+" tools", p, to(name))
	}
	// Failover (primary 503 -> Anthropic fallback), plain and streamed.
	e.mocks["primary"].srv.SetFailStatus(503)
	sdk("failover", gpt4oParams())
	sdkStream("failover stream", gpt4oParams())
	// Every backend failing: the client gets the provider's errors.
	e.mocks["fallback"].srv.SetFailStatus(529)
	sdk("both priorities failing", gpt4oParams())
	e.mocks["fallback"].srv.SetFailStatus(0)
	for _, name := range []string{"leak-azure", "leak-claude"} {
		e.mocks[name].srv.SetFailStatus(401)
		sdk(name+" provider 401", chatWithSystem(), to(name))
		e.mocks[name].srv.SetFailStatus(0)
	}
	// The provider rejects the gateway's key.
	sdk("wrong key", chatWithSystem(), to("leak-wrongkey"))
	// Bad input: not JSON, unknown backend, a parameter Anthropic cannot express, a bad tool.
	post("bad json", `{"model":"gpt-4o-mini",`)
	post("unknown backend", `{"model":"gpt-4o-mini","backend":"nope","messages":[{"role":"user","content":"x"}]}`)
	post("n=2 to anthropic", `{"model":"gpt-4o-mini","backend":"leak-claude","n":2,"messages":[{"role":"user","content":"x"}]}`)
	post("bad tool", `{"model":"gpt-4o-mini","backend":"leak-claude","tools":[{"type":"function"}],"messages":[{"role":"user","content":"x"}]}`)
	post("bad temperature", `{"model":"gpt-4o-mini","backend":"leak-claude","temperature":7,"messages":[{"role":"user","content":"x"}]}`)

	stats, err := e.h.Stats()
	if err != nil {
		t.Fatal(err)
	}
	statsText, _ := json.Marshal(stats)
	accessText, _ := json.Marshal(e.h.AccessLogs())
	if err := e.h.Stop(); err != nil {
		t.Fatal(err)
	}
	finalStats, _ := json.Marshal(e.h.FinalStats())
	emitted := map[string][]byte{
		"host stdout":        []byte(strings.Join(e.h.Stdout(), "\n")),
		"host stderr (logs)": []byte(strings.Join(e.h.Stderr(), "\n")),
		"access logs":        accessText,
		"stats":              statsText,
		"final stats":        finalStats,
	}
	for k, v := range seen {
		emitted["client: "+k] = v
	}
	if len(e.h.Stderr()) < 20 || len(e.h.AccessLogs()) < 15 {
		t.Fatalf("too little output to be a meaningful scan: %d log lines, %d access logs", len(e.h.Stderr()), len(e.h.AccessLogs()))
	}
	for _, f := range scanFor(all, emitted) {
		t.Errorf("secret leaked: %s", f)
	}

	// Providers: each request may carry its own backend's key in its one credential header,
	// nothing else anywhere (path, query, other headers, body), and nothing of the client's.
	for name, m := range e.mocks {
		reqs := m.srv.Requests()
		if len(reqs) == 0 && name != "leak-wrongkey" {
			t.Errorf("%s got no request: the scan would prove nothing", name)
		}
		for i, r := range reqs {
			authName, authValue := m.b.authHeader(m.b.key)
			if got := r.Header.Values(authName); len(got) != 1 || got[0] != authValue {
				t.Errorf("%s request %d: %s is not exactly the backend's own key", name, i, authName)
			}
			rest := r.Header.Clone()
			rest.Del(authName)
			var h bytes.Buffer
			rest.Write(&h)
			texts := map[string][]byte{
				fmt.Sprintf("%s request %d other headers", name, i): h.Bytes(),
				fmt.Sprintf("%s request %d body", name, i):          r.Body,
				fmt.Sprintf("%s request %d target", name, i):        []byte(r.Path + "?" + r.RawQuery + " " + r.Host),
			}
			for _, f := range scanFor(all, texts) {
				t.Errorf("secret leaked to a provider: %s", f)
			}
			// The credential header carries no one else's secret.
			for other, k := range secrets.backend {
				if other != name && strings.Contains(authValue, k) {
					t.Errorf("%s got %s's key", name, other)
				}
			}
		}
	}
	// The scan must have seen every secret somewhere legitimate: each backend key in its own
	// provider's credential header (else the test would pass for a gateway sending nothing).
	for name, m := range e.mocks {
		if name == "leak-wrongkey" {
			continue
		}
		if len(m.srv.Requests()) == 0 {
			continue
		}
		n, v := m.b.authHeader(m.b.key)
		if m.srv.Requests()[0].Header.Get(n) != v {
			t.Errorf("%s never received its key", name)
		}
	}
}
