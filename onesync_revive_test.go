package folio

import (
	"bytes"
	"testing"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

// TestOneSyncTornCommitRevives: a one-sync commit T (puts in
// buckets a and b) is torn by a power cut: its meta and every run but
// its first reached the disk. Open falls back to the state before T and
// says so; T's meta stays in its slot, decodable, naming runs that are
// now free pages. The program goes on: its next transaction U, with
// T's txid, puts the same key in a only. U allocates from the same free
// pages, so its first run is T's lost run, byte for byte (same id, same
// txid, same leaf). A second power cut in U's commit, after that page
// reached the disk and before U's meta did, leaves T's meta with all its
// runs whole: Open takes T, and b's key, which the first recovery
// declared never committed (and the program did not redo), is back.
// With two syncs a meta that once failed Open never decoded again: a
// torn meta fails its own checksum, and pages were durable before a
// meta was written.
func TestOneSyncTornCommitRevives(t *testing.T) {
	const ps = 1024
	// First power cut: T's first run did not reach the disk.
	torn := tearFirstRun(t, ps, "a", "b")
	if len(torn.runs) < 3 {
		t.Fatalf("T listed %d runs", len(torn.runs))
	}
	after, first, lo, hi := torn.after, torn.runs[0], torn.lo, torn.hi
	putA := func(tx *Tx) error { return tx.Bucket([]byte("a")).Put([]byte("k"), []byte("in a")) }
	st2 := newCrashStorage(t, torn.img)
	db2, err := tx.Open("revive.db", st2, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	db2.AllocSize = 4 * ps
	if db2.Stats().MetaFallback == "" {
		t.Fatal("the torn commit was not detected")
	}
	mustUpdate(t, db2, putA)
	done := st2.opCount()
	cache := st2.contents(t)
	_ = db2.Close()
	if !bytes.Equal(cache[lo:hi], after[lo:hi]) {
		// The allocator puts U's write where T's lost run was; if it no
		// longer does, this setup tests nothing and must be changed.
		t.Fatalf("U's write at page %d is not T's lost run: nothing revives T here", first.ID)
	}

	// Second power cut, in U's commit: of its unsynced pages, only the
	// one at T's lost run reached the disk.
	last := st2.ops[done-1]
	if last.kind != opSync {
		t.Fatalf("U's last call is %v, want its sync", last)
	}
	img2 := st2.image(done-1, imageSynced, ps, nil)
	copy(img2[lo:hi], cache[lo:hi])
	db3, err := openImage(t, "revive.db", img2, &Options{VerifyChecksums: true})
	if err != nil {
		t.Fatalf("open after the second power cut: %v", err)
	}
	defer db3.Close()
	for _, err := range checkErrs(db3) {
		t.Errorf("check: %v", err)
	}
	if err := db3.View(func(tx *Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); v != nil {
			t.Errorf("b/k = %q after the second power cut: T, which the first recovery rolled back, is back (%s)", v, db3.Stats().MetaFallback)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// tornRun is the first power cut of the revive tests: commit T (one
// sync) reached the disk whole but for its first run.
type tornRun struct {
	after  []byte // the file once T committed
	img    []byte // the file the power cut left: T's first run as before T
	runs   []page.CommitRun
	lo, hi int // the bytes of T's first run
	info   Info
}

// tearFirstRun makes buckets, each a leaf of its own (not inline: T and
// U then write the same run for a), and commits T, a put of k in a and
// in b, on storage that keeps what a power cut would.
func tearFirstRun(t *testing.T, ps int, buckets ...string) tornRun {
	t.Helper()
	st := newCrashStorage(t, tx.InitialImage(ps))
	db, err := tx.Open("revive.db", st, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 * ps
	mustUpdate(t, db, func(tx *Tx) error {
		for _, name := range buckets {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("0"), pagedValue(ps)); err != nil {
				return err
			}
		}
		return nil
	})
	before := st.contents(t)
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.Bucket([]byte("a")).Put([]byte("k"), []byte("in a")); err != nil {
			return err
		}
		return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("in b"))
	})
	info, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	after := st.contents(t)
	_ = db.Close()
	runs := page.MetaCommitRuns(after[info.MetaSlot*ps:], nil)
	if len(runs) == 0 {
		t.Fatal("T listed no runs: it did not commit with one sync")
	}
	first := runs[0]
	lo, hi := int(first.ID)*ps, int(first.ID+page.ID(first.Pages))*ps
	img := bytes.Clone(after)
	copy(img[lo:hi], append(before, make([]byte, hi)...)[lo:hi])
	return tornRun{after: after, img: img, runs: runs, lo: lo, hi: hi, info: info}
}
