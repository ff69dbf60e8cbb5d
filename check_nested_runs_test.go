package folio

import (
	"errors"
	"testing"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/page/pagetest"
)

// TestCheckNestedFailingRuns: Check of a file whose runs each lie
// inside the one before it, all failing their CRC, checksummed every run
// in full: the runs start at increasing pages, so none overlaps a page
// walked before (a failed run marks only its first page), and the work
// was quadratic in the pages (a 7 MB file of 4 KiB pages took a second,
// a 74 MB one minutes). A walk's CRCs now read no more pages in all
// than the file has: past that, a run is refused from its header, which
// a file whose runs do not overlap never meets. Each checksum problem
// below is one run checksummed in full.
func TestCheckNestedFailingRuns(t *testing.T) {
	const mids, per = 2, 110 // as many as a 4 KiB branch holds
	img := pagetest.NestedRuns(4096, mids, per)
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
