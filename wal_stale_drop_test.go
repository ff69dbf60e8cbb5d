package folio

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/foliodb/folio/tx"
)

// TestStaleDropAfterFailedMetaSync: an open must not truncate a
// log of commits the file seems to hold on the strength of a sync of the
// file alone: the sync makes durable only what is dirty in the page
// cache. After a failed sync Linux marks the pages it covered clean,
// keeps their bytes in the cache and reports the error once
// (TestOneSyncFailedSyncReopen models it the same way).
//
// Sequence: WAL mode, logged commits (acknowledged: the log synced); a
// checkpoint writes its pages (synced), then its meta, whose sync fails
// (ErrSyncFailed; the log is kept). The DB is reopened, as the error
// says, in the same boot: the cache shows the checkpoint's meta, so
// every record of the log is stale. A power cut then: every
// acknowledged commit must read back. A truncation at open after a sync
// (68faa6a, reverted) lost them all.
func TestStaleDropAfterFailedMetaSync(t *testing.T) {
	const ps = 1024
	st2, lg2, want := afterFailedMetaSync(t)
	// The reopen after ErrSyncFailed, same boot (st2, lg2).
	db2, err := tx.OpenWithLog("a.db", st2, lg2, walOpts(ps))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	checkWant(t, "reopen", db2, want)
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("reopen: %d log truncations", lg2.truncations())

	// Power cut after that open.
	st3 := newCrashStorage(t, st2.image(st2.opCount(), imageSynced, ps, nil))
	lg3 := newCrashLogWith(st3, lg2.image(lg2.opCount(), logSynced, nil).whole())
	db3, err := tx.OpenWithLog("a.db", st3, lg3, walOpts(ps))
	if err != nil {
		t.Fatalf("open after the power cut: %v", err)
	}
	defer db3.Close()
	checkWant(t, "after a power cut following the reopen", db3, want)
}

// afterFailedMetaSync runs WAL-mode commits (1 KiB pages), then a
// checkpoint whose meta sync fails (ErrSyncFailed; the log is kept), and
// returns what a reopen in the same boot finds: the file as the page
// cache holds it over the disk's image, which lacks what the failed sync
// covered, and the log as synced; and the commits acknowledged.
func afterFailedMetaSync(t *testing.T) (*crashStorage, *crashLog, map[string][]byte) {
	t.Helper()
	const ps, n = 1024, 4
	var (
		db  *DB
		st  *crashStorage
		lg  *crashLog
		err error
	)
	want := map[string][]byte{}
	for step := 0; ; step++ {
		st = newCrashStorage(t, tx.InitialImage(ps))
		lg = newCrashLog(st)
		if db, err = tx.OpenWithLog("a.db", st, lg, walOpts(ps)); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			k, v := fmt.Sprintf("k%d", i), bytes.Repeat([]byte{byte(i + 1)}, 300)
			anchorPut(t, db, k, v)
			want[k] = v
		}
		st.mu.Lock()
		st.failAt = st.calls + step
		st.mu.Unlock()
		err = db.Checkpoint()
		op := st.failedOp
		if op == nil {
			t.Fatal("the checkpoint made no call that could fail")
		}
		if op.kind == opSync && op.off < 2*ps && op.n == ps {
			break // the meta page's sync
		}
		_ = db.Close()
	}
	if err == nil {
		t.Fatal("the checkpoint whose meta sync failed returned nil")
	}
	t.Logf("checkpoint: %v", err)
	cache := st.contents(t)
	disk := st.image(st.opCount(), imageSynced, ps, nil)
	li := lg.image(lg.opCount(), logSynced, nil)
	_ = db.Close()
	st2 := newCrashStorage(t, cache)
	st2.base = disk
	return st2, newCrashLogWith(st2, li.whole()), want
}
