package translate

// plainASCII reports whether s is ASCII without a backslash: a string
// literal's contents that copy as they are whatever the checks for
// invalid UTF-8 and lone surrogates would say (rawCopyable). On amd64 one
// SSE2 pass over the 16-byte blocks (where utf8.Valid and a search for
// backslashes would make two), the tail byte by byte.
func plainASCII(s []byte) bool {
	n := len(s) / 16
	if n > 0 && !plainBlocksSSE2(&s[0], n) {
		return false
	}
	return plainTail(s[n*16:])
}

//go:noescape
func plainBlocksSSE2(src *byte, n int) bool
