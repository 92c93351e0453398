//go:build !amd64

package translate

// plainASCII reports whether s is ASCII without a backslash (see the amd64
// version).
func plainASCII(s []byte) bool {
	return plainTail(s)
}
