package golangabi

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestStringValueEncoding(t *testing.T) {
	for _, s := range []string{"", "gpt-4o-mini", "é\u2028\x00", strings.Repeat("m", 127), strings.Repeat("m", 128),
		strings.Repeat("m", 300), strings.Repeat("m", 16384), strings.Repeat("m", 70000)} {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(structpb.NewStringValue(s))
		if err != nil {
			t.Fatal(err)
		}
		got := appendStringValue([]byte("prefix"), s)
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("len %d: got % x, want % x", len(s), got[:min(len(got), 16)], want[:min(len(want), 16)])
		}
		var v structpb.Value
		if err := proto.Unmarshal(got[len("prefix"):], &v); err != nil || v.GetStringValue() != s {
			t.Fatalf("len %d: does not decode back: %v", len(s), err)
		}
	}
}

func BenchmarkStringValueEncoding(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendStringValue(buf[:0], "openai-primary")
	}
}

func TestNumberValueEncoding(t *testing.T) {
	for _, v := range []float64{0, 1, 600, 1 << 53, 1e9, 0.5} {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(structpb.NewNumberValue(v))
		if err != nil {
			t.Fatal(err)
		}
		got := appendNumberValue([]byte("p"), v)
		if !bytes.Equal(got[1:], want) {
			t.Fatalf("%v: got % x, want % x", v, got[1:], want)
		}
	}
}
