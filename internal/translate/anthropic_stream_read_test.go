package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// anthStreamEventOracle is the stream event as it was decoded before
// anthStreamEvent.read: the struct sonic filled (jsonAPI, the gateway's
// decoder options). It is the oracle read is compared with.
type anthStreamEventOracle struct {
	Type    string `json:"type"`
	Message struct {
		ID    string    `json:"id"`
		Model string    `json:"model"`
		Usage anthUsage `json:"usage"`
	} `json:"message"`
	Index        int `json:"index"`
	ContentBlock struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
		Text string `json:"text"`
	} `json:"content_block"`
	Delta struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		Thinking    string `json:"thinking"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage anthUsage     `json:"usage"`
	Error anthErrorBody `json:"error"`
}

// oracleEvent decodes data the old way and returns it as the
// anthStreamEvent the translation applies: the texts become the literals
// the encoder writes for them, so applying it gives the old output. One
// deliberate difference: sonic skips an unknown object without checking
// the escapes of its strings (a case in streamEventCases); what is valid
// JSON is now encoding/json's verdict (bodyscan's), so such data is
// malformed. Conversely sonic refused JSON nested deeper than 4096 levels,
// encoding/json's limit is 10000: for such data the oracle has no answer
// (errOracleDepth; TestAnthStreamEventReadDeep).
func oracleEvent(data []byte) (*anthStreamEvent, error) {
	if !json.Valid(data) {
		return nil, errors.New("not valid JSON")
	}
	var o anthStreamEventOracle
	if err := jsonAPI.UnmarshalFromString(string(data), &o); err != nil {
		if strings.Contains(err.Error(), "exceeded max depth") {
			return nil, errOracleDepth
		}
		return nil, err
	}
	ev := &anthStreamEvent{Type: o.Type, Index: o.Index, Error: o.Error}
	ev.Message.ID, ev.Message.Model, ev.Message.Usage = o.Message.ID, o.Message.Model, o.Message.Usage
	ev.ContentBlock.Type, ev.ContentBlock.ID, ev.ContentBlock.Name = o.ContentBlock.Type, o.ContentBlock.ID, o.ContentBlock.Name
	ev.ContentBlock.Text = appendJSONString(nil, o.ContentBlock.Text)
	ev.Delta.Type, ev.Delta.StopReason = o.Delta.Type, o.Delta.StopReason
	ev.Delta.Text = appendJSONString(nil, o.Delta.Text)
	ev.Delta.PartialJSON = appendJSONString(nil, o.Delta.PartialJSON)
	ev.Delta.Thinking = appendJSONString(nil, o.Delta.Thinking)
	ev.Usage = o.Usage
	return ev, nil
}

var errOracleDepth = errors.New("sonic refused the nesting depth")

// checkEventsAgainstOracle feeds each event's data to a stream that reads
// it (handle) and to one that decodes it the old way: after every event
// both have written the same bytes, read agrees with the old decode on
// every member, and the usage is the same at the end.
func checkEventsAgainstOracle(t *testing.T, events [][]byte) {
	t.Helper()
	var got, want anthropicStream
	got.init("requested-model", true, 0)
	want.init("requested-model", true, 0)
	for _, data := range events {
		if !want.done {
			oev, err := oracleEvent(data)
			if err == errOracleDepth {
				return
			}
			var ev anthStreamEvent
			rerr := ev.read(data)
			if (err != nil) != (rerr != nil) {
				t.Fatalf("%q: read error %v, oracle's %v", data, rerr, err)
			}
			if err == nil {
				compareEvents(t, data, &ev, oev)
				want.apply(oev)
			} else {
				want.fail("api_error", "the anthropic backend sent a malformed stream event")
			}
		}
		if err := got.handle(nil, data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.out, want.out) || got.done != want.done {
			t.Fatalf("after %q:\n got %q (done %v)\nwant %q (done %v)", data, got.out, got.done, want.out, want.done)
		}
	}
	got.end()
	want.end()
	if !bytes.Equal(got.out, want.out) || got.tokens.usage() != want.tokens.usage() {
		t.Fatalf("at the end:\n got %q %+v\nwant %q %+v", got.out, got.tokens.usage(), want.out, want.tokens.usage())
	}
}

// compareEvents: every member read agrees with the oracle's (texts as the
// output writes them).
func compareEvents(t *testing.T, data []byte, ev, o *anthStreamEvent) {
	t.Helper()
	type strs struct {
		typ, msgID, msgModel, cbType, cbID, cbName, dType, stop, errType, errMsg string
		index                                                                    int
	}
	s := func(e *anthStreamEvent) strs {
		return strs{e.Type, e.Message.ID, e.Message.Model, e.ContentBlock.Type, e.ContentBlock.ID, e.ContentBlock.Name,
			e.Delta.Type, e.Delta.StopReason, e.Error.Type, e.Error.Message, e.Index}
	}
	if a, b := s(ev), s(o); a != b {
		t.Fatalf("%q: read %+v, oracle %+v", data, a, b)
	}
	text := func(lit []byte) string {
		if lit == nil {
			lit = []byte(`""`)
		}
		return string(appendRawJSONString(nil, lit))
	}
	for i, pair := range [][2][]byte{
		{ev.ContentBlock.Text, o.ContentBlock.Text}, {ev.Delta.Text, o.Delta.Text},
		{ev.Delta.PartialJSON, o.Delta.PartialJSON}, {ev.Delta.Thinking, o.Delta.Thinking},
	} {
		if text(pair[0]) != text(pair[1]) || emptyLiteral(pair[0]) != emptyLiteral(pair[1]) {
			t.Fatalf("%q: text %d: read %q, oracle %q", data, i, pair[0], pair[1])
		}
	}
	if usageString(&ev.Message.Usage) != usageString(&o.Message.Usage) || usageString(&ev.Usage) != usageString(&o.Usage) {
		t.Fatalf("%q: usage %s %s, oracle %s %s", data, usageString(&ev.Message.Usage), usageString(&ev.Usage),
			usageString(&o.Message.Usage), usageString(&o.Usage))
	}
}

func usageString(u *anthUsage) string {
	var b []byte
	for _, p := range []*int64{u.InputTokens, u.OutputTokens, u.CacheCreationInputTokens, u.CacheReadInputTokens} {
		if p == nil {
			b = append(b, "nil "...)
		} else {
			b = appendInt(b, *p)
			b = append(b, ' ')
		}
	}
	return string(b)
}

// streamEventCases: one event's data each, and whether it is malformed (the
// stream ends with the malformed-event error).
var streamEventCases = []struct {
	name      string
	data      string
	malformed bool
}{
	{"message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1,"cache_creation_input_tokens":3,"cache_read_input_tokens":4}}}`, false},
	{"text block start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"hi \"there\"\n"}}`, false},
	{"empty text block", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`, false},
	{"tool block", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_w\u00e9ather","input":{}}}`, false},
	{"text delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" a few more words"}}`, false},
	{"text delta escapes", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\/b\bc\fd\u00e9\u20ac\ud83d\ude00\ud800\udc00x\u0041\u000a\u001F\t\"\\"}}`, false},
	{"text delta non-ASCII and invalid UTF-8", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"é€😀\xff\xed\xa0\x80\u2028\"}}", false},
	{"thinking delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm\n\u00e9"}}`, false},
	{"signature delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}`, false},
	{"json delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}`, false},
	{"json delta unknown index", `{"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{}"}}`, false},
	{"empty json delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`, false},
	{"delta text repeated", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","text":"b"}}`, false},
	{"delta with a member after the text", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","extra":1}}`, false},
	{"delta with space", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a" }}`, false},
	{"delta text null", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}`, false},
	{"delta text a number", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":1}}`, true},
	{"delta type then other text", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","thinking":"a"}}`, false},
	{"deltas as written merge", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"},"delta":{"type":"thinking_delta","thinking":"b"}}`, false},
	{"delta as written after a general one", `{"type":"content_block_delta","index":1,"delta":{"partial_json":"x","type":"q"},"delta":{"type":"input_json_delta","partial_json":"{}"}}`, false},
	{"block stop", `{"type":"content_block_stop","index":0}`, false},
	{"ping", `{"type": "ping"}`, false},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":15}}`, false},
	{"message_stop", `{"type":"message_stop"}`, false},
	{"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded \u2014 retry"}}`, false},
	{"error strings non-ASCII", "{\"type\":\"error\",\"error\":{\"type\":\"\xffx\",\"message\":\"Überlastet — später\"}}", false},
	{"long strings", `{"type":"message_start","message":{"id":"msg_0123456789012345678901234567890123456789","model":"claude-with-a-name-longer-than-32-bytes\u00e9"}}`, false},
	{"error without members", `{"type":"error","error":{}}`, false},
	{"error null", `{"type":"error","error":null}`, false},
	{"whitespace", " \t{ \"type\" : \"ping\" , \"index\" : 2 }\r\n ", false},
	{"top-level null", `null`, false},
	{"top-level null with space", ` null `, false},
	{"nulls everywhere", `{"type":null,"index":null,"message":{"id":null,"model":null,"usage":{"input_tokens":null}},"content_block":null,"delta":{"text":null,"stop_reason":null},"usage":null,"error":{"type":null}}`, false},
	{"missing members", `{}`, false},
	{"unknown members of any type", `{"x":[1,{"y":"\ud800"}],"z":1e400,"w":"` + "\xff" + `","type":"ping","delta":{"q":true}}`, false},
	{"key case differs", `{"Type":"message_stop","TYPE":"x"}`, false},
	{"escaped key", `{"t\u0079pe":"content_block_delta","delta":{"type":"text_delta","te\u0078t":"k"}}`, false},
	{"escaped type value", `{"type":"message\u005fstop"}`, false},
	{"duplicate type last wins", `{"type":"message_stop","type":"ping"}`, false},
	{"duplicate type null keeps", `{"type":"message_stop","type":null}`, false},
	{"duplicate objects merge", `{"type":"content_block_delta","delta":{"type":"text_delta"},"delta":{"text":"merged"},"delta":null}`, false},
	{"duplicate usage count null unsets", `{"type":"message_delta","usage":{"input_tokens":5,"output_tokens":6},"usage":{"input_tokens":null}}`, false},
	{"duplicate index", `{"type":"content_block_start","index":3,"index":4,"content_block":{"type":"tool_use","id":"a","name":"b"}}`, false},
	{"negative and zero counts", `{"type":"message_delta","usage":{"input_tokens":-3,"output_tokens":-0,"cache_read_input_tokens":0}}`, false},
	{"huge count", `{"type":"message_delta","usage":{"output_tokens":9223372036854775807}}`, false},
	{"negative index", `{"type":"content_block_start","index":-1,"content_block":{"type":"tool_use","id":"a","name":"b"}}`, false},

	{"not JSON", `{"type":`, true},
	{"empty", ``, true},
	{"trailing bytes", `{"type":"ping"} x`, true},
	{"two documents", `{"type":"ping"}{}`, true},
	{"array", `[]`, true},
	{"string", `"message_stop"`, true},
	{"number", `5`, true},
	{"text is a number", `{"type":"content_block_delta","delta":{"type":"text_delta","text":5}}`, true},
	{"index is a string", `{"type":"content_block_delta","index":"x"}`, true},
	{"index is a fraction", `{"index":1.0}`, true},
	{"index has an exponent", `{"index":1e2}`, true},
	{"index out of range", `{"index":99999999999999999999}`, true},
	{"index is a bool", `{"index":true}`, true},
	{"type is an object", `{"type":{}}`, true},
	{"type is a bool", `{"type":false}`, true},
	{"message is a string", `{"type":"message_start","message":"x"}`, true},
	{"delta is an array", `{"type":"content_block_delta","delta":[]}`, true},
	{"usage is a number", `{"type":"message_delta","usage":5}`, true},
	{"count is a fraction", `{"type":"message_delta","usage":{"output_tokens":1.5}}`, true},
	{"count has an exponent", `{"type":"message_delta","usage":{"output_tokens":1e3}}`, true},
	{"count out of range", `{"type":"message_delta","usage":{"output_tokens":9223372036854775808}}`, true},
	{"count is a string", `{"type":"message_delta","usage":{"output_tokens":"5"}}`, true},
	{"error is a string", `{"type":"error","error":"x"}`, true},
	{"error message is a number", `{"type":"error","error":{"message":5}}`, true},
	{"stop_reason is a number", `{"type":"message_delta","delta":{"stop_reason":1}}`, true},
	{"mismatch in a duplicate", `{"index":1,"index":"x"}`, true},
	{"mismatch before a good duplicate", `{"text":1,"delta":{"text":1},"delta":{"text":"ok"}}`, true},
	{"nested mismatch", `{"message":{"usage":{"input_tokens":[]}}}`, true},
	{"control byte in a string", "{\"type\":\"a\x01\"}", true},
	{"bad escape", `{"type":"\x"}`, true},
	{"leading zero", `{"index":01}`, true},
	// sonic took this one (its skip of an unknown object does not check
	// escapes); encoding/json and bodyscan do not.
	{"bad escape in an unknown object", `{"type":"ping","x":{"":"00000000000000000\0000000\0\0"}}`, true},
}

// TestAnthStreamEventRead: every case, alone and after a message_start,
// reads as the old decode did and translates to the same bytes; the
// malformed ones end the stream with the malformed-event error.
func TestAnthStreamEventRead(t *testing.T) {
	start := []byte(streamEventCases[0].data)
	for _, tc := range streamEventCases {
		t.Run(tc.name, func(t *testing.T) {
			var ev anthStreamEvent
			if err := ev.read([]byte(tc.data)); (err != nil) != tc.malformed {
				t.Fatalf("read error %v, want malformed %v", err, tc.malformed)
			}
			checkEventsAgainstOracle(t, [][]byte{[]byte(tc.data)})
			checkEventsAgainstOracle(t, [][]byte{start, []byte(tc.data), []byte(`{"type":"message_stop"}`)})
			var s anthropicStream
			s.init("m", false, 0)
			if err := s.handle(nil, []byte(tc.data)); err != nil {
				t.Fatal(err)
			}
			if malformed := bytes.Contains(s.out, []byte("malformed stream event")); malformed != tc.malformed {
				t.Fatalf("output %q, want malformed %v", s.out, tc.malformed)
			}
		})
	}
}

// TestAnthStreamEventReadDuplicates spells out what repeated members read
// as (the oracle agrees, TestAnthStreamEventRead): the last wins, null
// leaves a member as it was except a usage count, which it unsets, and
// repeated objects merge.
func TestAnthStreamEventReadDuplicates(t *testing.T) {
	var ev anthStreamEvent
	data := []byte(`{"type":"a","type":"b","type":null,"index":1,"index":2,` +
		`"delta":{"text":"x","type":"t"},"delta":{"text":"y"},"delta":null,` +
		`"usage":{"input_tokens":5,"output_tokens":6},"usage":{"input_tokens":null,"output_tokens":7}}`)
	if err := ev.read(data); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "b" || ev.Index != 2 || string(ev.Delta.Text) != `"y"` || ev.Delta.Type != "t" ||
		ev.Usage.InputTokens != nil || ev.Usage.OutputTokens == nil || *ev.Usage.OutputTokens != 7 {
		t.Fatalf("read %+v (output %s)", ev, usageString(&ev.Usage))
	}
}

// TestAnthStreamEventReadDeep: JSON nested deeper than sonic took (4096
// levels) but within encoding/json's 10000 is read; deeper is malformed.
func TestAnthStreamEventReadDeep(t *testing.T) {
	for _, tc := range []struct {
		depth     int
		malformed bool
	}{{5000, false}, {9998, false}, {10001, true}} {
		data := []byte(`{"type":"message_stop","x":` + strings.Repeat("[", tc.depth) + strings.Repeat("]", tc.depth) + `}`)
		var o anthStreamEventOracle
		if tc.depth < 10000 && jsonAPI.UnmarshalFromString(string(data), &o) == nil {
			t.Fatalf("depth %d: sonic took it, the case tests nothing", tc.depth)
		}
		var ev anthStreamEvent
		if err := ev.read(data); (err != nil) != tc.malformed || (!tc.malformed && ev.Type != "message_stop") {
			t.Fatalf("depth %d: read %v, type %q", tc.depth, err, ev.Type)
		}
	}
}

// recordedEvents is the data of every event of the recorded streams, one
// stream after another.
func recordedEvents(t testing.TB) [][]byte {
	files, err := filepath.Glob("testdata/anthropic/stream/*.sse")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded streams: %v", err)
	}
	var evs [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("data: {\"id\"")) { // a golden, not an input
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "data: "); ok {
				evs = append(evs, []byte(data))
			}
		}
	}
	return evs
}

func TestAnthStreamEventReadRecorded(t *testing.T) {
	checkEventsAgainstOracle(t, recordedEvents(t))
}

// FuzzAnthStreamEventRead: events (one per line of the input) translate
// exactly as they did with the old decode.
func FuzzAnthStreamEventRead(f *testing.F) {
	for _, tc := range streamEventCases {
		f.Add([]byte(streamEventCases[0].data + "\n" + tc.data + "\n" + `{"type":"message_stop"}`))
	}
	var all [][]byte
	for _, ev := range recordedEvents(f) {
		all = append(all, ev)
	}
	f.Add(bytes.Join(all, []byte("\n")))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkEventsAgainstOracle(t, bytes.Split(in, []byte("\n")))
	})
}
