package upstream

import (
	"bytes"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/bufpool"
	"github.com/aigw/aigw/internal/testbodies"
	"github.com/aigw/aigw/internal/translate"
)

// The plan is a pure decision: the same backend, request and credential
// always give the same plan, and nothing is changed until it is applied.
func TestPlanRequest(t *testing.T) {
	cfg := pipelineConfig(t)
	post := func(path, body string) request {
		return request{method: http.MethodPost, path: path, authority: "gateway.local", body: []byte(body), hasBody: true}
	}
	retried := func(r request) request { r.retry = true; return r }
	tests := []struct {
		name    string
		backend string
		req     request
		cred    credential

		wantSet      map[string]string // every header the plan sets
		wantBody     string            // "" means unchanged
		wantRemove   []string          // among the removed headers
		wantStatus   int               // a failure
		wantCode     string
		wantFailType string
	}{
		{
			name: "openai backend with a host and a model override", backend: "oai",
			req:  post("/v1/chat/completions", chatBody),
			cred: credential{name: "authorization", value: "Bearer k"},
			// The client's path is the backend's: a first attempt's header
			// map holds it, so it is not written again.
			wantSet: map[string]string{"authorization": "Bearer k", ":authority": "api.openai.example",
				"content-length": strconv.Itoa(len(strings.Replace(chatBody, "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 1)))},
			wantBody:   strings.Replace(chatBody, "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 1),
			wantRemove: []string{"authorization", "api-key", "x-api-key", "x-ai-eg-backend", "x-ai-eg-model", "anthropic-version", "accept-encoding"},
		},
		{
			// No host: a first attempt keeps the client's authority as the
			// header map holds it.
			name: "azure backend keeps the client's authority", backend: "az",
			req:  post("/v1/chat/completions", chatBody),
			cred: credential{name: "api-key", value: "k"},
			wantSet: map[string]string{"api-key": "k",
				":path": "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", "content-length": strconv.Itoa(len(chatBody))},
		},
		{
			// The header map is shared by the attempts: a retry writes the
			// client's authority back over an earlier attempt's rewrite.
			name: "azure retry writes the client's authority back", backend: "az",
			req:  retried(post("/v1/chat/completions", chatBody)),
			cred: credential{name: "api-key", value: "k"},
			wantSet: map[string]string{"api-key": "k", ":authority": "gateway.local",
				":path": "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", "content-length": strconv.Itoa(len(chatBody))},
		},
		{
			// ... and the client's path, even where the backend's is the same.
			name: "openai retry writes the client's path back", backend: "oai",
			req:  retried(post("/v1/chat/completions", chatBody)),
			cred: credential{name: "authorization", value: "Bearer k"},
			wantSet: map[string]string{"authorization": "Bearer k", ":authority": "api.openai.example", ":path": "/v1/chat/completions",
				"content-length": strconv.Itoa(len(strings.Replace(chatBody, "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 1)))},
			wantBody: strings.Replace(chatBody, "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 1),
		},
		{
			name: "anthropic backend", backend: "claude",
			req:  post("/v1/chat/completions", chatBody),
			cred: credential{name: "x-api-key", value: "k"},
			wantSet: map[string]string{"x-api-key": "k", ":path": "/v1/messages",
				"anthropic-version": "2023-06-01", "content-type": "application/json", "content-length": ""},
			wantBody: "*",
		},
		{
			// Only the schema's endpoints get credentials: the endpoint is
			// checked before the key.
			name: "unknown endpoint before a bad key", backend: "claude",
			req:        post("/v1/embeddings", `{"model":"m","input":"x"}`),
			cred:       credential{fail: misconfigured(&Backend{Name: "claude"}, "its key is empty")},
			wantStatus: http.StatusNotFound, wantCode: "unknown_endpoint", wantFailType: "invalid_request_error",
		},
		{
			name: "bad key", backend: "oai",
			req:        post("/v1/chat/completions", chatBody),
			cred:       credential{fail: misconfigured(&Backend{Name: "oai"}, "its key is empty")},
			wantStatus: http.StatusServiceUnavailable, wantCode: "backend_misconfigured", wantFailType: "server_error",
		},
		{
			name: "invalid request", backend: "oai",
			req:        post("/v1/chat/completions", `{"model":`),
			wantStatus: http.StatusBadRequest, wantCode: "invalid_value", wantFailType: "invalid_request_error",
		},
		{
			name: "unsupported request on the first attempt", backend: "claude",
			req:        post("/v1/chat/completions", `{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]}`),
			wantStatus: http.StatusBadRequest, wantCode: "unsupported_parameter", wantFailType: "invalid_request_error",
		},
		{
			name: "unsupported request on a retry", backend: "claude",
			req:        retried(post("/v1/chat/completions", `{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]}`)),
			wantStatus: http.StatusServiceUnavailable, wantCode: "unsupported_parameter", wantFailType: "server_error",
		},
		{
			// A request that ended with its headers keeps its length.
			name: "no body", backend: "oai",
			req:     request{method: http.MethodPost, path: "/v1/embeddings", authority: "gateway.local"},
			wantSet: map[string]string{":authority": "api.openai.example"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := cfg.backends[tt.backend]
			p, fail := cfg.planRequest(b, tt.req, tt.cred)
			if tt.wantStatus != 0 {
				if fail == nil {
					t.Fatalf("planned %+v, want a %d", p, tt.wantStatus)
				}
				if fail.err.Status != tt.wantStatus || fail.err.Code != tt.wantCode || fail.err.Type != tt.wantFailType {
					t.Fatalf("failure %+v, want %d %s %s", fail.err, tt.wantStatus, tt.wantFailType, tt.wantCode)
				}
				return
			}
			if fail != nil {
				t.Fatalf("failure %+v", fail.err)
			}
			set := map[string]string{}
			for _, list := range [2][]Header{p.own[:p.nown], p.translated} {
				for _, h := range list {
					if _, dup := set[h.Key]; dup {
						t.Errorf("%s set twice", h.Key)
					}
					set[h.Key] = h.Value
				}
			}
			if len(set) != len(tt.wantSet) {
				t.Errorf("set %v, want %v", set, tt.wantSet)
			}
			for k, v := range tt.wantSet {
				if got, ok := set[k]; !ok || (v != "" && got != v) {
					t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
				}
			}
			switch tt.wantBody {
			case "":
				if p.body != nil {
					t.Errorf("body replaced by %s, want unchanged", p.body)
				}
			case "*":
				if p.body == nil || set["content-length"] != strconv.Itoa(len(p.body)) {
					t.Errorf("body %s, content-length %s", p.body, set["content-length"])
				}
			default:
				if string(p.body) != tt.wantBody {
					t.Errorf("body %s, want %s", p.body, tt.wantBody)
				}
			}
			removed := slices.Concat(p.remove[0], p.remove[1])
			for _, k := range tt.wantRemove {
				if !slices.Contains(removed, k) {
					t.Errorf("%s not removed (%v)", k, removed)
				}
			}
			for k := range set {
				if slices.Contains(p.remove[1], k) {
					t.Errorf("the translator removes %s, which the plan sets", k)
				}
			}
			if p.tr == nil {
				t.Error("no translator for the response")
			}
		})
	}
}

// apply carries a plan out on the attempt's request: removals first, then
// every header set, then the body.
func TestApplyPlan(t *testing.T) {
	a := newFakeAttempt()
	a.reqH = fakeHeaders{"authorization": "Bearer client", "x-ai-eg-model": "m", ":path": "/v1/chat/completions", "accept-encoding": "gzip"}
	a.reqB.b = []byte("old")
	f := NewFilter(pipelineConfig(t), a)
	p := plan{remove: [2][]string{{"authorization", "x-ai-eg-model"}, {"accept-encoding"}}, translated: []Header{{Key: "content-type", Value: "application/json"}}, body: []byte("new")}
	p.set("authorization", "Bearer backend")
	p.set(":path", "/v1/messages")
	f.apply(&p)
	want := fakeHeaders{"authorization": "Bearer backend", ":path": "/v1/messages", "content-type": "application/json"}
	if len(a.reqH) != len(want) {
		t.Errorf("headers %v, want %v", a.reqH, want)
	}
	for k, v := range want {
		if a.reqH[k] != v {
			t.Errorf("%s = %q, want %q", k, a.reqH[k], v)
		}
	}
	if string(a.reqB.b) != "new" || a.reqB.replaced != 1 {
		t.Errorf("body %q replaced %d times", a.reqB.b, a.reqB.replaced)
	}
}

// TestRequestBodyUsesRouterFindings: an attempt takes the router phase's
// findings for exactly its bytes and scans the body itself otherwise (a
// body changed between the phases, a request that ended). The findings
// here deliberately claim "stream" is true, so the result tells which
// were used.
func TestRequestBodyUsesRouterFindings(t *testing.T) {
	body := []byte(`{"model":"gpt-4o-mini","stream":false}`)
	scan, err := bodyscan.Scan(body, "backend")
	if err != nil {
		t.Fatal(err)
	}
	f := bodyscan.FindingsOf(scan, bodyscan.Member{})
	f.Stream = true
	target := translate.Target{ModelOverride: map[string]string{"gpt-4o-mini": "gpt-4o-mini-2024-07-18"}}
	attempt := func(b []byte) translate.RequestResult {
		tr, err := translate.New(target, "/v1/chat/completions")
		if err != nil {
			t.Fatal(err)
		}
		res, err := requestBody(tr, &request{method: http.MethodPost, path: "/v1/chat/completions", body: b, hasBody: true}, true)
		if err != nil {
			t.Fatal(err)
		}
		// A stream the client did not ask usage for is asked for it
		// (stream_usage.go): with the findings' Stream the body gains
		// stream_options too.
		want := `{"model":"gpt-4o-mini-2024-07-18",` + string(b[len(`{"model":"gpt-4o-mini",`):])
		if res.Stream {
			want = `{"stream_options":{"include_usage":true},` + want[1:]
		}
		got := res.Body
		if res.Edits != nil {
			// With findings the rewrite comes as edits (Body.Edit).
			got = translate.ApplyEdits(b, res.Edits)
		}
		if string(got) != want {
			t.Fatalf("body %s, want %s", got, want)
		}
		return res
	}
	ticket := bodyscan.Remember(body, f, 0)
	if !attempt(body).Stream {
		t.Error("the attempt scanned the body the router phase described")
	}
	if retry := attempt(slices.Clone(body)); !retry.Stream {
		t.Error("a retry's copy of the same bytes scanned again")
	}
	changed := slices.Clone(body)
	changed[len(changed)-2] = 'E' // same length, other bytes: not JSON any more
	tr, _ := translate.New(target, "/v1/chat/completions")
	if _, err := requestBody(tr, &request{method: http.MethodPost, path: "/v1/chat/completions", body: changed, hasBody: true}, true); err == nil {
		t.Error("a body changed between the phases was not scanned (and rejected)")
	}
	ticket.Forget()
	if attempt(body).Stream {
		t.Error("findings used after the request ended")
	}
}

// With the router phase's findings for its body, an OpenAI passthrough
// attempt rewrites the model as edits of the body Envoy holds (Body.Edit):
// no new body in Go, the same bytes and content-length as a rewrite from a
// scan; a retry's attempt edits the original again. A signed request
// signs, and sends, the edited bytes.
func TestAttemptEditsWithFindings(t *testing.T) {
	cfg := pipelineConfig(t)
	body := []byte(chatBody)
	scan, err := bodyscan.Scan(body, "backend")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(chatBody, `"gpt-4o-mini"`, `"gpt-4o-mini-2024-07-18"`, 1)
	if want == chatBody {
		t.Fatal("chatBody names no gpt-4o-mini")
	}
	for _, findings := range []bool{false, true} {
		var ticket bodyscan.Ticket
		if findings {
			ticket = bodyscan.Remember(body, bodyscan.FindingsOf(scan, bodyscan.Member{}), 0)
		}
		for attempt := 0; attempt < 2; attempt++ {
			a := clientRequest("oai", "/v1/chat/completions", chatBody)
			if attempt > 0 {
				a.state[stateKeyPath] = "/v1/chat/completions" // a retry
				a.state[stateKeyAuthority] = "gateway.local"
			}
			f := NewFilter(cfg, a)
			if h, _, last := sendRequest(t, f); h == Answered || last != Continue {
				t.Fatalf("findings %v: answered %v", findings, a.responses)
			}
			if string(a.reqB.b) != want || a.reqH["content-length"] != strconv.Itoa(len(want)) {
				t.Errorf("findings %v attempt %d: body %s content-length %s, want %s", findings, attempt, a.reqB.b, a.reqH["content-length"], want)
			}
			if wantEdited := map[bool]int{false: 0, true: 1}[findings]; a.reqB.edited != wantEdited || a.reqB.replaced != 1 {
				t.Errorf("findings %v: edited %d replaced %d times, want %d and 1", findings, a.reqB.edited, a.reqB.replaced, wantEdited)
			}
			f.OnDestroy()
		}
		ticket.Forget()
	}

	p := plan{edits: []translate.Edit{{Start: 1, End: 1, Text: []byte(`"a":1,`)}}}
	acfg := awsConfig(t)
	b, _ := acfg.Backend("bedrock")
	cred := credentialFor(b)
	if cred.sign == nil {
		t.Fatal("no signer")
	}
	if fail := p.signRequest(b, cred.sign, request{method: http.MethodPost, path: "/x", authority: "h", body: []byte(`{"b":2}`), hasBody: true}); fail != nil {
		t.Fatal(fail.err)
	}
	if p.edits != nil || string(p.body) != `{"a":1,"b":2}` {
		t.Errorf("signed plan: edits %v body %s, want the edited bytes as its body", p.edits, p.body)
	}
}

// A translated body lives in a pooled buffer (translate.BodyBuffer) that
// apply releases right after Replace, which copies it in (upstream.Body):
// the attempt forwards the translation intact although the buffer is
// poisoned on release (a release before the copy forwards poison), and the
// plan keeps no reference to it. translate's TestAnthropicRequestAllocsFlat
// checks that the buffer is then reused.
func TestTranslatedBodyBufferReleasedAfterReplace(t *testing.T) {
	was := bufpool.SetPoison(true)
	defer bufpool.SetPoison(was)
	cfg := pipelineConfig(t)
	for _, body := range [][]byte{[]byte(chatBody), testbodies.Chat(1<<20, false)} {
		req := request{method: http.MethodPost, path: "/v1/chat/completions", authority: "gateway.local", body: body, hasBody: true}
		ref, fail := cfg.planRequest(cfg.backends["claude"], req, credential{})
		if fail != nil || ref.body == nil {
			t.Fatalf("reference plan: %+v %v", ref, fail)
		}
		want := string(ref.body) // ref is never released: its body stays valid

		a := newFakeAttempt()
		f := &Filter{cfg: cfg, a: a}
		p, fail := cfg.planRequest(cfg.backends["claude"], req, credential{})
		if fail != nil {
			t.Fatal(fail.err)
		}
		if p.bodyBuffer == (translate.BodyBuffer{}) {
			t.Fatal("the translated body is not in a pooled buffer")
		}
		f.apply(&p)
		if string(a.reqB.b) != want {
			t.Fatalf("%d-byte request: forwarded body differs from the translation (%d bytes, poisoned %v)",
				len(body), len(a.reqB.b), bytes.IndexByte(a.reqB.b, bufpool.PoisonByte) >= 0)
		}
		if p.body != nil || p.bodyBuffer != (translate.BodyBuffer{}) {
			t.Fatal("the plan still holds the translated body after apply")
		}
	}
}

// listRemover is a header map that removes lists at once
// (HeaderListRemover), recording them; Remove is counted.
type listRemover struct {
	fakeHeaders
	lists   [][]string
	removes int
}

func (h *listRemover) Remove(k string) { h.removes++; h.fakeHeaders.Remove(k) }
func (h *listRemover) RemoveAll(keys []string) {
	h.lists = append(h.lists, keys)
	for _, k := range keys {
		h.fakeHeaders.Remove(k)
	}
}

// A header map that removes lists at once gets the plan's two lists (the
// config's, the translator's) in one call each, and the request ends up
// exactly as with one Remove per name.
func TestApplyRemovesEachListAtOnce(t *testing.T) {
	cfg := pipelineConfig(t)
	for _, backend := range []string{"oai", "az", "claude"} {
		var got [2]fakeHeaders
		for i, listed := range []bool{false, true} {
			a := clientRequest(backend, "/v1/chat/completions", chatBody)
			a.reqH["anthropic-version"] = "client-set" // a provider header: removed or replaced
			a.reqH["x-ai-eg-model"] = "gpt-4o-mini"    // a routing header: removed
			lr := &listRemover{fakeHeaders: a.reqH}
			if listed {
				a.reqHM = lr
			}
			f := NewFilter(cfg, a)
			if act := f.OnRequestHeaders(false); act != Hold {
				t.Fatalf("%s: request headers %v", backend, act)
			}
			if act := f.OnRequestBody(true); act != Continue {
				t.Fatalf("%s: request body %v: %v", backend, act, a.responses)
			}
			got[i] = a.reqH
			if listed && (lr.removes != 0 || len(lr.lists) != 2 || !slices.Equal(lr.lists[0], cfg.removeHeaders) ||
				!slices.Equal(lr.lists[1], []string{"accept-encoding"})) {
				t.Errorf("%s: %d single removes, lists %q", backend, lr.removes, lr.lists)
			}
		}
		if !maps.Equal(got[0], got[1]) {
			t.Errorf("%s: removing lists at once gives\n%v\none by one\n%v", backend, got[1], got[0])
		}
		if _, ok := got[1]["x-ai-eg-model"]; ok {
			t.Errorf("%s: routing header forwarded", backend)
		}
	}
}
