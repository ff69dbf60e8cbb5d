package folio

import (
	"testing"
)

// TestOneSyncFailedMetaWriteRestoreUnsynced: a one-sync commit's
// meta write fails after putting the whole meta in the page cache
// (crashStorage writes the first half of the page: all of a meta listing
// few runs). writeMeta then restores the slot from the other meta, as
// its comment says, so that a crash cannot open the failed commit "as if
// it had committed; here that window closes at the restoring sync". On
// the one-sync path the restore is not synced (writeMetaCommit passes
// sync=false), and nothing syncs afterwards: after the commit returned
// its error and the DB was closed cleanly, a power cut can still leave
// the failed meta in its slot, over pages that all reached the disk, and
// Open serves the failed transaction.
func TestOneSyncFailedMetaWriteRestoreUnsynced(t *testing.T) {
	const ps, pre = 1024, 4
	db, st, models, first := failedMetaWrite(t, ps, pre, false)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The power cut after the clean Close: the writes of the failed
	// commit (its pages, then its meta) reached the disk, the restoring
	// write of the slot did not.
	restore := -1
	for i := first; i < st.opCount(); i++ {
		if op := st.ops[i]; op.kind == opWrite && op.off < int64(2*ps) {
			restore = i // the last write to a meta slot
		}
	}
	if restore < 0 {
		t.Fatal("no meta write recorded")
	}
	synced := false
	for _, op := range st.ops[restore:] {
		synced = synced || op.kind == opSync
	}
	t.Logf("the restoring write of the slot (op %d, %s) is synced afterwards: %v", restore, st.ops[restore], synced)
	img := st.image(restore, imageAll, ps, nil)
	db2, err := openImage(t, "fault.db", img, &Options{VerifyChecksums: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer db2.Close()
	if !synced {
		if err := db2.View(func(tx *Tx) error { return diffDB(tx, models[pre]) }); err != nil {
			t.Errorf("after a failed commit and a clean Close, a power cut leaves the failed transaction in the file: %v", err)
		}
	}
}
