package config

import "testing"

func TestDigest(t *testing.T) {
	const base = `{"backends":[{"name":"a","models":["m"],"auth":{"type":"none"}}]}`
	tests := []struct {
		name string
		doc  string
		same bool
	}{
		{"same document, other layout and defaults spelled out", `{
  "model_header": "x-ai-eg-model",
  "backends": [ {"auth": {"type": "none"}, "models": ["m"], "schema": "openai", "name": "a"} ]
}`, true},
		{"router limits", `{"max_request_body_bytes":1048576,"max_buffered_bytes":2097152,"max_name_bytes":64,` + base[1:], true},
		{"upstream limits", `{"max_stream_event_bytes":1024,"max_decoded_response_bytes":4096,` + base[1:], true},
		{"another model", `{"backends":[{"name":"a","models":["m2"],"auth":{"type":"none"}}]}`, false},
		{"another backend name", `{"backends":[{"name":"b","models":["m"],"auth":{"type":"none"}}]}`, false},
		{"a model override", `{"backends":[{"name":"a","models":["m"],"model_override":"x","auth":{"type":"none"}}]}`, false},
		{"another schema", `{"backends":[{"name":"a","models":["m"],"schema":"anthropic","auth":{"type":"none"}}]}`, false},
		{"another host", `{"backends":[{"name":"a","models":["m"],"host":"h.example","auth":{"type":"none"}}]}`, false},
		{"another model header", `{"model_header":"x-m",` + base[1:], false},
		{"another backend selection", `{"client_backend_selection":"any",` + base[1:], false},
		{"other paths", `{"paths":["/v1/chat/completions"],` + base[1:], false},
		{"other endpoint metadata key", `{"endpoint_metadata_key":"name",` + base[1:], false},
	}
	want := mustParse(t, base).Digest()
	if len(want) != 24 {
		t.Fatalf("digest %q: want 24 hex digits", want)
	}
	for _, tt := range tests {
		got := mustParse(t, tt.doc).Digest()
		if (got == want) != tt.same {
			t.Errorf("%s: digest %s vs %s, want same=%v", tt.name, got, want, tt.same)
		}
	}
}

func TestDigestHasNoKey(t *testing.T) {
	t.Setenv("AIGW_DIGEST_KEY", "sk-one")
	doc := `{"backends":[{"name":"a","auth":{"type":"bearer","key_env":"AIGW_DIGEST_KEY"}}]}`
	one := mustParse(t, doc).Digest()
	t.Setenv("AIGW_DIGEST_KEY", "sk-two")
	if two := mustParse(t, doc).Digest(); two != one {
		t.Errorf("the digest changed with the key's value (%s, %s): it must depend only on where the key is read", one, two)
	}
}

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	return c
}
