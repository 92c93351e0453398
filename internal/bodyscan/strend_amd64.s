#include "textflag.h"
#include "escape_amd64.h"

// The string end kernels (strend_amd64.go): from inside a string of a
// document known to be valid, the first quote that no backslash escapes,
// over n whole 64-byte blocks. Per block the quote and backslash masks,
// then, when the block has a backslash or the previous one ended in an
// unfinished run, the escaped bytes by simdjson's find_escaped_branchless:
// the same sequence as stage1AVX512's (one macro: escape_amd64.h) and stage1Go's.
// Registers: SI the block, DI the first one, CX blocks left, R8 the escape
// carry, R12 the even bits, AX quotes, DX backslashes.

// ESCAPED_QUOTES leaves in AX the quotes of AX not escaped by the
// backslashes of DX and the carry R8, and the next carry in R8 (clobbers
// BX, DX, R13): escape_amd64.h's ESCAPED, then quotes &^= escaped.
#define ESCAPED_QUOTES \
	ESCAPED(DX) \
	ANDNQ AX, R13, AX

// ARGS loads the arguments and the even bits.
#define ARGS \
	MOVQ src+0(FP), SI \
	MOVQ n+8(FP), CX \
	MOVQ carry+16(FP), R8 \
	MOVQ SI, DI \
	MOVQ $0x5555555555555555, R12

// FOUND returns the offset of the first quote of AX in the block at SI;
// NONE returns -1 and the carry.
#define FOUND \
	TZCNTQ AX, AX \
	SUBQ DI, SI \
	ADDQ SI, AX \
	MOVQ AX, off+24(FP) \
	MOVQ R8, carryOut+32(FP) \
	VZEROUPPER \
	RET
#define NONE \
	MOVQ $-1, off+24(FP) \
	MOVQ R8, carryOut+32(FP) \
	VZEROUPPER \
	RET

// func stringEndAVX2(src *byte, n int, carry uint64) (off int, carryOut uint64)
TEXT ·stringEndAVX2(SB), NOSPLIT, $0-40
	ARGS
	MOVQ $0x2222222222222222, AX
	VMOVQ AX, X15
	VPBROADCASTQ X15, Y15
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	VMOVQ AX, X14
	VPBROADCASTQ X14, Y14

avx2loop:
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VPCMPEQB Y15, Y0, Y2
	VPCMPEQB Y15, Y1, Y3
	VPCMPEQB Y14, Y0, Y4
	VPCMPEQB Y14, Y1, Y5
	VPMOVMSKB Y2, AX
	VPMOVMSKB Y3, BX
	SHLQ $32, BX
	ORQ  BX, AX // quotes
	VPMOVMSKB Y4, DX
	VPMOVMSKB Y5, BX
	SHLQ $32, BX
	ORQ  BX, DX // backslashes
	MOVQ DX, BX
	ORQ  R8, BX
	JNZ  avx2esc
	TESTQ AX, AX
	JNZ  found

avx2next:
	ADDQ $64, SI
	DECQ CX
	JNZ  avx2loop
	JMP  none

avx2esc:
	ESCAPED_QUOTES
	TESTQ AX, AX
	JZ   avx2next

found:
	FOUND

none:
	NONE

// func stringEndAVX512(src *byte, n int, carry uint64) (off int, carryOut uint64)
TEXT ·stringEndAVX512(SB), NOSPLIT, $0-40
	ARGS
	MOVQ $0x2222222222222222, AX
	VPBROADCASTQ AX, Z15
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	VPBROADCASTQ AX, Z14

avx512loop:
	VMOVDQU64 (SI), Z0
	VPCMPEQB Z15, Z0, K1
	VPCMPEQB Z14, Z0, K2
	KMOVQ K1, AX // quotes
	KMOVQ K2, DX // backslashes
	MOVQ DX, BX
	ORQ  R8, BX
	JNZ  avx512esc
	TESTQ AX, AX
	JNZ  found

avx512next:
	ADDQ $64, SI
	DECQ CX
	JNZ  avx512loop
	JMP  none

avx512esc:
	ESCAPED_QUOTES
	TESTQ AX, AX
	JZ   avx512next

found:
	FOUND

none:
	NONE
