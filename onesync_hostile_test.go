package folio

import (
	"testing"
	"time"

	"github.com/foliodb/folio/page"
)

// TestOneSyncHostileRunList: a file whose newest meta lists the
// one large run its commit wrote 4,090 times (the most a 64 KiB meta
// page holds). Every entry passes DecodeMeta and VerifyCommit, so Open
// checksums that run 4,090 times: here a 512 KiB run costs 2 GiB of CRC,
// and a 1 GiB file would cost 4 TiB. A list no commit writes (runs out
// of order or overlapping) should make the meta unusable instead.
func TestOneSyncHostileRunList(t *testing.T) {
	const ps = 64 << 10
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("big"), make([]byte, 512<<10)) // under maxOneSyncBytes
	})
	info, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	img := closedImage(t, db)
	mp := img[info.MetaSlot*ps : (info.MetaSlot+1)*ps]
	m, err := page.DecodeMeta(mp, page.ID(info.MetaSlot))
	if err != nil {
		t.Fatal(err)
	}
	var big page.CommitRun
	for _, r := range page.MetaCommitRuns(mp, nil) {
		if r.Pages > big.Pages {
			big = r
		}
	}
	if big.Pages < 8 {
		t.Fatalf("the commit listed no large run: %+v", page.MetaCommitRuns(mp, nil))
	}
	open := func(what string) *DB {
		start := time.Now()
		db, err := Open(path, 0o600, &Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("%s: open: %v", what, err)
		}
		t.Logf("%s: %d-byte file opened in %v (fallback: %q)", what, len(img), time.Since(start), db.Stats().MetaFallback)
		return db
	}
	_ = open("as written").Close()

	runs := make([]page.CommitRun, page.MaxCommitRuns(ps))
	for i := range runs {
		runs[i] = big
	}
	page.EncodeMetaCommit(mp, page.ID(info.MetaSlot), &m, runs)
	writeRaw(t, path, img)
	db = open("the large run listed 4090 times")
	defer db.Close()
	if db.Stats().MetaFallback == "" {
		t.Errorf("Open accepted a meta listing one %d-page run %d times: %d GiB checksummed for a %d MiB file",
			big.Pages, len(runs), uint64(len(runs))*uint64(big.Pages)*ps>>30, len(img)>>20)
	}
}
