package bodyscan

// blockMasks sets dst[k] to the backslash mask (bit j: byte j) of the k-th
// 64-byte block of src, for the first n blocks, and returns nonzero when one
// of their bytes is below 0x20. On amd64 it is SSE2 (part of the baseline,
// GOAMD64=v1): one compare and one PMOVMSKB per 16 bytes give the exact mask
// that costs about a dozen instructions per 8 bytes in plain Go, which was
// most of the escape scan.
func blockMasks(dst *[chunkLen / blockLen]uint64, src []byte, n int) uint64 {
	if n <= 0 {
		return 0
	}
	_ = src[n*blockLen-1] // the assembly reads n whole blocks
	_ = dst[n-1]
	return blockMasksSSE2(dst, &src[0], n)
}

//go:noescape
func blockMasksSSE2(dst *[chunkLen / blockLen]uint64, src *byte, n int) uint64
