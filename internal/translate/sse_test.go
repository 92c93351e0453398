package translate

import (
	"errors"
	"reflect"
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
	{"blank lines only", "\n\r\n\r\n", nil},
	{"empty", "", nil},
}

func TestSSEParser(t *testing.T) {
	for _, tc := range sseCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseSSE(t, []byte(tc.in)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
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
