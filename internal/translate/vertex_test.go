package translate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/aigw/aigw/internal/bodyscan"
)

var vertexTarget = Target{Project: "my-proj", Region: "us-east5"}

func newVertexT(t testing.TB, schema, path string) Translator {
	t.Helper()
	tg := vertexTarget
	tg.Schema = schema
	tr, err := New(tg, path)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// requestView is what a request golden shows of a RequestResult.
func requestView(t *testing.T, res RequestResult) []byte {
	t.Helper()
	if !json.Valid(res.Body) {
		t.Fatalf("translated body is not JSON: %s", res.Body)
	}
	got, err := json.Marshal(struct {
		Path          string          `json:"path"`
		Headers       []Header        `json:"headers"`
		RemoveHeaders []string        `json:"remove_headers"`
		Model         string          `json:"model"`
		RequestModel  string          `json:"request_model"`
		Stream        bool            `json:"stream"`
		Body          json.RawMessage `json:"body"`
	}{res.Path, res.Headers, res.RemoveHeaders, res.Model, res.RequestModel, res.Stream, res.Body})
	if err != nil {
		t.Fatal(err)
	}
	return indentJSON(t, got)
}

func TestVertexRequestGolden(t *testing.T) {
	for _, tc := range []struct{ dir, schema string }{
		{"gemini/request", SchemaVertexGemini},
		{"vertex_anthropic/request", SchemaVertexAnthropic},
		{"vertex_embeddings/request", SchemaVertexGemini},
	} {
		for _, in := range inputs(t, tc.dir, ".json") {
			t.Run(tc.dir+"/"+filepath.Base(in), func(t *testing.T) {
				body, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				path := "/v1/chat/completions"
				switch {
				case strings.HasPrefix(filepath.Base(in), "messages_"):
					path = "/v1/messages"
				case strings.HasPrefix(tc.dir, "vertex_embeddings"):
					path = "/v1/embeddings"
				}
				orig := bytes.Clone(body)
				res, err := newVertexT(t, tc.schema, path).RequestBody(body)
				if err != nil {
					t.Fatalf("RequestBody: %v", err)
				}
				if !bytes.Equal(body, orig) {
					t.Fatal("the original body (every attempt's) was changed")
				}
				checkGolden(t, goldenPath(in), requestView(t, res))
			})
		}
	}
}

func TestVertexRequestRejects(t *testing.T) {
	chat := func(extra string) string {
		return `{"model":"m","messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	for _, tc := range []struct {
		name, schema, path, body string
		unsupported              bool
		param                    string
	}{
		{"logprobs", SchemaVertexGemini, "", chat(`,"logprobs":true`), true, "logprobs"},
		{"n streamed", SchemaVertexGemini, "", chat(`,"n":2,"stream":true`), true, "n"},
		{"unknown parameter", SchemaVertexGemini, "", chat(`,"prediction":{"type":"content"}`), true, "prediction"},
		{"parallel tool calls off", SchemaVertexGemini, "", chat(`,"parallel_tool_calls":false`), true, "parallel_tool_calls"},
		{"http image", SchemaVertexGemini, "", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`, true, "messages[0].content[0].image_url.url"},
		{"audio part", SchemaVertexGemini, "", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, true, "messages[0].content[0]"},
		{"tool result without call", SchemaVertexGemini, "", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"nope","content":"r"}]}`, false, "messages[1].tool_call_id"},
		{"arguments not an object", SchemaVertexGemini, "", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, false, "messages[0].tool_calls[0].function.arguments"},
		{"bad reasoning effort", SchemaVertexGemini, "", chat(`,"reasoning_effort":"max"`), false, "reasoning_effort"},
		{"model with slash", SchemaVertexGemini, "", `{"model":"a/b","messages":[{"role":"user","content":"hi"}]}`, false, "model"},
		{"no model", SchemaVertexGemini, "", `{"messages":[{"role":"user","content":"hi"}]}`, false, "model"},
		{"token array input", SchemaVertexGemini, "/v1/embeddings", `{"model":"e","input":[[1,2]]}`, true, "input"},
		{"base64 embeddings", SchemaVertexGemini, "/v1/embeddings", `{"model":"e","input":"x","encoding_format":"base64"}`, true, "encoding_format"},
		{"claude model with dots segment", SchemaVertexAnthropic, "/v1/messages", `{"model":"..","max_tokens":1,"messages":[]}`, false, "model"},
		{"claude messages without model", SchemaVertexAnthropic, "/v1/messages", `{"max_tokens":1,"messages":[]}`, false, "model"},
		{"claude chat json schema", SchemaVertexAnthropic, "", chat(`,"response_format":{"type":"json_object"}`), true, "response_format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/v1/chat/completions"
			}
			_, err := newVertexT(t, tc.schema, path).RequestBody([]byte(tc.body))
			requireRequestError(t, err, tc.unsupported, tc.param)
		})
	}
}

func TestVertexTargetChecks(t *testing.T) {
	for _, tc := range []struct {
		tg   Target
		want string
	}{
		{Target{Schema: SchemaVertexGemini, Region: "us-east5"}, "needs project and region"},
		{Target{Schema: SchemaVertexAnthropic, Project: "p"}, "needs project and region"},
		{Target{Schema: SchemaVertexGemini, Project: "p/q", Region: "r"}, "project must be a single path segment"},
		{Target{Schema: SchemaVertexGemini, Project: "p", Region: "r", DefaultModel: "a/b"}, "it names a Vertex AI model"},
	} {
		if err := Check(tc.tg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.tg, err, tc.want)
		}
	}
	if err := Check(Target{Schema: SchemaVertexGemini, Project: "p", Region: "global"}); err != nil {
		t.Fatal(err)
	}
	// /v1/completions is no Vertex endpoint: a 404 before any credential.
	if e := EndpointError(SchemaVertexGemini, http.MethodPost, "/v1/completions"); e == nil || e.Status != http.StatusNotFound {
		t.Fatalf("%v", e)
	}
	if e := EndpointError(SchemaVertexAnthropic, http.MethodPost, "/v1/messages"); e != nil {
		t.Fatal(e)
	}
}

// responseStatus reads the status a response fixture is answered with from
// its name (error_<status>_...), else 200.
func responseStatus(in string) int {
	if rest, ok := strings.CutPrefix(filepath.Base(in), "error_"); ok {
		if n, err := strconv.Atoi(rest[:3]); err == nil {
			return n
		}
	}
	return http.StatusOK
}

func TestVertexResponseGolden(t *testing.T) {
	for _, tc := range []struct{ dir, path string }{
		{"gemini/response", "/v1/chat/completions"},
		{"vertex_embeddings/response", "/v1/embeddings"},
	} {
		for _, in := range inputs(t, tc.dir, ".json") {
			t.Run(tc.dir+"/"+filepath.Base(in), func(t *testing.T) {
				body, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				tr := newVertexT(t, SchemaVertexGemini, tc.path)
				req := `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}]}`
				if tc.path == "/v1/embeddings" {
					req = `{"model":"text-embedding-005","input":"x"}`
				}
				if _, err := tr.RequestBody([]byte(req)); err != nil {
					t.Fatal(err)
				}
				status := responseStatus(in)
				mode, err := tr.ResponseHeaders(status, "application/json", "")
				if err != nil || !mode.BufferBody || !mode.ModifiesBody || mode.Error != (status != 200) {
					t.Fatalf("mode %+v, %v", mode, err)
				}
				out, usage, err := tr.ResponseBody(body, true)
				if err != nil {
					t.Fatal(err)
				}
				got := indentJSON(t, out)
				got = append(got, "usage: "...)
				got = append(got, strconv.FormatInt(usage.InputTokens, 10)+" "+strconv.FormatInt(usage.OutputTokens, 10)+" "+strconv.FormatInt(usage.TotalTokens, 10)+" "+strconv.FormatInt(usage.CachedInputTokens, 10)+" reasoning "+strconv.FormatInt(usage.ReasoningTokens, 10)+"\n"...)
				checkGolden(t, goldenPath(in), got)
			})
		}
	}
}

func TestGeminiMalformedResponseIs502(t *testing.T) {
	tr := newVertexT(t, SchemaVertexGemini, "/v1/chat/completions")
	tr.RequestBody([]byte(`{"model":"g","messages":[{"role":"user","content":"x"}]}`))
	tr.ResponseHeaders(200, "application/json", "")
	if _, _, err := tr.ResponseBody([]byte(`{"candidates":[{"content":`), true); !isBadResponse(err) {
		t.Fatalf("%v", err)
	}
	if strings.Contains(badResponse("x").Error(), "candidates") {
		t.Fatal("the log reason quotes the body")
	}
}

func translateGeminiStream(t testing.TB, includeUsage bool, pieces ...[]byte) ([]byte, Usage) {
	t.Helper()
	tr := &geminiTranslator{target: vertexTarget, model: "gemini-2.5-flash", includeUsage: includeUsage}
	mode, err := tr.ResponseHeaders(200, "text/event-stream", "")
	if err != nil || !mode.Stream || mode.BufferBody || !mode.ModifiesBody {
		t.Fatalf("mode %+v, %v", mode, err)
	}
	all, usage, err := responsePieces(tr, pieces)
	if err != nil {
		t.Fatal(err)
	}
	return all, usage
}

func TestGeminiStreamGolden(t *testing.T) {
	for _, in := range inputs(t, "gemini/stream", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			stream, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := translateGeminiStream(t, true, stream)
			checkSSEOutput(t, out)
			checkGolden(t, goldenPath(in), out)
		})
	}
}

// Every split point in two pieces, and one byte at a time, and all events
// in one chunk: identical output and usage.
func TestGeminiStreamEverySplit(t *testing.T) {
	for _, in := range inputs(t, "gemini/stream", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			stream, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			checkEverySplit(t, stream, func(pieces ...[]byte) ([]byte, Usage) { return translateGeminiStream(t, true, pieces...) })
		})
	}
}

// openai-go's own stream decoder reads the translated stream: text, tool
// call deltas and the usage chunk.
func TestGeminiStreamOpenAISDK(t *testing.T) {
	stream, err := os.ReadFile("testdata/gemini/stream/tool_calls.sse")
	if err != nil {
		t.Fatal(err)
	}
	out, usage := translateGeminiStream(t, true, stream)
	acc, _, err := openAIStream(t, out)
	if err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[1].Function.Arguments != `{"city":"Rome"}` || calls[0].ID != "call_0_0" || acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("%+v", acc.Choices)
	}
	if acc.Usage.PromptTokens != 20 || acc.Usage.CompletionTokens != 20 || usage.OutputTokens != 20 {
		t.Fatalf("usage %+v / %+v", acc.Usage, usage)
	}
}

func TestGeminiStreamEndsEarly(t *testing.T) {
	out, _ := translateGeminiStream(t, false, []byte(`data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}]}`+"\n\n"))
	p := checkSSEOutput(t, out)
	if !bytes.Contains(p[len(p)-1], []byte(`ended before the response was complete`)) {
		t.Fatalf("%s", out)
	}
}

// The upstream phase hands every translator that has RequestBodyScanned the
// router phase's findings: a Claude host's /v1/messages must give what
// RequestBody gives (the promoted passthrough method had no path function).
func TestClaudeHostMessagesScanned(t *testing.T) {
	body := []byte(`{"model":"claude-sonnet-4","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	for _, tg := range []Target{{Schema: SchemaVertexAnthropic, Project: vertexTarget.Project, Region: vertexTarget.Region}, {Schema: SchemaAWSBedrockAnthropic}} {
		want, err := newTranslatorT(t, tg, "/v1/messages").RequestBody(body)
		if err != nil {
			t.Fatal(err)
		}
		tr := newTranslatorT(t, tg, "/v1/messages")
		s, ok := tr.(ScannedRequest)
		if !ok {
			continue
		}
		r, err := bodyscan.Scan(body, "backend")
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.RequestBodyScanned(body, bodyscan.FindingsOf(r, bodyscan.Member{}))
		if err != nil {
			t.Fatal(err)
		}
		if got.Path != want.Path || string(got.Body) != string(want.Body) || got.Model != want.Model || got.Stream != want.Stream {
			t.Errorf("%s: scanned %+v, want %+v", tg.Schema, got, want)
		}
	}
}

func newTranslatorT(t *testing.T, tg Target, path string) Translator {
	t.Helper()
	tr, err := New(tg, path)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Every Vertex request reports the client's model (gen_ai.request.model,
// before model_override) next to the upstream one: the Claude Messages
// passthrough, Gemini chat (plain and streamed) and embeddings.
func TestVertexRequestModel(t *testing.T) {
	for _, tc := range []struct {
		name, schema, path, body string
	}{
		{"claude messages", SchemaVertexAnthropic, "/v1/messages", `{"model":"client-model","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`},
		{"claude messages streamed", SchemaVertexAnthropic, "/v1/messages", `{"stream":true,"model":"client-model","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`},
		{"claude chat", SchemaVertexAnthropic, "/v1/chat/completions", `{"model":"client-model","messages":[{"role":"user","content":"hi"}]}`},
		{"gemini chat", SchemaVertexGemini, "/v1/chat/completions", `{"model":"client-model","messages":[{"role":"user","content":"hi"}]}`},
		{"gemini chat streamed", SchemaVertexGemini, "/v1/chat/completions", `{"model":"client-model","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"embeddings", SchemaVertexGemini, "/v1/embeddings", `{"model":"client-model","input":"hi"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := vertexTarget
			tg.Schema = tc.schema
			tg.ModelOverride = map[string]string{"client-model": "upstream-model"}
			tr, err := New(tg, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body := []byte(tc.body)
			res, err := tr.RequestBody(body)
			if err != nil {
				t.Fatal(err)
			}
			if res.Model != "upstream-model" || res.RequestModel != "client-model" || !strings.Contains(res.Path, "/models/upstream-model:") {
				t.Fatalf("model %q request model %q path %s", res.Model, res.RequestModel, res.Path)
			}
			// The request model must not alias the body (every attempt's).
			copy(body, bytes.Repeat([]byte{'x'}, len(body)))
			if res.RequestModel != "client-model" {
				t.Fatalf("request model aliases the body: %q", res.RequestModel)
			}
		})
	}
}

// Gemini's thought summaries reach openai-go as reasoning_content (an extra
// field of the message, and of each stream delta), and thoughtsTokenCount
// as completion_tokens_details.reasoning_tokens, counted inside
// completion_tokens; the Usage the upstream phase records (metrics,
// metadata) carries them as ReasoningTokens.
func TestGeminiReasoningOpenAISDK(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		body, err := os.ReadFile("testdata/gemini/response/thoughts.json")
		if err != nil {
			t.Fatal(err)
		}
		tr := newVertexT(t, SchemaVertexGemini, "/v1/chat/completions")
		if _, err := tr.RequestBody([]byte(`{"model":"gemini-2.5-pro","reasoning_effort":"medium","messages":[{"role":"user","content":"x"}]}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.ResponseHeaders(200, "application/json", ""); err != nil {
			t.Fatal(err)
		}
		out, usage, err := tr.ResponseBody(body, true)
		if err != nil {
			t.Fatal(err)
		}
		var cc openai.ChatCompletion
		if err := json.Unmarshal(out, &cc); err != nil {
			t.Fatal(err)
		}
		m := cc.Choices[0].Message
		var reasoning string
		if err := json.Unmarshal([]byte(m.JSON.ExtraFields["reasoning_content"].Raw()), &reasoning); err != nil || !strings.HasPrefix(reasoning, "**Counting primes**") || strings.Contains(m.Content, "Counting") {
			t.Fatalf("reasoning %q (%v), content %q", reasoning, err, m.Content)
		}
		// usage.Model is gen_ai.response.model: the model Vertex names.
		if cc.Usage.CompletionTokens != 128 || cc.Usage.CompletionTokensDetails.ReasoningTokens != 120 || usage.ReasoningTokens != 120 || usage.OutputTokens != 128 || usage.Model != "gemini-2.5-pro" {
			t.Fatalf("usage %+v / %+v", cc.Usage, usage)
		}
	})
	t.Run("stream", func(t *testing.T) {
		stream, err := os.ReadFile("testdata/gemini/stream/thoughts.sse")
		if err != nil {
			t.Fatal(err)
		}
		out, usage := translateGeminiStream(t, true, stream)
		acc, chunks, err := openAIStream(t, out)
		if err != nil {
			t.Fatal(err)
		}
		var reasoning strings.Builder
		for _, c := range chunks {
			if len(c.Choices) > 0 {
				if f, ok := c.Choices[0].Delta.JSON.ExtraFields["reasoning_content"]; ok {
					var piece string
					if err := json.Unmarshal([]byte(f.Raw()), &piece); err != nil {
						t.Fatal(err)
					}
					reasoning.WriteString(piece)
				}
			}
		}
		if reasoning.String() != "**Planning**\nAdd the two numbers." || acc.Choices[0].Message.Content != "2 + 2 = 4" {
			t.Fatalf("reasoning %q content %q", reasoning.String(), acc.Choices[0].Message.Content)
		}
		if acc.Usage.CompletionTokens != 47 || acc.Usage.CompletionTokensDetails.ReasoningTokens != 40 || acc.Usage.PromptTokensDetails.CachedTokens != 2 {
			t.Fatalf("usage %+v", acc.Usage)
		}
		if usage.ReasoningTokens != 40 || usage.OutputTokens != 47 || usage.CachedInputTokens != 2 || usage.Model != "gemini-2.5-pro" {
			t.Fatalf("recorded usage %+v", usage)
		}
	})
}

// reasoning_effort becomes thinkingConfig: a budget per effort, and the
// thought summaries asked for whenever thinking is on.
func TestGeminiThinkingConfig(t *testing.T) {
	for effort, want := range map[string]string{
		"none":    `{"thinkingBudget":0}`,
		"minimal": `{"thinkingBudget":0}`,
		"low":     `{"thinkingBudget":1024,"includeThoughts":true}`,
		"medium":  `{"thinkingBudget":8192,"includeThoughts":true}`,
		"high":    `{"thinkingBudget":24576,"includeThoughts":true}`,
		"":        ``,
	} {
		body := `{"model":"g","messages":[{"role":"user","content":"hi"}]}`
		if effort != "" {
			body = `{"model":"g","reasoning_effort":"` + effort + `","messages":[{"role":"user","content":"hi"}]}`
		}
		res, err := newVertexT(t, SchemaVertexGemini, "/v1/chat/completions").RequestBody([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			GenerationConfig struct {
				ThinkingConfig json.RawMessage `json:"thinkingConfig"`
			} `json:"generationConfig"`
		}
		if err := json.Unmarshal(res.Body, &got); err != nil || string(got.GenerationConfig.ThinkingConfig) != want {
			t.Errorf("%q: thinkingConfig %s, want %s (%v)", effort, got.GenerationConfig.ThinkingConfig, want, err)
		}
	}
}

// response_format json_schema: a schema Vertex honours goes as
// responseJsonSchema unchanged; a keyword it does not is a 400 naming the
// keyword's place in the schema.
func TestGeminiResponseSchema(t *testing.T) {
	req := func(schema string) string {
		return `{"model":"g","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","strict":true,"schema":` + schema + `}}}`
	}
	for _, tc := range []struct {
		name, schema string
		unsupported  bool
		param        string // empty: accepted
	}{
		{name: "boolean schema", schema: `true`},
		{name: "annotations", schema: `{"$schema":"https://json-schema.org/draft/2020-12/schema","$comment":"c","type":"object","properties":{"a":{"type":"string","default":"x","examples":["y"],"deprecated":false,"readOnly":true}}}`},
		{name: "ref alone, $-siblings", schema: `{"$defs":{"A":{"type":"string"}},"type":"object","properties":{"a":{"$ref":"#/$defs/A","$comment":"c"}}}`},
		{name: "additionalProperties schema", schema: `{"type":"object","additionalProperties":{"type":"integer"}}`},
		{name: "numeric enum", schema: `{"type":"integer","enum":[1,-2,3.5]}`},
		{name: "pattern", schema: `{"type":"object","properties":{"zip":{"type":"string","pattern":"^[0-9]{5}$"}}}`, unsupported: true, param: "response_format.json_schema.schema.properties.zip.pattern"},
		{name: "const in anyOf", schema: `{"anyOf":[{"type":"string"},{"const":"x"}]}`, unsupported: true, param: "response_format.json_schema.schema.anyOf[1].const"},
		{name: "allOf", schema: `{"allOf":[{"type":"string"}]}`, unsupported: true, param: "response_format.json_schema.schema.allOf"},
		{name: "minLength in $defs", schema: `{"$defs":{"Name":{"type":"string","minLength":2}},"$ref":"#/$defs/Name"}`, unsupported: true, param: "response_format.json_schema.schema.$defs.Name.minLength"},
		{name: "definitions", schema: `{"definitions":{"A":{"type":"string"}}}`, unsupported: true, param: "response_format.json_schema.schema.definitions"},
		{name: "ref with a sibling", schema: `{"type":"object","properties":{"a":{"$ref":"#/$defs/A","description":"d"}}}`, unsupported: true, param: "response_format.json_schema.schema.properties.a.description"},
		{name: "tuple items", schema: `{"type":"array","items":[{"type":"string"}]}`, unsupported: true, param: "response_format.json_schema.schema.items"},
		{name: "object enum", schema: `{"enum":["a",{"b":1}]}`, unsupported: true, param: "response_format.json_schema.schema.enum[1]"},
		{name: "boolean enum", schema: `{"enum":[true]}`, unsupported: true, param: "response_format.json_schema.schema.enum[0]"},
		{name: "in prefixItems", schema: `{"type":"array","prefixItems":[{"type":"string"},{"type":"string","maxLength":3}]}`, unsupported: true, param: "response_format.json_schema.schema.prefixItems[1].maxLength"},
		{name: "in additionalProperties", schema: `{"type":"object","additionalProperties":{"not":{"type":"null"}}}`, unsupported: true, param: "response_format.json_schema.schema.additionalProperties.not"},
		{name: "schema not an object", schema: `"string"`, param: "response_format.json_schema.schema"},
		{name: "properties not an object", schema: `{"properties":[]}`, param: "response_format.json_schema.schema.properties"},
		{name: "anyOf not an array", schema: `{"anyOf":{}}`, param: "response_format.json_schema.schema.anyOf"},
		{name: "too deep", schema: strings.Repeat(`{"items":`, geminiSchemaMaxDepth+1) + `true` + strings.Repeat(`}`, geminiSchemaMaxDepth+1), unsupported: true,
			param: "response_format.json_schema.schema" + strings.Repeat(".items", geminiSchemaMaxDepth)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := newVertexT(t, SchemaVertexGemini, "/v1/chat/completions").RequestBody([]byte(req(tc.schema)))
			if tc.param == "" {
				if err != nil {
					t.Fatal(err)
				}
				var got struct {
					GenerationConfig struct {
						ResponseMimeType   string          `json:"responseMimeType"`
						ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
					} `json:"generationConfig"`
				}
				if err := json.Unmarshal(res.Body, &got); err != nil || got.GenerationConfig.ResponseMimeType != "application/json" || string(got.GenerationConfig.ResponseJSONSchema) != tc.schema {
					t.Fatalf("%s (%v)", res.Body, err)
				}
				return
			}
			requireRequestError(t, err, tc.unsupported, tc.param)
		})
	}
}

// requireRequestError asserts a request translation's 400: its kind
// (unsupported, else invalid) and the parameter it names.
func requireRequestError(t *testing.T, err error, unsupported bool, param string) {
	t.Helper()
	kind := KindInvalid
	if unsupported {
		kind = KindUnsupported
	}
	e, ok := AsError(err, kind)
	if !ok || e.Status != http.StatusBadRequest || e.Param != param {
		t.Fatalf("err %#v, want kind %d param %q", err, kind, param)
	}
}

// A Vertex error on the Claude Messages passthrough reaches the Anthropic
// client in Anthropic's shape with its status: Claude's own errors as they
// are, Vertex's Google-format errors converted with their message.
func TestVertexClaudeMessagesErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"google 404 model", 404, `{"error":{"code":404,"message":"Publisher Model ` + "`x`" + ` was not found.","status":"NOT_FOUND"}}`,
			`{"type":"error","error":{"type":"not_found_error","message":"Publisher Model ` + "`x`" + ` was not found."}}`},
		{"google 429 as a stream's array", 429, `[{"error":{"code":429,"message":"Quota exceeded.","status":"RESOURCE_EXHAUSTED"}}]`,
			`{"type":"error","error":{"type":"rate_limit_error","message":"Quota exceeded."}}`},
		{"google 401", 401, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			`{"type":"error","error":{"type":"authentication_error","message":"Request had invalid authentication credentials."}}`},
		{"claude's own", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`,
			`{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newVertexT(t, SchemaVertexAnthropic, "/v1/messages")
			if _, err := tr.RequestBody([]byte(`{"model":"claude-sonnet-4","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`)); err != nil {
				t.Fatal(err)
			}
			mode, err := tr.ResponseHeaders(tc.status, "application/json", "")
			if err != nil || !mode.Error || !mode.BufferBody || !mode.ModifiesBody {
				t.Fatalf("mode %+v, %v", mode, err)
			}
			out, _, err := tr.ResponseBody([]byte(tc.body), true)
			var got, want any
			if err != nil || json.Unmarshal(out, &got) != nil || json.Unmarshal([]byte(tc.want), &want) != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s (%v), want %s", out, err, tc.want)
			}
		})
	}
}
