package extproc

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/translate"
	"github.com/aigw/aigw/internal/upstream"
)

// The whole path over ext_proc, as an ext_proc gateway (Envoy AI Gateway)
// does it with two external-processing hops per request:
//
//   - the router-level stream (an ext_proc filter before the router): the
//     request headers, the request body BUFFERED (the router phase: the same
//     Server.headers/Server.body as the router-only baseline), then the
//     response headers and the response body (BUFFERED, or STREAMED chunk by
//     chunk for an event stream), translated back;
//   - per attempt, the upstream-level stream (an ext_proc filter in the
//     cluster's upstream filter chain): the attempt's request headers, with
//     the chosen endpoint's metadata as the xds.upstream_host_metadata
//     attribute; the answer carries the credential, path, provider headers,
//     model rewrite and translated body (the processor already holds the
//     body from the router-level stream of the same request, found by its
//     x-request-id, as such a gateway keeps it in one process).
//
// The upstream-phase work is aigw's own upstream.Filter (credentials, plan,
// translators, token accounting) driven through its Attempt interface over
// the messages, so both sides run the same Go code for the same work.

// UpstreamAttribute is the attribute key under which the upstream-level
// stream carries the endpoint's filter_metadata (ext_proc
// request_attributes: xds.upstream_host_metadata), and AttributesNamespace
// the ProcessingRequest.attributes key Envoy files it under.
const (
	UpstreamAttribute   = "xds.upstream_host_metadata"
	AttributesNamespace = "envoy.filters.http.ext_proc"
)

// NewPathServer serves the router phase with cfg (see NewServer) and the
// upstream phase with up.
func NewPathServer(s *Server, up *upstream.Config) *Server {
	s.up = up
	return s
}

// pathState is what a request's two streams share: the routed body from the
// router-level stream, then the attempt's filter for the response.
type pathState struct {
	body   []byte
	filter *upstream.Filter
	att    *attempt
}

type pathStore struct {
	mu sync.Mutex
	m  map[string]*pathState
}

func (p *pathStore) put(id string, st *pathState) {
	p.mu.Lock()
	if p.m == nil {
		p.m = make(map[string]*pathState)
	}
	p.m[id] = st
	p.mu.Unlock()
}

func (p *pathStore) get(id string) *pathState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[id]
}

func (p *pathStore) del(id string) {
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}

// hmap is a header map over an ext_proc HeaderMap that records the changes
// since the last answer, which become the answer's HeaderMutation.
type hmap struct {
	kv      map[string]string
	set     []*corev3.HeaderValueOption
	removed []string
}

func newHmap(h *corev3.HeaderMap) *hmap {
	m := &hmap{kv: make(map[string]string, len(h.GetHeaders()))}
	for _, hv := range h.GetHeaders() {
		m.kv[hv.Key] = string(hv.RawValue)
	}
	return m
}

func (m *hmap) Get(k string) (string, bool) { v, ok := m.kv[k]; return v, ok }
func (m *hmap) Set(k, v string) {
	m.kv[k] = v
	m.set = append(m.set, header(k, v))
}
func (m *hmap) Remove(k string) {
	delete(m.kv, k)
	m.removed = append(m.removed, k)
}

// mutation takes the recorded changes.
func (m *hmap) mutation() *extprocv3.HeaderMutation {
	if m == nil || len(m.set) == 0 && len(m.removed) == 0 {
		return nil
	}
	mut := &extprocv3.HeaderMutation{SetHeaders: m.set, RemoveHeaders: m.removed}
	m.set, m.removed = nil, nil
	return mut
}

type body struct {
	b        []byte
	replaced bool
}

func (b *body) Bytes() []byte { return b.b }

// Replace keeps a copy of p, as Envoy's buffer does: upstream.Body lets the
// caller reuse p's memory once Replace returns (a translated body's pooled
// buffer), and the answer carrying the body is marshalled later.
func (b *body) Replace(p []byte) {
	b.b = append([]byte(nil), p...)
	b.replaced = true
}

// Edit builds the edited body in Go: an external processor answers with
// a whole new body (a BodyMutation), it cannot splice Envoy's buffer.
func (b *body) Edit(edits []translate.Edit) {
	b.b, b.replaced = translate.ApplyEdits(b.b, edits), true
}

// attempt is upstream.Attempt over the messages of a request's two streams.
type attempt struct {
	reqH, respH     *hmap
	reqB, respB     body
	endpoint        map[string]map[string]string
	state           map[string]string
	meta            map[string]*structpb.Value
	answered        *extprocv3.ProcessingResponse
	responseStarted bool
}

func (a *attempt) RequestHeaders() upstream.HeaderMap  { return a.reqH }
func (a *attempt) ResponseHeaders() upstream.HeaderMap { return a.respH }
func (a *attempt) RequestBody() upstream.Body          { return &a.reqB }
func (a *attempt) ResponseBody() upstream.Body         { return &a.respB }
func (a *attempt) EndpointMetadata(ns, key string) (string, bool) {
	v, ok := a.endpoint[ns][key]
	return v, ok
}

// DynamicMetadata reads what this attempt's stream has recorded: the
// router-level hop's metadata does not reach the upstream-level stream here
// (Envoy would forward it with metadata_options), so a config digest is
// absent and the upstream filter serves the attempt as it does without one.
func (a *attempt) DynamicMetadata(ns, key string) (string, bool) {
	if v, ok := a.meta[key].GetKind().(*structpb.Value_StringValue); ok {
		return v.StringValue, true
	}
	return "", false
}
func (a *attempt) DynamicMetadataNumber(ns, key string) (float64, bool) {
	if v, ok := a.meta[key].GetKind().(*structpb.Value_NumberValue); ok {
		return v.NumberValue, true
	}
	return 0, false
}
func (a *attempt) SetDynamicMetadata(ns, key, value string) {
	a.meta[key] = structpb.NewStringValue(value)
}
func (a *attempt) SetDynamicMetadataNumber(ns, key string, value float64) {
	a.meta[key] = structpb.NewNumberValue(value)
}
func (a *attempt) AddCounter(upstream.Counter, uint64)   {}
func (a *attempt) FilterState(key string) (string, bool) { v, ok := a.state[key]; return v, ok }
func (a *attempt) SetFilterState(key, value string)      { a.state[key] = value }
func (a *attempt) Log(upstream.LogLevel, string)         {}
func (a *attempt) SendResponse(status int, headers []upstream.Header, b []byte) {
	set := make([]*corev3.HeaderValueOption, 0, len(headers))
	for _, h := range headers {
		set = append(set, header(h.Key, h.Value))
	}
	a.answered = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(status)},
			Headers: &extprocv3.HeaderMutation{SetHeaders: set}, Body: b, Details: "aigw_upstream"}}}
}

// dynamicMetadata is the attempt's metadata as the answer's dynamic_metadata.
func (a *attempt) dynamicMetadata() *structpb.Struct {
	if len(a.meta) == 0 {
		return nil
	}
	fields := make(map[string]*structpb.Value, len(a.meta))
	for k, v := range a.meta {
		fields[k] = v
	}
	clear(a.meta)
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		upstream.MetadataNamespace: structpb.NewStructValue(&structpb.Struct{Fields: fields})}}
}

// common is the answer's CommonResponse: the header changes since the last
// answer and the body when the filter replaced it.
func common(h *hmap, b *body) *extprocv3.CommonResponse {
	c := &extprocv3.CommonResponse{HeaderMutation: h.mutation()}
	if b != nil && b.replaced {
		c.BodyMutation = &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: b.b}}
		b.replaced = false
	}
	return c
}

func requestID(h *corev3.HeaderMap) string {
	for _, hv := range h.GetHeaders() {
		if hv.Key == "x-request-id" {
			return string(hv.RawValue)
		}
	}
	return ""
}

// upstreamHeaders serves the upstream-level stream's request headers: the
// whole request side of the upstream phase for this attempt.
func (s *Server) upstreamHeaders(h *extprocv3.HttpHeaders, ep *structpb.Value) *extprocv3.ProcessingResponse {
	st := s.paths.get(requestID(h.GetHeaders()))
	if st == nil {
		return immediate(oaierr.Internal("the gateway lost this request between its processing streams"))
	}
	a := &attempt{reqH: newHmap(h.GetHeaders()), reqB: body{b: st.body}, state: map[string]string{},
		meta: map[string]*structpb.Value{}, endpoint: map[string]map[string]string{}}
	for ns, v := range ep.GetStructValue().GetFields() {
		a.endpoint[ns] = map[string]string{}
		for k, kv := range v.GetStructValue().GetFields() {
			a.endpoint[ns][k] = kv.GetStringValue()
		}
	}
	f := upstream.NewFilter(s.up, a)
	st.filter, st.att = f, a
	if f.OnRequestHeaders(false) == upstream.Answered || f.OnRequestBody(true) == upstream.Answered {
		return a.answered
	}
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{
			Response: common(a.reqH, &a.reqB)}},
		DynamicMetadata: a.dynamicMetadata(),
	}
}

// responseHeaders and responseBody serve the router-level stream's response
// side with the attempt's filter.
func (s *Server) responseHeaders(id string, h *extprocv3.HttpHeaders) *extprocv3.ProcessingResponse {
	st := s.paths.get(id)
	if st == nil || st.filter == nil {
		return immediate(oaierr.Internal("the gateway lost this request between its processing streams"))
	}
	a := st.att
	a.respH = newHmap(h.GetHeaders())
	if st.filter.OnResponseHeaders(h.EndOfStream) == upstream.Answered {
		return a.answered
	}
	if h.EndOfStream {
		st.filter.OnDestroy()
		s.paths.del(id)
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
		ResponseHeaders: &extprocv3.HeadersResponse{Response: common(a.respH, nil)}}}
}

func (s *Server) responseBody(id string, b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	st := s.paths.get(id)
	if st == nil || st.filter == nil {
		return immediate(oaierr.Internal("the gateway lost this request between its processing streams"))
	}
	a := st.att
	a.respB = body{b: b.Body}
	act := st.filter.OnResponseBody(b.EndOfStream)
	if act == upstream.Answered {
		return a.answered
	}
	if act == upstream.Hold {
		// Envoy sends the whole body in BUFFERED mode and every chunk must
		// be answered in STREAMED mode: a hold answers the chunk empty.
		a.respB.Replace(nil)
	}
	resp := &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{
		ResponseBody: &extprocv3.BodyResponse{Response: common(a.respH, &a.respB)}},
		DynamicMetadata: a.dynamicMetadata()}
	if b.EndOfStream {
		st.filter.OnDestroy()
		s.paths.del(id)
	}
	return resp
}

// ApplyHeaderMutation applies an answer's header mutation to headers as
// Envoy does (set overwrites, remove removes).
func ApplyHeaderMutation(headers []Header, m *extprocv3.HeaderMutation) []Header {
	for _, r := range m.GetRemoveHeaders() {
		for i := 0; i < len(headers); i++ {
			if headers[i].Key == r {
				headers = append(headers[:i], headers[i+1:]...)
				i--
			}
		}
	}
	for _, s := range m.GetSetHeaders() {
		k, v := s.GetHeader().GetKey(), string(s.GetHeader().GetRawValue())
		found := false
		for i := range headers {
			if headers[i].Key == k {
				headers[i].Value, found = v, true
			}
		}
		if !found {
			headers = append(headers, Header{k, v})
		}
	}
	return headers
}

// GetHeader is the value of key in headers.
func GetHeader(headers []Header, key string) (string, bool) {
	for _, h := range headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return "", false
}

// statusOf is a response's :status.
func statusOf(headers []Header) int {
	v, _ := GetHeader(headers, ":status")
	n, err := strconv.Atoi(v)
	if err != nil {
		return http.StatusBadGateway
	}
	return n
}

// pathProtocol is the router-level filter's processing mode on the whole
// path: request and response bodies BUFFERED (STREAMED for an event stream,
// one message per chunk, as such a gateway configures for streaming); the
// upstream-level filter's: request headers only.
func pathProtocol(stream bool) *extprocv3.ProtocolConfiguration {
	resp := filterv3.ProcessingMode_BUFFERED
	if stream {
		resp = filterv3.ProcessingMode_STREAMED
	}
	return &extprocv3.ProtocolConfiguration{RequestBodyMode: filterv3.ProcessingMode_BUFFERED, ResponseBodyMode: resp}
}

var upstreamProtocol = &extprocv3.ProtocolConfiguration{
	RequestBodyMode:  filterv3.ProcessingMode_NONE,
	ResponseBodyMode: filterv3.ProcessingMode_NONE,
}

// PathRequest is one request of the whole-path baseline: what the client
// sends, which endpoint Envoy picks for the attempt, and what the provider
// answers.
type PathRequest struct {
	Headers []Header
	Body    []byte
	// Endpoint is the chosen endpoint's filter_metadata (namespace -> key ->
	// value), sent as the upstream-level stream's attribute.
	Endpoint        map[string]map[string]string
	ResponseHeaders []Header
	// ResponseChunks is the provider's body as the upstream codec hands it
	// on; with Stream each chunk is one STREAMED message, else they are
	// buffered and sent as one.
	ResponseChunks [][]byte
	Stream         bool
}

// PathResult is what Envoy would have done with the answers.
type PathResult struct {
	UpstreamHeaders []Header // the attempt's request headers at the provider
	UpstreamBody    []byte
	ClientHeaders   []Header // the response headers the client gets
	ClientBody      []byte
	// Forwarded is when the attempt's request could go to the provider (the
	// end of the latency added before the provider); Chunks the time spent
	// in the response chunks' round trips.
	Forwarded time.Time
	Chunks    time.Duration
}

func sendHeaders(stream extprocv3.ExternalProcessor_ProcessClient, headers []Header, end bool,
	pc *extprocv3.ProtocolConfiguration, attrs map[string]*structpb.Struct, response bool) (*extprocv3.ProcessingResponse, error) {
	hv := make([]*corev3.HeaderValue, len(headers))
	vals := make([]corev3.HeaderValue, len(headers))
	for i, h := range headers {
		vals[i] = corev3.HeaderValue{Key: h.Key, RawValue: []byte(h.Value)}
		hv[i] = &vals[i]
	}
	hh := &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{Headers: hv}, EndOfStream: end}
	req := &extprocv3.ProcessingRequest{ProtocolConfig: pc, Attributes: attrs}
	if response {
		req.Request = &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: hh}
	} else {
		req.Request = &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: hh}
	}
	if err := stream.Send(req); err != nil {
		return nil, fmt.Errorf("send headers: %w", err)
	}
	return stream.Recv()
}

func sendBody(stream extprocv3.ExternalProcessor_ProcessClient, b []byte, end, response bool) (*extprocv3.ProcessingResponse, error) {
	hb := &extprocv3.HttpBody{Body: b, EndOfStream: end}
	req := &extprocv3.ProcessingRequest{}
	if response {
		req.Request = &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: hb}
	} else {
		req.Request = &extprocv3.ProcessingRequest_RequestBody{RequestBody: hb}
	}
	if err := stream.Send(req); err != nil {
		return nil, fmt.Errorf("send body: %w", err)
	}
	return stream.Recv()
}

// commonOf is the CommonResponse of a headers or body answer; an immediate
// response is an error (the baseline's requests all reach the provider).
func commonOf(r *extprocv3.ProcessingResponse) (*extprocv3.CommonResponse, error) {
	if ir := r.GetImmediateResponse(); ir != nil {
		return nil, fmt.Errorf("answered immediately with %d: %s", ir.GetStatus().GetCode(), ir.GetBody())
	}
	switch v := r.Response.(type) {
	case *extprocv3.ProcessingResponse_RequestHeaders:
		return v.RequestHeaders.GetResponse(), nil
	case *extprocv3.ProcessingResponse_RequestBody:
		return v.RequestBody.GetResponse(), nil
	case *extprocv3.ProcessingResponse_ResponseHeaders:
		return v.ResponseHeaders.GetResponse(), nil
	case *extprocv3.ProcessingResponse_ResponseBody:
		return v.ResponseBody.GetResponse(), nil
	}
	return nil, fmt.Errorf("unexpected answer %T", r.Response)
}

// DoPath runs one request's whole path over both streams as Envoy does:
// router-level stream headers and buffered body (routing), the router picks
// the cluster, the attempt's upstream-level stream (request headers, with
// the endpoint's metadata), the provider's response through the router-level
// stream (headers, then the body buffered or chunk by chunk), and both
// streams closed.
var requestIDs atomic.Uint64

func (c *Client) DoPath(ctx context.Context, r PathRequest) (PathResult, error) {
	var res PathResult
	rs, err := c.api.Process(ctx)
	if err != nil {
		return res, err
	}
	// Each request its own x-request-id (Envoy's, or the client's): the
	// processor's key between the two streams.
	headers := ApplyHeaderMutation(slices.Clone(r.Headers), &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
		header("x-request-id", "bench-"+strconv.FormatUint(requestIDs.Add(1), 10))}})
	ans, err := sendHeaders(rs, headers, false, pathProtocol(r.Stream), nil, false)
	if err != nil {
		return res, err
	}
	if _, err := commonOf(ans); err != nil {
		return res, err
	}
	if ans, err = sendBody(rs, r.Body, true, false); err != nil {
		return res, err
	}
	cr, err := commonOf(ans)
	if err != nil {
		return res, err
	}
	headers = ApplyHeaderMutation(headers, cr.GetHeaderMutation())
	body := r.Body
	if m := cr.GetBodyMutation(); m != nil {
		body = m.GetBody()
	}

	// The attempt: its own stream on the upstream-level filter.
	us, err := c.api.Process(ctx)
	if err != nil {
		return res, err
	}
	ep, err := structpb.NewStruct(map[string]any{})
	if err != nil {
		return res, err
	}
	for ns, kv := range r.Endpoint {
		fields := map[string]any{}
		for k, v := range kv {
			fields[k] = v
		}
		s, err := structpb.NewStruct(fields)
		if err != nil {
			return res, err
		}
		ep.Fields[ns] = structpb.NewStructValue(s)
	}
	attrs := map[string]*structpb.Struct{AttributesNamespace: {Fields: map[string]*structpb.Value{
		UpstreamAttribute: structpb.NewStructValue(ep)}}}
	if ans, err = sendHeaders(us, headers, false, upstreamProtocol, attrs, false); err != nil {
		return res, err
	}
	if cr, err = commonOf(ans); err != nil {
		return res, err
	}
	headers = ApplyHeaderMutation(headers, cr.GetHeaderMutation())
	if m := cr.GetBodyMutation(); m != nil {
		body = m.GetBody()
	}
	if err := finish(us); err != nil {
		return res, err
	}
	res.Forwarded = time.Now()
	res.UpstreamHeaders, res.UpstreamBody = headers, body

	// The provider's response through the router-level stream.
	rh := slices.Clone(r.ResponseHeaders)
	if ans, err = sendHeaders(rs, rh, false, nil, nil, true); err != nil {
		return res, err
	}
	if cr, err = commonOf(ans); err != nil {
		return res, err
	}
	rh = ApplyHeaderMutation(rh, cr.GetHeaderMutation())
	chunks := r.ResponseChunks
	if !r.Stream {
		chunks = [][]byte{slices.Concat(r.ResponseChunks...)}
	}
	t0 := time.Now()
	for i, ch := range chunks {
		if ans, err = sendBody(rs, ch, i == len(chunks)-1, true); err != nil {
			return res, err
		}
		if cr, err = commonOf(ans); err != nil {
			return res, err
		}
		rh = ApplyHeaderMutation(rh, cr.GetHeaderMutation())
		if m := cr.GetBodyMutation(); m != nil {
			res.ClientBody = append(res.ClientBody, m.GetBody()...)
		} else {
			res.ClientBody = append(res.ClientBody, ch...)
		}
	}
	res.Chunks = time.Since(t0)
	res.ClientHeaders = rh
	if s := statusOf(rh); s != http.StatusOK {
		return res, fmt.Errorf("client response status %d", s)
	}
	return res, finish(rs)
}
