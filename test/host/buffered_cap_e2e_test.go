package host_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const (
	capMaxBody     = 256 << 10
	capMaxBuffered = 1 << 20
	capBodySize    = 200 << 10 // five fit under the cap (1000 KiB), a sixth does not
)

func capEnv(t *testing.T, workers int) *env {
	return newEnv(t, envOptions{workers: workers, editConfig: func(doc []byte) []byte {
		return bytes.Replace(doc, []byte("{"), []byte(fmt.Sprintf(`{"max_request_body_bytes":%d,"max_buffered_bytes":%d,`, capMaxBody, capMaxBuffered)), 1)
	}})
}

// embeddingsBody is a valid embeddings request of exactly n bytes.
func embeddingsBody(n int) []byte {
	const head, tail = `{"model":"text-embedding-3-small","input":"`, `"}`
	return []byte(head + strings.Repeat("a", n-len(head)-len(tail)) + tail)
}

// heldRequest is a request whose headers and half its body were sent: the host (like
// Envoy) buffers it for the router phase, which has reserved its content-length.
type heldRequest struct {
	id   string
	conn net.Conn
	body []byte
}

func holdRequest(t *testing.T, e *env) *heldRequest {
	t.Helper()
	r := &heldRequest{id: newRequestID(t), body: embeddingsBody(capBodySize)}
	c, err := net.Dial("tcp", strings.TrimPrefix(e.h.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r.conn = c
	head := "POST /v1/embeddings HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n" +
		"Authorization: Bearer sk-client-key-must-not-reach-upstream\r\n" +
		"X-Request-Id: " + r.id + "\r\nContent-Length: " + strconv.Itoa(len(r.body)) + "\r\n\r\n"
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(r.body[:len(r.body)/2]); err != nil {
		t.Fatal(err)
	}
	return r
}

// finish sends the rest of the body and returns the response status.
func (r *heldRequest) finish(t *testing.T) int {
	t.Helper()
	if _, err := r.conn.Write(r.body[len(r.body)/2:]); err != nil {
		t.Fatal(err)
	}
	r.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(r.conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitStat waits until a router-phase counter reaches n; they are added to the host's
// stats every 500 ms. It fails if the counter overshoots.
func waitStat(t *testing.T, e *env, name string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats, err := e.h.Stats()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := strconv.ParseInt(stats["golang."+name], 10, 64)
		if got > n {
			t.Fatalf("%s is %d, want %d", name, got, n)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %d, want %d", name, got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sendHeadersOnly sends the headers of a capBodySize embeddings request, with its
// content-length or chunked, and reads the answer: over the cap it comes before any of the
// body was sent, so nothing of it is buffered.
func sendHeadersOnly(t *testing.T, e *env, chunked bool) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.h.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	length := "Content-Length: " + strconv.Itoa(capBodySize)
	if chunked {
		length = "Transfer-Encoding: chunked"
	}
	if _, err := io.WriteString(c, "POST /v1/embeddings HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"+
		"X-Request-Id: "+newRequestID(t)+"\r\n"+length+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// sendBody posts a small embeddings body.
func sendBody(t *testing.T, e *env, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, e.h.URL()+"/v1/embeddings", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("x-request-id", newRequestID(t))
	resp, err := oneShot.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// Through the built .so, on one worker so the order of events is the test's: five
// 200 KiB bodies held mid-upload fill all but 24 KiB of the 1 MiB cap. A sixth, with a
// content-length or chunked, gets 503 OpenAI JSON with Retry-After and never reaches a
// provider; a small body that fits is admitted; the five complete normally. Streams the
// client resets release their bytes: after five aborted uploads the same five fit again.
func TestBufferedBytesCapE2E(t *testing.T) {
	e := capEnv(t, 1)
	inspected := int64(0)
	fill := func() []*heldRequest {
		var held []*heldRequest
		for i := 0; i < 5; i++ {
			held = append(held, holdRequest(t, e))
		}
		inspected += 5
		// The router phase has seen (and reserved) all five.
		waitStat(t, e, "aigw_requests_total", inspected)
		return held
	}
	check := func(round string) {
		for _, chunked := range []bool{false, true} {
			before := e.mockRequests()
			resp, body := sendHeadersOnly(t, e, chunked)
			inspected++
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
				t.Fatalf("%s: over the cap (chunked=%v): %d Retry-After=%q %s", round, chunked, resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			var doc struct {
				Error struct {
					Message, Type, Code string
					Param               *string
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &doc); err != nil || doc.Error.Code != "gateway_overloaded" || doc.Error.Type != "server_error" {
				t.Fatalf("%s: not the OpenAI overload error: %s", round, body)
			}
			if ct := resp.Header.Get("content-type"); ct != "application/json" {
				t.Fatalf("%s: content-type %q", round, ct)
			}
			if n := e.mockRequests() - before; n != 0 {
				t.Fatalf("%s: a refused request reached a provider %d times", round, n)
			}
		}
		// 24 KiB are free: a small request is not lost.
		resp, body := sendBody(t, e, []byte(`{"model":"text-embedding-3-small","input":"fits"}`))
		inspected++
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: a request below the cap was refused: %d %s", round, resp.StatusCode, body)
		}
	}

	held := fill()
	check("first round")
	for _, r := range held {
		if st := r.finish(t); st != http.StatusOK {
			t.Fatalf("held request %s: status %d", r.id, st)
		}
	}

	// Reset streams: the client goes away mid-upload.
	for _, r := range fill() {
		r.conn.Close()
		e.access(r.id) // the stream ended (and was destroyed, on this one worker)
	}
	held = fill()
	check("after aborted uploads")
	for _, r := range held {
		if st := r.finish(t); st != http.StatusOK {
			t.Fatalf("held request %s: status %d", r.id, st)
		}
	}
	waitStat(t, e, "aigw_overloaded_total", 4)
}

// Many large bodies at once on two workers, sent by the OpenAI SDK, which honours
// Retry-After: whatever the gateway sheds under the cap is retried, none is lost, and
// each reaches the provider exactly once.
func TestBufferedBytesCapBurstE2E(t *testing.T) {
	const clients = 24
	e := capEnv(t, 2)
	c := e.client(option.WithMaxRetries(20))
	input := strings.Repeat("a", capBodySize-100)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Embeddings.New(ctxT(t), openai.EmbeddingNewParams{
				Model: "text-embedding-3-small",
				Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String(input)},
			})
			if err == nil && len(res.Data) == 0 {
				err = fmt.Errorf("no embedding")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.mocks["deploy-a"].count.Load(); n != clients {
		t.Fatalf("provider got %d requests, want %d", n, clients)
	}
	stats, err := e.h.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shed and retried: %s of %d", stats["golang.aigw_overloaded_total"], clients)
}
