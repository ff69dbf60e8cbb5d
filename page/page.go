// Package page is folio's on-disk format: the page header, meta pages,
// branch and leaf elements, large-value runs and free-extent pages. It is
// pure encoding: no I/O, standard library only. Every decoder checks bounds
// and returns an error wrapping ErrCorrupt on bad bytes; none panics.
//
// All integers are little-endian whatever the machine. Every page (or run
// of pages, when a node or value overflows) starts with a 32-byte header:
//
//	off  size  field
//	  0     4  checksum  CRC-32C (Castagnoli) of bytes [4, run length)
//	  4     2  flags     page kind: Meta, Branch, Leaf, Large, Freelist
//	  6     2  count     elements on a branch/leaf page
//	  8     8  id        the page's own id (catches misdirected writes)
//	 16     8  txid      the transaction that wrote it
//	 24     4  overflow  pages in the run after this one
//	 28     4  (zero)
//	 32        body
//
// Branch and leaf pages hold, after the header, count key hints, then
// count elements, then the keys (and values):
//
//	header | hint[count] u64 | element[count] | keys and values
//
// A hint is the key's first 8 bytes read as a big-endian number (zero
// padded): hints order like their keys, so a binary search compares the
// packed hint array and touches a key's bytes only when two hints tie.
// Keeping the probes in a few cache lines is what makes lookups fast.
//
// Branch element (20 bytes):
//
//	child id u64 | child checksum u32 | key offset u32 | key size u32
//
// Leaf element (16 bytes):
//
//	flags u32 | key offset u32 | key size u32 | value size u32
//
// Offsets are from the start of the run; a leaf value follows its key.
// A parent records the checksum it expects of each child (branch elements,
// bucket headers, large-value descriptors, the meta's roots), so a write the
// disk lost (an old but self-consistent page) is detected by one compare.
// A small bucket's tree may be one leaf stored inline in its parent's value
// (bucket.go, version 3), covered by the parent page's checksum.
//
// Everything in this file and meta.go marked "wire format" must never
// change without a new Version.
package page

import (
	"encoding/binary"
	"hash/crc32"
)

// ID is a page number; the page starts at ID*pageSize in the file.
type ID uint64

// TxID identifies a transaction; each commit increments it.
type TxID uint64

// Wire format: header layout and sizes.
const (
	HeaderSize     = 32
	HintSize       = 8
	BranchElemSize = 20
	LeafElemSize   = 16

	offChecksum = 0
	offFlags    = 4
	offCount    = 6
	offID       = 8
	offTxID     = 16
	offOverflow = 24
)

// Flags says what a page holds. Wire format.
type Flags uint16

// Page kinds. Wire format.
const (
	FlagMeta     Flags = 0x01
	FlagBranch   Flags = 0x02
	FlagLeaf     Flags = 0x04
	FlagLarge    Flags = 0x08
	FlagFreelist Flags = 0x10
)

// String names the kind ("meta", "branch", ...; "unknown" for others).
func (f Flags) String() string {
	switch f {
	case FlagMeta:
		return "meta"
	case FlagBranch:
		return "branch"
	case FlagLeaf:
		return "leaf"
	case FlagLarge:
		return "large"
	case FlagFreelist:
		return "freelist"
	}
	return "unknown"
}

// Leaf element flags. Wire format.
const (
	LeafBucket uint32 = 0x1 // value is a BucketHeader
	LeafLarge  uint32 = 0x2 // value is a LargeRef to a run of pages
)

// Limits of the format.
const (
	MinPageSize = 1 << 10
	MaxPageSize = 1 << 16
	// MaxRunPages bounds one run (node or large value) so a hostile
	// overflow count cannot ask for an unbounded allocation. NB: above
	// the 2^21+1 pages a value of the largest size folio takes (2 GiB - 2
	// bytes, tx.MaxValueSize) needs in 1 KiB pages. At 2^20 a value of
	// 1 GiB in 1 KiB pages (or of 2 GiB in 2 KiB pages) was committed
	// and then refused as corrupt by every read.
	MaxRunPages = 1 << 22
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum computes the CRC-32C of a run, skipping the checksum field.
func Checksum(run []byte) uint32 {
	return crc32.Checksum(run[offChecksum+4:], castagnoli)
}

// Header accessors. REQUIRES: len(p) >= HeaderSize.

// PageChecksum is the CRC-32C the header records (see Checksum).
func PageChecksum(p []byte) uint32 { return binary.LittleEndian.Uint32(p[offChecksum:]) }

// PageFlags is the page's kind.
func PageFlags(p []byte) Flags { return Flags(binary.LittleEndian.Uint16(p[offFlags:])) }

// PageCount is the number of elements in a branch or leaf page.
func PageCount(p []byte) int { return int(binary.LittleEndian.Uint16(p[offCount:])) }

// PageID is the id the page claims, to catch misdirected writes.
func PageID(p []byte) ID { return ID(binary.LittleEndian.Uint64(p[offID:])) }

// PageTxID is the txid of the commit that wrote the page.
func PageTxID(p []byte) TxID { return TxID(binary.LittleEndian.Uint64(p[offTxID:])) }

// PageOverflow is the number of pages that follow this one in its run.
func PageOverflow(p []byte) uint32 { return binary.LittleEndian.Uint32(p[offOverflow:]) }

// PutHeader writes a header; the checksum is left for Seal.
func PutHeader(p []byte, id ID, tx TxID, flags Flags, count int, overflow uint32) {
	clear(p[:HeaderSize])
	binary.LittleEndian.PutUint16(p[offFlags:], uint16(flags))
	binary.LittleEndian.PutUint16(p[offCount:], uint16(count))
	binary.LittleEndian.PutUint64(p[offID:], uint64(id))
	binary.LittleEndian.PutUint64(p[offTxID:], uint64(tx))
	binary.LittleEndian.PutUint32(p[offOverflow:], overflow)
}

// Seal computes and stores the checksum of a finished run and returns it.
func Seal(run []byte) uint32 {
	c := Checksum(run)
	binary.LittleEndian.PutUint32(run[offChecksum:], c)
	return c
}

// RunPages is how many pages a body of n bytes needs, header included.
func RunPages(n, pageSize int) int {
	return (HeaderSize + n + pageSize - 1) / pageSize
}
