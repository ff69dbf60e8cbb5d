package folio

import (
	"bytes"
	"testing"

	"github.com/foliodb/folio/tx"
)

// TestOneSyncTornCommitRevivesWAL is TestOneSyncTornCommitRevives
// with the file then opened in WAL mode, where the torn commit T's meta
// stays in its slot until the first checkpoint (logged commits write no
// meta to the file). The next transaction U, with T's txid, puts the
// same key in a as T did and another in c; it is logged, synced and
// acknowledged. Its page writes to the file are not synced (they need
// not be: the log holds them). A power cut after only U's first page,
// T's lost run byte for byte, reached the file: Open takes T's meta as
// the newest whole commit, and replay skips U's record as already in the
// file (its txid is T's). U's acknowledged put in c is lost, and T's
// put in b, rolled back by the first recovery, is back.
func TestOneSyncTornCommitRevivesWAL(t *testing.T) {
	const ps = 1024
	// First power cut: T's first run did not reach the disk.
	torn := tearFirstRun(t, ps, "a", "b", "c")
	after, first, lo, hi, info := torn.after, torn.runs[0], torn.lo, torn.hi, torn.info
	put := func(tx *Tx, bucket, v string) error { return tx.Bucket([]byte(bucket)).Put([]byte("k"), []byte(v)) }

	// Opened in WAL mode: U is logged and acknowledged.
	st2 := newCrashStorage(t, torn.img)
	lg2 := newCrashLog(st2)
	db2, err := tx.OpenWithLog("revive.db", st2, lg2, &Options{WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	db2.AllocSize = 4 * ps
	if db2.Stats().MetaFallback == "" {
		t.Fatal("the torn commit was not detected")
	}
	mustUpdate(t, db2, func(tx *Tx) error {
		if err := put(tx, "a", "in a"); err != nil {
			return err
		}
		return put(tx, "c", "acknowledged")
	})
	done, logDone := st2.opCount(), lg2.opCount()
	cache := st2.contents(t)
	if !bytes.Equal(cache[lo:hi], after[lo:hi]) {
		// The allocator puts U's write where T's lost run was; if it no
		// longer does, this setup tests nothing and must be changed.
		t.Fatalf("U's write at page %d is not T's lost run: nothing revives T here", first.ID)
	}
	// Second power cut: the log as synced; of U's unsynced file pages,
	// only the one at T's lost run reached the disk.
	file := st2.image(done, imageSynced, ps, nil)
	copy(file[lo:hi], cache[lo:hi])
	recs := lg2.image(logDone, logSynced, nil).whole()
	_ = db2.Close()

	st3 := newCrashStorage(t, file)
	db3, err := tx.OpenWithLog("revive.db", st3, newCrashLogWith(st3, recs), &Options{WAL: true, VerifyChecksums: true})
	if err != nil {
		t.Fatalf("open after the second power cut: %v", err)
	}
	defer db3.Close()
	if i, err := db3.Info(); err == nil {
		t.Logf("reopened: %+v; fallback %q; T was txid %d", i, db3.Stats().MetaFallback, info.TxID)
	}
	for _, err := range checkErrs(db3) {
		t.Errorf("check: %v", err)
	}
	if err := db3.View(func(tx *Tx) error {
		if v := tx.Bucket([]byte("c")).Get([]byte("k")); string(v) != "acknowledged" {
			t.Errorf("c/k = %q after the second power cut: U, logged and acknowledged, is lost", v)
		}
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); v != nil {
			t.Errorf("b/k = %q after the second power cut: T, which the first recovery rolled back, is back", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
