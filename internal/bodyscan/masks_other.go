//go:build !amd64

package bodyscan

// classify sets dst[k] to the masks of the k-th block of src, for the first
// n blocks, and returns nonzero when one of their bytes is 0x80 or above.
func classify(dst *[chunkBlocks]blockClass, src []byte, n int) uint64 {
	return classifyGo(dst, src, n)
}
