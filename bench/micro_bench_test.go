package bench

import (
	"strconv"
	"testing"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/route"
	"github.com/aigw/aigw/internal/translate"
)

// Microbenchmarks of the Go work in the data path, without Envoy, a host or a
// transport: what is left of a request's cost when nothing crosses a process
// boundary. They sit next to the side-by-side benchmarks so one run of
// bench/run.sh shows both.

// routerPhase is the Go work of the in-process filter's DecodeData on one
// body (filter/router.go): the copy out of Envoy's buffer that Body.Bytes()
// makes into the worker's reused buffer (internal/golangabi), the scan, the
// decision, the in-place member removal and the new content-length. It
// returns the body and content-length the request continues with.
func routerPhase(b *testing.B, cfg *config.Config, src []byte, scratch *[]byte) ([]byte, string) {
	body := append((*scratch)[:0], src...) // Body.Bytes(): Envoy's one copy, into a reused buffer
	*scratch = body
	scan, err := bodyscan.Scan(body, cfg.BackendField)
	if err != nil {
		b.Fatal(err)
	}
	d, e := route.Decide(cfg, route.Input{Body: scan})
	if e != nil {
		b.Fatal(e)
	}
	if !d.RemoveBackendMember {
		return body, ""
	}
	body = bodyscan.RemoveMember(body, scan.Backend)
	return body, strconv.Itoa(len(body))
}

// BenchmarkRouterPhase is routerPhase per body size. The body copy goes into
// a buffer reused across requests, as in the adapter, so B/op is what
// remains per request (the model and backend strings, the content-length);
// anything growing with the body would show here.
func BenchmarkRouterPhase(b *testing.B) {
	cfg := Config()
	for _, size := range Sizes {
		src := ChatBody(size.Bytes)
		b.Run(size.Name, func(b *testing.B) {
			var scratch []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				routerPhase(b, cfg, src, &scratch)
			}
		})
	}
}

// BenchmarkRouteDecide is the routing decision alone, on an already scanned
// body: its cost does not depend on the body size.
func BenchmarkRouteDecide(b *testing.B) {
	cfg := Config()
	scan, err := bodyscan.Scan(ChatBody(1<<10), cfg.BackendField)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, e := route.Decide(cfg, route.Input{Body: scan}); e != nil {
			b.Fatal(e)
		}
	}
}

// BenchmarkTranslateRequest is the upstream phase's request translation per
// provider schema, on the body as the router phase leaves it (no backend
// member) and with a model override, so the OpenAI-compatible schemas rewrite
// the body too. Two sizes keep the run short: the cost is linear in between.
func BenchmarkTranslateRequest(b *testing.B) {
	targets := []struct {
		name   string
		target translate.Target
	}{
		{"openai", translate.Target{Schema: translate.SchemaOpenAI, ModelOverride: map[string]string{DefaultModel: "gpt-4o-mini-2024-07-18"}}},
		{"azure_openai", translate.Target{Schema: translate.SchemaAzureOpenAI, APIVersion: "2024-10-21"}},
		{"anthropic", translate.Target{Schema: translate.SchemaAnthropic, ModelOverride: map[string]string{DefaultModel: "claude-3-5-haiku-latest"}}},
	}
	for _, t := range targets {
		b.Run(t.name, func(b *testing.B) {
			for _, size := range []Size{Sizes[1], Sizes[3]} {
				src := ChatBodyNoBackend(size.Bytes)
				b.Run(size.Name, func(b *testing.B) {
					b.ReportAllocs()
					b.SetBytes(int64(len(src)))
					for b.Loop() {
						body := append([]byte(nil), src...) // the upstream filter's copy out of Envoy
						tr, err := translate.New(t.target, "/v1/chat/completions")
						if err != nil {
							b.Fatal(err)
						}
						res, err := tr.RequestBody(body)
						if err != nil {
							b.Fatal(err)
						}
						// Envoy has copied the body in (upstream.Body.Replace):
						// the pooled output goes back, as the upstream phase does.
						res.Release()
					}
				})
			}
		})
	}
}
