//go:build !amd64

package bodyscan

// classifiers are the SIMD classifications of this arch: none.
func classifiers() map[string]func(*[chunkBlocks]blockClass, []byte, int) uint64 {
	return nil
}
