package page

import (
	"encoding/binary"
	"fmt"
)

// Branch and leaf element access. The run p is one validated by CheckRun
// (its length is the run length). Accessors check every offset against the
// run and report ok=false instead of slicing out of range; callers turn
// that into ElemError with the page id. Keys and values returned alias p.

// CheckElems validates that count hints and elements of size elem fit in
// the run.
func CheckElems(p []byte, id ID, elem int) (int, error) {
	n := PageCount(p)
	if HeaderSize+n*(HintSize+elem) > len(p) {
		return 0, corruptInt(id, "element count", fmt.Sprintf("<= %d", (len(p)-HeaderSize)/(HintSize+elem)), n)
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

// KeyHint is the hint of key: its first 8 bytes as a big-endian number,
// zero padded. KeyHint(a) < KeyHint(b) implies a < b; equal hints say
// nothing.
func KeyHint(key []byte) uint64 {
	if len(key) >= 8 {
		return binary.BigEndian.Uint64(key)
	}
	var b [8]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:])
}

// Hint returns the hint of element i. REQUIRES: CheckElems passed.
func Hint(p []byte, i int) uint64 {
	return binary.LittleEndian.Uint64(p[HeaderSize+i*HintSize:])
}

// PutHint stores the hint of element i. REQUIRES: the header's count is set.
func PutHint(p []byte, i int, key []byte) {
	binary.LittleEndian.PutUint64(p[HeaderSize+i*HintSize:], KeyHint(key))
}

// elem is the offset of element i of size size.
func elem(p []byte, i, size int) int {
	return HeaderSize + PageCount(p)*HintSize + i*size
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
	e := elem(p, i, BranchElemSize)
	return span(p, binary.LittleEndian.Uint32(p[e+12:]), binary.LittleEndian.Uint32(p[e+16:]))
}

// BranchChild returns the child page of element i and the checksum its
// parent expects of it.
func BranchChild(p []byte, i int) (ID, uint32) {
	e := elem(p, i, BranchElemSize)
	return ID(binary.LittleEndian.Uint64(p[e:])), binary.LittleEndian.Uint32(p[e+8:])
}

// PutBranchElem writes element i. REQUIRES: the header's count is set.
func PutBranchElem(p []byte, i int, child ID, sum uint32, koff, ksize int) {
	e := elem(p, i, BranchElemSize)
	binary.LittleEndian.PutUint64(p[e:], uint64(child))
	binary.LittleEndian.PutUint32(p[e+8:], sum)
	binary.LittleEndian.PutUint32(p[e+12:], uint32(koff))
	binary.LittleEndian.PutUint32(p[e+16:], uint32(ksize))
}

// LeafKey returns the key of element i.
func LeafKey(p []byte, i int) ([]byte, bool) {
	e := elem(p, i, LeafElemSize)
	return span(p, binary.LittleEndian.Uint32(p[e+4:]), binary.LittleEndian.Uint32(p[e+8:]))
}

// LeafValue returns the flags and stored value of element i. For LeafBucket
// the value is a BucketHeader, for LeafLarge a LargeRef. A value outside
// the page gives !ok and no flags, as LeafElem.
func LeafValue(p []byte, i int) (uint32, []byte, bool) {
	e := elem(p, i, LeafElemSize)
	voff := uint64(binary.LittleEndian.Uint32(p[e+4:])) + uint64(binary.LittleEndian.Uint32(p[e+8:]))
	if voff > 1<<32-1 {
		return 0, nil, false
	}
	v, ok := span(p, uint32(voff), binary.LittleEndian.Uint32(p[e+12:]))
	if !ok {
		return 0, nil, false
	}
	return binary.LittleEndian.Uint32(p[e:]), v, true
}

// LeafElem returns element i of a leaf with count elements (as CheckElems
// returned it) in one pass: the cursor's hot path.
func LeafElem(p []byte, count, i int) (flags uint32, key, value []byte, ok bool) {
	e := HeaderSize + count*HintSize + i*LeafElemSize
	el := p[e : e+LeafElemSize : e+LeafElemSize]
	flags = binary.LittleEndian.Uint32(el[0:])
	koff := uint64(binary.LittleEndian.Uint32(el[4:]))
	kend := koff + uint64(binary.LittleEndian.Uint32(el[8:]))
	vend := kend + uint64(binary.LittleEndian.Uint32(el[12:]))
	if koff < HeaderSize || vend > uint64(len(p)) {
		return 0, nil, nil, false
	}
	return flags, p[koff:kend:kend], p[kend:vend:vend], true
}

// PutLeafElem writes element i; the value is stored right after the key.
// REQUIRES: the header's count is set.
func PutLeafElem(p []byte, i int, flags uint32, koff, ksize, vsize int) {
	e := elem(p, i, LeafElemSize)
	binary.LittleEndian.PutUint32(p[e:], flags)
	binary.LittleEndian.PutUint32(p[e+4:], uint32(koff))
	binary.LittleEndian.PutUint32(p[e+8:], uint32(ksize))
	binary.LittleEndian.PutUint32(p[e+12:], uint32(vsize))
}
