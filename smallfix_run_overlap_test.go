package folio

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/page/pagetest"
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
	branchID := e.meta.High
	high := branchID + page.ID(pagetest.OverlapBranchPages(e.ps, runs)+runs)
	e.b = append(e.b[:int(e.meta.High)*e.ps], make([]byte, int(high-e.meta.High)*e.ps)...)
	e.meta.High = high
	// Each child's header and the branch agree on a checksum; its bytes do not.
	sum, ids := pagetest.OverlappingRuns(e.b, e.ps, branchID, e.meta.TxID, runs, true)
	setBucketRoot(t, e, "a", branchID, sum)
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
