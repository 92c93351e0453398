package bodyscan

import "golang.org/x/sys/cpu"

// classifiers are the SIMD classifications of this arch that the machine
// runs, to check against classifyGo.
func classifiers() map[string]func(*[chunkBlocks]blockClass, []byte, int) uint64 {
	m := map[string]func(*[chunkBlocks]blockClass, []byte, int) uint64{}
	if cpu.X86.HasAVX2 {
		m["avx2"] = func(dst *[chunkBlocks]blockClass, src []byte, n int) uint64 {
			_ = src[n*blockLen-1]
			return classifyAVX2(dst, &src[0], n)
		}
	}
	return m
}
