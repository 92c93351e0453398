package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/internal/credentials"
	"github.com/aigw/aigw/internal/credentials/credtest"
	"github.com/aigw/aigw/test/host"
	"github.com/aigw/aigw/test/mockprovider"
)

// Keyless credentials through the .so in the host: Azure OpenAI with Microsoft Entra ID
// tokens (the token cache runs inside the host process and fetches from the fake Entra
// endpoint of internal/credentials/credtest; the mock Azure accepts only tokens that endpoint
// issued, and no api-key), and an attempt whose backend has no valid credential: held until
// the credential arrives, or failed over by Envoy's per-try idle timeout (docs/attempts.md).

const azureChatPath = "/openai/deployments/gpt-4o-mini/chat/completions"

// entraToken matches a token the fake Entra endpoint issues ("entra-<n>").
var entraToken = regexp.MustCompile(`entra-[0-9]`)

// requireEntraBearer asserts the request's one credential is a token the Entra endpoint issued
// for the client secret secret, with no api-key and nothing of the client's.
func requireEntraBearer(t *testing.T, entra *credtest.Entra, r mockprovider.Request, secret string) {
	t.Helper()
	got := r.Header.Values("Authorization")
	if len(got) != 1 || !strings.HasPrefix(got[0], "Bearer ") {
		t.Fatalf("authorization %d value(s)", len(got))
	}
	issuedFor, ok := entra.Issued(strings.TrimPrefix(got[0], "Bearer "))
	if !ok || issuedFor != secret {
		t.Fatalf("bearer not issued for the expected client secret (issued: %v)", ok)
	}
	if len(r.Header.Values("Api-Key"))+len(r.Header.Values("X-Api-Key")) != 0 {
		t.Fatal("another credential header reached Azure")
	}
	if strings.Contains(r.Path+"?"+r.RawQuery+string(r.Body), "CANARY-5d1e0c7b") || strings.Contains(strings.Join(r.Header.Values("Authorization"), ""), "CANARY") {
		t.Fatal("the client's credential reached the provider")
	}
}

// requireNothingLogged asserts that no client secret and no issued token appears in the host's
// logs (both ABIs' and the credential refresher's).
func requireNothingLogged(t *testing.T, h *host.Host, secrets ...string) {
	t.Helper()
	for _, l := range h.Stderr() {
		for _, s := range secrets {
			if strings.Contains(l, s) {
				t.Errorf("a log line holds a client secret: %q", l)
			}
		}
		if entraToken.MatchString(l) || strings.Contains(l, "AADSTS") {
			t.Errorf("a log line holds a token or the endpoint's error description: %q", l)
		}
	}
}

// TestAzureEntraE2E: openai-go to an azure_openai backend with auth azure_entra. The first
// request arrives before the first token: its attempt is held (no answer, nothing sent to
// Azure) and goes on with the token as soon as the endpoint answers. Plain and streamed
// completions carry the issued bearer on Azure's deployment path. Then the client-secret file
// is replaced while requests keep flowing: every request succeeds and, within the cache's
// poll interval, the bearer is a token fetched with the new secret. Neither secret nor any
// token is ever logged.
func TestAzureEntraE2E(t *testing.T) {
	const secret1, secret2 = "entra-secret-one-CANARY-3b8e", "entra-secret-two-CANARY-91fd"
	var accepted atomic.Value
	accepted.Store(secret1)
	entra := credtest.NewEntraEndpoint(t, entraClient, credentials.EntraScope, func() string { return accepted.Load().(string) })
	entra.Block() // the host's first token fetch waits until Unblock
	e := newTrEnv(t, trOptions{backends: []trBackend{{name: "azure-entra", schema: mockprovider.SchemaAzure,
		serves: []string{"gpt-4o-mini"}, apiVersion: "2024-10-21", mockModels: []string{"gpt-4o-mini"},
		key: secret1, keyFile: true, entra: entra}}})
	m := e.mocks["azure-entra"]
	c := e.client()
	params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello to the gateway")}}

	t.Run("a client leaving a held request", func(t *testing.T) {
		// The attempt is destroyed while it waits: its wake-up is cancelled and its scheduler
		// deleted (a later token must not reach it; the host reports any callback after
		// destroy).
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := c.Chat.Completions.New(ctx, params, to("azure-entra")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the client's deadline", err)
		}
	})
	t.Run("first request waits for the first token", func(t *testing.T) {
		type result struct {
			out *openai.ChatCompletion
			err error
		}
		done := make(chan result, 1)
		go func() {
			out, err := c.Chat.Completions.New(ctxT(t), params, to("azure-entra"))
			done <- result{out, err}
		}()
		select {
		case r := <-done:
			t.Fatalf("answered before any token existed: %+v %v", r.out, r.err)
		case <-time.After(700 * time.Millisecond):
		}
		if n := len(m.srv.Requests()); n != 0 {
			t.Fatalf("Azure got %d request(s) before the token", n)
		}
		entra.Unblock()
		var r result
		select {
		case r = <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("the held request was not resumed by the token")
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.out.Choices[0].Message.Content != "Hello from azure-entra." {
			t.Fatalf("%+v", r.out)
		}
		req := e.lastRequest("azure-entra")
		if req.Path != azureChatPath || req.RawQuery != "api-version=2024-10-21" {
			t.Errorf("path %s?%s", req.Path, req.RawQuery)
		}
		requireEntraBearer(t, entra, req, secret1)
	})
	t.Run("stream", func(t *testing.T) {
		p := params
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		acc, chunks, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, to("azure-entra")))
		if chunks < 3 || acc.Choices[0].Message.Content != "Hello from azure-entra." || acc.Choices[0].FinishReason != "stop" {
			t.Fatalf("%d chunks, %+v", chunks, acc.Choices)
		}
		req := e.lastRequest("azure-entra")
		if req.Path != azureChatPath {
			t.Errorf("path %s", req.Path)
		}
		requireEntraBearer(t, entra, req, secret1)
	})
	t.Run("client secret rotated while traffic runs", func(t *testing.T) {
		// The new secret is registered with the app and replaces the file; the old one is
		// revoked at once, so only a fetch with the new secret succeeds.
		accepted.Store(secret2)
		writeKeyFile(t, m.keyPath, secret2)
		deadline := time.Now().Add(20 * time.Second)
		for n := 0; ; n++ {
			out, err := c.Chat.Completions.New(ctxT(t), params, to("azure-entra"))
			if err != nil {
				t.Fatalf("request %d during the rotation: %v", n, err)
			}
			if out.Choices[0].Message.Content != "Hello from azure-entra." {
				t.Fatalf("%+v", out)
			}
			tok := strings.TrimPrefix(e.lastRequest("azure-entra").Header.Get("Authorization"), "Bearer ")
			if s, _ := entra.Issued(tok); s == secret2 {
				requireEntraBearer(t, entra, e.lastRequest("azure-entra"), secret2)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no token from the new secret after %d requests", n+1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	requireNothingLogged(t, e.h, secret1, secret2)
}

// TestCredentialUnavailableFailsOverE2E: the failover chain's priority 0 is an Azure backend
// whose Entra token endpoint refuses every fetch (it has no credential at all); priority 1
// is an OpenAI backend with its key. Each request's first attempt is held by the upstream
// filter (nothing reaches Azure) until the route's per-try idle timeout resets it, and the
// retry policy (reset, previous_priorities) sends the retry to priority 1, which serves it
// with its own key: a 200 for the client, plain and streamed, in two attempts. Before this
// change the first attempt answered 503 credential_unavailable with send_response, which ends
// the request (no retry, no failover).
func TestCredentialUnavailableFailsOverE2E(t *testing.T) {
	const perTry = 400 * time.Millisecond
	entra := credtest.NewEntraEndpoint(t, entraClient, credentials.EntraScope, func() string { return "entra-secret-CANARY-77aa" })
	entra.Fail.Store(true)
	o := trOptions{backends: []trBackend{
		{name: "entra-primary", schema: mockprovider.SchemaAzure, serves: []string{"gpt-4o"}, apiVersion: "2024-10-21",
			mockModels: []string{"gpt-4o"}, key: "entra-secret-CANARY-77aa", entra: entra},
		{name: "key-fallback", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o"}, mockModels: []string{"gpt-4o"},
			key: "sk-fallback-CANARY-4e21"},
	}}
	o.clusters = func(m map[string]*trMock) []host.Cluster {
		return []host.Cluster{{Name: "failover-gpt-4o", Endpoints: []host.Endpoint{m["entra-primary"].endpoint(0), m["key-fallback"].endpoint(1)}}}
	}
	o.routes = func(map[string]*trMock) []host.Route {
		// The generated routes' retry policy (internal/envoygen: 5xx,reset,connect-failure with
		// previous_priorities and a per-try idle timeout), the timeout shortened for the test.
		return []host.Route{{Name: "model-gpt-4o", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o"}},
			Prefix: "/", Cluster: "failover-gpt-4o", Retries: 1,
			RetryOn: []string{"5xx", "reset", "connect-failure"}, PreviousPriorities: true, TimeoutMS: 20000,
			PerTryIdleTimeoutMS: int(perTry / time.Millisecond)},
			// The primary alone, no retry: the per-try idle timeout ends the request.
			{Name: "only-entra-primary", Headers: []host.HeaderMatch{{Name: "x-ai-eg-backend", Value: "entra-primary"}},
				Prefix: "/", Cluster: "backend-entra-primary", TimeoutMS: 20000, PerTryIdleTimeoutMS: int(perTry / time.Millisecond)}}
	}
	e := newTrEnv(t, o)
	c := e.client()
	check := func(t *testing.T, id string, elapsed time.Duration, stream bool) {
		t.Helper()
		if elapsed < perTry {
			t.Errorf("served after %v, before the per-try idle timeout (%v)", elapsed, perTry)
		}
		if n := len(e.mocks["entra-primary"].srv.Requests()); n != 0 {
			t.Errorf("the primary without a credential got %d request(s)", n)
		}
		fb := e.mocks["key-fallback"]
		r := e.lastRequest("key-fallback")
		requireOneCredential(t, fb.b, r, fb.b.key)
		if got, _ := jsonBody(t, r)["stream"].(bool); got != stream || r.Path != "/v1/chat/completions" {
			t.Errorf("fallback got %s stream=%v", r.Path, got)
		}
		a := e.access(id)
		if a.Status != http.StatusOK || a.Attempts != 2 || len(a.UpstreamHosts) != 2 ||
			a.UpstreamHosts[0] != e.mocks["entra-primary"].addr() || a.UpstreamHosts[1] != fb.addr() {
			t.Errorf("status %d attempts %d hosts %v", a.Status, a.Attempts, a.UpstreamHosts)
		}
		if got := metaString(a, "backend_name"); got != "key-fallback" {
			t.Errorf("backend_name %q", got)
		}
	}

	t.Run("completion", func(t *testing.T) {
		id := newRequestID(t)
		start := time.Now()
		var resp *http.Response
		out, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), option.WithHeader("x-request-id", id), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get(mockprovider.BackendHeader) != "key-fallback" || out.Choices[0].Message.Content != "Hello from key-fallback." {
			t.Fatalf("served by %q: %+v", resp.Header.Get(mockprovider.BackendHeader), out.Choices)
		}
		check(t, id, time.Since(start), false)
	})
	t.Run("stream", func(t *testing.T) {
		id := newRequestID(t)
		start := time.Now()
		p := gpt4oParams()
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		acc, chunks, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, option.WithHeader("x-request-id", id)))
		if chunks < 3 || acc.Choices[0].Message.Content != "Hello from key-fallback." {
			t.Fatalf("%d chunks, %+v", chunks, acc.Choices)
		}
		check(t, id, time.Since(start), true)
	})
	t.Run("no other priority", func(t *testing.T) {
		// Without a retry the held attempt ends with Envoy's per-try timeout answer
		// (onUpstreamTimeoutAbort: 504 "upstream request timeout"; the shipped configs'
		// local-reply mapping makes it OpenAI JSON), never reaching the provider.
		id := newRequestID(t)
		start := time.Now()
		status, _, body := rawPost(t, e.h.URL()+"/v1/chat/completions",
			`{"model":"gpt-4o","backend":"entra-primary","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"x-request-id": id})
		if status != http.StatusGatewayTimeout || string(body) != "upstream request timeout" || time.Since(start) < perTry {
			t.Fatalf("%d %q after %v", status, body, time.Since(start))
		}
		if a := e.access(id); a.Attempts != 1 || a.Route != "only-entra-primary" {
			t.Errorf("attempts %d route %q", a.Attempts, a.Route)
		}
		if n := len(e.mocks["entra-primary"].srv.Requests()); n != 0 {
			t.Errorf("the primary without a credential got %d request(s)", n)
		}
	})
	if !e.h.WaitStderr(`backend "entra-primary" has no valid credential; holding the attempt`, 5*time.Second) {
		t.Error("the held attempt is not logged")
	}
	if !e.h.WaitStderr("token refresh failed", 5*time.Second) {
		t.Error("the refresher's failure is not logged")
	}
	requireNothingLogged(t, e.h, "entra-secret-CANARY-77aa", "sk-fallback-CANARY-4e21")
}

// TestAWSCredentialUnavailableFailsOverE2E: the same chain with an aws_sigv4 Bedrock backend at
// priority 0 whose web identity (IRSA) token file does not exist yet, so the SDK's chain fetches
// no credentials, and an OpenAI backend at priority 1. The request's first attempt is held
// (nothing reaches Bedrock) until the per-try idle timeout; the retry is served by priority 1
// with its own key and no AWS header. Once the token file appears, the refresher's next fetch
// (mock STS) stores credentials and later requests are served by Bedrock, signed with them.
func TestAWSCredentialUnavailableFailsOverE2E(t *testing.T) {
	const perTry = 400 * time.Millisecond
	dir := t.TempDir()
	sts := &mockprovider.STS{Lifetime: time.Hour, RoleARN: "arn:aws:iam::123456789012:role/aigw"}
	stsSrv := httptest.NewServer(sts)
	t.Cleanup(stsSrv.Close)
	bedrock := mockprovider.NewBedrock(mockprovider.BedrockOptions{KeysFrom: sts.Issued, Models: []string{bedrockModelARN}})
	bSrv := httptest.NewServer(bedrock)
	t.Cleanup(bSrv.Close)
	primary := mockprovider.New(mockprovider.Options{Name: "openai", Schema: mockprovider.SchemaOpenAI, APIKey: "sk-openai-CANARY-2c6a"})
	pSrv := httptest.NewServer(primary)
	t.Cleanup(pSrv.Close)
	tokenFile := filepath.Join(dir, "token") // not written yet

	cfg, err := json.Marshal(map[string]any{
		"client_backend_selection": "configured",
		"backends": []map[string]any{
			{"name": "bedrock", "models": []string{"gpt-4o"}, "schema": "aws_bedrock_anthropic", "region": "us-east-1",
				"model_override": bedrockModelARN, "auth": map[string]string{"type": "aws_sigv4"}},
			{"name": "openai", "models": []string{"gpt-4o"}, "auth": map[string]string{"type": "bearer", "key_env": "AIGW_CRED_E2E_OPENAI"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	anyCfg, err := host.StringValueAny(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ep := func(srv *httptest.Server, name string, prio int) host.Endpoint {
		return host.Endpoint{Priority: prio, Addr: strings.TrimPrefix(srv.URL, "http://"), Metadata: map[string]map[string]string{"aigw": {"backend": name}}}
	}
	h := host.StartT(t, host.Config{
		Workers: 2, PluginConfig: anyCfg, UpstreamConfig: cfg,
		Clusters: []host.Cluster{{Name: "failover-gpt-4o", Endpoints: []host.Endpoint{ep(bSrv, "bedrock", 0), ep(pSrv, "openai", 1)}}},
		Routes: []host.Route{
			{Name: "model-gpt-4o", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o"}}, Prefix: "/", Cluster: "failover-gpt-4o",
				Retries: 1, RetryOn: []string{"5xx", "reset", "connect-failure"}, PreviousPriorities: true, TimeoutMS: 20000,
				PerTryIdleTimeoutMS: int(perTry / time.Millisecond)},
			catchAll(),
		},
		Env: append([]string{"AIGW_CRED_E2E_OPENAI=sk-openai-CANARY-2c6a"},
			awsWebIdentityEnv(sts, stsSrv.URL, tokenFile, dir)...),
	})
	c := openai.NewClient(option.WithBaseURL(h.URL()+"/v1/"), option.WithAPIKey(clientKey),
		option.WithMaxRetries(0), option.WithRequestTimeout(30*time.Second))

	t.Run("held, then failed over", func(t *testing.T) {
		id := newRequestID(t)
		start := time.Now()
		var resp *http.Response
		out, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), option.WithHeader("x-request-id", id), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get(mockprovider.BackendHeader) != "openai" || out.Choices[0].Message.Content != "Hello from openai." {
			t.Fatalf("served by %q: %+v", resp.Header.Get(mockprovider.BackendHeader), out.Choices)
		}
		if d := time.Since(start); d < perTry {
			t.Errorf("served after %v, before the per-try idle timeout", d)
		}
		if n := len(bedrock.Paths()); n != 0 || sts.Calls() != 0 {
			t.Fatalf("Bedrock got %d request(s), STS %d call(s) without a token file", n, sts.Calls())
		}
		r, _ := primary.LastRequest()
		if r.Header.Get("Authorization") != "Bearer sk-openai-CANARY-2c6a" || r.Header.Get("X-Amz-Date") != "" || r.Header.Get("X-Amz-Security-Token") != "" {
			t.Errorf("priority 1 credentials: authorization %q, x-amz-date %q", r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"))
		}
		a, err := h.WaitAccess(id, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if a.Attempts != 2 || a.Status != http.StatusOK || metaString(a, "backend_name") != "openai" {
			t.Errorf("attempts %d status %d backend %q", a.Attempts, a.Status, metaString(a, "backend_name"))
		}
	})
	t.Run("served by priority 0 once credentials exist", func(t *testing.T) {
		writeTokenFile(t, tokenFile, "irsa-token-late")
		want := mockprovider.KeyForToken("irsa-token-late").AccessKeyID
		deadline := time.Now().Add(20 * time.Second)
		for {
			var resp *http.Response
			if _, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), option.WithResponseInto(&resp)); err != nil {
				t.Fatal(err)
			}
			if resp.Header.Get(mockprovider.BackendHeader) == "bedrock" {
				if k := bedrock.SignedWith(); len(k) == 0 || k[len(k)-1] != want {
					t.Fatalf("Bedrock accepted a request signed with %v, want %s", k, want)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("priority 0 never served after its credentials appeared")
			}
		}
	})
	for _, l := range h.Stderr() {
		if strings.Contains(l, "secret-") || strings.Contains(l, "sk-openai-CANARY") {
			t.Errorf("a credential reached the log: %q", l)
		}
	}
}
