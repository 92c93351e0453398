// Package extproc is the baseline aigw is measured against: the router-phase
// work of aigw's Go filter (filter/router.go) done by an Envoy external
// processor (ext_proc v3, gRPC) instead of inside Envoy. Server does the work;
// Client drives it the way Envoy's ext_proc filter does in BUFFERED
// request-body mode.
package extproc

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aigw/aigw/config"
	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/oaierr"
	"github.com/aigw/aigw/internal/route"
	"github.com/aigw/aigw/internal/upstream"
)

// Server is an ext_proc server doing what the in-process filter does on an
// inference request, with the same packages: bodyscan reads the top-level
// model and backend, route.Decide picks exactly one routing header (backend
// wins) and the other is removed, the backend member is cut from the body
// (in place: the body gRPC unmarshalled is already a private copy), the new
// content-length goes with it, the route cache is cleared and the model and
// backend are emitted as dynamic metadata. Errors are the same oaierr JSON
// answered as an immediate response.
//
// It logs nothing and keeps per-request state on the stream's goroutine only:
// the baseline should be as fast as an ext_proc server can honestly be, so
// the comparison measures the transport and not a slow server.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	cfg *config.Config
	// up, when set (NewPathServer), serves the upstream phase too: the
	// upstream-level streams and the router-level stream's response side
	// (path.go).
	up    *upstream.Config
	paths pathStore
}

// NewServer serves with cfg, the same config the in-process filter loads.
func NewServer(cfg *config.Config) *Server {
	return &Server{cfg: cfg}
}

// Shared read-only answers: gRPC only reads a message while marshalling it,
// so one value can serve every stream.
var (
	// inspectResponse answers the headers of an inference request. Nothing
	// can be decided before the body is seen: an empty CONTINUE, and Envoy
	// sends the buffered body next.
	inspectResponse = &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_RequestHeaders{
			RequestHeaders: &extprocv3.HeadersResponse{},
		},
	}
	// passResponse answers the headers of any other request and tells Envoy
	// not to buffer and send its body (needs allow_mode_override in the
	// filter config), as the in-process filter lets those pass unbuffered.
	passResponse = &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_RequestHeaders{
			RequestHeaders: &extprocv3.HeadersResponse{},
		},
		ModeOverride: &filterv3.ProcessingMode{
			RequestBodyMode:    filterv3.ProcessingMode_NONE,
			ResponseHeaderMode: filterv3.ProcessingMode_SKIP,
			ResponseBodyMode:   filterv3.ProcessingMode_NONE,
		},
	}
	// continueBody answers a body the server does not inspect.
	continueBody = &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_RequestBody{
			RequestBody: &extprocv3.BodyResponse{},
		},
	}
)

// request is what one stream remembers from the headers message for the
// body message.
type request struct {
	inspect          bool
	headerBackend    string
	hasHeaderBackend bool
	id               string // x-request-id, the key of the whole path's shared state
}

// Process serves one HTTP request: Envoy opens one stream per request.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	var st request
	defer func() {
		if st.id != "" {
			// The request's state ends with its router-level stream.
			s.paths.del(st.id)
		}
	}()
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var resp *extprocv3.ProcessingResponse
		switch r := req.Request.(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			if ep, ok := req.GetAttributes()[AttributesNamespace].GetFields()[UpstreamAttribute]; ok && s.up != nil {
				resp = s.upstreamHeaders(r.RequestHeaders, ep)
				break
			}
			resp = s.headers(&st, r.RequestHeaders)
			if s.up != nil {
				st.id = requestID(r.RequestHeaders.GetHeaders())
			}
		case *extprocv3.ProcessingRequest_RequestBody:
			if st.inspect {
				resp = s.body(&st, r.RequestBody)
				if s.up != nil && resp.GetRequestBody() != nil {
					routed := r.RequestBody.GetBody()
					if m := resp.GetRequestBody().GetResponse().GetBodyMutation(); m != nil {
						routed = m.GetBody()
					}
					s.paths.put(st.id, &pathState{body: routed})
				}
			} else {
				resp = continueBody
			}
		case *extprocv3.ProcessingRequest_ResponseHeaders:
			if s.up == nil {
				resp = immediate(oaierr.Internal("the gateway failed to process this request"))
				break
			}
			resp = s.responseHeaders(st.id, r.ResponseHeaders)
		case *extprocv3.ProcessingRequest_ResponseBody:
			if s.up == nil {
				resp = immediate(oaierr.Internal("the gateway failed to process this request"))
				break
			}
			resp = s.responseBody(st.id, r.ResponseBody)
		default:
			// The processing mode skips every other phase; an answer
			// keeps a misconfigured Envoy from waiting for the timeout.
			resp = immediate(oaierr.Internal("the gateway failed to process this request"))
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// headers is the in-process filter's DecodeHeaders.
func (s *Server) headers(st *request, h *extprocv3.HttpHeaders) *extprocv3.ProcessingResponse {
	var path, method, contentLength string
	for _, hv := range h.GetHeaders().GetHeaders() {
		switch hv.Key {
		case ":path":
			path = string(hv.RawValue)
		case ":method":
			method = string(hv.RawValue)
		case "content-length":
			contentLength = string(hv.RawValue)
		case s.cfg.BackendHeader:
			st.headerBackend, st.hasHeaderBackend = string(hv.RawValue), true
		}
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if method != http.MethodPost || !s.cfg.IsInferencePath(path) {
		return passResponse
	}
	if h.EndOfStream {
		return immediate(oaierr.InvalidRequest("", "request body is empty"))
	}
	if contentLength != "" {
		if n, err := strconv.ParseInt(contentLength, 10, 64); err == nil && n > int64(s.cfg.MaxRequestBodyBytes) {
			return immediate(tooLarge(s.cfg.MaxRequestBodyBytes))
		}
	}
	st.inspect = true
	return inspectResponse
}

// body is the in-process filter's DecodeData, on the whole buffered body.
func (s *Server) body(st *request, b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	cfg := s.cfg
	body := b.GetBody()
	if len(body) > int(cfg.MaxRequestBodyBytes) {
		return immediate(tooLarge(cfg.MaxRequestBodyBytes))
	}
	scan, err := bodyscan.Scan(body, cfg.BackendField)
	if err != nil {
		return immediate(route.ScanError(err))
	}
	d, e := route.Decide(cfg, route.Input{HeaderBackend: st.headerBackend, HasHeaderBackend: st.hasHeaderBackend, Body: scan})
	if e != nil {
		return immediate(e)
	}

	mut := &extprocv3.HeaderMutation{}
	if d.Backend != "" {
		mut.SetHeaders = append(mut.SetHeaders, header(cfg.BackendHeader, d.Backend))
		mut.RemoveHeaders = []string{cfg.ModelHeader}
	} else {
		mut.SetHeaders = append(mut.SetHeaders, header(cfg.ModelHeader, d.Model))
		mut.RemoveHeaders = []string{cfg.BackendHeader}
	}
	common := &extprocv3.CommonResponse{
		HeaderMutation:  mut,
		ClearRouteCache: true,
	}
	if d.RemoveBackendMember {
		body = bodyscan.RemoveMember(body, scan.Backend)
		common.BodyMutation = &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: body}}
		// In BUFFERED mode with request headers sent, Envoy keeps
		// content-length and rejects a body mutation whose length differs
		// from it (processor_state.cc validateContentLength), checked after
		// the same response's header mutation is applied.
		mut.SetHeaders = append(mut.SetHeaders, header("content-length", strconv.Itoa(len(body))))
	}
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_RequestBody{
			RequestBody: &extprocv3.BodyResponse{Response: common},
		},
		DynamicMetadata: metadata(d),
	}
}

// metadata is the dynamic metadata the in-process filter sets: the struct's
// top-level keys are namespaces (external_processor.proto dynamic_metadata).
func metadata(d route.Decision) *structpb.Struct {
	fields := make(map[string]*structpb.Value, 2)
	if d.Model != "" {
		fields["model"] = structpb.NewStringValue(d.Model)
	}
	if d.Backend != "" {
		fields["backend"] = structpb.NewStringValue(d.Backend)
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		config.DynamicMetadataNamespace: structpb.NewStructValue(&structpb.Struct{Fields: fields}),
	}}
}

// header is a set-header mutation. Envoy 1.36 reads only raw_value
// (mutation_utils.cc applyHeaderMutations); append unset means overwrite.
func header(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, RawValue: []byte(value)}}
}

// immediate answers the client with an OpenAI error on Envoy's side; the
// request never reaches a backend.
func immediate(e *oaierr.Error) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ImmediateResponse{
			ImmediateResponse: &extprocv3.ImmediateResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode(e.Status)},
				Headers: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
					header("content-type", "application/json"),
				}},
				Body:    e.JSON(),
				Details: "aigw_" + strings.ReplaceAll(strings.ToLower(http.StatusText(e.Status)), " ", "_"),
			},
		},
	}
}

func tooLarge(limit config.ByteSize) *oaierr.Error {
	return oaierr.New(http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large",
		"request body exceeds the gateway limit of %d bytes", int64(limit))
}
