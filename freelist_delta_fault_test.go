package folio

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

// A commit that wrote a new freelist run and then failed (a full disk
// when the file grows, after step 2) leaves the DB on the run its
// published meta names: the small commits after it list deltas against
// some run whose pages no commit overwrites while a meta reaches them.
// After each, the image with that commit's meta put back opens at the
// state before it, and Check finds nothing.
func TestFreeDeltaAfterFailedCommit(t *testing.T) {
	const ps = 1024
	f := memFile(t, tx.InitialImage(ps))
	st := &fullStorage{Storage: openFileStorage(f, false, false, 0), room: 1 << 30}
	db, err := tx.Open("full.db", st, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.AllocSize = 4 * ps
	image := func() []byte {
		img := make([]byte, st.Size())
		if _, err := f.ReadAt(img, 0); err != nil {
			t.Fatal(err)
		}
		return img
	}
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range 800 {
			b, err := tx.CreateBucket(fmt.Appendf(nil, "b%04d", i))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), pagedValue(ps)); err != nil { // a page each, not inline
				return err
			}
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error {
		for i := 1; i < 800; i += 2 {
			if err := tx.DeleteBucket(fmt.Appendf(nil, "b%04d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b0000")).Put([]byte("x"), []byte("y")) })
	img := image()
	m0, _ := newestMetaOf(t, img)
	if m0.FreeDelta == "" {
		t.Fatal("the one-put commit listed no delta")
	}
	// Scattered deletes (a new run) and a value past the end of the file,
	// which cannot grow.
	st.setRoom(st.Size())
	err = db.Update(func(tx *Tx) error {
		for i := 0; i < 800; i += 2 {
			if i%4 != 0 && i%8 != 2 {
				continue
			}
			if err := tx.DeleteBucket(fmt.Appendf(nil, "b%04d", i)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("b0006")).Put([]byte("big"), make([]byte, 200<<10))
	})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("the commit past the disk's room: %v", err)
	}
	st.setRoom(1 << 30)
	for i := range 30 {
		before := image()
		want := dumpTree(t, db)
		mustUpdate(t, db, func(tx *Tx) error {
			b := tx.Bucket(fmt.Appendf(nil, "b%04d", 6+8*(i%100)))
			if i%3 == 0 {
				return b.Delete([]byte("k"))
			}
			return b.Put(fmt.Appendf(nil, "k%d", i), make([]byte, 300))
		})
		after := image()
		if i == 0 {
			// The failed commit's run is not the published meta's: the
			// next commit writes one anew rather than keep either.
			if m, _ := newestMetaOf(t, after); m.FreeDelta != "" || m.Freelist == m0.Freelist {
				t.Errorf("the commit after the failed one: free list %d (was %d), delta of %d bytes; want a new run", m.Freelist, m0.Freelist, len(m.FreeDelta))
			}
		}
		slot := -1
		for s := range 2 {
			if !bytes.Equal(before[s*ps:(s+1)*ps], after[s*ps:(s+1)*ps]) {
				slot = s
			}
		}
		if slot < 0 {
			t.Fatalf("commit %d changed no meta page", i)
		}
		copy(after[slot*ps:(slot+1)*ps], before[slot*ps:])
		fdb, err := openImage(t, "fallback.db", after, &Options{VerifyChecksums: true})
		if err != nil {
			t.Fatalf("commit %d, its meta as before: open: %v", i, err)
		}
		if got := dumpTree(t, fdb); !slices.Equal(got, want) {
			t.Errorf("commit %d, its meta as before: the state before it reads differently", i)
		}
		for _, err := range checkErrs(fdb) {
			t.Errorf("commit %d, its meta as before: check: %v", i, err)
		}
		_ = fdb.Close()
		if t.Failed() {
			return
		}
	}
	mustCheck(t, db)
	m, _ := newestMetaOf(t, image())
	if m.FreeDelta == "" {
		t.Errorf("the small commits after the failed one list no delta")
	}
}

// newestMetaOf is newestMeta of an image.
func newestMetaOf(t *testing.T, img []byte) (page.Meta, []page.CommitRun) {
	t.Helper()
	ps := page.ClaimedPageSize(img)
	var best page.Meta
	var runs []page.CommitRun
	for slot := range 2 {
		p := img[slot*ps : (slot+1)*ps]
		if m, err := page.DecodeMeta(p, page.ID(slot)); err == nil && m.TxID >= best.TxID {
			best, runs = m, page.MetaCommitRuns(p, nil)
		}
	}
	return best, runs
}
