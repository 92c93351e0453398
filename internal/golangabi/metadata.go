package golangabi

import (
	"encoding/binary"
	"math"
)

// appendStringValue appends the protobuf encoding of
// google.protobuf.Value{string_value: s}, the form in which Envoy's
// envoyGoFilterHttpSetDynamicMetadata takes a value (cgo.cc parses it with
// ProtobufWkt::Value::ParseFromString). Writing the three parts by hand
// saves the Go SDK's structpb + proto.Marshal (reflection and allocations)
// on every request; TestStringValueEncoding checks it against proto.Marshal.
func appendStringValue(b []byte, s string) []byte {
	const stringValueTag = 3<<3 | 2 // field 3 (string_value), wire type 2 (length-delimited)
	b = append(b, stringValueTag)
	n := uint64(len(s))
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	b = append(b, byte(n))
	return append(b, s...)
}

// appendNumberValue appends google.protobuf.Value{number_value: v}: field 2,
// wire type 1 (fixed64, little-endian IEEE 754).
func appendNumberValue(b []byte, v float64) []byte {
	const numberValueTag = 2<<3 | 1
	return binary.LittleEndian.AppendUint64(append(b, numberValueTag), math.Float64bits(v))
}
