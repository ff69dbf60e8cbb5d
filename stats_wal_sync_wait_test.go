package folio

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// statsFree is Stats' free-list part, to compare with Info's.
func statsFree(db *DB) (free, pending, alloc int) {
	st := db.Stats()
	return st.FreePageN, st.PendingPageN, st.FreeAlloc
}

// TestStatsFreePagesMatchInfo: DB.Stats' free and pending pages describe
// the published state, as Info's do and as its commit count does: in WAL
// mode a commit waiting for its log sync is in none of them. Stats read
// the free list of the newest commit (the next writer's), which counted
// that commit's freed pages while TxStats.Commits did not count the
// commit, and disagreed with Info. After the sync, and after a
// checkpoint, both say the same again.
func TestStatsFreePagesMatchInfo(t *testing.T) {
	st := openFileStorage(memFile(t, tx.InitialImage(1024)), false, false, 0)
	inner, err := wal.Open(filepath.Join(t.TempDir(), "log"), wal.Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	g := newGatedLog(inner)
	db, err := tx.OpenWithLog("stats.db", st, g, &Options{WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer g.release(nil)
	same := func(when string) Info {
		t.Helper()
		in, err := db.Info()
		if err != nil {
			t.Fatal(err)
		}
		free, pending, alloc := statsFree(db)
		if free != in.FreePages || pending != in.PendingPages || alloc != (free+pending)*in.PageSize {
			t.Errorf("%s: Stats says %d free and %d pending pages (%d bytes), Info %d free and %d pending (txid %d, high page %d)",
				when, free, pending, alloc, in.FreePages, in.PendingPages, in.TxID, in.HighPage)
		}
		return in
	}
	put := func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 40 {
			if err := b.Put(fmt.Appendf(nil, "a%02d", i), make([]byte, 900)); err != nil {
				return err
			}
		}
		return nil
	}
	mustUpdate(t, db, put)
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	before := same("after a checkpoint")
	commits := db.Stats().TxStats.Commits

	g.hold()
	errs := make(chan error, 1)
	go func() {
		errs <- db.Update(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := range 40 {
				if err := b.Delete(fmt.Appendf(nil, "a%02d", i)); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	waitUntil(t, "the commit waits for its sync", func() bool { return g.waiting.Load() == 1 })
	in := same("a commit waiting for its log sync")
	if in.TxID != before.TxID {
		t.Fatalf("Info with a commit waiting for its sync: txid %d, want %d", in.TxID, before.TxID)
	}
	if c := db.Stats().TxStats.Commits; c != commits {
		t.Errorf("Stats counts %d commits with one waiting for its sync, %d before it", c, commits)
	}
	g.release(nil)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if in := same("the commit synced"); in.TxID != before.TxID+1 || in.FreePages+in.PendingPages == before.FreePages+before.PendingPages {
		t.Errorf("after the sync: txid %d, %d free and pending pages; before: txid %d, %d", in.TxID, in.FreePages+in.PendingPages, before.TxID, before.FreePages+before.PendingPages)
	}
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	same("after the second checkpoint")
	if st := db.Stats(); st.FreelistInuse <= 0 || st.FreelistInuse > page.FreelistSize([]page.Extent{{Start: 2, Len: 1}})*(st.FreePageN+st.PendingPageN) {
		t.Errorf("FreelistInuse %d for %d free and pending pages", st.FreelistInuse, st.FreePageN+st.PendingPageN)
	}
	mustCheck(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
