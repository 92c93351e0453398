// Package cthread numbers the threads that call into aigw: one C function,
// aigw_thread_number (cthread.h), whose thread-local number both ABI
// adapters read, so that what one phase of a stream keeps for the other
// (the router phase's findings for the attempt: bodyscan's handoff) stays
// with the worker thread that serves both. Envoy runs every hook of a
// stream, downstream and upstream, on the worker thread of its connection:
// the router filter makes each attempt's UpstreamRequest from inside its
// own decode call, the first in decodeHeaders and a retry from its
// dispatcher's timer (source/common/router/router.cc:821-825, 2231), and
// the UpstreamRequest makes the cluster's upstream filter chain as it is
// made (source/common/router/upstream_request.cc:142-151).
//
// C code of another package uses it by including "../cthread/cthread.h"
// and importing this package (which links cthread.c in).
package cthread

// #include "cthread.h"
import "C"

// Number is the calling thread's number: 0, 1, ... in the order threads
// first ask, from C or from Go (a cgo call: once per worker, not per
// request).
func Number() uint32 { return uint32(C.aigw_thread_number()) }
