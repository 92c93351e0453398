package mockprovider

import (
	"net/http"
	"strconv"
	"strings"
)

// credentialHeaders are redacted from everything the control API returns: the control API
// is for humans poking at a demo, and keys must never leave the process that holds them.
var credentialHeaders = []string{"Authorization", "Api-Key", "X-Api-Key", "Proxy-Authorization"}

// Redacted returns a copy of r whose credential header values are replaced by "[redacted]".
func (r Request) Redacted() Request {
	r = cloneRequest(r)
	for _, h := range credentialHeaders {
		if vs := r.Header.Values(h); len(vs) > 0 {
			red := make([]string, len(vs))
			for i := range red {
				red[i] = "[redacted]"
			}
			r.Header[http.CanonicalHeaderKey(h)] = red
		}
	}
	return r
}

// ControlHandler serves a small control API meant for a separate listener (so it is never
// reachable through the gateway's clusters):
//
//	POST /fail?status=503   make every request fail with 503 (status=0 restores)
//	POST /reset             forget recorded requests
//	GET  /requests          recorded requests as JSON, credentials redacted
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /fail", failHandler(s.opts.Name, s.SetFailStatus))
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		writeJSON(w, http.StatusOK, map[string]any{"name": s.opts.Name})
	})
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, _ *http.Request) {
		reqs := s.Requests()
		out := make([]any, len(reqs))
		for i, r := range reqs {
			r = r.Redacted()
			out[i] = map[string]any{
				"method": r.Method, "path": r.Path, "query": r.RawQuery, "host": r.Host,
				"header": r.Header, "body": string(r.Body),
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": s.opts.Name, "requests": out})
	})
	return mux
}

// failHandler is the control API's POST /fail?status=N for a mock named name.
func failHandler(name string, set func(int)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := strconv.Atoi(r.URL.Query().Get("status"))
		if err != nil || st < 0 || (st != 0 && (st < 100 || st > 599)) {
			http.Error(w, "status must be 0 or an HTTP status code", http.StatusBadRequest)
			return
		}
		set(st)
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "fail_status": st})
	})
}

// ParseSchema validates a schema name (as used by the command-line flag).
func ParseSchema(s string) (Schema, bool) {
	switch Schema(strings.TrimSpace(s)) {
	case "", SchemaOpenAI:
		return SchemaOpenAI, true
	case SchemaAzure:
		return SchemaAzure, true
	case SchemaAnthropic:
		return SchemaAnthropic, true
	case SchemaVertexGemini:
		return SchemaVertexGemini, true
	case SchemaVertexAnthropic:
		return SchemaVertexAnthropic, true
	}
	return "", false
}
