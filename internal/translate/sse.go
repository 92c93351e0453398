package translate

import (
	"bytes"
	"strconv"
)

var utf8BOM = []byte("\xef\xbb\xbf")

// sseParser is an incremental server-sent events parser (WHATWG "event
// stream interpretation"). Chunks may split the stream at any byte; the
// events produced are the same whatever the split. Lines end in "\n", "\r\n"
// or "\r"; comment lines (":...") and the id/retry fields are ignored since
// no translator needs them.
//
// A line, and an event's joined data, may hold at most max bytes
// (Limits.MaxEventBytes): a provider that never terminates a line or an
// event would otherwise grow Go memory without bound. Past the cap the
// parser releases its buffers and every later feed returns errEventTooLarge.
type sseParser struct {
	max      int  // line and event cap; 0 means DefaultMaxEventBytes
	overflow bool // the cap was hit: nothing more is parsed

	line    []byte // incomplete line carried over from the previous chunk
	data    []byte // data lines of the current event, joined by '\n'
	event   []byte // event type of the current event
	hasData bool   // at least one data line seen (an empty "data:" counts)
	skipLF  bool   // previous chunk ended in '\r': a leading '\n' belongs to it
	started bool   // first line seen (a leading BOM is dropped from it)
}

// sseHandler receives one dispatched event. event is empty for unnamed
// events. Both slices are only valid during the call.
type sseHandler func(event, data []byte) error

// feed parses chunk and calls fn for every complete event. With eos set, an
// unterminated last line and an event lacking its blank line are dispatched
// too: the spec discards them, but providers that omit the final newline
// would otherwise lose their last event.
func (p *sseParser) feed(chunk []byte, eos bool, fn sseHandler) error {
	if p.overflow {
		return errEventTooLarge
	}
	if p.skipLF && len(chunk) > 0 {
		p.skipLF = false
		if chunk[0] == '\n' {
			chunk = chunk[1:]
		}
	}
	// nl and cr are the offsets of the next '\n' and '\r' at or after pos
	// (-1: none left in the chunk), each searched for again only once pos
	// has passed it, so the chunk is scanned once for each whatever its
	// line ends (IndexAny with two bytes would go byte by byte).
	nl, cr := indexFrom(chunk, 0, '\n'), indexFrom(chunk, 0, '\r')
	for pos := 0; pos < len(chunk); {
		if nl >= 0 && nl < pos {
			nl = indexFrom(chunk, pos, '\n')
		}
		if cr >= 0 && cr < pos {
			cr = indexFrom(chunk, pos, '\r')
		}
		i := nl
		if cr >= 0 && (i < 0 || cr < i) {
			i = cr
		}
		if i < 0 {
			rest := chunk[pos:]
			if len(p.line)+len(rest) > p.limit() {
				return p.tooLarge()
			}
			p.line = append(p.line, rest...)
			break
		}
		seg := chunk[pos:i]
		if i == cr {
			if i+1 < len(chunk) {
				if chunk[i+1] == '\n' {
					i++
				}
			} else {
				p.skipLF = true
			}
		}
		pos = i + 1
		if len(p.line) > 0 {
			if len(p.line)+len(seg) > p.limit() {
				return p.tooLarge()
			}
			p.line = append(p.line, seg...)
			seg = p.line
		}
		err := p.processLine(seg, fn)
		p.line = p.line[:0]
		if err != nil {
			return err
		}
	}
	if eos {
		if len(p.line) > 0 {
			err := p.processLine(p.line, fn)
			p.line = p.line[:0]
			if err != nil {
				return err
			}
		}
		return p.dispatch(fn)
	}
	return nil
}

// indexFrom is the offset of the first c in b at or after from, or -1.
func indexFrom(b []byte, from int, c byte) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return -1
}

// errEventTooLarge: a provider SSE line or event exceeded Limits.MaxEventBytes.
var errEventTooLarge = badResponse("a server-sent event line or event from the backend exceeds max_stream_event_bytes")

func (p *sseParser) limit() int {
	if p.max > 0 {
		return p.max
	}
	return DefaultMaxEventBytes
}

// tooLarge gives up on the stream: the buffers are released (not kept for
// reuse), so the memory returns.
func (p *sseParser) tooLarge() error {
	p.overflow = true
	p.line, p.data, p.event, p.hasData = nil, nil, nil, false
	return errEventTooLarge
}

// tooLargeMessage is the client's message for a stream given up on.
func (p *sseParser) tooLargeMessage(who string) string {
	return who + " sent a server-sent event larger than " + strconv.Itoa(p.limit()) + " bytes (max_stream_event_bytes); the stream was ended"
}

func (p *sseParser) processLine(line []byte, fn sseHandler) error {
	if len(line) > p.limit() {
		return p.tooLarge()
	}
	if !p.started {
		p.started = true
		line = bytes.TrimPrefix(line, utf8BOM)
	}
	if len(line) == 0 {
		return p.dispatch(fn)
	}
	if line[0] == ':' {
		return nil
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		if len(p.data)+1+len(value) > p.limit() {
			return p.tooLarge()
		}
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
	case "event":
		p.event = append(p.event[:0], value...)
	}
	return nil
}

func (p *sseParser) dispatch(fn sseHandler) error {
	if !p.hasData {
		p.event = p.event[:0]
		return nil
	}
	err := fn(p.event, p.data)
	p.data, p.event, p.hasData = p.data[:0], p.event[:0], false
	return err
}
