package folio

import (
	"errors"
	"strings"
	"testing"
)

// TestDocsTimeoutTriedOnceMessage: Options.Timeout < 0 tries the
// lock once (README, "Options"), and its ErrTimeout said "waited -1ns",
// a wait that never happened and a duration no one set. The lock is
// held here by another Open in this process, which the message must not
// put down to another process alone.
func TestDocsTimeoutTriedOnceMessage(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(path, 0o600, &Options{Timeout: -1})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("second Open with Timeout -1: %v, want ErrTimeout", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "waited -") || !strings.Contains(msg, "tried once") {
		t.Errorf("Open with Timeout -1: %q; want it to say the lock was tried once, not a negative wait", msg)
	}
	if !strings.Contains(msg, path) || !strings.Contains(msg, "another Open") {
		t.Errorf("Open with Timeout -1: %q; want the path, and that another Open (in this process too) may hold it", msg)
	}
}

// TestDocsBboltNamesCompile: README says a bbolt program moves
// over by changing its import path unless it uses a part of bbolt's API
// it lists as missing, and that the Err… variables are bbolt's. bbolt's
// root package also exports ErrInvalidMapping, ErrFreePagesNotLoaded
// and TxStats.Sub, which folio lacked, unlisted: a program naming them
// did not compile. The errors are kept as ErrChecksum is (never
// returned); TxStats.Sub is the difference of every counter, as bbolt's.
func TestDocsBboltNamesCompile(t *testing.T) {
	var _ func(*TxStats, *TxStats) TxStats = (*TxStats).Sub
	for _, err := range []error{ErrInvalidMapping, ErrFreePagesNotLoaded} {
		if err == nil || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrChecksum) {
			t.Errorf("%v: want a sentinel of its own", err)
		}
	}
	a := TxStats{PageCount: 7, PageAlloc: 7 << 12, Write: 5, WriteTime: 9, Commits: 4}
	b := TxStats{PageCount: 2, PageAlloc: 2 << 12, Write: 1, WriteTime: 4, Commits: 1}
	want := TxStats{PageCount: 5, PageAlloc: 5 << 12, Write: 4, WriteTime: 5, Commits: 3}
	if d := a.Sub(&b); d != want {
		t.Errorf("TxStats.Sub: %+v, want %+v", d, want)
	}
	// Stats.Sub subtracts the same way (bbolt's calls TxStats.Sub).
	sa, sb := Stats{TxN: 3, TxStats: a}, Stats{TxN: 1, TxStats: b}
	if d := sa.Sub(&sb); d.TxStats != want || d.TxN != 2 {
		t.Errorf("Stats.Sub: %+v, want TxN 2 and TxStats %+v", d, want)
	}
}

// TestDocsTxStatsAfterCommit: TxStats documents Write (page runs
// written), WriteTime (time spent committing) and Commits, and Tx.Stats
// returns what the transaction did; but only DB.Stats counted them: the
// transaction's own Stats, after Commit or in an OnCommit handler, said
// 0 for all three (bbolt's counts its writes there). They now match what
// the commit added to DB.Stats, in both modes.
func TestDocsTxStatsAfterCommit(t *testing.T) {
	for _, wal := range []bool{false, true} {
		db := openTest(t, &Options{PageSize: 1024, WAL: wal})
		before := db.Stats()
		tx, err := db.Begin(true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Put([]byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		var inHandler TxStats
		tx.OnCommit(func() { inHandler = tx.Stats() })
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		after := db.Stats()
		d := after.Sub(&before).TxStats
		got := tx.Stats()
		if got.Commits != 1 || got.Write == 0 || got.WriteTime <= 0 || got.Write != d.Write || got.PageCount != d.PageCount {
			t.Errorf("WAL %v: Tx.Stats after Commit %+v; DB.Stats grew by %+v", wal, got, d)
		}
		if inHandler != got {
			t.Errorf("WAL %v: Tx.Stats in OnCommit %+v, after Commit %+v", wal, inHandler, got)
		}
	}
}

// TestDocsStatsSubKeepsState: Stats.Sub subtracts the counters only; the
// fields describing a state are the later call's, as in bbolt (its
// comment called the whole result "the difference s - other").
func TestDocsStatsSubKeepsState(t *testing.T) {
	s := Stats{FreePageN: 5, PendingPageN: 2, FreeAlloc: 7 << 10, FreelistInuse: 64, TxN: 9, OpenTxN: 3,
		TxStats: TxStats{Commits: 4}, MetaFallback: "older meta", SyncFailed: "EIO"}
	other := Stats{FreePageN: 1, PendingPageN: 1, FreeAlloc: 1 << 10, FreelistInuse: 16, TxN: 4, OpenTxN: 1,
		TxStats: TxStats{Commits: 1}}
	want := s
	want.TxN, want.TxStats.Commits = 5, 3
	if d := s.Sub(&other); d != want {
		t.Errorf("Stats.Sub = %+v, want %+v", d, want)
	}
	if d := s.Sub(nil); d != s {
		t.Errorf("Stats.Sub(nil) = %+v, want s", d)
	}
}

// TestDocsBucketStatsAdd: BucketStats.Add sums every count but Depth,
// which is the deeper of the two, as bbolt's (its comment said it adds
// every count).
func TestDocsBucketStatsAdd(t *testing.T) {
	s := BucketStats{BranchPageN: 1, BranchOverflowN: 2, LeafPageN: 3, LeafOverflowN: 4, LargePageN: 5, KeyN: 6, Depth: 3,
		BranchAlloc: 7, BranchInuse: 8, LeafAlloc: 9, LeafInuse: 10, BucketN: 11, InlineBucketN: 12, InlineBucketInuse: 13}
	o := BucketStats{BranchPageN: 10, BranchOverflowN: 20, LeafPageN: 30, LeafOverflowN: 40, LargePageN: 50, KeyN: 60, Depth: 2,
		BranchAlloc: 70, BranchInuse: 80, LeafAlloc: 90, LeafInuse: 100, BucketN: 110, InlineBucketN: 120, InlineBucketInuse: 130}
	want := BucketStats{BranchPageN: 11, BranchOverflowN: 22, LeafPageN: 33, LeafOverflowN: 44, LargePageN: 55, KeyN: 66, Depth: 3,
		BranchAlloc: 77, BranchInuse: 88, LeafAlloc: 99, LeafInuse: 110, BucketN: 121, InlineBucketN: 132, InlineBucketInuse: 143}
	got := s
	got.Add(o)
	if got != want {
		t.Errorf("Add: %+v, want %+v", got, want)
	}
	o.Add(s)
	if o.Depth != 3 {
		t.Errorf("Add of a deeper bucket's stats: Depth %d, want 3", o.Depth)
	}
}
