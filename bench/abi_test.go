package bench

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aigw/aigw/internal/bodyscan"
)

// expectedBody is what the router-phase bench requires the router to receive.
// It must be exactly what the filter's code produces (bodyscan.RemoveMember),
// valid JSON, and without the backend member, at every size.
func TestExpectedBody(t *testing.T) {
	cfg := Config()
	for _, size := range Sizes {
		body := ChatBody(size.Bytes)
		got, err := expectedBody(body)
		if err != nil {
			t.Fatal(err)
		}
		work := bytes.Clone(body)
		scan, err := bodyscan.Scan(work, cfg.BackendField)
		if err != nil {
			t.Fatal(err)
		}
		want := bodyscan.RemoveMember(work, scan.Backend)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: expected body differs from the filter's removal", size.Name)
		}
		var m map[string]any
		if err := json.Unmarshal(got, &m); err != nil {
			t.Fatalf("%s: %v", size.Name, err)
		}
		if _, ok := m["backend"]; ok || m["model"] != DefaultModel || len(got) >= len(body) {
			t.Errorf("%s: backend member still there or model lost", size.Name)
		}
	}
	if _, err := expectedBody([]byte(`{"model":"m"}`)); err == nil {
		t.Error("a body without the member was accepted")
	}
}
