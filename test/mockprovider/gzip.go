package mockprovider

import (
	"compress/gzip"
	"net/http"
)

// gzipWriter gzips a response body (Options.Gzip). Flush flushes the compressor too, so a
// gzipped event stream still arrives event by event.
type gzipWriter struct {
	http.ResponseWriter
	zw      *gzip.Writer
	started bool
}

func newGzipWriter(w http.ResponseWriter) *gzipWriter {
	return &gzipWriter{ResponseWriter: w, zw: gzip.NewWriter(w)}
}

func (g *gzipWriter) WriteHeader(status int) {
	if g.started {
		return
	}
	g.started = true
	h := g.ResponseWriter.Header()
	// The length written by writeJSON is the identity length.
	h.Del("Content-Length")
	h.Set("Content-Encoding", "gzip")
	h.Add("Vary", "Accept-Encoding")
	g.ResponseWriter.WriteHeader(status)
}

func (g *gzipWriter) Write(p []byte) (int, error) {
	if !g.started {
		g.WriteHeader(http.StatusOK)
	}
	return g.zw.Write(p)
}

func (g *gzipWriter) Flush() {
	_ = g.zw.Flush()
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// close ends the gzip member; a handler that wrote nothing still sends a valid (empty) one.
func (g *gzipWriter) close() {
	if !g.started {
		g.WriteHeader(http.StatusOK)
	}
	_ = g.zw.Close()
}
