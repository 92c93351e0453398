package filter

import (
	"encoding/json"
	"github.com/aigw/aigw/config"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/testbodies"
)

const testConfig = `{"backends":[
  {"name":"deploy-a","models":["gpt-4o-mini"]},
  {"name":"deploy-b","models":["gpt-4o-mini","gpt-4o"]}],
  "max_request_body_bytes": 2097152}`

type exchange struct {
	cfg      *Config
	cb       *fakeStream
	headers  *fakeHeaders
	buf      *fakeBuffer
	hdrState api.StatusType
	status   api.StatusType
	counters map[string]*fakeCounter
}

// run drives one request through the filter the way Envoy does: headers, then
// (if the filter asked to buffer) the whole body in one DecodeData call.
func run(t *testing.T, doc string, headers *fakeHeaders, body string) *exchange {
	t.Helper()
	ccb := &fakeConfigCallbacks{counters: map[string]*fakeCounter{}}
	a, _ := anypb.New(wrapperspb.String(doc))
	parsed, err := Parser{}.Parse(a, ccb)
	if err != nil {
		t.Fatal(err)
	}
	parsed.budget = new(Budget) // this request's own, so the check below sees only its reservations
	x := &exchange{cfg: parsed, cb: newStream(), headers: headers, buf: &fakeBuffer{b: []byte(body)}, counters: ccb.counters}
	var f Router
	f.Init(x.cfg, x.cb)
	x.hdrState = guarded(&f, func() api.StatusType { return f.DecodeHeaders(headers, body == "") })
	x.status = x.hdrState
	if x.hdrState == api.StopAndBuffer {
		x.status = guarded(&f, func() api.StatusType { return f.DecodeData(x.buf, true) })
		x.buf.endCallback()
	}
	f.OnStreamComplete()
	f.OnDestroy()
	if n := x.cfg.budget.Used(); n != 0 {
		t.Fatalf("%d bytes still reserved after the stream was destroyed", n)
	}
	return x
}

// guarded runs a callback behind the adapter's panic boundary as Envoy's
// calls reach the filter (golangabi's guard hands a recovered panic to
// Router.Fail). This package recovers nothing itself.
func guarded(f *Router, fn func() api.StatusType) (st api.StatusType) {
	defer func() {
		if p := recover(); p != nil {
			st = f.Fail()
		}
	}()
	return fn()
}

func post(path string, kv ...string) *fakeHeaders {
	return newHeaders(append([]string{":method", "POST", ":path", path}, kv...)...)
}

func TestRouting(t *testing.T) {
	cases := []struct {
		name        string
		headers     *fakeHeaders
		body        string
		wantBackend string // x-ai-eg-backend after the filter ("" = absent)
		wantModel   string // x-ai-eg-model after the filter ("" = absent)
		wantBody    string // forwarded body ("" = unchanged)
	}{
		{name: "model routes by model header", headers: post("/v1/chat/completions"),
			body: `{"model":"gpt-4o-mini","messages":[]}`, wantModel: "gpt-4o-mini"},
		{name: "two deployments, same model: named backend wins and model header is absent", headers: post("/v1/chat/completions"),
			body: `{"model":"gpt-4o-mini","backend":"deploy-b","messages":[]}`, wantBackend: "deploy-b", wantBody: `{"model":"gpt-4o-mini","messages":[]}`},
		{name: "header-only backend", headers: post("/v1/chat/completions", "x-ai-eg-backend", "deploy-a"),
			body: `{"model":"gpt-4o-mini"}`, wantBackend: "deploy-a"},
		{name: "spoofed model header is overwritten", headers: post("/v1/chat/completions", "x-ai-eg-model", "evil"),
			body: `{"model":"gpt-4o"}`, wantModel: "gpt-4o"},
		{name: "spoofed model header removed when a backend is named", headers: post("/v1/embeddings", "x-ai-eg-model", "gpt-4o"),
			body: `{"model":"gpt-4o-mini","input":"x","backend":"deploy-a"}`, wantBackend: "deploy-a", wantBody: `{"model":"gpt-4o-mini","input":"x"}`},
		{name: "unicode escapes in model", headers: post("/v1/chat/completions"),
			body: `{"model":"gpt\u002d4o\u002dmini"}`, wantModel: "gpt-4o-mini"},
		{name: "model strings inside messages", headers: post("/v1/chat/completions?x=1"),
			body: `{"messages":[{"role":"user","content":"{\"model\":\"evil\",\"backend\":\"deploy-a\"}","model":"evil"}],"model":"gpt-4o"}`, wantModel: "gpt-4o"},
		{name: "completions path", headers: post("/v1/completions"), body: `{"prompt":"hi","model":"gpt-4o"}`, wantModel: "gpt-4o"},
		{name: "messages path", headers: post("/v1/messages"), body: `{"model":"gpt-4o","max_tokens":1}`, wantModel: "gpt-4o"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := run(t, testConfig, tc.headers, tc.body)
			if x.cb.reply != nil {
				t.Fatalf("unexpected local reply %d %s", x.cb.reply.status, x.cb.reply.body)
			}
			if x.hdrState != api.StopAndBuffer || x.status != api.Continue {
				t.Fatalf("statuses %v/%v", x.hdrState, x.status)
			}
			b, hasB := x.headers.Get("x-ai-eg-backend")
			m, hasM := x.headers.Get("x-ai-eg-model")
			if b != tc.wantBackend || hasB != (tc.wantBackend != "") || m != tc.wantModel || hasM != (tc.wantModel != "") {
				t.Fatalf("headers backend=%q(%v) model=%q(%v), want backend=%q model=%q", b, hasB, m, hasM, tc.wantBackend, tc.wantModel)
			}
			if hasB && hasM {
				t.Fatal("both routing headers set")
			}
			want := tc.wantBody
			if want == "" {
				want = tc.body
			} else if cl, _ := x.headers.Get("content-length"); cl != strconv.Itoa(len(want)) {
				t.Fatalf("content-length %q for %d bytes", cl, len(want))
			}
			if string(x.buf.b) != want {
				t.Fatalf("forwarded body %s, want %s", x.buf.b, want)
			}
			if x.cb.clearedRoute != 1 {
				t.Fatalf("route cache cleared %d times", x.cb.clearedRoute)
			}
			if x.buf.bytesCalls != 1 {
				t.Fatalf("body copied %d times", x.buf.bytesCalls)
			}
			md := x.cb.metadata()
			var sc bodyscan.Result
			sc, _ = bodyscan.Scan([]byte(tc.body), "backend")
			if md[MetaModel] != sc.Model.Value {
				t.Fatalf("metadata model %v", md[MetaModel])
			}
			if tc.wantBackend != "" && md[MetaBackend] != tc.wantBackend {
				t.Fatalf("metadata backend %v", md[MetaBackend])
			}
			if d := md[config.MetaConfigDigest]; d == "" || d != x.cfg.Digest() {
				t.Fatalf("metadata %s = %q, want the config's digest %q", config.MetaConfigDigest, d, x.cfg.Digest())
			}
			if x.counters["aigw_requests_total"].n != 1 || x.counters["aigw_completed_total"].n != 1 {
				t.Fatalf("counters %v", x.counters)
			}
		})
	}
}

func TestLargeBodyModelLast(t *testing.T) {
	body := testbodies.Chat(1<<20, true)
	x := run(t, testConfig, post("/v1/chat/completions"), string(body))
	if x.cb.reply != nil {
		t.Fatalf("reply %+v", x.cb.reply)
	}
	if b, _ := x.headers.Get("x-ai-eg-backend"); b != "deploy-b" {
		t.Fatalf("backend %q", b)
	}
	if _, ok := x.headers.Get("x-ai-eg-model"); ok {
		t.Fatal("model header set")
	}
	if strings.Contains(string(x.buf.b), `"backend"`) || len(x.buf.b) != len(body)-len(`"backend":"deploy-b",`) {
		t.Fatalf("backend member not removed cleanly (%d -> %d bytes)", len(body), len(x.buf.b))
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name    string
		doc     string
		headers *fakeHeaders
		body    string
		status  int
		param   interface{}
		code    interface{}
	}{
		{name: "not JSON", headers: post("/v1/chat/completions"), body: `model=gpt`, status: 400},
		{name: "not an object", headers: post("/v1/chat/completions"), body: `["gpt-4o"]`, status: 400},
		{name: "empty body", headers: post("/v1/chat/completions"), body: ``, status: 400},
		{name: "whitespace body", headers: post("/v1/chat/completions"), body: "  \n", status: 400},
		{name: "missing model", headers: post("/v1/chat/completions"), body: `{"messages":[]}`, status: 400, param: "model"},
		{name: "model not a string", headers: post("/v1/chat/completions"), body: `{"model":["a"]}`, status: 400, param: "model"},
		{name: "backend not a string", headers: post("/v1/chat/completions"), body: `{"model":"m","backend":7}`, status: 400, param: "backend"},
		{name: "backend empty", headers: post("/v1/chat/completions"), body: `{"model":"m","backend":""}`, status: 400, param: "backend"},
		{name: "duplicate model", headers: post("/v1/chat/completions"), body: `{"model":"gpt-4o","model":"gpt-4o-mini"}`, status: 400, param: "model"},
		{name: "duplicate backend", headers: post("/v1/chat/completions"), body: `{"backend":"deploy-a","model":"m","backend":"deploy-b"}`, status: 400, param: "backend"},
		{name: "unknown backend in body", headers: post("/v1/chat/completions"), body: `{"model":"m","backend":"nope"}`, status: 404, param: "backend", code: "backend_not_found"},
		{name: "unknown backend in header", headers: post("/v1/chat/completions", "x-ai-eg-backend", "nope"), body: `{"model":"m"}`, status: 404, code: "backend_not_found"},
		{name: "content-length over limit", doc: `{"max_request_body_bytes":10}`, headers: post("/v1/chat/completions", "content-length", "11"), body: `{"model":"m"}`, status: 413, code: "request_too_large"},
		{name: "body over limit", doc: `{"max_request_body_bytes":10}`, headers: post("/v1/chat/completions"), body: `{"model":"gpt-4o"}`, status: 413, code: "request_too_large"},
		{name: "panic is a 500 for this request", headers: func() *fakeHeaders { h := post("/v1/chat/completions"); h.panicOn = "x-ai-eg-model"; return h }(), body: `{"model":"m"}`, status: 500, code: "internal_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc
			if doc == "" {
				doc = testConfig
			}
			x := run(t, doc, tc.headers, tc.body)
			if x.status != api.LocalReply || x.cb.reply == nil {
				t.Fatalf("status %v, reply %+v", x.status, x.cb.reply)
			}
			r := x.cb.reply
			if r.status != tc.status || !strings.HasPrefix(r.details, "aigw_") {
				t.Fatalf("reply %d %q", r.status, r.details)
			}
			var e struct {
				Error struct {
					Message string      `json:"message"`
					Type    string      `json:"type"`
					Param   interface{} `json:"param"`
					Code    interface{} `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.body), &e); err != nil {
				t.Fatalf("not JSON: %s", r.body)
			}
			if e.Error.Message == "" || e.Error.Type == "" || e.Error.Param != tc.param || e.Error.Code != tc.code {
				t.Fatalf("error %+v, want param=%v code=%v", e.Error, tc.param, tc.code)
			}
			if x.cb.clearedRoute != 0 {
				t.Fatal("route cache cleared for a rejected request")
			}
			if _, ok := x.headers.Get("x-ai-eg-model"); ok && tc.status != 500 {
				t.Fatal("routing header set on a rejected request")
			}
		})
	}
}

// Requests the router phase does not inspect and that carry no routing
// header pass untouched (headers_test.go covers those that carry one).
func TestPassThrough(t *testing.T) {
	for _, h := range []*fakeHeaders{
		newHeaders(":method", "GET", ":path", "/v1/chat/completions", "x-other", "client"),
		newHeaders(":method", "POST", ":path", "/v1/files"),
		newHeaders(":method", "POST", ":path", "/healthz"),
	} {
		x := run(t, testConfig, h, "not json")
		if x.hdrState != api.Continue || x.cb.reply != nil || x.cb.clearedRoute != 0 || x.buf.bytesCalls != 0 {
			t.Fatalf("%v: %v %+v", h.h, x.hdrState, x.cb.reply)
		}
		if x.counters["aigw_requests_total"].n != 0 {
			t.Fatal("counted a pass-through request")
		}
	}
}

func TestModelsList(t *testing.T) {
	x := run(t, testConfig, newHeaders(":method", "GET", ":path", "/v1/models?limit=5"), "")
	if x.status != api.LocalReply || x.cb.reply.status != 200 {
		t.Fatalf("%+v", x.cb.reply)
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID, Object string
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(x.cb.reply.body), &list); err != nil {
		t.Fatal(err)
	}
	if list.Object != "list" || len(list.Data) != 2 || list.Data[0].ID != "gpt-4o" || list.Data[1].ID != "gpt-4o-mini" || list.Data[0].Object != "model" {
		t.Fatalf("%s", x.cb.reply.body)
	}
}

func TestSelectionOffDropsClientBackend(t *testing.T) {
	x := run(t, `{"client_backend_selection":"off"}`, post("/v1/chat/completions", "x-ai-eg-backend", "deploy-a"), `{"model":"m","backend":"deploy-b"}`)
	if _, ok := x.headers.Get("x-ai-eg-backend"); ok {
		t.Fatal("client backend header kept")
	}
	if m, _ := x.headers.Get("x-ai-eg-model"); m != "m" || string(x.buf.b) != `{"model":"m"}` {
		t.Fatalf("model %q body %s", m, x.buf.b)
	}
}

func TestResponseAccounting(t *testing.T) {
	cases := []struct {
		name          string
		body          string
		code          int
		upstreamError int64
		rejected      int64
	}{
		{"upstream 503", `{"model":"gpt-4o"}`, 503, 1, 0},
		{"upstream 200", `{"model":"gpt-4o"}`, 200, 0, 0},
		{"rejected locally is not an upstream error", `not json`, 400, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ccb := &fakeConfigCallbacks{counters: map[string]*fakeCounter{}}
			a, _ := anypb.New(wrapperspb.String(testConfig))
			parsed, _ := Parser{}.Parse(a, ccb)
			cb := newStream()
			cb.responseCode = tc.code
			var f Router
			f.Init(parsed, cb)
			f.DecodeHeaders(post("/v1/chat/completions"), false)
			f.DecodeData(&fakeBuffer{b: []byte(tc.body)}, true)
			f.OnStreamComplete()
			c := ccb.counters
			if c["aigw_upstream_errors_total"].n != tc.upstreamError || c["aigw_rejected_total"].n != tc.rejected || c["aigw_completed_total"].n != 1 {
				t.Fatalf("upstream errors %d rejected %d completed %d", c["aigw_upstream_errors_total"].n, c["aigw_rejected_total"].n, c["aigw_completed_total"].n)
			}
		})
	}
}

func TestMergeKeepsListenerMetrics(t *testing.T) {
	ccb := &fakeConfigCallbacks{counters: map[string]*fakeCounter{}}
	a, _ := anypb.New(wrapperspb.String(testConfig))
	parent, _ := Parser{}.Parse(a, ccb)
	child, _ := Parser{}.Parse(a, nil)
	merged := Parser{}.Merge(parent, child)
	if merged.metrics == nil || merged.metrics != parent.metrics {
		t.Fatal("metrics lost on merge")
	}
}

// With request trailers, Envoy hands the buffered body to DecodeData without
// end_stream, then the trailers; the body is complete, and a request that
// went on unrouted would keep the client's routing headers and backend member.
func TestBodyFollowedByTrailersIsRouted(t *testing.T) {
	ccb := &fakeConfigCallbacks{counters: map[string]*fakeCounter{}}
	a, _ := anypb.New(wrapperspb.String(testConfig))
	parsed, err := Parser{}.Parse(a, ccb)
	if err != nil {
		t.Fatal(err)
	}
	s := newStream()
	h := post("/v1/chat/completions", "x-ai-eg-model", "spoofed")
	buf := &fakeBuffer{b: []byte(`{"model":"gpt-4o","backend":"deploy-a"}`)}
	var f Router
	f.Init(parsed, s)
	if st := f.DecodeHeaders(h, false); st != api.StopAndBuffer {
		t.Fatalf("headers: %v", st)
	}
	if st := f.DecodeData(buf, false); st != api.Continue {
		t.Fatalf("body before trailers: %v, want Continue", st)
	}
	if b, _ := h.Get("x-ai-eg-backend"); b != "deploy-a" {
		t.Fatalf("backend header %q", b)
	}
	if _, ok := h.Get("x-ai-eg-model"); ok {
		t.Fatal("client's model header kept")
	}
	if string(buf.b) != `{"model":"gpt-4o"}` || s.clearedRoute != 1 {
		t.Fatalf("body %s, route cache cleared %d times", buf.b, s.clearedRoute)
	}
}

type fakeShardedCounter struct {
	fakeCounter
	shards map[int]*fakeCounter
}

func (c *fakeShardedCounter) Shard(worker int) api.CounterMetric {
	if c.shards[worker] == nil {
		c.shards[worker] = &fakeCounter{}
	}
	return c.shards[worker]
}

type shardingDefiner struct{ made []*fakeShardedCounter }

func (d *shardingDefiner) DefineCounterMetric(string) api.CounterMetric {
	c := &fakeShardedCounter{shards: map[int]*fakeCounter{}}
	d.made = append(d.made, c)
	return c
}
func (d *shardingDefiner) DefineGaugeMetric(name string) api.GaugeMetric {
	return d.DefineCounterMetric(name)
}

// Every counter of a worker's config is that worker's view, so a field added
// to Metrics but forgotten in ForWorker fails here.
func TestConfigForWorkerShardsEveryCounter(t *testing.T) {
	d := &shardingDefiner{}
	a, _ := anypb.New(wrapperspb.String(testConfig))
	cfg, err := Parser{}.Parse(a, d)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.ForWorker(3)
	if w.Config != cfg.Config || w.modelsBody != cfg.modelsBody {
		t.Fatal("the worker's config is not the same config")
	}
	v := reflect.ValueOf(*w.metrics)
	if v.NumField() != len(d.made) {
		t.Fatalf("Metrics has %d fields, NewMetrics defined %d counters", v.NumField(), len(d.made))
	}
	for i := 0; i < v.NumField(); i++ {
		got := v.Field(i).Interface()
		shared := reflect.ValueOf(*cfg.metrics).Field(i).Interface().(*fakeShardedCounter)
		if got != api.CounterMetric(shared.shards[3]) {
			t.Errorf("Metrics.%s is not worker 3's view", v.Type().Field(i).Name)
		}
	}
	var r Router
	r.Init(w, newStream())
	r.DecodeHeaders(post("/v1/chat/completions"), false)
	if n := reflect.ValueOf(*cfg.metrics).FieldByName("Requests").Interface().(*fakeShardedCounter).shards[3].n; n != 1 {
		t.Fatalf("worker 3's request count %d", n)
	}
	if (*Metrics)(nil).ForWorker(1) != nil {
		t.Fatal("nil metrics (per-route config) gained counters")
	}
}

// TestFindingsHandedToUpstream: a routed request's findings are available
// to the upstream phase for exactly the body it forwards (the backend
// member removed, offsets moved with it) until Envoy destroys the stream.
func TestFindingsHandedToUpstream(t *testing.T) {
	ccb := &fakeConfigCallbacks{counters: map[string]*fakeCounter{}}
	a, _ := anypb.New(wrapperspb.String(testConfig))
	parsed, err := Parser{}.Parse(a, ccb)
	if err != nil {
		t.Fatal(err)
	}
	buf := &fakeBuffer{b: []byte(`{"backend":"deploy-a","model":"gpt-4o","stream":true}`)}
	var f Router
	f.Init(parsed, &workerStream{fakeStream: newStream(), worker: 3})
	if st := f.DecodeHeaders(post("/v1/chat/completions"), false); st != api.StopAndBuffer {
		t.Fatalf("headers: %v", st)
	}
	if st := f.DecodeData(buf, true); st != api.Continue {
		t.Fatalf("body: %v", st)
	}
	forwarded := buf.Bytes()
	if _, ok := bodyscan.Recall(forwarded, 4); ok {
		t.Fatal("findings recalled on another worker thread than the stream's")
	}
	got, ok := bodyscan.Recall(forwarded, 3)
	if !ok {
		t.Fatalf("no findings for the forwarded body %s on the stream's worker thread", forwarded)
	}
	if m := string(forwarded[got.ModelStart:got.ModelEnd]); m != `"gpt-4o"` || got.Model.Value != "gpt-4o" || !got.Stream || got.Members != 2 {
		t.Fatalf("findings %+v (model span %s) for %s", got, m, forwarded)
	}
	f.OnDestroy()
	if _, ok := bodyscan.Recall(forwarded, 3); ok {
		t.Fatal("findings outlived the stream")
	}
}

// workerStream is a stream served on a worker thread of a known number
// (bodyscan.Worker), as golangabi's are.
type workerStream struct {
	*fakeStream
	worker uint32
}

func (s *workerStream) WorkerThread() uint32 { return s.worker }
