#include "textflag.h"

// func plainBlocksSSE2(src *byte, n int) bool
//
// Reports whether the n 16-byte blocks at src hold no byte >= 0x80 and no
// backslash: the bytes (their high bits) and PCMPEQB against '\\' are
// ORed into two registers, PMOVMSKB reads them once at the end.
TEXT ·plainBlocksSSE2(SB), NOSPLIT, $0-17
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	MOVQ AX, X8
	PUNPCKLQDQ X8, X8
	PXOR X9, X9   // high bits of the bytes
	PXOR X10, X10 // backslashes

pairs:
	CMPQ CX, $2
	JLT  single
	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVO X0, X2
	POR  X1, X2
	PCMPEQB X8, X0
	PCMPEQB X8, X1
	POR  X0, X1
	POR  X2, X9
	POR  X1, X10
	ADDQ $32, SI
	SUBQ $2, CX
	JMP  pairs

single:
	TESTQ CX, CX
	JEQ   done
	MOVOU 0(SI), X0
	POR  X0, X9
	PCMPEQB X8, X0
	POR  X0, X9

done:
	POR X10, X9
	PMOVMSKB X9, AX
	TESTL AX, AX
	SETEQ ret+16(FP)
	RET
