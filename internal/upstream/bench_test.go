package upstream

import (
	"testing"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/metrics"
	"github.com/aigw/aigw/internal/testbodies"
	"github.com/aigw/aigw/internal/translate"
)

// benchConfig is pipelineConfig for benchmarks.
func benchConfig(b *testing.B) *Config {
	b.Helper()
	b.Setenv("AIGW_TEST_OPENAI_KEY", "sk-openai-secret")
	b.Setenv("AIGW_TEST_ANTHROPIC_KEY", "anthropic-secret")
	c, err := config.Parse([]byte(`{"backends": [
    {"name": "oai", "host": "api.openai.example", "model_override": {"gpt-4o-mini": "gpt-4o-mini-2024-07-18"},
     "auth": {"type": "bearer", "key_env": "AIGW_TEST_OPENAI_KEY"}},
    {"name": "claude", "schema": "anthropic", "model_override": "claude-3-5-haiku-latest",
     "auth": {"type": "anthropic_api_key", "key_env": "AIGW_TEST_ANTHROPIC_KEY"}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	uc, err := NewConfig(c)
	if err != nil {
		b.Fatal(err)
	}
	return uc
}

// recordWithHeader makes cfg record the gen_ai metrics with one header
// attribute (x-api-key-id); no listener (the exporter's work is off the
// request path).
func recordWithHeader(tb testing.TB, cfg *Config) {
	tb.Helper()
	rec, err := metrics.New(metrics.Spec{ListenAddress: metrics.ListenOff,
		Headers: []metrics.HeaderAttribute{{Header: "x-api-key-id", Attribute: "api_key_id"}}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rec.Close)
	cfg.SetRecorder(rec)
}

// BenchmarkAttempt is one upstream attempt through every hook of the filter
// (request headers, body, response headers, body, destroy) over the fakes:
// the per-attempt cost of the upstream logic, translation included. The
// fakes' own work is the same for every version of the filter, and they
// reuse their body buffers as Envoy does, so B/op is the filter's own. The
// /recorded variants also record the attempt's gen_ai metrics: the
// difference is the cost of recording on the hot path. The /routed
// variants have the router phase's findings for the body (parse once), as
// every request that came through the router phase does; oai/routed/1MiB
// is the OpenAI passthrough with a model override on a 1 MiB body,
// claude/routed/1MiB its translation to Anthropic (the output buffer
// pooled: translate.BodyBuffer).
func BenchmarkAttempt(b *testing.B) {
	const openAIResp = `{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`
	const anthropicResp = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-latest",` +
		`"content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":9}}`
	big := string(testbodies.Chat(1<<20, false))
	for _, bc := range []struct {
		backend, resp    string
		recorded, routed bool
		body             string
	}{
		{"oai", openAIResp, false, false, chatBody}, {"oai", openAIResp, true, false, chatBody},
		{"oai", openAIResp, false, true, chatBody}, {"oai", openAIResp, false, true, big},
		{"claude", anthropicResp, false, false, chatBody}, {"claude", anthropicResp, true, false, chatBody},
		{"claude", anthropicResp, false, true, big},
	} {
		name := bc.backend
		if bc.recorded {
			name += "/recorded"
		}
		if bc.routed {
			name += "/routed"
		}
		if len(bc.body) > 1<<10 {
			name += "/1MiB"
		}
		b.Run(name, func(b *testing.B) {
			if bc.routed {
				remember(b, []byte(bc.body))
			}
			cfg := benchConfig(b)
			if bc.recorded {
				recordWithHeader(b, cfg)
			}
			a := newFakeAttempt()
			a.reqB.reuse, a.respB.reuse = true, true
			a.endpointMD[[2]string{"aigw", "backend"}] = bc.backend
			a.dynMD[MetadataNamespace+"/"+config.MetaConfigDigest] = cfg.digest // as the router phase records it
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				clear(a.reqH)
				clear(a.state)
				a.reqH[":method"], a.reqH[":path"], a.reqH[":authority"] = "POST", "/v1/chat/completions", "gateway.local"
				a.reqH["authorization"], a.reqH["content-type"] = "Bearer client-key", "application/json"
				a.reqH["x-api-key-id"] = "team-a"
				a.reqB.b = append(a.reqB.b[:0], bc.body...)
				a.respH = fakeHeaders{":status": "200", "content-type": "application/json"}
				f := NewFilter(cfg, a)
				f.OnRequestHeaders(false)
				f.OnRequestBody(true)
				f.OnResponseHeaders(false)
				a.respB.b = append(a.respB.b[:0], bc.resp...)
				f.OnResponseBody(true)
				f.OnDestroy()
				f.Recycle() // as the adapter does: the translator's memory serves the next attempt
			}
			if len(a.responses) != 0 {
				b.Fatalf("answered locally: %v", a.responses)
			}
		})
	}
}

// BenchmarkRequestBody is an attempt's request translation (OpenAI
// passthrough with a model override) on the body the router phase
// forwarded, scanning it itself ("scan") or with the router phase's
// findings for it ("routed": parse once across both phases). Each
// iteration starts from the attempt's own copy of the body, as the
// upstream filter reads it out of Envoy.
func BenchmarkRequestBody(b *testing.B) {
	target := translate.Target{ModelOverride: map[string]string{"gpt-4o-mini": "gpt-4o-mini-2024-07-18"}}
	for _, size := range []struct {
		name  string
		bytes int
	}{{"1KiB", 1 << 10}, {"1MiB", 1 << 20}} {
		src := testbodies.Chat(size.bytes, false)
		for _, routed := range []bool{false, true} {
			name := size.name + "/scan"
			if routed {
				name = size.name + "/routed"
			}
			b.Run(name, func(b *testing.B) {
				if routed {
					scan, err := bodyscan.Scan(src, "backend")
					if err != nil {
						b.Fatal(err)
					}
					ticket := bodyscan.Remember(src, bodyscan.FindingsOf(scan, bodyscan.Member{}), 0)
					defer ticket.Forget()
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					body := append([]byte(nil), src...)
					tr, err := translate.New(target, "/v1/chat/completions")
					if err != nil {
						b.Fatal(err)
					}
					res, err := requestBody(tr, &request{body: body, hasBody: true}, true)
					if err != nil || res.Body == nil {
						b.Fatal(err, "no rewrite")
					}
				}
			})
		}
	}
}

// BenchmarkRequestHookSliced is an attempt's request hooks (headers, then
// the body's last hook, where the request is planned and rewritten) for a
// 1 MiB chat body Envoy holds in 64 slices of 16 KiB, with the router
// phase's findings and a model override on an OpenAI backend: the case of
// a model-routed request, whose body the router phase never rewrote. The
// fake body joins the slices into one scratch buffer whenever the filter
// asks for the body's bytes, as internal/dynmod's adapter does.
func BenchmarkRequestHookSliced(b *testing.B) {
	body := testbodies.Chat(1<<20, false)
	remember(b, body)
	cfg := benchConfig(b)
	a := newFakeAttempt()
	sb := splitBody(body, 16<<10)
	if len(sb.slices) != 64 {
		b.Fatalf("%d slices", len(sb.slices))
	}
	a.reqBody = sb
	a.endpointMD[[2]string{"aigw", "backend"}] = "oai"
	a.dynMD[MetadataNamespace+"/"+config.MetaConfigDigest] = cfg.digest
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		clear(a.reqH)
		clear(a.state)
		a.reqH[":method"], a.reqH[":path"], a.reqH[":authority"] = "POST", "/v1/chat/completions", "gateway.local"
		a.reqH["authorization"], a.reqH["content-type"] = "Bearer client-key", "application/json"
		f := NewFilter(cfg, a)
		f.OnRequestHeaders(false)
		if f.OnRequestBody(true) != Continue {
			b.Fatalf("answered locally: %v", a.responses)
		}
		f.OnDestroy()
		f.Recycle()
	}
	if sb.edited == 0 {
		b.Fatal("the body was not edited")
	}
}
