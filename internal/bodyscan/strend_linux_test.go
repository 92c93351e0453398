package bodyscan

import (
	"syscall"
	"testing"
)

// guardedPage returns a page whose next page may not be read (a read
// there faults), and a func that unmaps both.
func guardedPage(t *testing.T) ([]byte, func()) {
	t.Helper()
	size := syscall.Getpagesize()
	m, err := syscall.Mmap(-1, 0, 2*size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(m[size:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	return m[:size:size], func() { _ = syscall.Munmap(m) }
}
