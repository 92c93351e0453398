package bodyscan

import "golang.org/x/sys/cpu"

// useAVX512 selects stage1AVX512, classification and stage 1 fused: one
// 64-byte register per block, a mask register per class (VPCMPEQB and
// VPTESTMB straight into K registers), the escape and string logic in
// general registers with the prefix XOR by one carry-less multiply, so
// nothing but a block's tokens goes back to memory. Without AVX-512,
// classifyAVX2 (or classifyGo) and stage1Go.
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasPCLMULQDQ && cpu.X86.HasBMI1

// useAVX2 selects classifyAVX2 for stage1Go where there is no AVX-512.
var useAVX2 = cpu.X86.HasAVX2

// stage1 classifies the first n blocks of src and runs stage 1 over them
// (stage1Go's contract); cls is scratch for the portable path.
func stage1(st *stage1State, out *[chunkBlocks]blockOut, cls *[chunkBlocks]blockClass, src []byte, n int) (done int, bad uint64) {
	if n <= 0 {
		return 0, 0
	}
	_ = src[n*blockLen-1] // the assembly reads n whole blocks
	_ = out[n-1]
	if useAVX512 {
		return stage1AVX512(st, out, &src[0], n)
	}
	if useAVX2 {
		st.high |= classifyAVX2(cls, &src[0], n)
	} else {
		st.high |= classifyGo(cls, src, n)
	}
	return stage1Go(st, out, cls, n)
}

//go:noescape
func stage1AVX512(st *stage1State, out *[chunkBlocks]blockOut, src *byte, n int) (done int, bad uint64)

//go:noescape
func classifyAVX2(dst *[chunkBlocks]blockClass, src *byte, n int) uint64
