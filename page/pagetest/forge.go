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
		ids := make([]page.ID, len(children))
		names := make([][]byte, len(children))
		for i, c := range children {
			ids[i], names[i] = page.ID(c), []byte(fmt.Sprintf("%06d", keys[i]))
		}
		return PutBranch(pg(id), page.ID(id), 1, 0, ids, sums, names)
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

// PutBranch writes at the start of run a branch (page id, of txid, with
// overflow pages after its first) whose element i points at children[i],
// expecting checksum sums[i], under keys[i]; it seals the run and
// returns its checksum. It writes no other bytes of run.
func PutBranch(run []byte, id page.ID, txid page.TxID, overflow uint32, children []page.ID, sums []uint32, keys [][]byte) uint32 {
	n := len(children)
	page.PutHeader(run, id, txid, page.FlagBranch, n, overflow)
	off := page.HeaderSize + n*(page.HintSize+page.BranchElemSize)
	for i, child := range children {
		page.PutHint(run, i, keys[i])
		page.PutBranchElem(run, i, child, sums[i], off, len(keys[i]))
		off += copy(run[off:], keys[i])
	}
	return page.Seal(run)
}

// OverlapBranchPages is how many pages of ps bytes the branch that
// OverlappingRuns writes over runs children takes.
func OverlapBranchPages(ps, runs int) int {
	return (page.HeaderSize + runs*(page.HintSize+page.BranchElemSize+len(overlapKey(0))) + ps - 1) / ps
}

func overlapKey(i int) []byte { return []byte(fmt.Sprintf("k%05d", i)) }

// OverlappingRuns writes into file (pages of ps bytes, of txid) a branch
// run at page branchID over runs children that overlap: leaves of one
// element (key k%05d, its separator in the branch, and value "v"), child
// i a run of i+1 pages ending at the file's end, so each child overlaps
// all those before it. The file ends right after the branch and the
// first child's page. With badSums, each child's header and the branch
// agree on a checksum that its bytes do not have. It returns the
// branch's checksum and the children's first pages, in the branch's
// order.
func OverlappingRuns(file []byte, ps int, branchID page.ID, txid page.TxID, runs int, badSums bool) (uint32, []page.ID) {
	high := page.ID(len(file) / ps)
	ids := make([]page.ID, runs)
	sums := make([]uint32, runs)
	keys := make([][]byte, runs)
	for i := range runs { // from the end of the file: each seal covers final bytes
		id := high - 1 - page.ID(i)
		run := file[int(id)*ps:]
		page.PutHeader(run, id, txid, page.FlagLeaf, 1, uint32(i))
		key := overlapKey(i)
		koff := page.HeaderSize + page.HintSize + page.LeafElemSize
		page.PutHint(run, 0, key)
		page.PutLeafElem(run, 0, 0, koff, len(key), 1)
		copy(run[koff:], key)
		run[koff+len(key)] = 'v'
		sum := page.Seal(run)
		if badSums {
			sum ^= 1
			binary.LittleEndian.PutUint32(run, sum)
		}
		ids[i], sums[i], keys[i] = id, sum, key
	}
	branch := OverlapBranchPages(ps, runs)
	run := file[int(branchID)*ps : int(branchID+page.ID(branch))*ps]
	return PutBranch(run, branchID, txid, uint32(branch-1), ids, sums, keys), ids
}
