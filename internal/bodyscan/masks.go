package bodyscan

import "encoding/binary"

// blockMasksGo is blockMasks in plain Go, eight bytes at a time: the
// portable implementation, and the reference the amd64 one is tested
// against.
func blockMasksGo(dst *[chunkLen / blockLen]uint64, src []byte, n int) (ctl uint64) {
	for k := range n {
		blk := (*[blockLen]byte)(src[k*blockLen:])
		x := binary.LittleEndian.Uint64(blk[0:])
		ctl |= lessThan20(x)
		bs := backslashes(x)
		x = binary.LittleEndian.Uint64(blk[8:])
		ctl |= lessThan20(x)
		bs |= backslashes(x) << 8
		x = binary.LittleEndian.Uint64(blk[16:])
		ctl |= lessThan20(x)
		bs |= backslashes(x) << 16
		x = binary.LittleEndian.Uint64(blk[24:])
		ctl |= lessThan20(x)
		bs |= backslashes(x) << 24
		x = binary.LittleEndian.Uint64(blk[32:])
		ctl |= lessThan20(x)
		bs |= backslashes(x) << 32
		x = binary.LittleEndian.Uint64(blk[40:])
		ctl |= lessThan20(x)
		bs |= backslashes(x) << 40
		x = binary.LittleEndian.Uint64(blk[48:])
		ctl |= lessThan20(x)
		bs |= backslashes(x) << 48
		x = binary.LittleEndian.Uint64(blk[56:])
		ctl |= lessThan20(x)
		bs |= backslashes(x) << 56
		dst[k] = bs
	}
	return ctl & hiBits
}

// lessThan20 has a high bit set in some byte exactly when x has a byte below
// 0x20 (as a whole: which byte is not exact).
func lessThan20(x uint64) uint64 {
	return (x - 0x2020202020202020) &^ x
}

// backslashes returns one bit per byte of x (bit k for byte k) that is a
// backslash, exactly: the high bit of each byte is set where x^'\\' is zero
// without borrows between bytes, and a multiply gathers the eight high bits
// into the top byte (each partial product lands on its own bit).
func backslashes(x uint64) uint64 {
	y := x ^ 0x5c5c5c5c5c5c5c5c
	z := ^((y&lo7 + lo7) | y) & hiBits
	return (z >> 7) * 0x0102040810204080 >> 56
}
