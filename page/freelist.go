package page

import (
	"encoding/binary"
	"fmt"
)

// Wire format: a freelist run holds the free and pending extents at the
// time of its commit, sorted by start, non-overlapping, non-adjacent, as
// unsigned varints (encoding/binary's, minimal length), the rest zero:
//
//	count | count × (gap | length-1)
//
// gap is the extent's start minus the end of the one before (minus page 2
// for the first): at least 1 after the first, since neighbours are
// merged. Churn leaves many short extents close together, so an extent
// takes two or three bytes instead of sixteen, and a commit rewrites one
// freelist page where it would write several.

// Extent is a run of Len pages starting at Start.
type Extent struct {
	Start ID
	Len   uint64
}

// FreelistSize is the body size exts encode to.
func FreelistSize(exts []Extent) int {
	n := uvarintLen(uint64(len(exts)))
	next := ID(2)
	for _, e := range exts {
		n += uvarintLen(uint64(e.Start-next)) + uvarintLen(e.Len-1)
		next = e.Start + ID(e.Len)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// EncodeFreelist writes exts into body (len >= FreelistSize(exts)) and
// returns the bytes written. REQUIRES: exts as DecodeFreelist accepts them.
func EncodeFreelist(body []byte, exts []Extent) int {
	o := binary.PutUvarint(body, uint64(len(exts)))
	next := ID(2)
	for i, e := range exts {
		if Invariants && (e.Len == 0 || e.Start < next || i > 0 && e.Start == next) {
			panic(fmt.Sprintf("folio/page: EncodeFreelist: extent %d, [%d, +%d), is empty or not apart from what precedes it (page %d)",
				i, e.Start, e.Len, next))
		}
		o += binary.PutUvarint(body[o:], uint64(e.Start-next))
		o += binary.PutUvarint(body[o:], e.Len-1)
		next = e.Start + ID(e.Len)
	}
	return o
}

// readUvarint reads a minimal-length uvarint at body[o:].
func readUvarint(body []byte, o int) (uint64, int, bool) {
	v, n := binary.Uvarint(body[o:])
	if n <= 0 || n != uvarintLen(v) {
		return 0, o, false
	}
	return v, o + n, true
}

// DecodeFreelist decodes the body of freelist page id. Every extent must
// lie in [2, high), in order and apart from its neighbours.
func DecodeFreelist(body []byte, id ID, high ID) ([]Extent, error) {
	exts, o, err := decodeExtents(body, 0, id, high, "freelist")
	if err != nil {
		return nil, err
	}
	// The rest of the run is zero as written, so a body decodes only one way.
	for i, b := range body[o:] {
		if b != 0 {
			return nil, corruptInt(id, fmt.Sprintf("freelist byte %d past the extents", o+i), 0, b)
		}
	}
	return exts, nil
}

// decodeExtents decodes an extent list (count | count × (gap | length-1))
// at body[o:] and returns it and the offset past it; what names the list
// in errors about page id.
func decodeExtents(body []byte, o int, id ID, high ID, what string) ([]Extent, int, error) {
	count, o, ok := readUvarint(body, o)
	if !ok {
		return nil, o, Corruptf(id, what+" extent count", "a varint", "bad bytes")
	}
	if count > uint64(len(body)-o)/2 {
		return nil, o, corruptInt(id, what+" extent count", fmt.Sprintf("<= %d", (len(body)-o)/2), count)
	}
	exts := make([]Extent, count)
	next := ID(2)
	for i := range exts {
		gap, o2, ok1 := readUvarint(body, o)
		l, o3, ok2 := readUvarint(body, o2)
		o = o3
		bad := !ok1 || !ok2 || gap > uint64(high) || (i > 0 && gap == 0) || l >= uint64(high)
		var e Extent
		if !bad {
			e = Extent{next + ID(gap), l + 1}
			bad = uint64(e.Start)+e.Len > uint64(high)
		}
		if bad {
			return nil, o, Corruptf(id, fmt.Sprintf("%s extent %d", what, i),
				fmt.Sprintf("sorted, apart, inside [2, %d)", high), fmt.Sprintf("gap %d, length-1 %d (at byte %d)", gap, l, o))
		}
		exts[i] = e
		next = e.Start + ID(e.Len)
	}
	return exts, o, nil
}
