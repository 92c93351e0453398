package translate

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

type sseEv struct{ Event, Data string }

// parseSSE feeds the pieces to a fresh parser (the last one with eos) and
// collects the events.
func parseSSE(t testing.TB, pieces ...[]byte) []sseEv {
	t.Helper()
	var p sseParser
	var evs []sseEv
	for i, piece := range pieces {
		err := p.feed(piece, i == len(pieces)-1, func(event, data []byte) error {
			evs = append(evs, sseEv{string(event), string(data)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

var sseCases = []struct {
	name string
	in   string
	want []sseEv
}{
	{"lf", "event: a\ndata: 1\n\ndata: 2\n\n", []sseEv{{"a", "1"}, {"", "2"}}},
	{"crlf", "event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n", []sseEv{{"a", "1"}, {"", "2"}}},
	{"cr", "event: a\rdata: 1\r\rdata: 2\r\r", []sseEv{{"a", "1"}, {"", "2"}}},
	{"mixed endings", "data: 1\r\n\ndata: 2\r\r\ndata: 3\n\r", []sseEv{{"", "1"}, {"", "2"}, {"", "3"}}},
	{"multi-line data", "data: a\ndata:b\ndata:  c\n\n", []sseEv{{"", "a\nb\n c"}}},
	{"empty data line dispatches", "data:\n\n", []sseEv{{"", ""}}},
	{"no data no dispatch", "event: x\n\ndata: y\n\n", []sseEv{{"", "y"}}},
	{"comments ignored", ": hello\n:\ndata: x\n: mid\n\n", []sseEv{{"", "x"}}},
	{"unknown and id fields ignored", "id: 7\nretry: 10\nfoo: bar\ndata: x\n\n", []sseEv{{"", "x"}}},
	{"field without colon", "data\n\n", []sseEv{{"", ""}}},
	{"colon in value", "data: a: b\n\n", []sseEv{{"", "a: b"}}},
	{"leading BOM", "\xef\xbb\xbfdata: x\n\n", []sseEv{{"", "x"}}},
	{"event name reset between events", "event: a\ndata: 1\n\ndata: 2\n\n", []sseEv{{"a", "1"}, {"", "2"}}},
	{"unterminated last event dispatched at eos", "data: 1\n\ndata: 2", []sseEv{{"", "1"}, {"", "2"}}},
	{"missing blank line at eos", "event: e\ndata: 2\n", []sseEv{{"e", "2"}}},
	{"cr only, several events", "event: a\rdata: 1\rdata: 2\r\r: c\rdata: 3\r\rdata: 4\r\r", []sseEv{{"a", "1\n2"}, {"", "3"}, {"", "4"}}},
	{"cr inside a line ends it", "data: a\rb\n\n", []sseEv{{"", "a"}}},
	{"lf then crlf then cr", "data: 1\n\r\ndata: 2\r\n\rdata: 3\r\n\n", []sseEv{{"", "1"}, {"", "2"}, {"", "3"}}},
	{"cr lf cr lf runs", "data: 1\r\r\n\n\r\rdata: 2\n\r\n\r", []sseEv{{"", "1"}, {"", "2"}}},
	{"last line ends in cr at eos", "data: 1\r", []sseEv{{"", "1"}}},
	{"long lines, mixed ends", "data: " + strings.Repeat("x", 100) + "\r\ndata: " + strings.Repeat("y", 70) + "\r\rdata: z\n\n", []sseEv{{"", strings.Repeat("x", 100) + "\n" + strings.Repeat("y", 70)}, {"", "z"}}},
	{"blank lines only", "\n\r\n\r\n", nil},
	{"empty", "", nil},
}

// refSSE is the events of a whole stream with its lines split byte by
// byte as the WHATWG spec reads them ("\r\n", "\n" or "\r" end a line): the
// oracle for feed's line ends.
func refSSE(t testing.TB, in []byte) []sseEv {
	t.Helper()
	var p sseParser
	var evs []sseEv
	fn := func(event, data []byte) error {
		evs = append(evs, sseEv{string(event), string(data)})
		return nil
	}
	var line []byte
	for i := 0; i < len(in); i++ {
		switch c := in[i]; c {
		case '\r', '\n':
			if c == '\r' && i+1 < len(in) && in[i+1] == '\n' {
				i++
			}
			if err := p.processLine(line, fn); err != nil {
				t.Fatal(err)
			}
			line = line[:0]
		default:
			line = append(line, c)
		}
	}
	if len(line) > 0 {
		if err := p.processLine(line, fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.dispatch(fn); err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestSSEParser(t *testing.T) {
	for _, tc := range sseCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseSSE(t, []byte(tc.in)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if ref := refSSE(t, []byte(tc.in)); !reflect.DeepEqual(ref, tc.want) {
				t.Fatalf("the reference reads %q, want %q", ref, tc.want)
			}
		})
	}
}

// TestSSEParserEverySplit: any two- or three-piece split gives the same events.
func TestSSEParserEverySplit(t *testing.T) {
	for _, tc := range sseCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			for i := 0; i <= len(in); i++ {
				for j := i; j <= len(in); j++ {
					if got := parseSSE(t, in[:i], in[i:j], in[j:]); !reflect.DeepEqual(got, tc.want) {
						t.Fatalf("split %d,%d: got %q, want %q", i, j, got, tc.want)
					}
				}
			}
		})
	}
}

func TestSSEParserHandlerError(t *testing.T) {
	var p sseParser
	stop := errors.New("stop")
	calls := 0
	err := p.feed([]byte("data: 1\n\ndata: 2\n\n"), false, func(_, _ []byte) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err %v after %d calls, want the handler's error after 1", err, calls)
	}
}

func FuzzSSEParser(f *testing.F) {
	for _, tc := range sseCases {
		f.Add([]byte(tc.in), uint16(3), uint16(7))
	}
	f.Add([]byte("event: message_start\r\ndata: {\"a\":1}\r\n\r\n"), uint16(20), uint16(21))
	f.Fuzz(func(t *testing.T, in []byte, a, b uint16) {
		want := parseSSE(t, in)
		if ref := refSSE(t, in); !reflect.DeepEqual(want, ref) {
			t.Fatalf("got %q, the reference reads %q", want, ref)
		}
		i, j := int(a)%(len(in)+1), int(b)%(len(in)+1)
		if i > j {
			i, j = j, i
		}
		if got := parseSSE(t, in[:i], in[i:j], in[j:]); !reflect.DeepEqual(got, want) {
			t.Fatalf("split %d,%d: got %q, want %q", i, j, got, want)
		}
		pieces := make([][]byte, 0, len(in)+1)
		for k := range in {
			pieces = append(pieces, in[k:k+1])
		}
		if got := parseSSE(t, append(pieces, nil)...); !reflect.DeepEqual(got, want) {
			t.Fatalf("byte-by-byte: got %q, want %q", got, want)
		}
	})
}
