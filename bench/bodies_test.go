package bench

import (
	"bytes"
	"encoding/json"
	"testing"
)

// topLevelKeys returns the body's top-level member names in order.
func topLevelKeys(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("body does not start with an object: %v %v", tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestChatBody(t *testing.T) {
	sizes := append([]Size{{"700B", 700}, {"1000B", 1000}, {"4097B", 4097}}, Sizes...)
	for _, s := range sizes {
		for _, withBackend := range []bool{true, false} {
			spec := BodySpec{Size: s.Bytes, Model: DefaultModel, Seed: 7}
			if withBackend {
				spec.Backend = DefaultBackend
			}
			body := spec.Build()
			if len(body) != s.Bytes {
				t.Errorf("%s backend=%v: len = %d", s.Name, withBackend, len(body))
			}
			var req struct {
				Model    string `json:"model"`
				Backend  string `json:"backend"`
				Messages []struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatalf("%s backend=%v: invalid JSON: %v", s.Name, withBackend, err)
			}
			if req.Model != DefaultModel || req.Backend != spec.Backend {
				t.Errorf("%s: model %q backend %q", s.Name, req.Model, req.Backend)
			}
			if len(req.Messages) == 0 || req.Messages[0].Role != "system" || req.Messages[0].Content == "" {
				t.Errorf("%s: messages %+v", s.Name, req.Messages)
			}
			keys := topLevelKeys(t, body)
			if keys[len(keys)-1] != "model" {
				t.Errorf("%s: model is not the last member: %v", s.Name, keys)
			}
			if !bytes.Equal(body, spec.Build()) {
				t.Errorf("%s: two builds of one spec differ", s.Name)
			}
		}
	}
}

func TestChatBodyCarriesTrickyText(t *testing.T) {
	// A scanner that does not honour string escapes would see these
	// decoys; the large body must contain them for the benchmark to mean
	// anything.
	body := ChatBody(100 << 10)
	for _, decoy := range []string{`\"model\": \"not-this-one\"`, `\"backend\": \"x\"`, `\\`, `\u00e9`, `{\"key\"`} {
		if !bytes.Contains(body, []byte(decoy)) {
			t.Errorf("body lacks %s", decoy)
		}
	}
}

func TestChatBodyCustomField(t *testing.T) {
	body := BodySpec{Size: 2048, Model: "m", Backend: "b", BackendField: "x_backend"}.Build()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m["x_backend"] != "b" || m["backend"] != nil || m["model"] != "m" || len(body) != 2048 {
		t.Errorf("got %v (len %d)", m, len(body))
	}
}

func TestChatBodyTooSmallRoundsUp(t *testing.T) {
	body := BodySpec{Size: 10, Model: DefaultModel, Backend: DefaultBackend}.Build()
	if !json.Valid(body) || len(body) < 10 {
		t.Errorf("got %q", body)
	}
}
