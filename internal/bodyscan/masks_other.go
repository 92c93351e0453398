//go:build !amd64

package bodyscan

// stage1 classifies the first n blocks of src and runs stage 1 over them
// (stage1Go's contract); cls is scratch.
func stage1(st *stage1State, out *[chunkBlocks]blockOut, cls *[chunkBlocks]blockClass, src []byte, n int) (done int, bad uint64) {
	if n <= 0 {
		return 0, 0
	}
	st.high |= classifyGo(cls, src, n)
	return stage1Go(st, out, cls, n)
}

// useAVX512 is false here: there is only the portable path.
var useAVX512 = false

// useAVX2 is false here too.
var useAVX2 = false
