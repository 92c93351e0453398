package translate

import "github.com/aigw/aigw/internal/bufpool"

// A translated request body (OpenAI -> Anthropic, Gemini, Converse, the
// Messages front door...) is about as large as the client's: 1.2 MB for a
// 1 MiB chat. It is written into a buffer from bufpool's size classes, not
// a fresh allocation per attempt, and the RequestResult owns that buffer
// (BodyBuffer) until its holder releases it: the upstream phase does so
// right after handing the body to Envoy (upstream.Body.Replace, which
// copies it in before it returns: Envoy's append_request_body adds the
// bytes to its own buffer). A holder that never releases a result leaves
// the buffer to the garbage collector: safe, only not reused.

// BodyBuffer owns the pooled memory a RequestResult's Body lives in; the
// zero BodyBuffer owns nothing.
type BodyBuffer struct{ p *[]byte }

// Release gives the memory back to its pool. Neither the Body it held nor
// any slice of it may be read afterwards (tests run with the race detector
// poison released buffers: bufpool). A second call does nothing.
func (b *BodyBuffer) Release() {
	if b.p != nil {
		bufpool.Put(b.p)
		b.p = nil
	}
}

// Release releases the result's body buffer (BodyBuffer.Release) and
// clears Body, which must not be read afterwards.
func (r *RequestResult) Release() {
	r.BodyBuffer.Release()
	r.Body = nil
}

// bodyBuffer returns an empty pooled buffer with room for n bytes, for a
// translator to write a request body into and hand to pooledBody (or back
// to bufpool.Put when it fails).
func bodyBuffer(n int) *[]byte {
	p := bufpool.Get(n)
	*p = (*p)[:0]
	return p
}

// encodeBody is encodeJSON into a pooled body buffer: hand both results to
// setBody (on an error the buffer is back in its pool already).
func encodeBody(v any, sizeHint int) (*[]byte, []byte, error) {
	buf := bodyBuffer(sizeHint)
	b, err := appendJSON(*buf, v)
	if err != nil {
		bufpool.Put(buf)
		return nil, nil, err
	}
	return buf, b, nil
}

// setBody makes body, written by appending to *buf (bodyBuffer), r's Body,
// owned by r until Release. A body that outgrew buf lives in memory of its
// own (the appends moved it), left to the garbage collector; buf then goes
// back to the pool at once.
func (r *RequestResult) setBody(buf *[]byte, body []byte) {
	r.Body = body
	if cap(body) > 0 && cap(body) == cap(*buf) && &body[:1][0] == &(*buf)[:1][0] {
		r.BodyBuffer = BodyBuffer{p: buf}
		return
	}
	bufpool.Put(buf)
}
