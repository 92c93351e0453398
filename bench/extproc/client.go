package extproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
)

// Header is one request header as Envoy's ext_proc filter sends it: lower-case
// key, value in raw_value.
type Header struct{ Key, Value string }

// RequestHeaders returns the headers a chat-completion request typically
// carries by the time it reaches a filter before the router: pseudo-headers,
// the client's own headers and the ones Envoy's connection manager adds.
func RequestHeaders(bodyLen int) []Header {
	return []Header{
		{":authority", "gateway.example.com"},
		{":path", "/v1/chat/completions"},
		{":method", "POST"},
		{":scheme", "https"},
		{"content-type", "application/json"},
		{"content-length", strconv.Itoa(bodyLen)},
		{"authorization", "Bearer sk-client-token-0000000000000000"},
		{"user-agent", "OpenAI/Python 1.54.0"},
		{"accept", "application/json"},
		{"x-forwarded-proto", "https"},
		{"x-request-id", "6f1c2b7e-3a4d-4f5e-8a9b-0c1d2e3f4a5b"},
	}
}

// processingMode is what the ext_proc filter config of the baseline sets:
// request headers sent (the default), request body BUFFERED, the whole
// response side skipped. Envoy reports it in the first message of every
// stream (ext_proc.cc encodeProtocolConfig).
var protocolConfig = &extprocv3.ProtocolConfiguration{
	RequestBodyMode:  filterv3.ProcessingMode_BUFFERED,
	ResponseBodyMode: filterv3.ProcessingMode_NONE,
}

// Client stands in for Envoy's ext_proc filter on one worker thread: one gRPC
// connection (Envoy keeps one per worker per cluster), one bidi stream per
// HTTP request.
type Client struct {
	api extprocv3.ExternalProcessorClient
}

// NewClient uses an established connection; see Dial.
func NewClient(cc grpc.ClientConnInterface) *Client {
	return &Client{api: extprocv3.NewExternalProcessorClient(cc)}
}

// Result is what one request's processing returned.
type Result struct {
	// Headers is the answer to the request_headers message.
	Headers *extprocv3.ProcessingResponse
	// Body is the answer to the request_body message; nil when the headers
	// phase already ended processing with an immediate response.
	Body *extprocv3.ProcessingResponse
	// Decided is when the answer that lets Envoy continue the request
	// arrived: the end of the latency ext_proc adds to the request.
	Decided time.Time
}

// Do runs one HTTP request's ext_proc exchange the way Envoy does in
// BUFFERED mode (send_body_without_waiting_for_header_response false): open
// a stream, send the headers and wait for their answer, send the whole body
// with end_of_stream and wait for its answer, then half-close and wait for
// the server to end the stream (Envoy closes its side once processing is
// complete; the server's status ends the stream for both).
func (c *Client) Do(ctx context.Context, headers []Header, body []byte) (Result, error) {
	var res Result
	stream, err := c.api.Process(ctx)
	if err != nil {
		return res, err
	}

	hv := make([]*corev3.HeaderValue, len(headers))
	vals := make([]corev3.HeaderValue, len(headers))
	for i, h := range headers {
		vals[i] = corev3.HeaderValue{Key: h.Key, RawValue: []byte(h.Value)}
		hv[i] = &vals[i]
	}
	err = stream.Send(&extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
			Headers:     &corev3.HeaderMap{Headers: hv},
			EndOfStream: len(body) == 0,
		}},
		ProtocolConfig: protocolConfig,
	})
	if err != nil {
		return res, fmt.Errorf("send headers: %w", err)
	}
	if res.Headers, err = stream.Recv(); err != nil {
		return res, fmt.Errorf("receive headers response: %w", err)
	}
	mo := res.Headers.GetModeOverride()
	if res.Headers.GetImmediateResponse() != nil || len(body) == 0 ||
		mo != nil && mo.GetRequestBodyMode() == filterv3.ProcessingMode_NONE {
		// Answered already, nothing more to send, or the server asked
		// Envoy not to send this request's body (mode_override).
		res.Decided = time.Now()
		return res, finish(stream)
	}
	if res.Headers.GetRequestHeaders() == nil {
		return res, fmt.Errorf("headers answered with %T", res.Headers.Response)
	}

	err = stream.Send(&extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{
			Body:        body,
			EndOfStream: true,
		}},
	})
	if err != nil {
		return res, fmt.Errorf("send body: %w", err)
	}
	if res.Body, err = stream.Recv(); err != nil {
		return res, fmt.Errorf("receive body response: %w", err)
	}
	res.Decided = time.Now()
	if res.Body.GetRequestBody() == nil && res.Body.GetImmediateResponse() == nil {
		return res, fmt.Errorf("body answered with %T", res.Body.Response)
	}
	return res, finish(stream)
}

// finish half-closes the stream and reads the server's final status, which
// releases the stream on both ends.
func finish(stream extprocv3.ExternalProcessor_ProcessClient) error {
	if err := stream.CloseSend(); err != nil {
		return fmt.Errorf("close send: %w", err)
	}
	if m, err := stream.Recv(); !errors.Is(err, io.EOF) {
		if err == nil {
			return fmt.Errorf("unexpected message after processing: %T", m.Response)
		}
		return fmt.Errorf("end of stream: %w", err)
	}
	return nil
}
