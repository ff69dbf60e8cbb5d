package page

import (
	"encoding/binary"
	"fmt"
)

// Wire format: a bucket's header, stored as the value of a leaf element
// flagged LeafBucket (and, for the bucket directory, in the meta):
//
//	root id u64 (0 = empty bucket, no pages) | root checksum u32 | zero u32 | sequence u64
const BucketHeaderSize = 24

// BucketHeader locates a bucket's tree.
type BucketHeader struct {
	Root     ID
	RootSum  uint32
	Sequence uint64
}

// Encode writes h into b (len >= BucketHeaderSize).
func (h BucketHeader) Encode(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], uint64(h.Root))
	binary.LittleEndian.PutUint32(b[8:], h.RootSum)
	binary.LittleEndian.PutUint32(b[12:], 0)
	binary.LittleEndian.PutUint64(b[16:], h.Sequence)
}

// DecodeBucketHeader decodes a bucket value found on page id.
func DecodeBucketHeader(b []byte, id ID) (BucketHeader, error) {
	if len(b) != BucketHeaderSize {
		return BucketHeader{}, corruptInt(id, "bucket header size", BucketHeaderSize, len(b))
	}
	if z := binary.LittleEndian.Uint32(b[12:]); z != 0 {
		return BucketHeader{}, corruptInt(id, "bucket header reserved field", 0, z)
	}
	return BucketHeader{
		Root:     ID(binary.LittleEndian.Uint64(b[0:])),
		RootSum:  binary.LittleEndian.Uint32(b[8:]),
		Sequence: binary.LittleEndian.Uint64(b[16:]),
	}, nil
}

// Wire format: a large value's descriptor, stored inline as the value of a
// leaf element flagged LeafLarge. The value itself fills a run of pages of
// kind FlagLarge, right after the run's header.
//
//	first page u64 | value size u32 | run checksum u32
const LargeRefSize = 16

// LargeRef points at a large value's run.
type LargeRef struct {
	Page ID
	Size uint32
	Sum  uint32
}

// Encode writes r into b (len >= LargeRefSize).
func (r LargeRef) Encode(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], uint64(r.Page))
	binary.LittleEndian.PutUint32(b[8:], r.Size)
	binary.LittleEndian.PutUint32(b[12:], r.Sum)
}

// DecodeLargeRef decodes a descriptor found on page id.
func DecodeLargeRef(b []byte, id ID) (LargeRef, error) {
	if len(b) != LargeRefSize {
		return LargeRef{}, corruptInt(id, "large value descriptor size", LargeRefSize, len(b))
	}
	return LargeRef{
		Page: ID(binary.LittleEndian.Uint64(b[0:])),
		Size: binary.LittleEndian.Uint32(b[8:]),
		Sum:  binary.LittleEndian.Uint32(b[12:]),
	}, nil
}

// LargeValue returns the value bytes of a validated large run p for ref.
// The run must be exactly as long as the size needs (RunPages): a
// descriptor whose size disagrees with its run would free a different
// number of pages than the run holds when the value is replaced.
func LargeValue(p []byte, ref LargeRef) ([]byte, error) {
	end := uint64(HeaderSize) + uint64(ref.Size)
	pages := uint64(PageOverflow(p)) + 1
	ps := uint64(len(p)) / pages // exact for a run CheckRun accepted
	if end > uint64(len(p)) || (end+ps-1)/ps != pages {
		lo := max(int64((pages-1)*ps)-HeaderSize+1, 0)
		return nil, Corruptf(ref.Page, "large value size", fmt.Sprintf("%d to %d bytes (a run of %d pages)", lo, pages*ps-HeaderSize, pages), fmt.Sprint(ref.Size))
	}
	return p[HeaderSize:end:end], nil
}
