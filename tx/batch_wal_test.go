package tx

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// heldSyncLog is a memLog whose SyncTo waits until release is closed.
type heldSyncLog struct {
	*memLog
	release chan struct{}
	waiting atomic.Int32
}

func (l *heldSyncLog) SyncTo(lsn uint64) error {
	l.waiting.Add(1)
	<-l.release
	l.waiting.Add(-1)
	return l.memLog.SyncTo(lsn)
}

// TestWALBatchWaitsForSync: in WAL mode a Batch leader waits for the log
// sync in flight before it takes the queue, so the calls that queued
// meanwhile share one commit rather than each committing alone. (Here,
// not in the root package, to wait until all of them are queued: after
// a sleep instead, a loaded machine left one out now and then, and it
// committed alone.)
func TestWALBatchWaitsForSync(t *testing.T) {
	lg := &heldSyncLog{memLog: &memLog{}, release: make(chan struct{})}
	db, err := OpenWithLog("batch.db", newMemStore(InitialImage(testPS)), lg,
		&Options{WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			close(lg.release) // or Close waits for the held commits forever
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	put := func(k string) func(*Tx) error {
		return func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte(k), []byte("v-"+k)) }
	}
	close(lg.release)
	if err := db.Update(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	lg.release = make(chan struct{})

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for start := time.Now(); !cond(); runtime.Gosched() {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("timed out waiting until %s", what)
			}
		}
	}
	errs := make(chan error, 9)
	go func() { errs <- db.Batch(put("k1")) }()
	waitFor("the commit of k1 waits for its sync", func() bool { return lg.waiting.Load() == 1 })
	before := db.Stats().TxStats.Commits
	for i := 2; i <= 9; i++ {
		go func() { errs <- db.Batch(put(fmt.Sprintf("k%d", i))) }()
	}
	// A leader that took the queue at once would commit and wait too.
	waitFor("eight more Batch calls queue", func() bool { return QueuedBatchCalls(db) == 8 || lg.waiting.Load() > 1 })
	if n := lg.waiting.Load(); n != 1 {
		t.Fatalf("%d commits wait for a log sync while one is in flight; the next batch should wait to take the queue", n)
	}
	released = true
	close(lg.release)
	for range 9 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := db.Stats().TxStats.Commits - before; n != 2 {
		t.Fatalf("nine Batch calls took %d commits, want 2 (k1, then the eight queued behind its sync)", n)
	}
	err = db.View(func(tx *Tx) error {
		for i := 1; i <= 9; i++ {
			if tx.Bucket([]byte("b")).Get(fmt.Appendf(nil, "k%d", i)) == nil {
				return fmt.Errorf("k%d lost", i)
			}
		}
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
