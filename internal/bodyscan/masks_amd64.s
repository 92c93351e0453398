#include "textflag.h"
#include "escape_amd64.h"

// Nibble tables (simdjson's classification): a byte's class bits are
// lo[byte&15] & hi[byte>>4].
//
// cls1: bit0 ' ' (hi 2, lo 0); bit1 \t \n \r (hi 0, lo 9 a d); bit2 ','
// (hi 2, lo c); bit3 ':' (hi 3, lo a); bit4 [ ] { } (hi 5 7, lo b d);
// bit5 0-9 (hi 3, lo 0-9); bit6 a-f A-F (hi 4 6, lo 1-6); bit7 d D (hi
// 4 6, lo 4). Whitespace is bits 0-1, structural 2-4, hex digits 5-6.
DATA cls1lo<>+0(SB)/8, $0x206060e060606021
DATA cls1lo<>+8(SB)/8, $0x00001204100a2220
GLOBL cls1lo<>(SB), RODATA|NOPTR, $16
DATA cls1hi<>+0(SB)/8, $0x10c010c028050002
DATA cls1hi<>+8(SB)/8, $0x0000000000000000
GLOBL cls1hi<>(SB), RODATA|NOPTR, $16

// cls2, the bytes that may follow a backslash: bit0 " / (hi 2, lo 2 f);
// bit1 \ (hi 5, lo c); bit2 b f n (hi 6, lo 2 6 e); bit3 r t u (hi 7,
// lo 2 4 5).
DATA cls2lo<>+0(SB)/8, $0x00040808000d0000
DATA cls2lo<>+8(SB)/8, $0x0104000200000000
GLOBL cls2lo<>(SB), RODATA|NOPTR, $16
DATA cls2hi<>+0(SB)/8, $0x0804020000010000
DATA cls2hi<>+8(SB)/8, $0x0000000000000000
GLOBL cls2hi<>(SB), RODATA|NOPTR, $16

// func stage1AVX512(st *stage1State, out *[16]blockOut, src *byte, n int) (done int, bad uint64)
//
// stage1Go over classifyGo, fused, per 64-byte block:
//   - classification in one ZMM register: the two nibble lookups, then each
//     class straight into a K register: K1 quote, K2 backslash, K3
//     structural, K4 not a scalar byte (structural, whitespace or quote),
//     K5 control, K6 hex, K7 escapable, K0 'u'; 'd' later into K1.
//   - in general registers, as stage1Go: escaped bytes (R13), quotes (BX),
//     the in-string mask by VPCLMULQDQ with all ones (prefix XOR; R12 holds
//     its complement), the error mask (AX), the scalar run starts, tokens.
// Carries: R8 escape, R9 in-string, R10 scalar run, R11 \u digits. The
// high bytes are ORed in Z18 and reduced at the end.
TEXT ·stage1AVX512(SB), NOSPLIT, $0-48
	MOVQ st+0(FP), AX
	MOVQ out+8(FP), DI
	MOVQ src+16(FP), SI
	MOVQ n+24(FP), CX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ $0, done+32(FP)
	MOVQ $0, bad+40(FP)

	MOVQ $0x0f0f0f0f0f0f0f0f, AX
	VPBROADCASTQ AX, Z31
	VBROADCASTI32X4 cls1lo<>(SB), Z30
	VBROADCASTI32X4 cls1hi<>(SB), Z29
	VBROADCASTI32X4 cls2lo<>(SB), Z28
	VBROADCASTI32X4 cls2hi<>(SB), Z27
	MOVQ $0x2222222222222222, AX
	VPBROADCASTQ AX, Z26
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	VPBROADCASTQ AX, Z25
	MOVQ $0x7575757575757575, AX
	VPBROADCASTQ AX, Z24
	MOVQ $0x2020202020202020, AX
	VPBROADCASTQ AX, Z23
	MOVQ $0x1f1f1f1f1f1f1f1f, AX
	VPBROADCASTQ AX, Z22
	MOVQ $0x1c1c1c1c1c1c1c1c, AX
	VPBROADCASTQ AX, Z21
	MOVQ $0x6060606060606060, AX
	VPBROADCASTQ AX, Z20
	MOVQ $0x8080808080808080, AX
	VPBROADCASTQ AX, Z19
	VPXORQ Z18, Z18, Z18
	MOVQ $-1, AX
	VMOVQ AX, X9
	MOVQ CX, done+32(FP) // n unless a block has an error

loop:
	VMOVDQU64 (SI), Z0
	VPORQ Z0, Z18, Z18
	VPCMPEQB Z26, Z0, K1
	VPCMPEQB Z25, Z0, K2
	VPCMPUB $1, Z23, Z0, K5

	// Inside a string all along (most of a prompt), as stage1Go: the block
	// starts in a string with no escape or \u digits carried in, and has no
	// quote, no backslash and no control byte. It has no token, and its
	// 'd' bytes need no mask (no \u reads them).
	KORQ K1, K2, K3
	KORTESTQ K3, K5
	JNZ  full
	CMPQ R9, $-1
	JNE  full
	MOVQ R8, DX
	ORQ  R11, DX
	JNZ  full
	MOVQ $0, 0(DI)
	MOVQ $0, 8(DI)
	MOVQ $0, 16(DI)
	XORQ R10, R10
	ADDQ $64, SI
	ADDQ $24, DI
	DECQ CX
	JNZ  loop
	JMP  end

full:
	VPSRLW $4, Z0, Z1
	VPANDQ Z31, Z1, Z1
	VPANDQ Z31, Z0, Z2
	VPSHUFB Z2, Z30, Z3
	VPSHUFB Z1, Z29, Z4
	VPANDQ Z4, Z3, Z3
	VPSHUFB Z2, Z28, Z5
	VPSHUFB Z1, Z27, Z6
	VPTESTMB Z21, Z3, K3
	VPTESTMB Z22, Z3, K4
	KORQ K1, K4, K4
	VPTESTMB Z20, Z3, K6
	VPTESTMB Z6, Z5, K7
	VPCMPEQB Z24, Z0, K0

	// Escaped bytes (simdjson's find_escaped_branchless).
	KMOVQ K2, AX // backslashes
	MOVQ $0x5555555555555555, R12
	ESCAPED(AX) // escaped in R13, the next escape carry in R8

	// Quotes and the in-string mask.
	KMOVQ K1, BX
	ANDNQ BX, R13, BX // quote
	MOVQ BX, 0(DI) // tokens, more ORed below
	VMOVQ BX, X8
	VPCLMULQDQ $0, X9, X8, X8
	VMOVQ X8, DX
	XORQ R9, DX // in string
	MOVQ DX, R9
	SARQ $63, R9 // string carry
	MOVQ DX, R12
	NOTQ R12 // outside strings

	// Errors: backslash outside a string, control byte inside one, a byte
	// that may not be escaped, \u digits that are not hex.
	ANDQ R12, AX
	KMOVQ K5, BX
	ANDQ DX, BX
	ORQ  BX, AX
	KMOVQ K7, BX
	ANDNQ R13, BX, BX
	ORQ  BX, AX
	KMOVQ K0, BX
	ANDQ R13, BX // escaped 'u'
	MOVQ BX, 8(DI)
	MOVQ BX, R13
	SHLQ $1, R13
	ORQ  BX, R13
	LEAQ 0(R13*4), DX
	ORQ  DX, R13
	SHLQ $1, R13 // the four bytes after each
	ORQ  R11, R13
	KMOVQ K6, DX
	ANDNQ R13, DX, R13
	ORQ  R13, AX
	MOVQ BX, R11
	SHRQ $60, R11
	MOVQ R11, DX
	SHRQ $1, DX
	ORQ  DX, R11
	MOVQ R11, DX
	SHRQ $2, DX
	ORQ  DX, R11 // \u digits carry
	TESTQ AX, AX
	JNZ  bad

	// Scalar run starts, tokens.
	KMOVQ K4, BX
	ANDNQ R12, BX, BX // scalar bytes
	LEAQ (BX)(BX*1), DX
	ORQ  R10, DX
	ANDNQ BX, DX, DX // starts
	SHRQ $63, BX
	MOVQ BX, R10
	KMOVQ K3, BX
	ANDQ R12, BX
	ORQ  DX, BX
	ORQ  BX, 0(DI)
	VPTESTMB Z19, Z3, K1
	KMOVQ K1, BX
	MOVQ BX, 16(DI)

	ADDQ $64, SI
	ADDQ $24, DI
	DECQ CX
	JNZ  loop
	JMP  end

bad:
	MOVQ n+24(FP), DX
	SUBQ CX, DX
	MOVQ DX, done+32(FP)
	MOVQ AX, bad+40(FP)

end:
	VPMOVB2M Z18, K1
	KMOVQ K1, BX
	MOVQ st+0(FP), AX
	ORQ  BX, 32(AX)
	MOVQ R8, 0(AX)
	MOVQ R9, 8(AX)
	MOVQ R10, 16(AX)
	MOVQ R11, 24(AX)
	VZEROUPPER
	RET

DATA c1c<>+0(SB)/8, $0x1c1c1c1c1c1c1c1c
DATA c1c<>+8(SB)/8, $0x1c1c1c1c1c1c1c1c
DATA c1c<>+16(SB)/8, $0x1c1c1c1c1c1c1c1c
DATA c1c<>+24(SB)/8, $0x1c1c1c1c1c1c1c1c
GLOBL c1c<>(SB), RODATA|NOPTR, $32
DATA c03<>+0(SB)/8, $0x0303030303030303
DATA c03<>+8(SB)/8, $0x0303030303030303
DATA c03<>+16(SB)/8, $0x0303030303030303
DATA c03<>+24(SB)/8, $0x0303030303030303
GLOBL c03<>(SB), RODATA|NOPTR, $32
DATA c60<>+0(SB)/8, $0x6060606060606060
DATA c60<>+8(SB)/8, $0x6060606060606060
DATA c60<>+16(SB)/8, $0x6060606060606060
DATA c60<>+24(SB)/8, $0x6060606060606060
GLOBL c60<>(SB), RODATA|NOPTR, $32

// HALF classifies the 32 bytes at h(SI) (the nibble tables above; a class
// tested by AND is the complement of the bytes where the AND is zero) into
// the fields of the blockClass at DI (quote, bs, op, ws, ctl, hex, esc, u,
// d), ORing each half in place: the block is zeroed first with whole-word
// stores, so every load is forwarded from a store that contains it (a
// 64-bit load spanning two 32-bit stores would stall on each). R9
// collects the high bits.
#define EMIT(off, h) SHLQ $h, AX; ORQ AX, off(DI)
#define HALF(h) \
	VMOVDQU h(SI), Y0 \
	VPMOVMSKB Y0, AX \
	ORQ AX, R9 \
	VPSRLW $4, Y0, Y1 \
	VPAND Y15, Y1, Y1 \
	VPAND Y15, Y0, Y2 \
	VPSHUFB Y2, Y14, Y3 \
	VPSHUFB Y1, Y13, Y4 \
	VPAND Y4, Y3, Y3 \
	VPSHUFB Y2, Y12, Y5 \
	VPSHUFB Y1, Y11, Y6 \
	VPAND Y6, Y5, Y5 \
	VPXOR Y6, Y6, Y6 \
	VPCMPEQB Y10, Y0, Y4 \
	VPMOVMSKB Y4, AX \
	EMIT(0, h) \
	VPCMPEQB Y9, Y0, Y4 \
	VPMOVMSKB Y4, AX \
	EMIT(8, h) \
	VPAND c1c<>(SB), Y3, Y4 \
	VPCMPEQB Y6, Y4, Y4 \
	VPMOVMSKB Y4, AX \
	NOTL AX \
	EMIT(16, h) \
	VPAND c03<>(SB), Y3, Y4 \
	VPCMPEQB Y6, Y4, Y4 \
	VPMOVMSKB Y4, AX \
	NOTL AX \
	EMIT(24, h) \
	VPMINUB Y7, Y0, Y4 \
	VPCMPEQB Y0, Y4, Y4 \
	VPMOVMSKB Y4, AX \
	EMIT(32, h) \
	VPAND c60<>(SB), Y3, Y4 \
	VPCMPEQB Y6, Y4, Y4 \
	VPMOVMSKB Y4, AX \
	NOTL AX \
	EMIT(40, h) \
	VPCMPEQB Y6, Y5, Y4 \
	VPMOVMSKB Y4, AX \
	NOTL AX \
	EMIT(48, h) \
	VPCMPEQB Y8, Y0, Y4 \
	VPMOVMSKB Y4, AX \
	EMIT(56, h) \
	VPMOVMSKB Y3, AX \
	EMIT(64, h)

// func classifyAVX2(dst *[16]blockClass, src *byte, n int) uint64
//
// classifyGo with AVX2, for stage1Go on machines without AVX-512: two
// 32-byte halves per block, one VPMOVMSKB per class and half (the 'd'
// class is bit 7 of the first lookup, so its VPMOVMSKB needs no compare).
TEXT ·classifyAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R9, R9
	MOVQ $0x0f0f0f0f0f0f0f0f, AX
	VMOVQ AX, X15
	VPBROADCASTQ X15, Y15
	VBROADCASTI128 cls1lo<>(SB), Y14
	VBROADCASTI128 cls1hi<>(SB), Y13
	VBROADCASTI128 cls2lo<>(SB), Y12
	VBROADCASTI128 cls2hi<>(SB), Y11
	MOVQ $0x2222222222222222, AX
	VMOVQ AX, X10
	VPBROADCASTQ X10, Y10
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	VMOVQ AX, X9
	VPBROADCASTQ X9, Y9
	MOVQ $0x7575757575757575, AX
	VMOVQ AX, X8
	VPBROADCASTQ X8, Y8
	MOVQ $0x1f1f1f1f1f1f1f1f, AX
	VMOVQ AX, X7
	VPBROADCASTQ X7, Y7

avx2loop:
	VPXOR Y6, Y6, Y6
	VMOVDQU Y6, 0(DI)
	VMOVDQU Y6, 32(DI)
	MOVQ $0, 64(DI)
	HALF(0)
	HALF(32)
	ADDQ $64, SI
	ADDQ $72, DI
	DECQ CX
	JNZ  avx2loop

	VZEROUPPER
	MOVQ R9, ret+24(FP)
	RET
