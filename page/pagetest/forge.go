// Package pagetest forges database files, page by page, for the tests of
// folio's packages that need the same hostile file (a test-only package:
// nothing of folio's imports it outside tests).
package pagetest

import (
	"encoding/binary"
	"fmt"

	"github.com/foliodb/folio/page"
)

// NestedRuns builds a file (pages of ps bytes) whose bucket "a" is
// a branch over mids branches of per children each; child k is a run
// from page k to the end of the file, so each run lies inside the one
// before it, and each fails its CRC (its header holds the checksum its
// parent expects, which its bytes do not have). The free list is
// persisted and empty.
func NestedRuns(ps, mids, per int) []byte {
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
