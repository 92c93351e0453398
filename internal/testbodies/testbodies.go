// Package testbodies makes realistic request bodies for tests and benchmarks.
package testbodies

import (
	"bytes"
	"strings"
)

// Chat builds an OpenAI chat body of about size bytes with a
// backend member first and the model last: the worst case for a scanner that
// stops early, shared by tests and benchmarks of several packages.
func Chat(size int, withBackend bool) []byte {
	var b bytes.Buffer
	b.WriteString(`{`)
	if withBackend {
		b.WriteString(`"backend":"deploy-b",`)
	}
	b.WriteString(`"messages":[`)
	msg := `{"role":"user","content":"` + strings.Repeat(`Lorem ipsum dolor sit amet, consectetur adipiscing elit, \"model\": sed do eiusmod tempor incididunt ut labore.\n`, 3) + `"}`
	for first := true; b.Len() < size-len(msg)-40; first = false {
		if !first {
			b.WriteByte(',')
		}
		b.WriteString(msg)
	}
	b.WriteString(`],"model":"gpt-4o-mini"}`)
	return b.Bytes()
}
