// The escape carry of simdjson's find_escaped_branchless, the one copy both
// kernels use: the validator's stage 1 (masks_amd64.s, stage1AVX512; its Go
// twin is stage1Go) and the string end (strend_amd64.s).
//
// ESCAPED(bs) leaves in R13 the bytes of a 64-byte block that a backslash
// escapes, from the block's backslash mask in register bs, the escape carry
// in R8 (1: the block's first byte is escaped) and the even bits
// 0x5555555555555555 in R12; the next block's carry goes to R8. It clobbers
// BX and DX (bs may be DX: it is read first). In order: b = bs &^ carry
// (ANDNQ x, y, d: d = x &^ y); follows = b<<1 | carry; odd starts = b &^
// (even | follows); even sequences = odd starts + b, whose carry out is the
// next carry; escaped = (even ^ even sequences<<1) & follows.
#define ESCAPED(bs) \
	ANDNQ bs, R8, BX \
	LEAQ (BX)(BX*1), DX \
	ORQ  R8, DX \
	MOVQ R12, R13 \
	ORQ  DX, R13 \
	ANDNQ BX, R13, R13 \
	ADDQ BX, R13 \
	SBBQ R8, R8 \
	NEGQ R8 \
	SHLQ $1, R13 \
	XORQ R12, R13 \
	ANDQ DX, R13
