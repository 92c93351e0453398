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

// Cut is body cut at the offsets at (ascending, each within body), as a
// buffer holding it in slices would hold it: empty slices where two
// offsets are equal. The slices alias body.
func Cut(body []byte, at ...int) [][]byte {
	out := make([][]byte, 0, len(at)+1)
	from := 0
	for _, i := range at {
		out = append(out, body[from:i:i])
		from = i
	}
	return append(out, body[from:])
}

// Split is body in slices of size bytes, the last one shorter (Envoy's
// codec reads a body in 16 KiB slices). The slices alias body.
func Split(body []byte, size int) [][]byte {
	var at []int
	for i := size; i < len(body); i += size {
		at = append(at, i)
	}
	return Cut(body, at...)
}
