package translate

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// bedrockFrames reassembles AWS event stream messages
// (application/vnd.amazon.eventstream, Bedrock's streaming responses) from
// response chunks split at any byte, and decodes each complete message with
// the AWS SDK's decoder, which checks the prelude and message CRCs.
//
// A message is: total length (4 bytes, big-endian, the whole message), headers
// length (4), prelude CRC (4), headers, payload, message CRC (4). Only the
// bytes of an incomplete message are kept between chunks; a message longer
// than max (the config's max_stream_event_bytes) plus its framing is an error
// before it is buffered.
type bedrockFrames struct {
	// on: the response is an event stream (the translators' ResponseHeaders).
	on      bool
	max     int
	pending []byte // start of an incomplete message
	reader  bytes.Reader
	dec     eventstream.Decoder
	payload []byte // decoder's payload buffer, reused
	msg     eventstream.Message
}

// eventstream framing: prelude (12 bytes) and message CRC (4).
const (
	esPreludeLen = 12
	esMinLen     = esPreludeLen + 4
	// esHeadersMax bounds the headers section (the SDK's own limit is
	// 128 KiB).
	esHeadersMax = 128 << 10
)

var errTruncatedFrame = errors.New("the stream ended inside a message")

// feed calls fn with every message completed by chunk; eos reports the end
// of the stream, where an incomplete message is an error. fn's message is
// only valid during the call. Errors are for the log: they never quote the
// stream.
func (f *bedrockFrames) feed(chunk []byte, eos bool, fn func(*eventstream.Message) error) error {
	data := chunk
	if len(f.pending) > 0 {
		f.pending = append(f.pending, chunk...)
		data = f.pending
	}
	for len(data) >= 4 {
		total := int(binary.BigEndian.Uint32(data))
		if total < esMinLen || total > f.limit()+esHeadersMax+esMinLen {
			return fmt.Errorf("message length %d out of range", total)
		}
		if len(data) < total {
			break
		}
		if err := f.decode(data[:total], fn); err != nil {
			return err
		}
		data = data[total:]
	}
	// Keep the rest (copied: chunk belongs to the caller, and pending may
	// be shifted in place).
	f.pending = append(f.pending[:0], data...)
	if eos && len(f.pending) > 0 {
		return errTruncatedFrame
	}
	return nil
}

// feedCoded is feed for a response that may be gzip-encoded (gz non-nil):
// the chunk is decoded first (bounded, incrementally: body.go) and what it
// decodes to is fed. frameErr is the event stream's error; gzErr the
// decoder's (a corrupt, truncated or oversized gzip stream), after the
// frames decoded before it were handled.
func (f *bedrockFrames) feedCoded(gz *gzipDecoder, chunk []byte, eos bool, fn func(*eventstream.Message) error) (frameErr, gzErr error) {
	if gz != nil {
		chunk, gzErr = gz.decode(chunk, eos)
	}
	return f.feed(chunk, eos && gzErr == nil, fn), gzErr
}

func (f *bedrockFrames) decode(frame []byte, fn func(*eventstream.Message) error) error {
	f.reader.Reset(frame)
	m, err := f.dec.Decode(&f.reader, f.payload[:0])
	if err != nil {
		return fmt.Errorf("decoding a message: %w", err)
	}
	if cap(m.Payload) > cap(f.payload) {
		f.payload = m.Payload[:0]
	}
	f.msg = m
	return fn(&f.msg)
}

func (f *bedrockFrames) limit() int {
	if f.max > 0 {
		return f.max
	}
	return DefaultMaxEventBytes
}

// bedrockChunk returns the Anthropic stream event a Bedrock "chunk" message
// carries ({"bytes": base64 of the event, "p": padding}), decoded into *buf
// (reused). base64 has no JSON escapes, so the string's bytes are decoded in
// place; ok is false for a malformed chunk.
func bedrockChunk(m *eventstream.Message, buf *[]byte) (event []byte, ok bool) {
	vs, ve, found, err := findMember(m.Payload, "bytes")
	if err != nil || !found || ve-vs < 2 || m.Payload[vs] != '"' || bytes.IndexByte(m.Payload[vs+1:ve-1], '\\') >= 0 {
		return nil, false
	}
	enc := m.Payload[vs+1 : ve-1]
	n := base64.StdEncoding.DecodedLen(len(enc))
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	n, err = base64.StdEncoding.Decode((*buf)[:n], enc)
	if err != nil || n == 0 {
		return nil, false
	}
	return (*buf)[:n], true
}
