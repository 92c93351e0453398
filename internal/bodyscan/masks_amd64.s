#include "textflag.h"

// func blockMasksSSE2(dst *[16]uint64, src *byte, n int) uint64
//
// For each 64-byte block: PCMPEQB against '\\' and PMOVMSKB give 16 mask
// bits per 16 bytes. Control bytes: PMINUB keeps the smallest byte seen
// in each lane; at the end PSUBUSB 0x1f leaves zero exactly in the lanes
// whose minimum is <= 0x1f.
TEXT ·blockMasksSSE2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	MOVQ AX, X8
	PUNPCKLQDQ X8, X8
	PCMPEQB X10, X10 // lane minimums, from 0xff

loop:
	TESTQ CX, CX
	JEQ   done
	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	PMINUB X0, X10
	PMINUB X1, X10
	PMINUB X2, X10
	PMINUB X3, X10
	PCMPEQB X8, X0
	PCMPEQB X8, X1
	PCMPEQB X8, X2
	PCMPEQB X8, X3
	PMOVMSKB X0, AX
	PMOVMSKB X1, BX
	PMOVMSKB X2, DX
	PMOVMSKB X3, R8
	SHLQ $16, BX
	SHLQ $32, DX
	SHLQ $48, R8
	ORQ  BX, AX
	ORQ  R8, DX
	ORQ  DX, AX
	MOVQ AX, 0(DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JMP  loop

done:
	MOVQ $0x1f1f1f1f1f1f1f1f, AX
	MOVQ AX, X9
	PUNPCKLQDQ X9, X9
	PSUBUSB X9, X10 // zero where the minimum is <= 0x1f
	PXOR X11, X11
	PCMPEQB X11, X10 // 0xff there
	PMOVMSKB X10, AX
	MOVQ AX, ret+24(FP)
	RET
