package folio

import (
	"bytes"
	"errors"
	"testing"

	"github.com/foliodb/folio/tx"
)

// TestOneSyncFailedSyncReopen: a one-sync commit's single msync
// fails (EIO). Linux then marks the dirty pages clean (they may never
// reach the disk) but keeps their new bytes in the page cache, and
// reports the error once. The DB refuses writes until reopened; the
// reopen, in the same boot, reads the page cache. There the failed
// commit's meta is in its slot (written before the sync) and every run
// it lists checks (the cache has them), so Open adopts a commit whose
// pages the disk may not hold. The next commit is acknowledged, points
// at those pages (it rewrites only what it changes), and a power cut
// then leaves an acknowledged commit that does not read back.
//
// With two syncs the failing sync was the pages' own: no meta had been
// written, the reopen found the state before the transaction, and the
// next commit built on durable pages only.
func TestOneSyncFailedSyncReopen(t *testing.T) {
	const ps, pre = 1024, 4
	large := bytes.Repeat([]byte{0xa5}, 3*ps)
	failing := func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("x"))
		if err != nil {
			return err
		}
		return b.Put([]byte("v"), large)
	}
	// Fail the commit's first sync of its pages (with two syncs, the
	// pages' own; with one, the only one): try each call in turn.
	var (
		db     *DB
		st     *crashStorage
		models []*mbucket
		err    error
	)
	for step := 0; ; step++ {
		db, st, models = faultDB(t, ps, pre, &Options{})
		st.mu.Lock()
		st.failAt = st.calls + step
		st.mu.Unlock()
		err = db.Update(failing)
		if op := st.failedOp; op != nil && op.kind == opSync {
			break
		}
		_ = db.Close()
		if st.failedOp == nil {
			t.Fatal("the commit made no sync")
		}
	}
	if !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("commit with a failing sync: %v, want ErrSyncFailed", err)
	}
	t.Logf("failed %v", st.failedOp)
	// What the page cache holds (every write), and what the disk holds if
	// the writeback the failed msync reported lost all of them.
	cache := st.contents(t)
	disk := st.image(st.opCount(), imageSynced, ps, nil)
	_ = db.Close()

	// The reopen after ErrSyncFailed, in the same boot: from the cache.
	st2 := newCrashStorage(t, cache)
	db2, err := tx.Open("fault.db", st2, &Options{})
	if err != nil {
		t.Fatalf("reopen after the failed sync: %v", err)
	}
	db2.AllocSize = 4 * ps
	adopted := false
	if err := db2.View(func(tx *Tx) error { adopted = tx.Bucket([]byte("x")) != nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if adopted {
		t.Errorf("the reopen after a failed one-sync commit adopted that commit from the page cache: its pages may not be on the disk")
	}
	// An acknowledged commit on top.
	if err := db2.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("y"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("acknowledged"))
	}); err != nil {
		t.Fatalf("commit after the reopen: %v", err)
	}
	// A power cut: the disk has what it had after the failed sync, plus
	// what the reopened DB synced.
	final := (&crashStorage{base: disk, ops: st2.ops}).image(st2.opCount(), imageSynced, ps, nil)
	_ = db2.Close()
	db3, err := openImage(t, "fault.db", final, &Options{VerifyChecksums: true})
	if err != nil {
		t.Fatalf("the acknowledged commit after the reopen is lost: open: %v", err)
	}
	defer db3.Close()
	for _, err := range checkErrs(db3) {
		t.Errorf("after a power cut, the acknowledged commit made on the reopened file: check: %v", err)
	}
	err = db3.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("y"))
		if b == nil || string(b.Get([]byte("k"))) != "acknowledged" {
			t.Errorf("after a power cut: the acknowledged commit is not in the file")
		}
		if x := tx.Bucket([]byte("x")); x != nil {
			if v := x.Get([]byte("v")); !bytes.Equal(v, large) {
				t.Errorf("after a power cut: bucket x (the failed commit's) reads %d bytes, err %v; want its value or no bucket", len(v), tx.Err())
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("after a power cut: %v", err)
	}
	_ = models
}
