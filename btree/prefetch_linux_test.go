package btree

import (
	"syscall"
	"testing"
)

// TestPrefetchNeverFaults: prefetchNext may ask for lines past the end of
// the mapping (a page near its end) or, from a damaged id, of anything
// in it; the instruction must not fault. Here the lines run from the last
// bytes of a mapped page into an inaccessible one.
func TestPrefetchNeverFaults(t *testing.T) {
	ps := syscall.Getpagesize()
	m, err := syscall.Mmap(-1, 0, 2*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	if err := syscall.Mprotect(m[ps:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	for _, lines := range []int{0, 1, prefetchLines, 64} {
		prefetch(&m[ps-1], lines)
		prefetch(&m[0], lines)
	}
	if m[0] != 0 || m[ps-1] != 0 {
		t.Fatal("prefetch changed memory")
	}
}
