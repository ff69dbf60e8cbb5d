package folio

import (
	"testing"

	"github.com/foliodb/folio/tx"
)

// TestWALOpenDropsStaleLog: a crash after a checkpoint's meta, before its
// log truncation, leaves a log of commits the file holds already. A
// read-write open syncs the file (its meta may be in the page cache
// only) and then truncates the log; before, the records stayed until a
// checkpoint, which a database that commits nothing more never runs. A
// read-only open leaves the log alone, and a clean log (an anchor only)
// costs no sync.
func TestWALOpenDropsStaleLog(t *testing.T) {
	const ps = 1024
	img, recs, models := checkpointedBesideLog(t)

	st := newCrashStorage(t, img)
	lg := newCrashLogWith(st, recs)
	db, err := tx.OpenWithLog("a.db", st, lg, walOpts(ps))
	if err != nil {
		t.Fatal(err)
	}
	checkHolds(t, "read-write", db, models, fuzzLogTxns, fuzzLogTxns)
	if in, err := db.Info(); err != nil || in.Replayed != 0 || in.LogPending != 0 {
		t.Fatalf("the file holds every commit: Info %+v, %v", in, err)
	}
	synced := -1
	for i, op := range st.ops {
		if op.kind == opSync && op.off == 0 && op.n >= 2*ps {
			synced = i
		}
	}
	var truncated bool
	for _, op := range lg.ops {
		if op.kind == logTruncate {
			truncated = true
			if synced < 0 || op.fileOps <= synced {
				t.Fatalf("the log was truncated (file calls %d) before the file was synced (call %d): %v", op.fileOps, synced, st.ops)
			}
			if op.lsn != uint64(len(recs))+1 {
				t.Errorf("truncated up to lsn %d, want every record gone (first kept %d)", op.lsn-1, len(recs)+1)
			}
		}
	}
	if !truncated {
		t.Fatal("the stale log was not truncated")
	}
	closeChecked(t, db)

	// Read-only: nothing written, nothing truncated.
	st2 := newCrashStorage(t, img)
	lg2 := newCrashLogWith(st2, recs)
	ro := *walOpts(ps)
	ro.ReadOnly = true
	db, err = tx.OpenWithLog("a.db", st2, lg2, &ro)
	if err != nil {
		t.Fatal(err)
	}
	checkHolds(t, "read-only", db, models, fuzzLogTxns, fuzzLogTxns)
	closeChecked(t, db)
	if st2.opCount() != 0 || lg2.opCount() != 0 {
		t.Fatalf("a read-only open made %d file calls and %d log calls", st2.opCount(), lg2.opCount())
	}

	// What that open's Close left (its log: the anchor its checkpoint
	// wrote, if any): the next open syncs and truncates nothing.
	lg.mu.Lock()
	live := append([]logRecord(nil), lg.recs[lg.first-1:]...)
	lg.mu.Unlock()
	st3 := newCrashStorage(t, st.image(st.opCount(), imageAll, ps, nil))
	lg3 := newCrashLogWith(st3, live)
	db, err = tx.OpenWithLog("a.db", st3, lg3, walOpts(ps))
	if err != nil {
		t.Fatal(err)
	}
	checkHolds(t, "reopened", db, models, fuzzLogTxns, fuzzLogTxns)
	if st3.opCount() != 0 || lg3.opCount() != 0 {
		t.Errorf("an open of a clean log made %d file calls and %d log calls: %v", st3.opCount(), lg3.opCount(), lg3.ops)
	}
	closeChecked(t, db)
}
