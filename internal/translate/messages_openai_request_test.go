package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

var (
	msgOpenAITarget = Target{Schema: SchemaOpenAI, ModelOverride: map[string]string{"claude-sonnet-4": "gpt-4o"}}
	msgAzureTarget  = Target{Schema: SchemaAzureOpenAI, APIVersion: "2024-10-21"}
)

func messagesRequest(t testing.TB, target Target, body []byte) (RequestResult, error) {
	t.Helper()
	tr, err := New(target, "/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.(*messagesToOpenAI); !ok {
		t.Fatalf("%s translator for /v1/messages is %T", target.Schema, tr)
	}
	return tr.RequestBody(body)
}

func TestMessagesRequestGolden(t *testing.T) {
	for _, in := range inputs(t, "messages/request", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := messagesRequest(t, msgOpenAITarget, body)
			if err != nil {
				t.Fatal(err)
			}
			if res.Path != "/v1/chat/completions" || len(res.Headers) != 1 || res.Headers[0].Key != "content-type" {
				t.Errorf("path %q headers %v", res.Path, res.Headers)
			}
			checkGolden(t, goldenPath(in), indentJSON(t, res.Body))
		})
	}
}

// The Azure front door goes to the deployment named by the (overridden)
// model, which must be one path segment.
func TestMessagesRequestAzurePath(t *testing.T) {
	body := []byte(`{"model":"prod-4o","max_tokens":8,"messages":[{"role":"user","content":"x"}]}`)
	res, err := messagesRequest(t, msgAzureTarget, body)
	if err != nil || res.Path != "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21" || res.Model != "prod-4o" {
		t.Fatalf("%+v %v", res, err)
	}
	_, err = messagesRequest(t, msgAzureTarget, []byte(`{"model":"../x","max_tokens":8,"messages":[{"role":"user","content":"x"}]}`))
	if e, ok := AsError(err, KindInvalid); !ok || e.Param != "model" {
		t.Fatalf("dot segment model: %v", err)
	}
}

// Every parameter or block an OpenAI-style backend cannot express is a 400
// naming it; malformed requests are the client's error.
func TestMessagesRequestErrors(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	for _, tt := range []struct {
		name, body string
		kind       ErrorKind
		param      string
	}{
		{"top_k", `{"model":"m","max_tokens":8,"top_k":5,` + msgs + `}`, KindUnsupported, "top_k"},
		{"thinking enabled", `{"model":"m","max_tokens":8,"thinking":{"type":"enabled","budget_tokens":1024},` + msgs + `}`, KindUnsupported, "thinking"},
		{"unknown member", `{"model":"m","max_tokens":8,"service_tier":"auto",` + msgs + `}`, KindUnsupported, "service_tier"},
		{"server tool", `{"model":"m","max_tokens":8,"tools":[{"type":"web_search_20250305","name":"web_search"}],` + msgs + `}`, KindUnsupported, "tools[0]"},
		{"document block", `{"model":"m","max_tokens":8,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}`, KindUnsupported, "messages[0].content[0]"},
		{"image in a tool result", `{"model":"m","max_tokens":8,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image"}]}]}]}`, KindUnsupported, "messages[0].content[0].content[0]"},
		{"file image source", `{"model":"m","max_tokens":8,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, KindUnsupported, "messages[0].content[0].source.type"},
		{"five stop sequences", `{"model":"m","max_tokens":8,"stop_sequences":["a","b","c","d","e"],` + msgs + `}`, KindUnsupported, "stop_sequences"},
		{"max_tokens missing", `{"model":"m",` + msgs + `}`, KindInvalid, "max_tokens"},
		{"max_tokens zero", `{"model":"m","max_tokens":0,` + msgs + `}`, KindInvalid, "max_tokens"},
		{"no messages", `{"model":"m","max_tokens":8,"messages":[]}`, KindInvalid, "messages"},
		{"system role in messages", `{"model":"m","max_tokens":8,"messages":[{"role":"system","content":"x"}]}`, KindInvalid, "messages[0].role"},
		{"tool_choice without name", `{"model":"m","max_tokens":8,"tool_choice":{"type":"tool"},` + msgs + `}`, KindInvalid, "tool_choice.name"},
		{"image URL not http", `{"model":"m","max_tokens":8,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"file:///etc/passwd"}}]}]}`, KindInvalid, "messages[0].content[0].source.url"},
		{"not JSON", `{"model":`, KindInvalid, ""},
		{"wrong type", `{"model":"m","max_tokens":"8",` + msgs + `}`, KindInvalid, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := messagesRequest(t, msgOpenAITarget, []byte(tt.body))
			e, ok := AsError(err, tt.kind)
			if !ok || e.Param != tt.param || e.Status != 400 {
				t.Fatalf("error %#v, want kind %d param %q", err, tt.kind, tt.param)
			}
		})
	}
}

// Tool choices map onto OpenAI's.
func TestMessagesToolChoice(t *testing.T) {
	for _, tt := range []struct{ choice, want string }{
		{`{"type":"auto"}`, `"auto"`},
		{`{"type":"any"}`, `"required"`},
		{`{"type":"none"}`, `"none"`},
		{`{"type":"tool","name":"f"}`, `{"type":"function","function":{"name":"f"}}`},
	} {
		body := `{"model":"m","max_tokens":8,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":` + tt.choice + `,"messages":[{"role":"user","content":"x"}]}`
		res, err := messagesRequest(t, msgOpenAITarget, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			ToolChoice json.RawMessage `json:"tool_choice"`
		}
		if err := json.Unmarshal(res.Body, &got); err != nil || string(got.ToolChoice) != tt.want {
			t.Errorf("%s: tool_choice %s, want %s", tt.choice, got.ToolChoice, tt.want)
		}
	}
}
