package bodyscan

import "golang.org/x/sys/cpu"

// useAVX512 selects classifyAVX512: one 64-byte register per block and a
// mask register per class (VPTESTMB/VPCMPEQB straight into K registers),
// about 40 instructions a block. Without it (or on other arches), the
// plain Go classifyGo.
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

// classify sets dst[k] to the masks of the k-th block of src, for the first
// n blocks, and returns nonzero when one of their bytes is 0x80 or above.
func classify(dst *[chunkBlocks]blockClass, src []byte, n int) uint64 {
	if n <= 0 {
		return 0
	}
	_ = src[n*blockLen-1] // the assembly reads n whole blocks
	_ = dst[n-1]
	if useAVX512 {
		return classifyAVX512(dst, &src[0], n)
	}
	return classifyGo(dst, src, n)
}

//go:noescape
func classifyAVX512(dst *[chunkBlocks]blockClass, src *byte, n int) uint64
