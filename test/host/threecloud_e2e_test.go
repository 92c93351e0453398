package host_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigw/aigw/internal/credentials/credtest"
	"github.com/aigw/aigw/test/host"
	"github.com/aigw/aigw/test/mockprovider"
)

// TestFailoverThreeCloudsE2E: the chain the production example ships for
// gpt-4o (deploy/production): an OpenAI-compatible primary at priority 0,
// Claude on Amazon Bedrock at 1 (SigV4 with web-identity credentials from a
// mock STS), Claude on Vertex AI at 2 (a Google token from the fake token
// endpoint), one cluster, two retries with previous_priorities. Each
// attempt carries only its own backend's credential: the mocks check the
// bearer key, recompute the SigV4 signature and accept only issued tokens.
// openai-go through the .so, plain and streamed, with the failures moving
// down the chain one priority at a time.
func TestFailoverThreeCloudsE2E(t *testing.T) {
	const openaiKey = "sk-openai-CANARY-3c1d9a"
	dir := t.TempDir()
	sts := &mockprovider.STS{Lifetime: time.Hour, RoleARN: "arn:aws:iam::123456789012:role/aigw"}
	stsSrv := httptest.NewServer(sts)
	t.Cleanup(stsSrv.Close)
	tokenFile := filepath.Join(dir, "token")
	writeTokenFile(t, tokenFile, "irsa-token-3clouds")
	fake := credtest.NewGoogle(t, time.Hour)
	const vertexModel = "claude-sonnet-4@20250514"

	o := trOptions{
		backends: []trBackend{
			{name: "openai", schema: mockprovider.SchemaOpenAI, serves: []string{"gpt-4o"}, mockModels: []string{"gpt-4o"}, key: openaiKey},
			{name: "bedrock", schema: "aws_bedrock_anthropic", serves: []string{"gpt-4o"}, override: bedrockModelARN,
				mockModels: []string{bedrockModelARN}, aws: sts},
			{name: "vertex", schema: mockprovider.SchemaVertexAnthropic, serves: []string{"gpt-4o"}, override: vertexModel,
				mockModels: []string{vertexModel}, gcp: fake},
		},
		env: awsWebIdentityEnv(sts, stsSrv.URL, tokenFile, dir),
	}
	o.clusters = func(m map[string]*trMock) []host.Cluster {
		return []host.Cluster{{Name: "failover-gpt-4o", Endpoints: []host.Endpoint{
			m["openai"].endpoint(0), m["bedrock"].endpoint(1), m["vertex"].endpoint(2)}}}
	}
	o.routes = func(map[string]*trMock) []host.Route {
		// As envoygen generates for a three-priority chain: one retry per
		// priority after the first.
		return []host.Route{{Name: "model-gpt-4o", Headers: []host.HeaderMatch{{Name: "x-ai-eg-model", Value: "gpt-4o"}},
			Prefix: "/", Cluster: "failover-gpt-4o", Retries: 2,
			RetryOn: []string{"5xx", "reset", "connect-failure"}, PreviousPriorities: true, TimeoutMS: 20000}}
	}
	e := newTrEnv(t, o)
	c := e.client()
	openaiMock, bedrock, vertexMock := e.mocks["openai"].srv, e.mocks["bedrock"].bedrock, e.mocks["vertex"].srv
	awsKey := mockprovider.KeyForToken("irsa-token-3clouds").AccessKeyID

	cases := []struct {
		name        string
		failOpenAI  bool
		failBedrock bool
		served      string
		attempts    int
	}{
		{"openai serves", false, false, "openai", 1},
		{"openai fails, bedrock serves", true, false, "bedrock", 2},
		{"openai and bedrock fail, vertex serves", true, true, "vertex", 3},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				openaiMock.SetFailStatus(0)
				bedrock.SetFailStatus(0)
				if tc.failOpenAI {
					openaiMock.SetFailStatus(http.StatusServiceUnavailable)
				}
				if tc.failBedrock {
					bedrock.SetFailStatus(http.StatusServiceUnavailable)
				}
				t.Cleanup(func() { openaiMock.SetFailStatus(0); bedrock.SetFailStatus(0) })
				bedrockBefore := len(bedrock.Verified())
				id := newRequestID(t)
				var text string
				if stream {
					p := gpt4oParams()
					p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
					acc, chunks, _ := streamAll(t, c.Chat.Completions.NewStreaming(ctxT(t), p, option.WithHeader("x-request-id", id)))
					if chunks < 3 || len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "stop" || acc.Usage.CompletionTokens == 0 {
						t.Fatalf("%d chunks: %+v usage %+v", chunks, acc.Choices, acc.Usage)
					}
					text = acc.Choices[0].Message.Content
				} else {
					out, err := c.Chat.Completions.New(ctxT(t), gpt4oParams(), option.WithHeader("x-request-id", id))
					if err != nil {
						t.Fatal(err)
					}
					if out.Object != "chat.completion" || len(out.Choices) != 1 || out.Choices[0].FinishReason != "stop" || out.Usage.TotalTokens == 0 {
						t.Fatalf("completion %+v", out)
					}
					text = out.Choices[0].Message.Content
				}
				if want := "Hello from " + tc.served + "."; text != want {
					t.Fatalf("answer %q, want %q (served by the wrong priority)", text, want)
				}
				a := e.access(id)
				if a.Attempts != tc.attempts || a.Status != http.StatusOK || metaString(a, "backend_name") != tc.served {
					t.Errorf("attempts %d status %d backend %q; want %d attempts served by %s",
						a.Attempts, a.Status, metaString(a, "backend_name"), tc.attempts, tc.served)
				}

				// Priority 0 always gets the attempt, with its bearer key only.
				requireOneCredential(t, e.mocks["openai"].b, e.lastRequest("openai"), openaiKey)
				// Priority 1 is reached exactly when priority 0 failed, with a
				// SigV4 signature by the STS credentials the mock recomputed;
				// it answers (and records the path) when it does not fail.
				verified := bedrock.Verified()
				if reached := len(verified) > bedrockBefore; reached != tc.failOpenAI {
					t.Fatalf("bedrock reached %v, want %v", reached, tc.failOpenAI)
				}
				if tc.failOpenAI && verified[len(verified)-1] != awsKey {
					t.Errorf("bedrock attempt signed with %s, want %s", verified[len(verified)-1], awsKey)
				}
				if tc.served == "bedrock" {
					wantPath := "/model/" + strings.NewReplacer(":", "%3A", "/", "%2F").Replace(bedrockModelARN) + "/invoke"
					if stream {
						wantPath += "-with-response-stream"
					}
					if paths := bedrock.Paths(); paths[len(paths)-1] != wantPath {
						t.Errorf("bedrock path %s, want %s", paths[len(paths)-1], wantPath)
					}
				}
				// Priority 2 only after both failed, with an issued Google token
				// and nothing of the other two.
				if tc.served == "vertex" {
					r := e.lastRequest("vertex")
					requireIssuedBearer(t, fake, r, "vertex@"+trProject+".iam.gserviceaccount.com")
					method := ":rawPredict"
					if stream {
						method = ":streamRawPredict"
					}
					if !strings.HasSuffix(r.Path, "/publishers/anthropic/models/"+vertexModel+method) {
						t.Errorf("vertex path %s", r.Path)
					}
					for _, h := range []string{"X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
						if r.Header.Get(h) != "" {
							t.Errorf("the Bedrock attempt's %s reached Vertex", h)
						}
					}
					if strings.Contains(r.Header.Get("Authorization"), openaiKey) {
						t.Error("the OpenAI key reached Vertex")
					}
				}
			})
		}
	}
	if _, ok := vertexMock.LastRequest(); !ok {
		t.Error("vertex never served")
	}
	logs := strings.Join(e.h.Stderr(), "\n")
	for _, secret := range []string{openaiKey, "secret-", "irsa-token-3clouds"} {
		if strings.Contains(logs, secret) {
			t.Errorf("a credential (%s…) reached the log", secret[:6])
		}
	}
}
