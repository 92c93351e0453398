package host_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/respjson"

	"github.com/aigw/aigw/test/host"
	"github.com/aigw/aigw/test/mockprovider"
)

const (
	bedrockModelARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
	bedrockCohere   = "cohere.embed-english-v3"
	bedrockTitan    = "amazon.titan-embed-text-v2:0"
)

// bedrockEnv: an OpenAI primary (bearer key) at priority 0 and a Bedrock
// Claude fallback (aws_sigv4 with web identity / IRSA credentials from a mock
// STS, all on loopback) at priority 1 for model gpt-4o, plus one route per
// backend by name.
type bedrockEnv struct {
	h         *host.Host
	primary   *mockprovider.Server
	bedrock   *mockprovider.Bedrock
	sts       *mockprovider.STS
	tokenFile string
}

func newBedrockEnv(t *testing.T, stsLifetime time.Duration) *bedrockEnv {
	t.Helper()
	dir := t.TempDir()
	e := &bedrockEnv{sts: &mockprovider.STS{Lifetime: stsLifetime, RoleARN: "arn:aws:iam::123456789012:role/aigw"}}
	stsSrv := httptest.NewServer(e.sts)
	t.Cleanup(stsSrv.Close)
	e.bedrock = mockprovider.NewBedrock(mockprovider.BedrockOptions{KeysFrom: e.sts.Issued, Models: []string{bedrockModelARN, bedrockCohere, bedrockTitan}})
	bSrv := httptest.NewServer(e.bedrock)
	t.Cleanup(bSrv.Close)
	e.primary = mockprovider.New(mockprovider.Options{Name: "primary", Schema: mockprovider.SchemaOpenAI, APIKey: "sk-primary-CANARY-9f2e"})
	pSrv := httptest.NewServer(e.primary)
	t.Cleanup(pSrv.Close)
	e.tokenFile = filepath.Join(dir, "token")
	writeTokenFile(t, e.tokenFile, "irsa-token-v1")

	cfg, err := json.Marshal(map[string]any{
		"client_backend_selection": "configured",
		"backends": []map[string]any{
			{"name": "primary", "models": []string{"gpt-4o"}, "auth": map[string]string{"type": "bearer", "key_env": "AIGW_BEDROCK_E2E_PRIMARY"}},
			{"name": "bedrock", "models": []string{"gpt-4o"}, "schema": "aws_bedrock_anthropic", "region": "us-east-1",
				"model_override": bedrockModelARN, "auth": map[string]string{"type": "aws_sigv4"}},
			{"name": "converse", "models": []string{"gpt-4o"}, "schema": "aws_bedrock", "region": "us-east-1",
				"model_override": bedrockModelARN, "auth": map[string]string{"type": "aws_sigv4"}},
			{"name": "cohere", "schema": "aws_bedrock", "region": "us-east-1",
				"model_override": bedrockCohere, "auth": map[string]string{"type": "aws_sigv4"}},
			{"name": "titan", "schema": "aws_bedrock", "region": "us-east-1",
				"model_override": bedrockTitan, "auth": map[string]string{"type": "aws_sigv4"}},
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
	e.h = host.StartT(t, host.Config{
		Workers:        2,
		PluginConfig:   anyCfg,
		UpstreamConfig: cfg,
		Clusters: []host.Cluster{
			{Name: "failover-gpt-4o", Endpoints: []host.Endpoint{ep(pSrv, "primary", 0), ep(bSrv, "bedrock", 1)}},
			{Name: "backend-bedrock", Endpoints: []host.Endpoint{ep(bSrv, "bedrock", 0)}},
			{Name: "backend-converse", Endpoints: []host.Endpoint{ep(bSrv, "converse", 0)}},
			{Name: "backend-cohere", Endpoints: []host.Endpoint{ep(bSrv, "cohere", 0)}},
			{Name: "backend-titan", Endpoints: []host.Endpoint{ep(bSrv, "titan", 0)}},
		},
		Routes: []host.Route{
			{Name: "by-backend", Headers: []host.HeaderMatch{{Name: "x-ai-eg-backend", Value: "bedrock"}}, Prefix: "/", Cluster: "backend-bedrock", Retries: 1,
				RetryOn: []string{"reset", "connect-failure"}, TimeoutMS: 20000},
			{Name: "by-backend-converse", Headers: []host.HeaderMatch{{Name: "x-ai-eg-backend", Value: "converse"}}, Prefix: "/", Cluster: "backend-converse", Retries: 1,
				RetryOn: []string{"reset", "connect-failure"}, TimeoutMS: 20000},
			{Name: "by-backend-cohere", Headers: []host.HeaderMatch{{Name: "x-ai-eg-backend", Value: "cohere"}}, Prefix: "/", Cluster: "backend-cohere", Retries: 1,
				RetryOn: []string{"reset", "connect-failure"}, TimeoutMS: 20000},
			{Name: "by-backend-titan", Headers: []host.HeaderMatch{{Name: "x-ai-eg-backend", Value: "titan"}}, Prefix: "/", Cluster: "backend-titan", Retries: 1,
				RetryOn: []string{"reset", "connect-failure"}, TimeoutMS: 20000},
			{Name: "model-gpt-4o", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o"}}, Prefix: "/", Cluster: "failover-gpt-4o", Retries: 1,
				RetryOn: []string{"5xx", "reset", "connect-failure"}, PreviousPriorities: true, TimeoutMS: 20000},
			catchAll(),
		},
		Env: append([]string{"AIGW_BEDROCK_E2E_PRIMARY=sk-primary-CANARY-9f2e"},
			awsWebIdentityEnv(e.sts, stsSrv.URL, e.tokenFile, dir)...),
	})
	// The first fetch runs in the background: wait for the mock STS to
	// have answered before sending traffic.
	deadline := time.Now().Add(10 * time.Second)
	for e.sts.Calls() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway never fetched AWS credentials; stderr:\n%s", e.h.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return e
}

func (e *bedrockEnv) client() openai.Client {
	return openai.NewClient(option.WithBaseURL(e.h.URL()+"/v1/"), option.WithAPIKey(clientKey),
		option.WithMaxRetries(0), option.WithRequestTimeout(30*time.Second))
}

// TestBedrockE2E: openai-go through the .so to a mock Bedrock that checks
// the exact path (the inference-profile ARN as one encoded segment), the
// body and the SigV4 signature it recomputes itself: a completion and a
// stream (eventstream frames translated to chunks with the usage chunk), and
// a failover from an OpenAI primary answering 503 to Bedrock at the next
// priority, with each attempt's own credentials.
func TestBedrockE2E(t *testing.T) {
	e := newBedrockEnv(t, time.Hour)
	c := e.client()
	wantPath := "/model/" + strings.NewReplacer(":", "%3A", "/", "%2F").Replace(bedrockModelARN) + "/invoke"
	wantKey := mockprovider.KeyForToken("irsa-token-v1").AccessKeyID

	t.Run("completion", func(t *testing.T) {
		id := newRequestID(t)
		out, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), to("bedrock"), option.WithHeader("x-request-id", id))
		if err != nil {
			t.Fatalf("%v; stderr:\n%s", err, e.h.Stderr())
		}
		if len(out.Choices) != 1 || out.Choices[0].Message.Content != "Hello from bedrock." || out.Choices[0].FinishReason != "stop" || out.Model != bedrockModelARN {
			t.Fatalf("completion %+v", out)
		}
		if p := e.bedrock.Paths(); p[len(p)-1] != wantPath {
			t.Errorf("path %s, want %s", p[len(p)-1], wantPath)
		}
		if k := e.bedrock.SignedWith(); k[len(k)-1] != wantKey {
			t.Errorf("signed with %s, want %s", k[len(k)-1], wantKey)
		}
		a, err := e.h.WaitAccess(id, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		checkTokens(t, a, out.Usage.PromptTokens, out.Usage.CompletionTokens)
	})
	t.Run("stream", func(t *testing.T) {
		p := gpt4oParams()
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		acc, chunks, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, to("bedrock")))
		if chunks < 4 || acc.Choices[0].Message.Content != "Hello from bedrock." || acc.Choices[0].FinishReason != "stop" || acc.Usage.CompletionTokens != 3 {
			t.Fatalf("%d chunks: %+v usage %+v", chunks, acc.Choices, acc.Usage)
		}
		if p := e.bedrock.Paths(); p[len(p)-1] != strings.TrimSuffix(wantPath, "/invoke")+"/invoke-with-response-stream" {
			t.Errorf("path %s", p[len(p)-1])
		}
	})
	t.Run("converse", func(t *testing.T) {
		out, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), to("converse"))
		if err != nil {
			t.Fatal(err)
		}
		if out.Choices[0].Message.Content != "Hello from bedrock." || out.Choices[0].FinishReason != "stop" || out.Usage.CompletionTokens != 3 {
			t.Fatalf("%+v", out)
		}
		if p := e.bedrock.Paths(); p[len(p)-1] != strings.TrimSuffix(wantPath, "/invoke")+"/converse" {
			t.Errorf("path %s", p[len(p)-1])
		}
		p := gpt4oParams()
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		acc, chunks, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, to("converse")))
		if chunks < 4 || acc.Choices[0].Message.Content != "Hello from bedrock." || acc.Usage.CompletionTokens != 3 {
			t.Fatalf("%d chunks %+v %+v", chunks, acc.Choices, acc.Usage)
		}
		if p := e.bedrock.Paths(); p[len(p)-1] != strings.TrimSuffix(wantPath, "/invoke")+"/converse-stream" {
			t.Errorf("path %s", p[len(p)-1])
		}
	})
	t.Run("failover from openai", func(t *testing.T) {
		e.primary.SetFailStatus(http.StatusServiceUnavailable)
		defer e.primary.SetFailStatus(0)
		id := newRequestID(t)
		var resp *http.Response
		out, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), option.WithHeader("x-request-id", id), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get(mockprovider.BackendHeader) != "bedrock" || out.Choices[0].Message.Content != "Hello from bedrock." {
			t.Fatalf("served by %q: %+v", resp.Header.Get(mockprovider.BackendHeader), out)
		}
		pr, ok := e.primary.LastRequest()
		if !ok || pr.Header.Get("Authorization") != "Bearer sk-primary-CANARY-9f2e" {
			t.Errorf("primary's credential %q", pr.Header.Get("Authorization"))
		}
		a, err := e.h.WaitAccess(id, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if a.Attempts != 2 || a.Status != 200 {
			t.Errorf("attempts %d status %d", a.Attempts, a.Status)
		}
	})
	t.Run("bedrock error keeps its status", func(t *testing.T) {
		p := gpt4oParams()
		_, err := c.Chat.Completions.New(ctxT(t), p, to("bedrock"), option.WithJSONSet("model", "gpt-4o"), option.WithJSONSet("max_tokens", 0))
		var apiErr *openai.Error
		if err == nil || !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Param != "max_tokens" {
			t.Fatalf("err = %v", err)
		}
	})
	if strings.Contains(strings.Join(e.h.Stderr(), "\n"), "secret-") {
		t.Error("a secret access key reached the log")
	}
}

// TestBedrockCredentialRotationE2E: the web identity token file is replaced
// while requests run; the STS credentials live 3 s, the gateway refreshes
// them in the background before they expire, the next ones come from the
// new token, and no request fails on the way.
func TestBedrockCredentialRotationE2E(t *testing.T) {
	e := newBedrockEnv(t, 3*time.Second)
	c := e.client()
	var failures atomic.Int32
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var firstErr atomic.Value
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), to("bedrock")); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	writeTokenFile(t, e.tokenFile, "irsa-token-v2")
	want := mockprovider.KeyForToken("irsa-token-v2").AccessKeyID
	deadline := time.Now().Add(10 * time.Second)
	for {
		k := e.bedrock.SignedWith()
		if len(k) > 0 && k[len(k)-1] == want {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("the rotated token never signed a request; stderr:\n%s", e.h.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d requests failed during the rotation, first: %v", n, firstErr.Load())
	}
}

// writeTokenFile replaces a projected service account token as the kubelet
// does (a new file renamed over the old), its content exactly the token.
// awsWebIdentityEnv is the host's environment for the AWS SDK's default
// chain to find web identity (IRSA) credentials from the mock STS at stsURL
// with the token in tokenFile, and nothing else (no static keys, profiles,
// instance or container metadata); dir holds the absent config files.
func awsWebIdentityEnv(sts *mockprovider.STS, stsURL, tokenFile, dir string) []string {
	return []string{
		"AWS_ROLE_ARN=" + sts.RoleARN, "AWS_WEB_IDENTITY_TOKEN_FILE=" + tokenFile, "AWS_ENDPOINT_URL_STS=" + stsURL,
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_ENDPOINT_URL=",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONTAINER_CREDENTIALS_FULL_URI=", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=",
	}
}

func writeTokenFile(t *testing.T, path, token string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// TestBedrockMessagesFrontDoorE2E: a client speaking Anthropic's
// /v1/messages reaches Claude on Bedrock through the .so with only the
// host's rewrites (the mock checks the path, the signature and that the body
// has anthropic_version and neither model nor stream), plain and streamed;
// Bedrock's errors come back in Anthropic's error format.
func TestBedrockMessagesFrontDoorE2E(t *testing.T) {
	e := newBedrockEnv(t, time.Hour)
	url := e.h.URL() + "/v1/messages"
	hdr := map[string]string{"content-type": "application/json", "x-api-key": clientKey, "anthropic-version": "2023-06-01"}

	status, h, body := rawPost(t, url, `{"model":"claude","backend":"bedrock","max_tokens":20,"messages":[{"role":"user","content":"say hello"}]}`, hdr)
	var msg struct {
		Type    string                  `json:"type"`
		Content []struct{ Text string } `json:"content"`
		Usage   struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if status != 200 || json.Unmarshal(body, &msg) != nil || msg.Type != "message" || len(msg.Content) != 1 || msg.Content[0].Text != "Hello from bedrock." {
		t.Fatalf("%d %v %s", status, h, body)
	}
	if p := e.bedrock.Paths(); p[len(p)-1] != "/model/"+strings.NewReplacer(":", "%3A", "/", "%2F").Replace(bedrockModelARN)+"/invoke" {
		t.Errorf("path %s", p[len(p)-1])
	}

	status, h, body = rawPost(t, url, `{"model":"claude","backend":"bedrock","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"say hello"}]}`, hdr)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %v %s", status, h, body)
	}
	var types []string
	var text strings.Builder
	for _, ev := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		lines := strings.SplitN(ev, "\n", 2)
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("malformed event %q", ev)
		}
		var d struct {
			Type  string                `json:"type"`
			Delta struct{ Text string } `json:"delta"`
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "data: ")), &d); err != nil || d.Type != strings.TrimPrefix(lines[0], "event: ") {
			t.Fatalf("event %q: %v", ev, err)
		}
		types = append(types, d.Type)
		text.WriteString(d.Delta.Text)
	}
	if types[0] != "message_start" || types[len(types)-1] != "message_stop" || text.String() != "Hello from bedrock." {
		t.Errorf("events %v text %q", types, text.String())
	}

	// No max_tokens: Bedrock's 400 ValidationException, in Anthropic's format.
	status, _, body = rawPost(t, url, `{"model":"claude","backend":"bedrock","messages":[{"role":"user","content":"hi"}]}`, hdr)
	var apiErr struct {
		Type  string                         `json:"type"`
		Error struct{ Type, Message string } `json:"error"`
	}
	if status != 400 || json.Unmarshal(body, &apiErr) != nil || apiErr.Type != "error" || apiErr.Error.Type != "invalid_request_error" || apiErr.Error.Message == "" {
		t.Fatalf("%d %s", status, body)
	}
}

// reasoningOf returns a chat completion message's or delta's
// reasoning_content (the member aigw puts Claude's thinking in).
func reasoningOf(extra map[string]respjson.Field) string {
	f, ok := extra["reasoning_content"]
	if !ok {
		return ""
	}
	var s string
	json.Unmarshal([]byte(f.Raw()), &s)
	return s
}

// TestBedrockReasoningStopUsageGzipE2E: through the .so with the official
// SDKs to the mock Bedrock (SigV4 recomputed, thinking checked as Claude
// checks it): reasoning_effort reaches Claude on InvokeModel and Converse and
// the thinking comes back as reasoning_content, plain and streamed;
// Converse's guardrail_intervened and content_filtered are finish_reason
// content_filter; Cohere's and Titan's embedding usage (Cohere's only in
// x-amzn-bedrock-input-token-count) in the response and the access log's
// token metadata; gzip-encoded Bedrock responses on /v1/messages
// (anthropic-sdk-go, plain and streamed, thinking passed through) and on
// chat completions.
func TestBedrockReasoningStopUsageGzipE2E(t *testing.T) {
	e := newBedrockEnv(t, time.Hour)
	c := e.client()
	thinking := func() openai.ChatCompletionNewParams {
		p := gpt4oParams()
		p.ReasoningEffort = openai.ReasoningEffortLow
		return p
	}
	for _, backend := range []string{"bedrock", "converse"} {
		t.Run("reasoning/"+backend, func(t *testing.T) {
			out, err := c.Chat.Completions.New(ctxT(t), thinking(), to(backend))
			if err != nil {
				t.Fatalf("%v; stderr:\n%s", err, e.h.Stderr())
			}
			msg := out.Choices[0].Message
			if msg.Content != "Hello from bedrock." || reasoningOf(msg.JSON.ExtraFields) != "Reasoning from bedrock." || out.Choices[0].FinishReason != "stop" {
				t.Fatalf("%s", out.RawJSON())
			}
			p := thinking()
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			s := c.Chat.Completions.NewStreaming(ctxT(t), p, to(backend))
			var reasoning, content strings.Builder
			for s.Next() {
				if ch := s.Current(); len(ch.Choices) > 0 {
					reasoning.WriteString(reasoningOf(ch.Choices[0].Delta.JSON.ExtraFields))
					content.WriteString(ch.Choices[0].Delta.Content)
				}
			}
			if err := s.Err(); err != nil || reasoning.String() != "Reasoning from bedrock." || content.String() != "Hello from bedrock." {
				t.Fatalf("%v: reasoning %q content %q", err, reasoning.String(), content.String())
			}
		})
	}
	t.Run("reasoning rules", func(t *testing.T) {
		p := thinking()
		p.Temperature = openai.Float(0.2)
		_, err := c.Chat.Completions.New(ctxT(t), p, to("converse"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Param != "temperature" {
			t.Fatalf("err = %v", err)
		}
	})
	for _, stop := range []string{"guardrail_intervened", "content_filtered"} {
		t.Run("stop/"+stop, func(t *testing.T) {
			e.bedrock.SetStopReason(stop)
			defer e.bedrock.SetStopReason("")
			out, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), to("converse"))
			if err != nil || out.Choices[0].FinishReason != "content_filter" {
				t.Fatalf("%v %+v", err, out)
			}
			acc, _, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), gpt4oParams(), to("converse")))
			if acc.Choices[0].FinishReason != "content_filter" {
				t.Fatalf("stream finish %q", acc.Choices[0].FinishReason)
			}
		})
	}
	for _, tt := range []struct {
		backend string
		input   openai.EmbeddingNewParamsInputUnion
		vectors int
		tokens  int64
	}{
		{"cohere", openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one two three", "four five"}}, 2, 5},
		{"titan", openai.EmbeddingNewParamsInputUnion{OfString: openai.String("one two three four")}, 1, 4},
	} {
		t.Run("embeddings/"+tt.backend, func(t *testing.T) {
			id := newRequestID(t)
			out, err := c.Embeddings.New(ctxT(t), openai.EmbeddingNewParams{Model: "text-embedding-3-small", Input: tt.input}, to(tt.backend), option.WithHeader("x-request-id", id))
			if err != nil {
				t.Fatalf("%v; stderr:\n%s", err, e.h.Stderr())
			}
			if len(out.Data) != tt.vectors || len(out.Data[0].Embedding) != 3 || out.Usage.PromptTokens != tt.tokens || out.Usage.TotalTokens != tt.tokens {
				t.Fatalf("%s", out.RawJSON())
			}
			a, err := e.h.WaitAccess(id, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			checkTokens(t, a, tt.tokens, 0)
		})
	}
	t.Run("gzip", func(t *testing.T) {
		e.bedrock.SetGzip(true)
		defer e.bedrock.SetGzip(false)
		ac := anthropic.NewClient(aoption.WithBaseURL(e.h.URL()+"/"), aoption.WithAPIKey(clientKey),
			aoption.WithMaxRetries(0), aoption.WithRequestTimeout(30*time.Second))
		params := anthropic.MessageNewParams{
			Model: "claude", MaxTokens: 2048, Thinking: anthropic.ThinkingConfigParamOfEnabled(1024),
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("say hello"))},
		}
		msg, err := ac.Messages.New(ctxT(t), params, aoption.WithJSONSet("backend", "bedrock"))
		if err != nil {
			t.Fatalf("%v; stderr:\n%s", err, e.h.Stderr())
		}
		if len(msg.Content) != 2 || msg.Content[0].Type != "thinking" || msg.Content[0].Thinking != "Reasoning from bedrock." ||
			msg.Content[1].Text != "Hello from bedrock." || msg.Usage.OutputTokens != 3 {
			t.Fatalf("%s", msg.RawJSON())
		}
		s := ac.Messages.NewStreaming(ctxT(t), params, aoption.WithJSONSet("backend", "bedrock"))
		var streamed anthropic.Message
		for s.Next() {
			if err := streamed.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil || len(streamed.Content) != 2 || streamed.Content[0].Thinking != "Reasoning from bedrock." ||
			streamed.Content[1].Text != "Hello from bedrock." || streamed.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("%v %+v", err, streamed.Content)
		}
		// The chat completions paths too (a gzip event stream, a gzip Converse body).
		acc, _, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), gpt4oParams(), to("bedrock")))
		if acc.Choices[0].Message.Content != "Hello from bedrock." {
			t.Fatalf("%+v", acc.Choices)
		}
		out, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), to("converse"))
		if err != nil || out.Choices[0].Message.Content != "Hello from bedrock." {
			t.Fatalf("%v %+v", err, out)
		}
	})
}
