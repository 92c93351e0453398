// Package bench holds what both sides of the aigw benchmark share: the request
// bodies, and the benchmarks themselves (in _test files). The ext_proc baseline
// lives in bench/extproc.
package bench

import (
	"fmt"
	"strconv"
)

// Default values written into generated bodies. They match the backend and
// model names used by the repo's example config, so the same bodies route in
// both the ext_proc baseline and the in-process filter.
const (
	DefaultModel   = "gpt-4o-mini"
	DefaultBackend = "openai-primary"
)

// Size is one body size the benchmarks run at.
type Size struct {
	Name  string // sub-benchmark name, e.g. "16KiB"
	Bytes int
}

// Sizes are the body sizes every benchmark in this directory runs at: a short
// prompt, a typical multi-turn chat, a long context and a very long one. Both
// the baseline and the in-process side iterate over this one list so the
// table's rows line up.
var Sizes = []Size{
	{"1KiB", 1 << 10},
	{"16KiB", 16 << 10},
	{"100KiB", 100 << 10},
	{"1MiB", 1 << 20},
}

// BodySpec describes a generated OpenAI chat-completion request body.
type BodySpec struct {
	// Size is the exact length of the generated body in bytes. Sizes smaller
	// than the fixed members plus one short message are rounded up to that
	// minimum.
	Size int
	// Model is the top-level "model" value. It is always the last member, so a
	// scanner has to walk the whole body to find it: the worst case, and what
	// many SDKs produce when they append the model after the messages.
	Model string
	// Backend, when non-empty, is written as a top-level member named
	// BackendField (default "backend") between the sampling parameters, so
	// removing it copies both the part before it and the part after it.
	Backend      string
	BackendField string
	// Seed picks the pseudo-random message contents; equal specs give equal
	// bodies.
	Seed uint64
	// MinMessages, when set, makes the first messages short enough that at
	// least this many fit (a small body still has user turns after its
	// system prompt, as a translated request needs).
	MinMessages int
}

// ChatBody returns a chat-completion body of exactly size bytes with the
// default model last and a "backend" member set to DefaultBackend.
func ChatBody(size int) []byte {
	return BodySpec{Size: size, Model: DefaultModel, Backend: DefaultBackend}.Build()
}

// ChatBodyNoBackend is ChatBody without the backend member: the request routes
// on its model only.
func ChatBodyNoBackend(size int) []byte {
	return BodySpec{Size: size, Model: DefaultModel}.Build()
}

// Build generates the body. The messages alternate user and assistant turns
// after a system prompt; their text mixes plain words with the JSON escapes
// (\n, \", \\, \uXXXX) and the braces and brackets inside strings that real
// prompts carry (code snippets, quoted JSON), because those are what make a
// JSON scanner slow or wrong.
func (s BodySpec) Build() []byte {
	field := s.BackendField
	if field == "" {
		field = "backend"
	}
	const head = `{"messages":[`
	tail := `],"temperature":0.7,"max_tokens":1024,"stream":false,`
	if s.Backend != "" {
		tail += strconv.Quote(field) + ":" + strconv.Quote(s.Backend) + ","
	}
	tail += `"user":"bench-user-0001","model":` + strconv.Quote(s.Model) + "}"

	r := rng{state: s.Seed*0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D}
	out := make([]byte, 0, max(s.Size, 256))
	out = append(out, head...)

	// budget is what the messages (including the commas between them) may
	// take so that head + messages + tail is exactly s.Size.
	budget := s.Size - len(head) - len(tail)
	roles := [...]string{"user", "assistant"}
	for i := 0; ; i++ {
		role := "system"
		if i > 0 {
			role = roles[(i-1)%2]
		}
		sep := 0
		if i > 0 {
			sep = 1
		}
		overhead := sep + len(`{"role":"`) + len(role) + len(`","content":""}`)
		// A message is between ~200 B and ~4 KiB of text, like chat turns.
		want := 200 + r.intn(4000)
		if s.MinMessages > 0 && i < s.MinMessages-1 {
			want = max(1, min(want, budget/(s.MinMessages-i)-overhead))
		}
		last := budget-overhead-want < 256 // the next message would not fit
		if last {
			want = budget - overhead
		}
		if want < 1 {
			want = 1 // body smaller than the skeleton: round up
		}
		if sep == 1 {
			out = append(out, ',')
		}
		out = append(out, `{"role":"`...)
		out = append(out, role...)
		out = append(out, `","content":"`...)
		out = appendText(out, &r, want)
		out = append(out, `"}`...)
		budget -= overhead + want
		if last {
			break
		}
	}
	out = append(out, tail...)
	if s.Size >= minBodySize(s) && len(out) != s.Size {
		panic(fmt.Sprintf("bench: generated %d bytes, want %d", len(out), s.Size))
	}
	return out
}

// minBodySize is the smallest size Build can honour exactly.
func minBodySize(s BodySpec) int {
	return 512 + len(s.Model) + len(s.Backend) + len(s.BackendField)
}

// fragments are pre-escaped JSON string contents. Most are words; a few carry
// escapes or structural characters inside the string.
var fragments = []string{
	"the", "model", "should", "answer", "with", "a", "short", "summary", "of", "request",
	"please", "explain", "why", "this", "function", "returns", "an", "error", "when", "input",
	"is", "empty", "and", "how", "to", "fix", "it", "without", "changing", "interface",
	"latency", "budget", "tokens", "context", "window", "gateway", "route", "backend", "cache", "retry",
	`\n`, `\n\n`, `\"quoted\"`, `C:\\path\\to\\file`, `caf\u00e9`, `na\u00efve`, `\t`,
	`{\"key\": [1, 2, 3]}`, `func f() { return x[0] }`, `if (a && b) { c(); }`, `[link](http://example.com)`,
	`\u4f60\u597d`, `emoji \ud83d\ude00`, `\"model\": \"not-this-one\"`, `\"backend\": \"x\"`,
}

// appendText appends exactly n bytes of escaped JSON string content.
func appendText(out []byte, r *rng, n int) []byte {
	start := len(out)
	for {
		f := fragments[r.intn(len(fragments))]
		room := n - (len(out) - start)
		if len(f)+1 > room {
			break
		}
		out = append(out, f...)
		out = append(out, ' ')
	}
	for len(out)-start < n {
		// Fill the last few bytes with letters: never split an escape.
		out = append(out, 'a'+byte(r.intn(26)))
	}
	return out
}

// rng is xorshift64*: deterministic, allocation-free and good enough to vary
// the text. The bodies must not depend on math/rand's global state.
type rng struct{ state uint64 }

func (r *rng) intn(n int) int {
	r.state ^= r.state >> 12
	r.state ^= r.state << 25
	r.state ^= r.state >> 27
	return int(((r.state * 0x2545F4914F6CDD1D) >> 33) % uint64(n))
}
