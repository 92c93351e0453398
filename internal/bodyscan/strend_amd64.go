package bodyscan

import "golang.org/x/sys/cpu"

// useStringKernel selects stringEndBlocks for trustedStringEnd: AVX-512BW
// (a block per register, masks straight into K registers) or AVX2 (two
// halves, VPMOVMSKB), both with BMI1 (ANDN, TZCNT). (A variable: tests
// turn it off to check the portable path here.)
var useStringKernel = (useAVX512 || useAVX2) && cpu.X86.HasBMI1

// kernelQuotes is how many escaped quotes trustedStringEnd steps over with
// IndexByte before the kernel takes the rest of the string, where there is
// one: a string with none (most) costs one IndexByte call.
const kernelQuotes = 1

func init() {
	if useStringKernel {
		escapedQuotes = kernelQuotes
	}
}

// stringRest returns the offset after the closing quote of the string that
// b[j] is inside of (b[j] not escaped), a string of a document known to be
// valid: the kernel over b's whole blocks from j, then over the rest
// padded with spaces (no quote, no backslash); without the kernel, stage
// 1's skip. Not ok when the string does not end within b.
func stringRest(b []byte, j int) (int, bool) {
	if !useStringKernel {
		return skipEnd(b, j, true, 0)
	}
	if j < 0 || j >= len(b) {
		return 0, false
	}
	n := (len(b) - j) / blockLen
	off, carry := stringEndBlocks(b[j:], n, 0)
	if off >= 0 {
		return j + off + 1, true
	}
	j += n * blockLen
	if j == len(b) {
		return 0, false
	}
	pad := spaceBlock
	copy(pad[:], b[j:])
	if off, _ = stringEndBlocks(pad[:], 1, carry); off < 0 {
		return 0, false
	}
	return j + off + 1, true
}

// stringEndBlocks returns the offset in src of the first quote of its
// first n whole blocks that is escaped neither by a backslash before it
// nor, for a quote at src[0], by carry (1: the byte before src ended an
// odd run of backslashes), or -1 and the carry after the n blocks.
func stringEndBlocks(src []byte, n int, carry uint64) (off int, carryOut uint64) {
	if n <= 0 {
		return -1, carry
	}
	_ = src[n*blockLen-1] // the assembly reads n whole blocks
	if useAVX512 {
		return stringEndAVX512(&src[0], n, carry)
	}
	return stringEndAVX2(&src[0], n, carry)
}

//go:noescape
func stringEndAVX2(src *byte, n int, carry uint64) (off int, carryOut uint64)

//go:noescape
func stringEndAVX512(src *byte, n int, carry uint64) (off int, carryOut uint64)
