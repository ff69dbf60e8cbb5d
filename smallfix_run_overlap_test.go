package folio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
)

// TestCheckOverlappingRuns: Check of a file whose bucket tree has a
// branch over runs that overlap one another, child i a run of i+1 pages
// ending at the file's end, each starting a page before the one before
// it. Check checksums every run it reads, and used to do so before it
// saw the overlap: 1+2+...+n pages of CRC for n runs (a run may be 2^20
// pages). Each run's checksum here is wrong (its header and its parent
// agree on a checksum that its bytes do not have): a run Check reads
// says "checksum", a run it refuses from its header alone says
// "reachable twice", naming the first page of the child before it.
func TestCheckOverlappingRuns(t *testing.T) {
	const runs = 200
	path, img := builtImage(t, &Options{PageSize: 1024}, func(tx *Tx) error {
		for _, name := range []string{"a", "b"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), pagedValue(1024)); err != nil {
				return err
			}
		}
		return nil
	})
	e := newEditImage(t, img)

	// The branch run at the old end of the file, then the children.
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%05d", i)) }
	branchID := e.meta.High
	branch := (page.HeaderSize + runs*(page.HintSize+page.BranchElemSize+len(key(0))) + e.ps - 1) / e.ps
	high := branchID + page.ID(branch+runs)
	e.b = append(e.b[:int(e.meta.High)*e.ps], make([]byte, int(high-e.meta.High)*e.ps)...)
	e.meta.High = high
	ids := make([]page.ID, runs)
	sums := make([]uint32, runs)
	for i := range runs { // from the end of the file: each seal covers final bytes
		id := high - 1 - page.ID(i)
		run := e.b[int(id)*e.ps:]
		page.PutHeader(run, id, e.meta.TxID, page.FlagLeaf, 1, uint32(i))
		koff := page.HeaderSize + page.HintSize + page.LeafElemSize
		page.PutHint(run, 0, key(i))
		page.PutLeafElem(run, 0, 0, koff, len(key(i)), 1)
		copy(run[koff:], key(i))
		run[koff+len(key(i))] = 'v'
		sum := page.Seal(run) ^ 1 // the header and the branch agree on it; the bytes do not
		binary.LittleEndian.PutUint32(run, sum)
		ids[i], sums[i] = id, sum
	}
	run := e.b[int(branchID)*e.ps : int(branchID+page.ID(branch))*e.ps]
	page.PutHeader(run, branchID, e.meta.TxID, page.FlagBranch, runs, uint32(branch-1))
	off := page.HeaderSize + runs*(page.HintSize+page.BranchElemSize)
	for i := range runs {
		page.PutHint(run, i, key(i))
		page.PutBranchElem(run, i, ids[i], sums[i], off, len(key(i)))
		off += copy(run[off:], key(i))
	}
	setBucketRoot(t, e, "a", branchID, page.Seal(run))
	writeImage(t, path, e.b)

	db := openEdited(t, path)
	var errs []error
	before(t, 20*time.Second, "Check", func() { errs = checkErrs(db) })
	twice := map[page.ID]int{}
	summed := map[page.ID]bool{}
	for _, err := range errs {
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Errorf("check: %v, want a *CorruptError", err)
			continue
		}
		switch msg := err.Error(); {
		case strings.Contains(msg, "reachable twice"):
			twice[ce.Page]++
		case strings.Contains(msg, "checksum"):
			summed[ce.Page] = true
		}
	}
	if !summed[ids[0]] {
		t.Errorf("the first child, page %d, not reported with a bad checksum", ids[0])
	}
	for i := 1; i < runs; i++ {
		if summed[ids[i]] {
			t.Errorf("child %d, page %d: its checksum was computed, overlapping the child before it", i, ids[i])
		}
		if twice[ids[i-1]] != 1 {
			t.Errorf("child %d: page %d reported reachable twice %d times, want once", i, ids[i-1], twice[ids[i-1]])
		}
	}
	if t.Failed() {
		for _, err := range errs[:min(len(errs), 10)] {
			t.Logf("  %v", err)
		}
	}
}
