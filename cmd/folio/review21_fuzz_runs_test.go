package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

// forgeNestedRunsCLI (the root package's forgeNestedRuns) builds a file (pages of ps bytes) whose bucket "a" is
// a branch over mids branches of per children each; child k is a run
// from page k to the end of the file, so each run lies inside the one
// before it, and each fails its CRC (its header holds the checksum its
// parent expects, which its bytes do not have). The free list is
// persisted and empty.
func forgeNestedRunsCLI(ps, mids, per int) []byte {
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

// TestReview21PagesNestedRuns: "folio pages" read every run it reached
// in full before looking at it, and a hostile file whose runs each lie
// inside the one before (each failing its CRC) cost it every run's
// length: quadratic in the file (20 s for a 7 MB file of 4 KiB pages,
// 56 s for 14 MB). The walk now reads no more pages in all than the
// file has; past that, a run is shown from its header, not read. Each
// "bad:" line below is a run read in full.
func TestReview21PagesNestedRuns(t *testing.T) {
	const mids, per = 2, 110
	path := filepath.Join(t.TempDir(), "nested.db")
	if err := os.WriteFile(path, forgeNestedRunsCLI(4096, mids, per), 0o600); err != nil {
		t.Fatal(err)
	}
	pf, err := openRawPageFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	read, unread := 0, 0
	for _, u := range walkPages(pf).runs {
		switch {
		case u.note != "bucket a":
		case strings.HasPrefix(u.checksum, "bad:"):
			read++
		case strings.HasPrefix(u.problem, "not read"):
			unread++
		}
	}
	if read > 3 || read+unread != mids*per {
		t.Errorf("pages read %d of the %d nested runs in full and left %d unread; want at most 3 read, the rest not", read, mids*per, unread)
	}
}

// TestReview21PagesDeepNesting: pages' note for a page names its bucket,
// and named every bucket of the path: for buckets nested n deep the
// notes, and pages' output and memory, grew as n² (a 4 MB file of
// buckets nested 4000 deep: 670 MB and 18 s). A deep path is shown by
// its ends now, saying how many names are left out.
func TestReview21PagesDeepNesting(t *testing.T) {
	const depth = 300
	path := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		for i := 0; err == nil && i < depth; i++ {
			if err = b.Put([]byte("k"), []byte("v")); err == nil {
				b, err = b.CreateBucket(fmt.Appendf(nil, "n%d", i))
			}
		}
		return err
	})
	code, stdout, stderr := runCLI(t, "pages", path)
	if code != exitOK {
		t.Fatalf("pages: exit %d: %s", code, stderr)
	}
	// The deepest bucket with pages: "b", then n0 to n298 (n299 is empty).
	deepest := fmt.Sprintf(`bucket b/n0/ ...%d more... /n%d/n%d/n%d/n%d/n%d/n%d`, depth-maxNotePath, depth-7, depth-6, depth-5, depth-4, depth-3, depth-2)
	for _, line := range strings.Split(stdout, "\n") {
		if len(line) > 200 {
			t.Fatalf("a line of %d bytes: %.200s...", len(line), line)
		}
	}
	if !strings.Contains(stdout, deepest+"\n") {
		t.Errorf("no page noted %q:\n%s", deepest, stdout)
	}
}
