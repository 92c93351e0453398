package translate

import (
	"compress/gzip"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
)

// contentCoding classifies a content-encoding header value.
type contentCoding int

const (
	codingIdentity contentCoding = iota
	codingGzip
	codingOther // an encoding this package cannot decode (br, zstd, ...)
)

func parseContentEncoding(v string) contentCoding {
	v = strings.TrimSpace(v)
	switch {
	case v == "" || strings.EqualFold(v, "identity"):
		return codingIdentity
	case strings.EqualFold(v, "gzip") || strings.EqualFold(v, "x-gzip"):
		return codingGzip
	default:
		return codingOther
	}
}

// gzipDecoder decodes a gzip-encoded response body incrementally, chunk by
// chunk, for buffered bodies and streams alike: gzip's own fixed 32 KiB
// window (and a 32 KiB read window) is the only state kept between chunks,
// never the compressed input, and the decoded total is capped
// (Limits.MaxDecodedBytes). Decoded bytes are kept in 64 KiB blocks, joined
// once per call into an exactly sized result, so a bomb allocates about the
// cap before it is stopped, never a multiple of it or of the input.
//
// compress/gzip pulls its input from an io.Reader and cannot be suspended
// when a chunk runs out, so a body that arrives in more than one piece is
// decoded on its own goroutine, handed each chunk and handing back what it
// decoded once it needs more input: the calling (worker) thread waits only
// for that CPU work, never for the network. A body handed over whole (the
// usual buffered case) is decoded on the calling goroutine. An abandoned
// decoder (the attempt ended mid-stream) is stopped by a cleanup.
type gzipDecoder struct {
	st      *gzipState
	started bool
	done    bool
}

// gzipState is shared with the decoding goroutine; it never points back to
// the gzipDecoder, so the decoder can become unreachable and be cleaned up.
type gzipState struct {
	limit  int64
	total  int64
	win    []byte   // read window
	blocks [][]byte // decoded since the last handoff
	cur    []byte   // input not consumed yet (the caller's chunk: fully consumed before any handoff)
	eos    bool
	fed    bool // any input byte seen

	in   chan gzipPiece
	sig  chan error // nil: all input consumed, blocks are ready; else the end (io.EOF when clean)
	quit chan struct{}
}

type gzipPiece struct {
	b   []byte
	eos bool
}

const gzipBlock = 64 << 10

var (
	errGzipAborted = errors.New("gzip decoder abandoned")
	errGzipEmpty   = errors.New("empty gzip body")
)

func newGzipDecoder(limit int64) *gzipDecoder {
	return &gzipDecoder{st: &gzipState{limit: limit}}
}

// decode takes the next compressed chunk and returns what it decodes to (only
// valid until the next call). An error is a badResponse (KindProvider): the body
// cannot be decoded (corrupt, truncated, over the limit). It is returned
// once, with what decoded before it; later input is dropped.
func (d *gzipDecoder) decode(chunk []byte, eos bool) ([]byte, error) {
	s := d.st
	s.reset()
	switch {
	case d.done:
		return nil, nil
	case !d.started:
		d.started = true
		s.cur, s.eos = chunk, eos
		s.win = make([]byte, 32<<10)
		if eos {
			// Whole body at once: decode here, no goroutine.
			return d.finish(s.run())
		}
		s.in, s.sig, s.quit = make(chan gzipPiece), make(chan error), make(chan struct{})
		runtime.AddCleanup(d, func(q chan struct{}) { close(q) }, s.quit)
		go func() {
			err := s.run()
			select {
			case s.sig <- err:
			case <-s.quit:
			}
		}()
	default:
		s.in <- gzipPiece{b: chunk, eos: eos}
	}
	err := <-s.sig
	// d must stay reachable until the goroutine answered: its cleanup
	// closes quit, which would make the goroutine drop the answer.
	runtime.KeepAlive(d)
	if err != nil {
		return d.finish(err)
	}
	return s.take(), nil
}

func (d *gzipDecoder) finish(err error) ([]byte, error) {
	d.done = true
	s := d.st
	s.cur, s.win = nil, nil
	if err == io.EOF || err == errGzipEmpty {
		return s.take(), nil
	}
	// What decoded before the failure is returned only if it is within the
	// limit (a stream forwards it before its error event).
	var out []byte
	if s.total <= s.limit {
		out = s.take()
	}
	s.blocks = nil
	return out, badResponse("the backend's gzip body cannot be decoded: " + err.Error())
}

// run decodes until the input ends (io.EOF: a clean end, concatenated
// members included) or fails.
func (s *gzipState) run() error {
	zr, err := gzip.NewReader(s)
	if err != nil {
		if err == io.EOF && !s.fed {
			return errGzipEmpty // no body at all: nothing to decode
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	for {
		// zr.Read may hand over (inside more) before it returns; it writes
		// into win only when it returns, so blocks are never written
		// while the caller reads them.
		n, err := zr.Read(s.win)
		if n > 0 {
			s.total += int64(n)
			if s.total > s.limit {
				return errors.New("decoded size exceeds max_decoded_response_bytes (" + strconv.FormatInt(s.limit, 10) + ")")
			}
			s.put(s.win[:n])
		}
		if err != nil {
			return err
		}
	}
}

// put stores decoded bytes in fixed-size blocks (no doubling copies).
func (s *gzipState) put(p []byte) {
	for len(p) > 0 {
		if len(s.blocks) == 0 || len(s.blocks[len(s.blocks)-1]) == gzipBlock {
			s.blocks = append(s.blocks, make([]byte, 0, gzipBlock))
		}
		last := &s.blocks[len(s.blocks)-1]
		n := min(len(p), gzipBlock-len(*last))
		*last = append(*last, p[:n]...)
		p = p[n:]
	}
}

// take returns the decoded bytes since the last handoff as one slice: the
// block itself when there is one, else one exactly sized copy.
func (s *gzipState) take() []byte {
	switch len(s.blocks) {
	case 0:
		return nil
	case 1:
		return s.blocks[0]
	}
	n := 0
	for _, b := range s.blocks {
		n += len(b)
	}
	out := make([]byte, 0, n)
	for _, b := range s.blocks {
		out = append(out, b...)
	}
	return out
}

// reset empties the blocks for the next call, keeping the first for reuse.
func (s *gzipState) reset() {
	if len(s.blocks) == 0 {
		return
	}
	first := s.blocks[0][:0]
	clear(s.blocks)
	s.blocks = append(s.blocks[:0], first)
}

// more makes input available, handing the output over and waiting for the
// next chunk when the current one is used up. It returns false at the end
// of the input or when the decoder was abandoned.
func (s *gzipState) more() (bool, error) {
	for len(s.cur) == 0 {
		if s.eos || s.in == nil {
			return false, io.EOF
		}
		select {
		case s.sig <- nil:
		case <-s.quit:
			return false, errGzipAborted
		}
		select {
		case p := <-s.in:
			s.cur, s.eos = p.b, p.eos
		case <-s.quit:
			return false, errGzipAborted
		}
	}
	s.fed = true
	return true, nil
}

// Read and ReadByte make gzipState the decoder's flate.Reader, so gzip reads
// exactly what it needs (no bufio read-ahead holding input).
func (s *gzipState) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if ok, err := s.more(); !ok {
		return 0, err
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

func (s *gzipState) ReadByte() (byte, error) {
	if ok, err := s.more(); !ok {
		return 0, err
	}
	c := s.cur[0]
	s.cur = s.cur[1:]
	return c, nil
}

// accumulator collects a body that must be handled as a whole. When the
// caller buffers and hands over the complete body in one call, no copy is
// made.
type accumulator struct {
	buf []byte
}

// add returns the complete body once eos is seen, else nil and false.
func (a *accumulator) add(chunk []byte, eos bool) ([]byte, bool) {
	if eos && len(a.buf) == 0 {
		return chunk, true
	}
	a.buf = append(a.buf, chunk...)
	if !eos {
		return nil, false
	}
	return a.buf, true
}
