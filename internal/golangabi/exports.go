package golangabi

// The entry points Envoy's golang filter looks up in the library
// (contrib/golang/common/dso/dso.cc, HttpFilterDsoImpl; prototypes in
// contrib/golang/common/dso/libgolang.h). Each turns Envoy's call into a
// call on filter.Router and its result back into a GolangStatus. Pointers
// Envoy passes are declared void* here: the same size and calling convention
// as processState*, httpRequest* and httpConfig*.
//
// This preamble may hold declarations only (cgo's rule for files with
// //export).

/*
#include <stdint.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

//export envoyGoFilterNewHttpPluginConfig
func envoyGoFilterNewHttpPluginConfig(c unsafe.Pointer) uint64 {
	// Envoy rejects the config (and the listener) when the id is 0.
	return guard("parsing the golang filter plugin_config", nil, 0, func() uint64 {
		id, err := newPluginConfig((*cHTTPConfig)(c))
		if err != nil {
			logf(api.Error, "aigw: rejecting golang filter plugin_config: "+err.Error())
			return 0
		}
		return id
	})
}

//export envoyGoFilterDestroyHttpPluginConfig
func envoyGoFilterDestroyHttpPluginConfig(id uint64, needDelay int) {
	destroyPluginConfig(id, needDelay == 1)
}

//export envoyGoFilterMergeHttpPluginConfig
func envoyGoFilterMergeHttpPluginConfig(namePtr unsafe.Pointer, nameLen, parentID, childID uint64) uint64 {
	return guard("merging golang filter configs", nil, 0, func() uint64 {
		name := unsafe.String((*byte)(namePtr), int(nameLen))
		id, err := mergePluginConfig(name, parentID, childID)
		if err != nil {
			logf(api.Error, "aigw: "+err.Error())
			return 0
		}
		return id
	})
}

// aigwOnHttpHeader serves request headers: envoyGoFilterOnHttpHeader's Go
// side (entry.c), which answers the response's headers and either
// direction's trailers itself. The router phase does nothing with them.
//
//export aigwOnHttpHeader
func aigwOnHttpHeader(s unsafe.Pointer, endStream, headerNum, headerBytes uint64) uint64 {
	ps := (*cProcessState)(s)
	if ps.isEncoding != 0 || ps.state != stateProcessingHeader {
		return uint64(api.Continue) // entry.c answers these; kept total
	}
	p := panicked{s: s}
	return guard("routing a request", &p, uint64(api.LocalReply), func() uint64 {
		r := workers.get(ps.req.workerID).start(ps.req)
		if r == nil {
			logf(api.Error, fmt.Sprintf("aigw: golang filter config id %d is unknown to Go", ps.req.configID))
			internalError(s)
			return uint64(api.LocalReply)
		}
		r.beginCallback(s, r.reads.Headers)
		p.r = r
		st := r.router.DecodeHeaders((*headers)(r), endStream == 1)
		r.flush()
		if endStream == 1 && st == api.StopAndBuffer {
			// Envoy would wait for a body that never comes (the Go SDK panics here).
			panic("StopAndBuffer returned on a request without a body")
		}
		return uint64(st)
	})
}

// aigwOnHttpData serves the request body: envoyGoFilterOnHttpData's Go
// side (entry.c), which answers the response's chunks itself.
//
//export aigwOnHttpData
func aigwOnHttpData(s unsafe.Pointer, endStream, buffer, length uint64) uint64 {
	ps := (*cProcessState)(s)
	if ps.isEncoding != 0 {
		return uint64(api.Continue) // entry.c answers these; kept total
	}
	p := panicked{s: s}
	return guard("routing a request", &p, uint64(api.LocalReply), func() uint64 {
		r := workers.get(ps.req.workerID).live[unsafe.Pointer(ps.req)]
		if r == nil {
			// Headers were answered without state (unknown config): nothing to do.
			return uint64(api.Continue)
		}
		r.beginCallback(s, r.reads.Data)
		p.r = r
		r.buffer, r.length = buffer, length
		st := r.router.DecodeData((*body)(r), endStream == 1)
		r.flush()
		r.buffer, r.length = 0, 0
		return uint64(st)
	})
}

// envoyGoFilterOnHttpLog, envoyGoRequestSemaDec and envoyGoFilterCleanUp
// have nothing to do in Go: they are C (entry.c), so that Envoy's calls of
// them cost no cgo callback.

//export envoyGoFilterOnHttpStreamComplete
func envoyGoFilterOnHttpStreamComplete(c unsafe.Pointer) {
	guard("completing a stream", nil, struct{}{}, func() struct{} {
		req := (*cHTTPRequest)(c)
		if r := workers.get(req.workerID).live[c]; r != nil {
			r.w.ops, r.w.setBody, r.w.setQueued = r.w.ops[:0], nil, false
			r.w.groups, r.w.group = nil, 0 // no processState here: no header reads
			r.router.OnStreamComplete()
			r.flush()
		}
		return struct{}{}
	})
}

//export envoyGoFilterOnHttpDestroy
func envoyGoFilterOnHttpDestroy(c unsafe.Pointer, reason uint64) {
	guard("destroying a stream", nil, struct{}{}, func() struct{} {
		workers.get((*cHTTPRequest)(c).workerID).end(c)
		return struct{}{}
	})
}

// guard is the adapter's one panic boundary: every entry point runs its Go
// side through it, because a Go panic unwinding into Envoy aborts the
// process. A panic makes the entry point return failed and is logged once;
// req, for an entry point serving a request, answers that request (only)
// with the gateway's 500. filter recovers nothing itself.
func guard[T any](where string, req *panicked, failed T, fn func() T) (out T) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		logf(api.Error, fmt.Sprintf("aigw: recovered panic while %s: %v", where, p))
		out = failed
		if req != nil {
			req.answer()
		}
	}()
	return fn()
}

// panicked is the request an entry point serves, once it is known: the
// processState of the callback and the Go state of the stream.
type panicked struct {
	s unsafe.Pointer
	r *request
}

// answer answers the request after a panic: through its router, which
// accounts an internal error, or directly when the panic came before the
// router had the callback (an adapter bug).
func (p *panicked) answer() {
	defer func() {
		if p := recover(); p != nil {
			// Envoy refused the reply too (the stream is going away): nothing left to answer.
			logf(api.Error, fmt.Sprintf("aigw: could not answer after a panic: %v", p))
		}
	}()
	if p.r != nil {
		p.r.router.Fail()
		return
	}
	internalError(p.s)
}
