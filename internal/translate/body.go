package translate

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxDecodedBytes bounds a decompressed provider response so a hostile or
// broken upstream cannot make the gateway allocate without limit.
const maxDecodedBytes = 64 << 20

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

// gunzip decodes a complete gzip body (concatenated members included).
func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("translate: decoding gzip response: %w", err)
	}
	defer zr.Close()
	out := bytes.NewBuffer(make([]byte, 0, 4*len(b)))
	n, err := io.Copy(out, io.LimitReader(zr, maxDecodedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("translate: decoding gzip response: %w", err)
	}
	if n > maxDecodedBytes {
		return nil, errors.New("translate: decoded gzip response exceeds 64 MiB")
	}
	return out.Bytes(), nil
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
