package folio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
)

// forgeNestedRuns builds a file (pages of ps bytes) whose bucket "a" is
// a branch over mids branches of per children each; child k is a run
// from page k to the end of the file, so each run lies inside the one
// before it, and each fails its CRC (its header holds the checksum its
// parent expects, which its bytes do not have). The free list is
// persisted and empty.
func forgeNestedRuns(ps, mids, per int) []byte {
	m := mids * per
	v0 := 4 + mids
	n := v0 + m
	img := make([]byte, (n+1)*ps)
	pg := func(id int) []byte { return img[id*ps : (id+1)*ps] }
	branch := func(id int, children []int, sums []uint32, keys []int) uint32 {
		p := pg(id)
		cnt := len(children)
		page.PutHeader(p, page.ID(id), 1, page.FlagBranch, cnt, 0)
		off := page.HeaderSize + cnt*(page.HintSize+page.BranchElemSize)
		for i, c := range children {
			key := []byte(fmt.Sprintf("%06d", keys[i]))
			page.PutHint(p, i, key)
			page.PutBranchElem(p, i, page.ID(c), sums[i], off, len(key))
			off += copy(p[off:], key)
		}
		return page.Seal(p)
	}
	// victims
	var vids []int
	var vsums []uint32
	for k := v0; k < n; k++ {
		p := pg(k)
		page.PutHeader(p, page.ID(k), 1, page.FlagLeaf, 0, uint32(n-1-k))
		binary.LittleEndian.PutUint32(p, 0xabcd1234)
		vids = append(vids, k)
		vsums = append(vsums, 0xabcd1234)
	}
	var mid []int
	var midSums []uint32
	for j := 0; j < mids; j++ {
		id := 4 + j
		midSums = append(midSums, branch(id, vids[j*per:(j+1)*per], vsums[j*per:(j+1)*per], vids[j*per:(j+1)*per]))
		mid = append(mid, id)
	}
	var firsts []int
	for j := range mids {
		firsts = append(firsts, vids[j*per])
	}
	rootSum := branch(3, mid, midSums, firsts)
	// directory leaf at 2: bucket "a" -> 3
	p := pg(2)
	page.PutHeader(p, 2, 1, page.FlagLeaf, 1, 0)
	off := page.HeaderSize + (page.HintSize + page.LeafElemSize)
	page.PutHint(p, 0, []byte("a"))
	page.PutLeafElem(p, 0, page.LeafBucket, off, 1, page.BucketHeaderSize)
	p[off] = 'a'
	page.BucketHeader{Root: 3, RootSum: rootSum}.Encode(p[off+1:])
	dirSum := page.Seal(p)
	fl := pg(n)
	page.PutHeader(fl, page.ID(n), 1, page.FlagFreelist, 0, 0)
	page.EncodeFreelist(fl[page.HeaderSize:], nil)
	flSum := page.Seal(fl)
	for slot := 0; slot < 2; slot++ {
		page.EncodeMeta(pg(slot), page.ID(slot), &page.Meta{PageSize: uint32(ps), Root: 2, RootSum: dirSum, Freelist: page.ID(n), FreelistSum: flSum, High: page.ID(n + 1), TxID: page.TxID(1 + slot)})
	}
	return img
}

// TestReview21CheckNestedFailingRuns: Check of a file whose runs each lie
// inside the one before it, all failing their CRC, checksummed every run
// in full: the runs start at increasing pages, so none overlaps a page
// walked before (a failed run marks only its first page), and the work
// was quadratic in the pages (a 7 MB file of 4 KiB pages took a second,
// a 74 MB one minutes). A walk's CRCs now read no more pages in all
// than the file has: past that, a run is refused from its header, which
// a file whose runs do not overlap never meets. Each checksum problem
// below is one run checksummed in full.
func TestReview21CheckNestedFailingRuns(t *testing.T) {
	const mids, per = 2, 110 // as many as a 4 KiB branch holds
	img := forgeNestedRuns(4096, mids, per)
	db, err := openImage(t, "x.db", img, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	crcs, refused := 0, 0
	for _, err := range checkErrs(db) {
		var ce *page.CorruptError
		switch {
		case !errors.As(err, &ce):
			t.Errorf("Check: %v: no page named", err)
		case ce.What == "checksum":
			crcs++
		case ce.What == "run length":
			refused++
		}
	}
	if crcs > 3 || crcs+refused != mids*per {
		t.Errorf("Check checksummed %d of the %d nested runs in full and refused %d; want at most 3 checksummed, the rest refused", crcs, mids*per, refused)
	}
}
