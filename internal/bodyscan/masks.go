package bodyscan

// Stage 1 of the validating pass (validate.go), simdjson's: each 64-byte
// block of the body becomes one bit mask per class of byte that matters
// (bit j: byte j of the block), for up to a chunk of blocks at once. On
// amd64 with AVX-512 the classification is fused with the rest of stage 1
// (stage1AVX512, masks_amd64.s); classifyGo is the portable path and the
// reference.

const (
	blockLen    = 64
	chunkBlocks = 16
	chunkLen    = chunkBlocks * blockLen
)

// blockClass is one block's masks.
type blockClass struct {
	quote uint64 // '"'
	bs    uint64 // '\\'
	op    uint64 // structural: { } [ ] : ,
	ws    uint64 // JSON whitespace: space, \t, \n, \r
	ctl   uint64 // below 0x20
	hex   uint64 // 0-9 a-f A-F
	esc   uint64 // may follow a backslash: " \ / b f n r t u
	u     uint64 // 'u'
	d     uint64 // 'd' or 'D': after \u, the start of a surrogate
}

// The classes as bits of a byte's entry in byteClass, the definition the
// SIMD implementations are tested against.
const (
	cQuote = 1 << iota
	cBS
	cOp
	cWS
	cCtl
	cHex
	cEsc
	cU
	cD
)

var byteClass = func() (t [256]uint16) {
	set := func(chars string, bit uint16) {
		for i := 0; i < len(chars); i++ {
			t[chars[i]] |= bit
		}
	}
	set(`"`, cQuote)
	set(`\`, cBS)
	set(`{}[]:,`, cOp)
	set(" \t\n\r", cWS)
	for c := range 0x20 {
		t[c] |= cCtl
	}
	set("0123456789abcdefABCDEF", cHex)
	set(`"\/bfnrtu`, cEsc)
	set("u", cU)
	set("dD", cD)
	return t
}()

// classifyGo sets dst[k] to the masks of the k-th block of src, for the
// first n blocks, and returns nonzero when one of their bytes is 0x80 or
// above: the portable implementation and the reference for the others.
// Eight bytes at a time: their eight class bytes in one word, then each
// class's bits gathered by one multiply (the 'd' class, the ninth, one
// byte at a time).
func classifyGo(dst *[chunkBlocks]blockClass, src []byte, n int) (high uint64) {
	for k := range n {
		blk := (*[blockLen]byte)(src[k*blockLen:])
		var d blockClass
		for j := 0; j < blockLen; j += 8 {
			b := (*[8]byte)(blk[j:])
			x := uint64(uint8(byteClass[b[0]])) | uint64(uint8(byteClass[b[1]]))<<8 | uint64(uint8(byteClass[b[2]]))<<16 |
				uint64(uint8(byteClass[b[3]]))<<24 | uint64(uint8(byteClass[b[4]]))<<32 | uint64(uint8(byteClass[b[5]]))<<40 |
				uint64(uint8(byteClass[b[6]]))<<48 | uint64(uint8(byteClass[b[7]]))<<56
			for i, c := range b {
				d.d |= uint64(byteClass[c]>>8) << (j + i)
			}
			high |= (uint64(b[0]) | uint64(b[1]) | uint64(b[2]) | uint64(b[3]) | uint64(b[4]) | uint64(b[5]) | uint64(b[6]) | uint64(b[7])) >> 7
			d.quote |= gather(x) << j
			d.bs |= gather(x>>1) << j
			d.op |= gather(x>>2) << j
			d.ws |= gather(x>>3) << j
			d.ctl |= gather(x>>4) << j
			d.hex |= gather(x>>5) << j
			d.esc |= gather(x>>6) << j
			d.u |= gather(x>>7) << j
		}
		dst[k] = d
	}
	return high
}

// gather returns the low bit of each byte of x as one bit per byte (bit k
// for byte k): each partial product of the multiply lands on its own bit
// of the top byte.
func gather(x uint64) uint64 {
	return (x & 0x0101010101010101) * 0x0102040810204080 >> 56
}
