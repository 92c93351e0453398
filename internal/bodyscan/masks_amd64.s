#include "textflag.h"

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

// func classifyAVX512(dst *[16]blockClass, src *byte, n int) uint64
//
// Per 64-byte block, one ZMM register: the two nibble lookups, then each
// class straight into a K register (VPCMPEQB, VPTESTMB, VPCMPUB) and out
// with KMOVQ to its field of dst[k] (quote, bs, op, ws, ctl, hex, esc, u,
// d: nine words). The high bits (VPMOVB2M) are ORed into the result.
TEXT ·classifyAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R9, R9

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
	MOVQ $0x0303030303030303, AX
	VPBROADCASTQ AX, Z22
	MOVQ $0x1c1c1c1c1c1c1c1c, AX
	VPBROADCASTQ AX, Z21
	MOVQ $0x6060606060606060, AX
	VPBROADCASTQ AX, Z20
	MOVQ $0x8080808080808080, AX
	VPBROADCASTQ AX, Z19

loop:
	VMOVDQU64 (SI), Z0
	VPSRLW $4, Z0, Z1
	VPANDQ Z31, Z1, Z1
	VPANDQ Z31, Z0, Z2
	VPSHUFB Z2, Z30, Z3
	VPSHUFB Z1, Z29, Z4
	VPANDQ Z4, Z3, Z3
	VPSHUFB Z2, Z28, Z5
	VPSHUFB Z1, Z27, Z6
	VPTESTMB Z6, Z5, K7
	VPCMPEQB Z26, Z0, K1
	VPCMPEQB Z25, Z0, K2
	VPTESTMB Z21, Z3, K3
	VPTESTMB Z22, Z3, K4
	VPCMPUB $1, Z23, Z0, K5
	VPTESTMB Z20, Z3, K6
	KMOVQ K1, AX
	KMOVQ K2, BX
	KMOVQ K3, DX
	KMOVQ K4, R8
	MOVQ AX, 0(DI)
	MOVQ BX, 8(DI)
	MOVQ DX, 16(DI)
	MOVQ R8, 24(DI)
	KMOVQ K5, AX
	KMOVQ K6, BX
	KMOVQ K7, DX
	VPCMPEQB Z24, Z0, K1
	VPMOVB2M Z0, K2
	VPTESTMB Z19, Z3, K3
	KMOVQ K1, R8
	KMOVQ K2, R10
	KMOVQ K3, R11
	MOVQ AX, 32(DI)
	MOVQ BX, 40(DI)
	MOVQ DX, 48(DI)
	MOVQ R8, 56(DI)
	MOVQ R11, 64(DI)
	ORQ  R10, R9
	ADDQ $64, SI
	ADDQ $72, DI
	DECQ CX
	JNZ  loop

	VZEROUPPER
	MOVQ R9, ret+24(FP)
	RET
