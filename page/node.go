package page

import (
	"encoding/binary"
	"fmt"
)

// Branch and leaf element access. The run p is one validated by CheckRun
// (its length is the run length). Accessors check every offset against the
// run and report ok=false instead of slicing out of range; callers turn
// that into ElemError with the page id. Keys and values returned alias p.

// CheckElems validates that count elements of size elem fit in the run.
func CheckElems(p []byte, id ID, elem int) (int, error) {
	n := PageCount(p)
	if HeaderSize+n*elem > len(p) {
		return 0, corruptInt(id, "element count", fmt.Sprintf("<= %d", (len(p)-HeaderSize)/elem), n)
	}
	if n == 0 {
		return 0, Corruptf(id, "element count", "> 0", "0")
	}
	return n, nil
}

// ElemError reports element i of page id pointing outside its page.
func ElemError(id ID, i int) error {
	return Corruptf(id, fmt.Sprintf("element %d", i), "key and value inside the page", "offsets outside it")
}

func span(p []byte, off, size uint32) ([]byte, bool) {
	end := uint64(off) + uint64(size)
	if off < HeaderSize || end > uint64(len(p)) {
		return nil, false
	}
	return p[off:end:end], true
}

// BranchKey returns the separator key of element i: the smallest key that
// may be found under its child.
func BranchKey(p []byte, i int) ([]byte, bool) {
	e := HeaderSize + i*BranchElemSize
	return span(p, binary.LittleEndian.Uint32(p[e+12:]), binary.LittleEndian.Uint32(p[e+16:]))
}

// BranchChild returns the child page of element i and the checksum its
// parent expects of it.
func BranchChild(p []byte, i int) (ID, uint32) {
	e := HeaderSize + i*BranchElemSize
	return ID(binary.LittleEndian.Uint64(p[e:])), binary.LittleEndian.Uint32(p[e+8:])
}

// PutBranchElem writes element i.
func PutBranchElem(p []byte, i int, child ID, sum uint32, koff, ksize int) {
	e := HeaderSize + i*BranchElemSize
	binary.LittleEndian.PutUint64(p[e:], uint64(child))
	binary.LittleEndian.PutUint32(p[e+8:], sum)
	binary.LittleEndian.PutUint32(p[e+12:], uint32(koff))
	binary.LittleEndian.PutUint32(p[e+16:], uint32(ksize))
}

// LeafKey returns the key of element i.
func LeafKey(p []byte, i int) ([]byte, bool) {
	e := HeaderSize + i*LeafElemSize
	return span(p, binary.LittleEndian.Uint32(p[e+4:]), binary.LittleEndian.Uint32(p[e+8:]))
}

// LeafValue returns the flags and stored value of element i. For LeafBucket
// the value is a BucketHeader, for LeafLarge a LargeRef.
func LeafValue(p []byte, i int) (uint32, []byte, bool) {
	e := HeaderSize + i*LeafElemSize
	flags := binary.LittleEndian.Uint32(p[e:])
	voff := uint64(binary.LittleEndian.Uint32(p[e+4:])) + uint64(binary.LittleEndian.Uint32(p[e+8:]))
	if voff > 1<<32-1 {
		return 0, nil, false
	}
	v, ok := span(p, uint32(voff), binary.LittleEndian.Uint32(p[e+12:]))
	return flags, v, ok
}

// PutLeafElem writes element i; the value is stored right after the key.
func PutLeafElem(p []byte, i int, flags uint32, koff, ksize, vsize int) {
	e := HeaderSize + i*LeafElemSize
	binary.LittleEndian.PutUint32(p[e:], flags)
	binary.LittleEndian.PutUint32(p[e+4:], uint32(koff))
	binary.LittleEndian.PutUint32(p[e+8:], uint32(ksize))
	binary.LittleEndian.PutUint32(p[e+12:], uint32(vsize))
}
