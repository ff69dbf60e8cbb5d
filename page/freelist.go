package page

import (
	"encoding/binary"
	"fmt"
)

// Wire format: a freelist run holds the free and pending extents at the
// time of its commit, sorted by start, non-overlapping, non-adjacent:
//
//	count u64 | count × (start u64 | length u64)
const extentSize = 16

// Extent is a run of Len pages starting at Start.
type Extent struct {
	Start ID
	Len   uint64
}

// FreelistSize is the body size needed for n extents.
func FreelistSize(n int) int { return 8 + n*extentSize }

// EncodeFreelist writes exts into body (len >= FreelistSize(len(exts))).
func EncodeFreelist(body []byte, exts []Extent) {
	binary.LittleEndian.PutUint64(body, uint64(len(exts)))
	for i, e := range exts {
		o := 8 + i*extentSize
		binary.LittleEndian.PutUint64(body[o:], uint64(e.Start))
		binary.LittleEndian.PutUint64(body[o+8:], e.Len)
	}
}

// DecodeFreelist decodes the body of freelist page id. Every extent must
// lie in [2, high), in order and apart from its neighbours.
func DecodeFreelist(body []byte, id ID, high ID) ([]Extent, error) {
	if len(body) < 8 {
		return nil, corruptInt(id, "freelist size", ">= 8 bytes", len(body))
	}
	n := binary.LittleEndian.Uint64(body)
	if n > uint64(len(body)-8)/extentSize {
		return nil, corruptInt(id, "freelist extent count", fmt.Sprintf("<= %d", (len(body)-8)/extentSize), n)
	}
	exts := make([]Extent, n)
	next := ID(2)
	for i := range exts {
		o := 8 + i*extentSize
		e := Extent{ID(binary.LittleEndian.Uint64(body[o:])), binary.LittleEndian.Uint64(body[o+8:])}
		if e.Start < next || e.Len == 0 || e.Len > uint64(high) || uint64(e.Start)+e.Len > uint64(high) ||
			(i > 0 && e.Start == next) {
			return nil, Corruptf(id, fmt.Sprintf("freelist extent %d", i),
				fmt.Sprintf("sorted, apart, inside [2, %d)", high), fmt.Sprintf("[%d, +%d)", e.Start, e.Len))
		}
		exts[i] = e
		next = e.Start + ID(e.Len)
	}
	// The rest of the run is zero as written, so a body decodes only one way.
	for i, b := range body[FreelistSize(len(exts)):] {
		if b != 0 {
			return nil, corruptInt(id, fmt.Sprintf("freelist byte %d past the extents", FreelistSize(len(exts))+i), 0, b)
		}
	}
	return exts, nil
}
