package upstream

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
)

func TestMayRetryBoundary(t *testing.T) {
	for status := 100; status < 600; status++ {
		want := status >= 500 || status == 408 || status == 409 || status == 429
		if got := mayRetry(status); got != want {
			t.Errorf("mayRetry(%d) = %v, want %v", status, got, want)
		}
	}
}

// A provider error whose status the router may retry never has its headers
// held: they go on at once without content-length, only the body is held and
// translated. Other errors keep held headers and an exact content-length.
func TestRetryableErrorHeadersAreNotHeld(t *testing.T) {
	const anthropicError = `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`
	for _, status := range []int{400, 401, 404, 407, 408, 409, 410, 428, 429, 430, 499, 500, 502, 503, 504, 529} {
		for _, backend := range []string{"claude", "oai"} {
			t.Run(backend+"/"+strconv.Itoa(status), func(t *testing.T) {
				retryable := mayRetry(status)
				a := clientRequest(backend, "/v1/chat/completions", chatBody)
				f := NewFilter(pipelineConfig(t), a)
				sendRequest(t, f)
				hs, st, out := respond(f, a, fakeHeaders{":status": strconv.Itoa(status), "content-type": "application/json",
					"content-length": strconv.Itoa(len(anthropicError))}, []string{anthropicError[:10], anthropicError[10:]}, true)
				wantHS := Hold
				if retryable {
					wantHS = Continue
				}
				if hs != wantHS || st[0] != Hold || st[1] != Continue {
					t.Fatalf("statuses %v %v, want headers %v, body held then continued", hs, st, wantHS)
				}
				if a.respH[":status"] != strconv.Itoa(status) {
					t.Errorf(":status %s", a.respH[":status"])
				}
				var e openAIError
				if err := json.Unmarshal([]byte(out), &e); err != nil || e.Error.Message == "" {
					t.Fatalf("body %s is not an OpenAI error (%v)", out, err)
				}
				// Headers that went on before the body changed carry no
				// content-length (or the unchanged body's own); held ones
				// carry the translated body's.
				cl, hasCL := a.respH["content-length"]
				if retryable && hasCL && cl != strconv.Itoa(len(out)) {
					t.Errorf("content-length %q on headers sent before the body became %d bytes", cl, len(out))
				}
				if !retryable && cl != strconv.Itoa(len(out)) {
					t.Errorf("content-length %q (present %v) for %d bytes", cl, hasCL, len(out))
				}
				if len(a.responses) != 0 {
					t.Errorf("local responses %v", a.responses)
				}
			})
		}
	}
}

// A body that cannot be translated: with held headers (a status the router
// never retries) the request ends with a 502 through SendResponse and the
// held headers are never released; with headers already gone (a retryable
// status) the body becomes the gateway's OpenAI error under the provider's
// status.
func TestUntranslatableBody(t *testing.T) {
	corrupt := []string{"\x1f\x8b\x08\x00garbage", "more"}
	t.Run("held 200", func(t *testing.T) {
		a := clientRequest("claude", "/v1/chat/completions", chatBody)
		f := NewFilter(pipelineConfig(t), a)
		sendRequest(t, f)
		hs, st, _ := respond(f, a, fakeHeaders{":status": "200", "content-type": "application/json", "content-encoding": "gzip"}, corrupt, true)
		if hs != Hold || st[0] != Hold || st[1] != Answered {
			t.Fatalf("statuses %v %v", hs, st)
		}
		if a.respH[":status"] != "200" {
			t.Errorf("held headers rewritten to %s: they must never be released", a.respH[":status"])
		}
		if len(a.responses) != 1 || a.responses[0].status != http.StatusBadGateway {
			t.Fatalf("responses %v, want one 502", a.responses)
		}
		var e openAIError
		if err := json.Unmarshal([]byte(a.responses[0].body), &e); err != nil || e.Error.Type != "server_error" {
			t.Errorf("body %s (%v)", a.responses[0].body, err)
		}
		// Later hooks stop.
		if f.OnResponseTrailers() != Answered {
			t.Errorf("trailers after the request ended")
		}
	})
	t.Run("retryable 503", func(t *testing.T) {
		a := clientRequest("claude", "/v1/chat/completions", chatBody)
		f := NewFilter(pipelineConfig(t), a)
		sendRequest(t, f)
		hs, st, out := respond(f, a, fakeHeaders{":status": "503", "content-type": "application/json", "content-encoding": "gzip"}, corrupt, true)
		if hs != Continue || st[1] != Continue {
			t.Fatalf("statuses %v %v", hs, st)
		}
		var e openAIError
		if err := json.Unmarshal([]byte(out), &e); err != nil || e.Error.Type != "server_error" || a.respH[":status"] != "503" {
			t.Errorf("status %s body %s (%v)", a.respH[":status"], out, err)
		}
		if _, ok := a.respH["content-length"]; ok {
			t.Errorf("content-length on headers sent before the body changed")
		}
		if len(a.responses) != 0 {
			t.Errorf("local responses %v", a.responses)
		}
	})
}
