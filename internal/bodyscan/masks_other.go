//go:build !amd64

package bodyscan

// blockMasks sets dst[k] to the backslash mask (bit j: byte j) of the k-th
// 64-byte block of src, for the first n blocks, and returns nonzero when one
// of their bytes is below 0x20.
func blockMasks(dst *[chunkLen / blockLen]uint64, src []byte, n int) uint64 {
	return blockMasksGo(dst, src, n)
}
