package translate

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/ from the current output")

// fixedNow pins the "created" timestamp for golden comparisons.
const fixedNow = 1700000000

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(fixedNow, 0) }
	newResponseID = func() string { return "chatcmpl-test" }
	os.Exit(m.Run())
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden %s (run with -update to create): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch\n--- got ---\n%s\n--- want ---\n%s", filepath.Base(path), got, want)
	}
}

// indentJSON pretty-prints JSON for reviewable goldens, failing on invalid JSON.
func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// inputs lists testdata files of one kind, without the golden outputs.
func inputs(t *testing.T, dir, ext string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if !strings.Contains(filepath.Base(f), ".golden") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s inputs in testdata/%s", ext, dir)
	}
	return out
}

func goldenPath(in string) string {
	ext := filepath.Ext(in)
	return strings.TrimSuffix(in, ext) + ".golden" + ext
}

// checkSSEOutput asserts every event in an OpenAI-style SSE output is a
// single "data: " line holding valid JSON or [DONE], and returns the
// payloads.
func checkSSEOutput(t testing.TB, out []byte) [][]byte {
	t.Helper()
	var payloads [][]byte
	for _, ev := range bytes.Split(out, []byte("\n\n")) {
		if len(ev) == 0 {
			continue
		}
		data, ok := bytes.CutPrefix(ev, []byte("data: "))
		if !ok || bytes.IndexByte(data, '\n') >= 0 {
			t.Fatalf("malformed SSE event %q", ev)
		}
		if string(data) != "[DONE]" && !json.Valid(data) {
			t.Fatalf("SSE data is not valid JSON: %q", data)
		}
		payloads = append(payloads, data)
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n")) {
		t.Fatalf("SSE output does not end with a blank line: %q", out)
	}
	return payloads
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// isBadResponse reports whether err is badResponse's KindProvider 502: a
// provider response the gateway cannot translate.
func isBadResponse(err error) bool {
	e, ok := AsError(err, KindProvider)
	return ok && e.Status == http.StatusBadGateway && e.Code == CodeBadResponse && e.Reason != ""
}

// responsePieces feeds a response body in pieces, the last one ending it,
// and returns the outputs joined, the last usage and the first error.
func responsePieces(tr Translator, pieces [][]byte) ([]byte, Usage, error) {
	var all []byte
	var u Usage
	for i, p := range pieces {
		out, usage, err := tr.ResponseBody(p, i == len(pieces)-1)
		all, u = append(all, out...), usage
		if err != nil {
			return all, u, err
		}
	}
	return all, u, nil
}

// checkEverySplit feeds stream through feed whole, cut in two at every
// offset, and one byte at a time: the output and the usage must not change.
func checkEverySplit(t *testing.T, stream []byte, feed func(pieces ...[]byte) ([]byte, Usage)) {
	t.Helper()
	want, wantUsage := feed(stream)
	for i := 0; i <= len(stream); i++ {
		if got, u := feed(stream[:i], stream[i:]); !bytes.Equal(got, want) || u != wantUsage {
			t.Fatalf("split at %d differs:\n%s\nwant:\n%s", i, got, want)
		}
	}
	pieces := make([][]byte, 0, len(stream)+1)
	for i := range stream {
		pieces = append(pieces, stream[i:i+1])
	}
	if got, u := feed(append(pieces, nil)...); !bytes.Equal(got, want) || u != wantUsage {
		t.Fatalf("byte-by-byte feed differs:\n%s\nwant:\n%s", got, want)
	}
}
