package translate

import (
	"bytes"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/aigw/aigw/internal/bodyscan"
)

// A provider's message is read by the walk that validates it
// (anthRawResponse.read) and its content blocks by a trusted walk
// (walkBlock), where the decoder read both before; these tests hold the
// walks to the decoder's reading (the oracle: jsonAPI, as the translation
// decoded the top level and each block before) and check which shapes
// they leave to the decoder.

func responseView(r *anthRawResponse) string {
	u := &r.Usage
	n := func(p *int64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("id=%q model=%q stop=%q content=%q usage=%s/%s/%s/%s", r.ID, r.Model, r.StopReason, r.Content,
		n(u.InputTokens), n(u.OutputTokens), n(u.CacheCreationInputTokens), n(u.CacheReadInputTokens))
}

func blockView(b *anthRawBlock) string {
	return fmt.Sprintf("type=%q id=%q name=%q text=%q input=%q thinking=%q", b.Type, b.ID, b.Name, b.Text, b.Input, b.Thinking)
}

// checkResponseRead fails unless read decodes body as the decoder does
// (both fail, or both succeed alike; read may refuse a body that is not
// valid JSON the decoder let through), and, for a validated body, unless
// every content block the walk reads reads as the decoder reads it. It
// returns whether read validated body, and how many blocks it walked.
func checkResponseRead(t *testing.T, body []byte) (validated bool, walked int) {
	t.Helper()
	var got, want anthRawResponse
	validated, err := got.read(body)
	werr := jsonAPI.UnmarshalFromString(aliasString(body), &want)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%q: read error %v (validated %v), decoder %v", body, err, validated, werr)
	}
	if err != nil {
		return validated, 0
	}
	content := bytes.TrimSpace(got.Content)
	if !utf8.Valid(got.Content) {
		// The decoder's content is a copy with U+FFFD for the bad bytes;
		// read's is the raw value, whose blocks walkBlock leaves to the
		// decoder (checked below).
		got.Content = want.Content
	}
	if g, w := responseView(&got), responseView(&want); g != w {
		t.Fatalf("%q (validated %v):\nread    %s\ndecoder %s", body, validated, g, w)
	}
	if !validated {
		return false, 0
	}
	if len(content) == 0 || content[0] != '[' {
		return true, 0
	}
	err = bodyscan.ElementsTrusted(content, func(_, vs, ve int) error {
		var b, wb anthRawBlock
		end, ok := walkBlock(content, vs, &b)
		if !ok {
			return nil // decoded, as before
		}
		if end != ve {
			t.Fatalf("%q: block ends at %d, not %d", content[vs:ve], end, ve)
		}
		var dec elementDecoder
		if err := dec.decode(content[vs:ve], &wb); err != nil {
			t.Fatalf("%q: the walk read a block the decoder refuses: %v", content[vs:ve], err)
		}
		if g, w := blockView(&b), blockView(&wb); g != w {
			t.Fatalf("%q:\nwalk    %s\ndecoder %s", content[vs:ve], g, w)
		}
		walked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return true, walked
}

var responseReadCases = []struct {
	body      string
	validated bool
	walked    int
}{
	{`{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":9}}`, true, 1},
	{`{"id":null,"model":null,"stop_reason":null,"content":null,"usage":null}`, true, 0},
	{`{"usage":{"input_tokens":null,"output_tokens":-0,"cache_creation_input_tokens":9223372036854775807,"cache_read_input_tokens":1,"server_tool_use":{"web_search_requests":1}}}`, true, 0},
	{`{"content":[{"type":"tool_use","id":"t1","name":"f","input":{"a":[1,"\u00e9"]}},{"type":"thinking","thinking":"hm\n","signature":"x"},{"type":"redacted_thinking","data":"zz"},{"text":null,"type":null}]}`, true, 4},
	{`{"content":[{"type":"text","text":"é \u00e9 \ud83d\ude00"}]}`, true, 1},
	{` {"content":[]} `, true, 0},
	{`{"model":"é","id":"msg_ "}`, true, 0},
	// Left to the decoder: the top level...
	{`null`, false, 0},
	{`{"id":"m\u0031"}`, false, 0},
	{`{"id":5}`, false, 0},
	{`{"id":"a","id":"b"}`, false, 0},
	{`{"usage":{"input_tokens":1},"usage":{"output_tokens":2}}`, false, 0},
	{`{"usage":{"input_tokens":1,"input_tokens":2}}`, false, 0},
	{`{"usage":{"input_tokens":1.5}}`, false, 0},
	{`{"usage":{"input_tokens":1e2}}`, false, 0},
	{`{"usage":{"input_tokens":99999999999999999999}}`, false, 0},
	{`{"usage":[]}`, false, 0},
	{`{"content":[],"content":null}`, false, 0},
	{"{\"content\":[{\"type\":\"text\",\"text\":\"x\"}]} x", false, 0},
	{`[]`, false, 0},
	// ... and blocks (the body validated).
	{`{"content":[1,null,"x",{"type":5},{"type":"text","type":"text"},{"id":"\u0031"},{"name":["n"]}]}`, true, 0},
	{"{\"content\":[{\"type\":\"text\",\"text\":\"bad \xff utf8\"},{\"type\":\"tool_use\",\"input\":{\"a\":\"\xfe\"}}]}", true, 0},
}

// TestResponseReadMatchesDecoder: each case reads as the decoder reads it,
// validated and its blocks walked where the case expects.
func TestResponseReadMatchesDecoder(t *testing.T) {
	for _, c := range responseReadCases {
		validated, walked := checkResponseRead(t, []byte(c.body))
		if validated != c.validated || walked != c.walked {
			t.Errorf("%s: validated %v, %d blocks walked; want %v, %d", c.body, validated, walked, c.validated, c.walked)
		}
	}
}

// FuzzResponseRead: on any body, read and walkBlock read as the decoder
// does (see checkResponseRead).
func FuzzResponseRead(f *testing.F) {
	for _, c := range responseReadCases {
		f.Add([]byte(c.body))
	}
	for _, b := range responseOracleCases {
		f.Add([]byte(b))
	}
	addFiles(f, "testdata/anthropic/response/*.json", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		checkResponseRead(t, body)
	})
}
