package tx_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/tx"
)

// TestBatchSharesCommit: Batch calls made while the write lock is held
// (here by a Begin(true) of the test's) queue up, and the first of them,
// once it has the lock, runs every queued function in one transaction:
// one commit for all of them, and every write is in it. (The root
// package's TestBatchConcurrent can only log whether its writers shared
// commits: under load that depends on the scheduler.)
func TestBatchSharesCommit(t *testing.T) {
	db := openBucketTest(t)
	const callers = 8
	if n := batchBehindLock(t, db, callers); n != 1 {
		t.Errorf("%d Batch calls queued together took %d commits, want 1", callers, n)
	}
	if err := db.View(func(tx *folio.Tx) error {
		for i := range callers {
			if tx.Bucket([]byte("b")).Get([]byte(fmt.Sprint("k", i))) == nil {
				return fmt.Errorf("k%d lost", i)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// batchBehindLock creates bucket "b" in db, queues callers Batch calls
// (each puts "k<i>") behind a held write lock, releases it and returns
// the commits they took once all returned.
func batchBehindLock(t *testing.T, db *folio.DB, callers int) int64 {
	t.Helper()
	if err := db.Update(func(tx *folio.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	held, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			errs <- db.Batch(func(tx *folio.Tx) error {
				return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprint("k", i)), []byte("v"))
			})
		}()
	}
	for start := time.Now(); tx.QueuedBatchCalls(db) < callers; runtime.Gosched() {
		if time.Since(start) > 20*time.Second {
			_ = held.Rollback()
			t.Fatalf("%d of %d Batch calls queued behind the held write lock", tx.QueuedBatchCalls(db), callers)
		}
	}
	before := db.Stats().TxStats.Commits
	if err := held.Rollback(); err != nil {
		t.Fatal(err)
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return db.Stats().TxStats.Commits - before
}

// TestBatchMaxBatchSizeCaps: calls queued behind a held write lock
// commit in transactions of at most MaxBatchSize calls (8 calls, 3 at a
// time: 3 commits); 0 or a negative size means DefaultMaxBatchSize (one
// commit), not bbolt's no batching.
func TestBatchMaxBatchSizeCaps(t *testing.T) {
	for _, c := range []struct{ size, commits int }{{3, 3}, {1, 8}, {0, 1}, {-1, 1}} {
		t.Run(fmt.Sprint("size=", c.size), func(t *testing.T) {
			db := openBucketTest(t)
			db.MaxBatchSize = c.size
			const callers = 8
			if n := batchBehindLock(t, db, callers); n != int64(c.commits) {
				t.Errorf("MaxBatchSize %d: %d queued Batch calls took %d commits, want %d", c.size, callers, n, c.commits)
			}
		})
	}
}
