package page

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Wire format: a bucket's header, stored as the value of a leaf element
// flagged LeafBucket (and, for the bucket directory, in the meta):
//
//	root id u64 (0 = no pages) | root checksum u32 | flags u32 | sequence u64
//
// Flags is zero, or BucketInline (version 3): the bucket's whole tree is
// one leaf stored right after the header, in the parent's value, instead
// of a page of its own; root id and checksum are then zero. The parent's
// page checksum covers it. An inline leaf is laid out as a leaf page is
// (so every leaf accessor reads it), without page padding, and decodes
// strictly (CheckInlineLeaf; a read without VerifyChecksums checks only
// what it checks of a leaf page, ReadBucketHeader):
//
//	page header (checksum, id, txid, overflow zero; flags FlagLeaf; count > 0)
//	| hint[count] | leaf element[count] | keys and values, back to back in
//	  element order, to the end of the value
//
// Its elements hold plain values only: no nested bucket (a bucket that
// gains one gets a page again), no large value (a value over a quarter
// of a page makes the leaf too big to be inline anyway), so an inline
// bucket owns no page at all and deleting it frees nothing.
const BucketHeaderSize = 24

// BucketInline flags a bucket header followed by its inline leaf. Wire
// format.
const BucketInline uint32 = 1

// InlineMax is the largest inline leaf, header included, for a page size:
// bbolt's bound, a quarter of a page, so a parent leaf keeps several.
func InlineMax(pageSize int) int { return pageSize / 4 }

// BucketHeader locates a bucket's tree.
type BucketHeader struct {
	Root     ID
	RootSum  uint32
	Sequence uint64
	// Inline: the tree is the leaf after the header (BucketLeaf).
	Inline bool
}

// Encode writes h into b (len >= BucketHeaderSize); an inline bucket's
// leaf goes after it.
func (h BucketHeader) Encode(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], uint64(h.Root))
	binary.LittleEndian.PutUint32(b[8:], h.RootSum)
	var flags uint32
	if h.Inline {
		flags = BucketInline
	}
	binary.LittleEndian.PutUint32(b[12:], flags)
	binary.LittleEndian.PutUint64(b[16:], h.Sequence)
}

// DecodeBucketHeader decodes a bucket value found on page id. An inline
// bucket's leaf is checked whole (CheckInlineLeaf); BucketLeaf returns it.
func DecodeBucketHeader(b []byte, id ID) (BucketHeader, error) {
	return decodeBucketHeader(b, id, true)
}

// ReadBucketHeader is DecodeBucketHeader with an inline leaf checked as
// deep as a leaf page is when a read without VerifyChecksums reads it
// (CheckInlineHeader: header and element count; each element's bounds
// are checked as it is read), not its contents: key order, hints, flags
// and layout, which DecodeBucketHeader checks for a write transaction
// (which may copy the leaf, or free as if it held no nested bucket or
// large value), VerifyChecksums and Check. The whole check was over a
// quarter of a View opening a nested inline bucket of 10 keys and
// getting one (BenchmarkBucketOpenGet, bench/README.md).
func ReadBucketHeader(b []byte, id ID) (BucketHeader, error) {
	return decodeBucketHeader(b, id, false)
}

func decodeBucketHeader(b []byte, id ID, whole bool) (BucketHeader, error) {
	if len(b) < BucketHeaderSize {
		return BucketHeader{}, corruptInt(id, "bucket header size", BucketHeaderSize, len(b))
	}
	h := BucketHeader{
		Root:     ID(binary.LittleEndian.Uint64(b[0:])),
		RootSum:  binary.LittleEndian.Uint32(b[8:]),
		Sequence: binary.LittleEndian.Uint64(b[16:]),
	}
	switch flags := binary.LittleEndian.Uint32(b[12:]); flags {
	case 0:
		if len(b) != BucketHeaderSize {
			return BucketHeader{}, corruptInt(id, "bucket header size", BucketHeaderSize, len(b))
		}
	case BucketInline:
		if h.Root != 0 || h.RootSum != 0 {
			return BucketHeader{}, Corruptf(id, "inline bucket root", "page 0, checksum 0", fmt.Sprintf("page %d, checksum %#08x", h.Root, h.RootSum))
		}
		leaf := b[BucketHeaderSize:]
		var err error
		if whole {
			err = CheckInlineLeaf(leaf, id)
		} else {
			err = CheckInlineHeader(leaf, id)
		}
		if err != nil {
			return BucketHeader{}, err
		}
		h.Inline = true
	default:
		return BucketHeader{}, corruptInt(id, "bucket header flags", fmt.Sprintf("0 or %d (inline)", BucketInline), flags)
	}
	return h, nil
}

// BucketLeaf returns the inline leaf of a bucket value DecodeBucketHeader
// or ReadBucketHeader accepted as Inline. It aliases b.
func BucketLeaf(b []byte) []byte { return b[BucketHeaderSize:] }

// CheckInlineLeaf validates an inline leaf p found in a bucket value on
// page id: a leaf page's checks (header, element bounds) and those Check
// makes of a leaf page's contents (key order, hints, flags), and the
// layout encode writes, so that what it accepts re-encodes to itself.
// It does not allocate.
func CheckInlineLeaf(p []byte, id ID) error {
	if err := CheckInlineHeader(p, id); err != nil {
		return err
	}
	count := PageCount(p)
	off := HeaderSize + count*(HintSize+LeafElemSize)
	var prev []byte
	for i := 0; i < count; i++ {
		flags, key, value, ok := LeafElem(p, count, i)
		switch {
		case !ok || len(key) == 0 || off >= len(p) || &p[off] != &key[0]:
			return Corruptf(id, fmt.Sprintf("inline bucket element %d", i), "a key and value right after the previous", "elsewhere")
		case flags != 0:
			return Corruptf(id, fmt.Sprintf("inline bucket element %d flags", i), "0 (no nested bucket or large value)", fmt.Sprintf("%#x", flags))
		case i > 0 && bytes.Compare(prev, key) >= 0:
			return Corruptf(id, fmt.Sprintf("inline bucket key order at element %d", i), fmt.Sprintf("> %q", prev), fmt.Sprintf("%q", key))
		case Hint(p, i) != KeyHint(key):
			return Corruptf(id, fmt.Sprintf("inline bucket key hint %d", i), fmt.Sprintf("%#x", KeyHint(key)), fmt.Sprintf("%#x", Hint(p, i)))
		}
		prev = key
		off += len(key) + len(value)
	}
	if off != len(p) {
		return corruptInt(id, "inline bucket leaf size", off, len(p))
	}
	return nil
}

// CheckInlineHeader validates what a read of a leaf page checks before
// reading its elements (CheckRun's header checks, CheckElems), for an
// inline leaf p found in a bucket value on page id: its size, kind, the
// header fields SealInline zeroes, and that its count of elements fits.
// It does not allocate.
func CheckInlineHeader(p []byte, id ID) error {
	if len(p) < HeaderSize {
		return corruptInt(id, "inline bucket leaf size", fmt.Sprintf(">= %d bytes", HeaderSize), len(p))
	}
	if f := PageFlags(p); f != FlagLeaf {
		return corruptInt(id, "inline bucket leaf flags", FlagLeaf, f)
	}
	if PageChecksum(p) != 0 || PageID(p) != 0 || PageTxID(p) != 0 || PageOverflow(p) != 0 || binary.LittleEndian.Uint32(p[offOverflow+4:]) != 0 {
		return Corruptf(id, "inline bucket leaf header", "checksum, id, txid and overflow zero", "not zero")
	}
	_, err := CheckElems(p, id, LeafElemSize)
	return err
}

// SealInline finishes a leaf encoded as a page for a bucket value: no
// checksum (the parent page's covers the leaf), no overflow (it is no
// run), id and txid zero.
func SealInline(p []byte) {
	binary.LittleEndian.PutUint32(p[offChecksum:], 0)
	binary.LittleEndian.PutUint32(p[offOverflow:], 0)
	binary.LittleEndian.PutUint64(p[offID:], 0)
	binary.LittleEndian.PutUint64(p[offTxID:], 0)
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
