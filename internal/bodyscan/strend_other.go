//go:build !amd64

package bodyscan

// useStringKernel is false here: there is no string end kernel.
var useStringKernel = false

// stringRest returns the offset after the closing quote of the string that
// b[j] is inside of (b[j] not escaped): here stage 1's skip.
func stringRest(b []byte, j int) (int, bool) {
	return skipEnd(b, j, true, 0)
}
