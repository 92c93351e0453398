package translate

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/aigw/aigw/internal/bodyscan"
)

// The options of a chat request are decoded in the top-level walk
// (anthChatRequest.member) instead of by the decoder over a copy of the
// body; these tests hold the walk to the decoder's reading (the oracle:
// jsonAPI over the whole body, as decodeWithout did) on every shape it
// reads itself, and check which shapes it hands to the decoder.

// walkOptions decodes body's options as parseChat does, before the checks:
// the walk, then the decoder for a slow shape. err is the walk's (the
// parameter policy) or the decoder's.
func walkOptions(body []byte, req *anthChatRequest) (slow bool, err error) {
	req.onMember = req.member
	req.walkBody = body
	if err := forEachMember(body, req.onMember); err != nil {
		return false, err
	}
	if req.slow {
		return true, req.decodeSlow(body)
	}
	return false, nil
}

// oracleOptions decodes body's options with the decoder, as the
// translation did before the walk read them (parseChat and decodeWithout,
// verbatim): the one messages member is left out of the decoding and
// kept as the client's raw bytes.
func oracleOptions(body []byte, req *anthChatRequest) error {
	var msgs struct{ vs, ve, n int }
	if err := bodyscan.Walk(body, func(key string, vs, ve int) error {
		if key == "messages" {
			msgs.vs, msgs.ve = vs, ve
			msgs.n++
		}
		return nil
	}); err != nil {
		return err
	}
	if msgs.n != 1 {
		return jsonAPI.UnmarshalFromString(aliasString(body), req)
	}
	rest := make([]byte, 0, len(body)-(msgs.ve-msgs.vs)+len("null"))
	rest = append(append(append(rest, body[:msgs.vs]...), "null"...), body[msgs.ve:]...)
	if err := jsonAPI.UnmarshalFromString(aliasString(rest), req); err != nil {
		return err
	}
	req.Messages = body[msgs.vs:msgs.ve]
	return nil
}

// optionsView prints every option of req, pointers followed.
func optionsView(r *anthChatRequest) string {
	var b strings.Builder
	ptr := func(name string, p any) {
		switch v := p.(type) {
		case *int64:
			if v != nil {
				fmt.Fprintf(&b, "%s=%d ", name, *v)
				return
			}
		case *float64:
			if v != nil {
				fmt.Fprintf(&b, "%s=%v ", name, *v)
				return
			}
		case *bool:
			if v != nil {
				fmt.Fprintf(&b, "%s=%v ", name, *v)
				return
			}
		}
		fmt.Fprintf(&b, "%s=nil ", name)
	}
	fmt.Fprintf(&b, "model=%q user=%q effort=%q stream=%v ", r.Model, r.User, r.ReasoningEffort, r.Stream)
	fmt.Fprintf(&b, "messages=%q stop=%q tool_choice=%q thinking=%q ", r.Messages, r.Stop, r.ToolChoice, r.Thinking)
	ptr("max_tokens", r.MaxTokens)
	ptr("max_completion_tokens", r.MaxCompletionTokens)
	ptr("top_k", r.TopK)
	ptr("temperature", r.Temperature)
	ptr("top_p", r.TopP)
	ptr("parallel_tool_calls", r.ParallelToolCalls)
	if r.StreamOptions != nil {
		fmt.Fprintf(&b, "stream_options={%v} ", r.StreamOptions.IncludeUsage)
	}
	fmt.Fprintf(&b, "tools=%d[", len(r.Tools))
	for _, t := range r.Tools {
		fmt.Fprintf(&b, "{%q ", t.Type)
		if f := t.Function; f != nil {
			fmt.Fprintf(&b, "fn{%q %q %q}", f.Name, f.Description, f.Parameters)
		}
		b.WriteString("}")
	}
	b.WriteString("]")
	return b.String()
}

// checkOptions fails unless the walk reads body's options as the decoder
// does: both fail, or both succeed with the same values. A body the
// parameter policy refuses (or that is not JSON) is not compared. It
// returns whether the walk handed body to the decoder.
func checkOptions(t *testing.T, body []byte) (slow, compared bool) {
	t.Helper()
	req := chatRequests.Get().(*anthChatRequest)
	defer req.release()
	slow, err := walkOptions(body, req)
	if _, ok := err.(*Error); ok || err == errBadJSON {
		return slow, false
	}
	var want anthChatRequest
	werr := oracleOptions(body, &want)
	if err == nil && werr != nil && deeperThanDecoder(body) {
		return slow, false
	}
	if (err == nil) != (werr == nil) {
		t.Fatalf("%q: walk error %v (slow %v), decoder %v", body, err, slow, werr)
	}
	if err == nil {
		if got, w := optionsView(req), optionsView(&want); got != w {
			t.Fatalf("%q (slow %v):\nwalk    %s\ndecoder %s", body, slow, got, w)
		}
	}
	return slow, true
}

var optionCases = []struct {
	body string
	slow bool // the walk hands the body to the decoder
}{
	{`{"model":"m","messages":[{"role":"user","content":"hi"}]}`, false},
	{`{"model":"m","messages":[],"max_tokens":512,"temperature":0.2,"stream":true,"tools":[{"type":"function","function":{"name":"lookup","description":"d","parameters":{"type":"object"}}}]}`, false},
	// null: no change for strings and booleans, nil for pointers, a raw
	// "null" for raw members.
	{`{"model":null,"user":null,"reasoning_effort":null,"stream":null,"max_tokens":null,"temperature":null,"top_k":null,"top_p":null,"parallel_tool_calls":null,"stream_options":null,"tools":null,"stop":null,"tool_choice":null,"thinking":null,"messages":null}`, false},
	{`{"model":"m","max_completion_tokens":-0,"top_k":9223372036854775807,"max_tokens":-9223372036854775808}`, false},
	{`{"model":"m","temperature":0,"top_p":1.0,"max_tokens":1}`, false},
	{`{"model":"m","temperature":-0.0000000000000001}`, false},
	{`{"model":"m","temperature":0.30000000000000004}`, false},
	{`{"model":"m","stream":false,"parallel_tool_calls":false,"stream_options":{"include_usage":true,"other":[1,{"x":"y"}]}}`, false},
	{`{"model":"m","stream_options":{"include_usage":null}}`, false},
	{`{"model":"m","stream_options":{}}`, false},
	{`{"model":"m","tools":[]}`, false},
	{`{"model":"m","tools":[{"type":"function"},{"function":null,"type":null},{"function":{},"x":1},{"function":{"name":"f","parameters":null,"description":null}}]}`, false},
	{`{"model":"m","stop":["a","b"],"tool_choice":{"type":"function","function":{"name":"f"}},"thinking":{"type":"enabled","budget_tokens":2048}}`, false},
	{`{"model":"m","reasoning_effort":"high","user":"u-1 ~!@#$%^&*()"}`, false},
	{"{ \"model\" : \"m\" ,\n\t\"max_tokens\" : 5 }", false},
	// Escaped keys are the decoder's keys too.
	{`{"mod\u0065l":"m","max_tok\u0065ns":7}`, false},
	// Valid UTF-8 without escapes decodes to itself: read in the walk.
	{`{"model":"é","user":"  ok"}`, false},
	// Shapes the walk leaves to the decoder.
	{`{"model":"m\u0065"}`, true},
	{"{\"model\":\"a\xffb\"}", true},
	{`{"model":"m","model":"n"}`, true},
	{`{"model":"m","messages":[],"messages":[{"role":"user","content":"x"}]}`, true},
	{`{"model":"m","max_tokens":1e3}`, true},
	{`{"model":"m","max_tokens":1.0}`, true},
	{`{"model":"m","max_tokens":99999999999999999999}`, true},
	{`{"model":"m","temperature":1e400}`, true},
	{`{"model":"m","temperature":2e-1}`, true},
	{`{"model":"m","temperature":0.123456789012345678901}`, true},
	{`{"model":5}`, true},
	{`{"model":"m","max_tokens":"5"}`, true},
	{`{"model":"m","stream":"true"}`, true},
	{`{"model":"m","stream":1}`, true},
	{`{"model":"m","parallel_tool_calls":"no"}`, true},
	{`{"model":"m","stream_options":true}`, true},
	{`{"model":"m","stream_options":{"include_usage":"yes"}}`, true},
	{`{"model":"m","stream_options":{"include_usage":true,"include_usage":false}}`, true},
	{`{"model":"m","tools":{}}`, true},
	{`{"model":"m","tools":[null]}`, true},
	{`{"model":"m","tools":[1]}`, true},
	{`{"model":"m","tools":[{"type":5}]}`, true},
	{`{"model":"m","tools":[{"type":"function","type":"x"}]}`, true},
	{`{"model":"m","tools":[{"function":"f"}]}`, true},
	{`{"model":"m","tools":[{"function":{"name":"f","name":"g"}}]}`, true},
	{`{"model":"m","tools":[{"function":{"name":"f\n"}}]}`, true},
	{`{"model":"m","tools":[{"function":{"description":7}}]}`, true},
	{`{"model":"m","user":["u"]}`, true},
	// The decoder hands a raw member with invalid UTF-8 over as a copy
	// with U+FFFD (the messages are not decoded: raw either way).
	{"{\"model\":\"m\",\"stop\":\"a\xffb\"}", true},
	{"{\"model\":\"m\",\"tool_choice\":{\"type\":\"\xff\"}}", true},
	{"{\"model\":\"m\",\"thinking\":{\"t\":\"\xff\"}}", true},
	{"{\"model\":\"m\",\"tools\":[{\"function\":{\"parameters\":{\"\xff\":1}}}]}", true},
	{"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", false},
	{`{"model":"m","reasoning_effort":{}}`, true},
}

// TestChatOptionsMatchDecoder: every case reads as the decoder reads it,
// on the path the case expects (the walk, or the decoder for a shape the
// walk does not read itself).
func TestChatOptionsMatchDecoder(t *testing.T) {
	for _, c := range optionCases {
		slow, compared := checkOptions(t, []byte(c.body))
		if !compared {
			t.Fatalf("%s: not compared (refused by the parameter policy)", c.body)
		}
		if slow != c.slow {
			t.Errorf("%s: slow %v, want %v", c.body, slow, c.slow)
		}
	}
	// The benchmark's body and the golden requests.
	for _, body := range [][]byte{chatRequestOfSize(t, 1<<10)} {
		if slow, _ := checkOptions(t, body); slow {
			t.Errorf("the benchmark's body takes the decoder")
		}
	}
}

// TestChatOptionsScannedWalk: the router phase's trusted walk
// (RequestBodyScanned, with its finding that every string is ASCII) reads
// the options as the validating one does.
func TestChatOptionsScannedWalk(t *testing.T) {
	for _, c := range optionCases {
		body := []byte(`{"messages":[{"role":"user","content":"hi"}],` + strings.TrimPrefix(c.body, "{"))
		scan, err := bodyscan.Scan(body, "backend")
		if err != nil {
			continue // a duplicate model the router phase refuses
		}
		f := bodyscan.FindingsOf(scan, bodyscan.Member{})
		walked := chatRequests.Get().(*anthChatRequest)
		trusted := chatRequests.Get().(*anthChatRequest)
		_, err1 := walkOptions(body, walked)
		trusted.onMember, trusted.walkBody, trusted.ascii = trusted.member, body, f.RawStrings
		err2 := knownMembers(f)(body, trusted.onMember)
		if err2 == nil && trusted.slow {
			err2 = trusted.decodeSlow(body)
		}
		if (err1 == nil) != (err2 == nil) || err1 == nil && optionsView(walked) != optionsView(trusted) {
			t.Errorf("%s: validating walk %v %s, trusted walk %v %s", body, err1, optionsView(walked), err2, optionsView(trusted))
		}
		walked.release()
		trusted.release()
	}
}

// A pooled request keeps nothing of the body it read.
func TestChatRequestReleaseForgets(t *testing.T) {
	req := new(anthChatRequest)
	body := []byte(`{"model":"m","max_tokens":5,"tools":[{"type":"function","function":{"name":"f"}}],"stream_options":{"include_usage":true}}`)
	if _, err := walkOptions(body, req); err != nil {
		t.Fatal(err)
	}
	if _, err := newAnthropicT(t, anthTarget).(*anthropicTranslator).parseChat(body, req, forEachMember); err != nil {
		t.Fatal(err)
	}
	tools, funcs, list := req.head.Tools[:1], req.funcs[:1], req.toolList[:1]
	req.release()
	chatRequests.Get() // take it out again, so no other test reuses it
	if tools[0].Name != "" || tools[0].InputSchema != nil || funcs[0].Name != "" || funcs[0].Parameters != nil || list[0] != (chatTool{}) {
		t.Fatalf("release kept %+v %+v %+v", tools[0], funcs[0], list[0])
	}
	if optionsView(req) != optionsView(&anthChatRequest{}) || req.walkBody != nil || req.seen != 0 || req.slow {
		t.Fatalf("release kept %s", optionsView(req))
	}
}

// FuzzChatOptions: on any body the walk reads the options as the decoder
// does (see checkOptions).
func FuzzChatOptions(f *testing.F) {
	for _, c := range optionCases {
		f.Add([]byte(c.body))
	}
	addFiles(f, "testdata/anthropic/request/*.json", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		checkOptions(t, body)
	})
}

// decoderMaxDepth is the decoder's nesting limit (sonic's): it refuses
// deeper JSON, which the gateway's one definition of valid JSON (bodyscan,
// judging as encoding/json: 10000 levels) accepts, and which the walks
// (request options, response top level and blocks) therefore accept too:
// the one place where they knowingly differ from the decoder.
const decoderMaxDepth = 4096

// deeperThanDecoder reports whether the JSON text b nests deeper than
// decoderMaxDepth.
func deeperThanDecoder(b []byte) bool {
	depth, inStr := 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			if depth++; depth > decoderMaxDepth {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

// Nesting the decoder refuses but the gateway's JSON validity accepts (see
// decoderMaxDepth): a request the router phase let through translates
// (the tool's schema is passed on as sent), and a provider's response
// translates (an unknown member ignored), where the decoder made both an
// error (a 400, a 502).
func TestDeepNestingFollowsBodyscan(t *testing.T) {
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	if !deeperThanDecoder([]byte(deep)) || deeperThanDecoder([]byte(`"`+strings.Repeat("[", 5000)+`"`)) {
		t.Fatal("deeperThanDecoder is wrong")
	}
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":` + deep + `}}]}`)
	if _, err := bodyscan.Scan(body, "backend"); err != nil {
		t.Fatalf("the router phase refuses the body: %v", err)
	}
	if _, werr := newAnthropicT(t, anthTarget).(*anthropicTranslator).oracleRequestBody(body); werr == nil {
		t.Fatal("the decoder accepts the nesting: decoderMaxDepth is stale")
	}
	res, err := newAnthropicT(t, anthTarget).RequestBody(body)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if !bytes.Contains(res.Body, []byte(`"input_schema":`+deep)) {
		t.Fatalf("the tool's schema is not passed on: %.300s", res.Body)
	}
	resp := []byte(`{"id":"msg_1","model":"claude","x":` + deep + `,"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn"}`)
	out, err := anthropicResponseTranslator(t, false, false).(*anthropicTranslator).translateMessage(resp)
	if err != nil || !bytes.Contains(out, []byte(`"content":"hi"`)) {
		t.Fatalf("response: %v %s", err, out)
	}
}

// The top-level walk asks the Anthropic parameter policy only about a
// member that is not an option (anthChatRequest.member): every option is
// a parameter the policy accepts whatever its value, and every parameter
// it accepts that way is an option.
func TestAnthropicOptionsAreAccepted(t *testing.T) {
	for _, key := range []string{
		"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "stream",
		"stream_options", "tools", "tool_choice", "parallel_tool_calls", "user", "reasoning_effort", "thinking",
		"n", "logprobs", "store", "top_logprobs", "frequency_penalty", "presence_penalty", "logit_bias", "metadata",
		"response_format", "modalities", "service_tier", "seed", "audio", "prediction", "functions", "backend", "",
	} {
		var req anthChatRequest
		bit, _ := req.option(key, []byte(`1234`))
		accepted := checkAnthropicParam(key, []byte(`1234`)) == nil
		if (bit != 0) != accepted {
			t.Errorf("%q: option bit %#x, accepted by the policy with any value: %v", key, bit, accepted)
		}
	}
}

// shortFloat reads what it accepts exactly as strconv.ParseFloat does, bit
// for bit (signed zeros included), and leaves exponents and long numbers
// to it.
func TestShortFloat(t *testing.T) {
	for _, c := range []struct {
		lit string
		ok  bool
	}{
		{"0.7", true}, {"0.2", true}, {"1", true}, {"0", true}, {"-0", true}, {"-0.0", true}, {"0.1", true},
		{"0.30000000000001", true}, {"123456789012345", true}, {"0.00000000000001", true}, {"-1.5", true},
		{"9007199254740.99", true}, {"0.95", true}, {"1.0", true}, {"100", true},
		{"1234567890123456", false}, {"0.000000000000001", false}, {"1e3", false}, {"1E-2", false}, {"-", false},
		{"", false}, {".", false}, {"1.", false}, {"1.2.3", false}, {"1x", false}, {"--1", false},
	} {
		got, ok := shortFloat([]byte(c.lit))
		if ok != c.ok {
			t.Errorf("shortFloat(%q) ok %v, want %v", c.lit, ok, c.ok)
			continue
		}
		if want, err := strconv.ParseFloat(c.lit, 64); ok && (err != nil || math.Float64bits(got) != math.Float64bits(want)) {
			t.Errorf("shortFloat(%q) = %v, ParseFloat %v (%v)", c.lit, got, want, err)
		}
	}
	// Every split of random digit strings up to 15 digits.
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		n := 1 + r.IntN(15)
		d := make([]byte, n)
		for i := range d {
			d[i] = byte('0' + r.IntN(10))
		}
		lit := string(d)
		if p := r.IntN(n + 1); p > 0 && p < n {
			lit = lit[:p] + "." + lit[p:]
		}
		if r.IntN(2) == 0 {
			lit = "-" + lit
		}
		got, ok := shortFloat([]byte(lit))
		want, err := strconv.ParseFloat(lit, 64)
		if !ok || err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("shortFloat(%q) = %v %v, ParseFloat %v %v", lit, got, ok, want, err)
		}
	}
}
