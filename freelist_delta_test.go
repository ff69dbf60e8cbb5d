package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/foliodb/folio/page"
)

// fragmentedDB opens a database whose free list has n extents: n+1
// one-page buckets made, then every other one deleted.
func fragmentedDB(t *testing.T, n int) *DB {
	t.Helper()
	db := openTest(t, &Options{PageSize: 1024})
	if err := db.Update(func(tx *Tx) error {
		for i := range 2*n + 1 {
			b, err := tx.CreateBucket(fmt.Appendf(nil, "b%06d", i))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), pagedValue(1024)); err != nil { // a page each, not inline
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error {
		for i := 1; i < 2*n+1; i += 2 {
			if err := tx.DeleteBucket(fmt.Appendf(nil, "b%06d", i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

// newestMeta reads the newest meta page of the file at path.
func newestMeta(t *testing.T, path string) (page.Meta, []page.CommitRun) {
	t.Helper()
	img := mustRead(t, path)
	return newestMetaOf(t, img)
}

// A small commit on a file with a long free list writes its tree pages
// and lists the free list's changes in its meta page; it does not write
// the list again (it did: 28 pages instead of ~4 a one-put commit after
// 50k extents, README "At scale"). Every commit's state reopens with the
// same free pages, and Check accounts for every page.
func TestFreeDeltaSmallCommitsKeepTheRun(t *testing.T) {
	db := fragmentedDB(t, 2000)
	path := db.Path()
	m, _ := newestMeta(t, path)
	if m.Freelist == 0 || m.FreeDelta != "" {
		t.Fatalf("after the deletes: free list page %d, delta %q; want a run and no delta", m.Freelist, m.FreeDelta)
	}
	base := m.Freelist
	img := mustRead(t, path)
	runPages := 1 + int(page.PageOverflow(img[int(base)*1024:]))
	if runPages < 4 {
		t.Fatalf("the free list takes %d pages; the test wants a long one", runPages)
	}
	r := rand.New(rand.NewPCG(1, 2))
	kept, allocated := 0, int64(0)
	for i := range 60 {
		before := db.Stats().TxStats.PageCount
		if err := db.Update(func(tx *Tx) error {
			b := tx.Bucket(fmt.Appendf(nil, "b%06d", 2*r.IntN(2001)))
			return b.Put(fmt.Appendf(nil, "k%d", i), []byte("value"))
		}); err != nil {
			t.Fatal(err)
		}
		allocated += db.Stats().TxStats.PageCount - before
		m, runs := newestMeta(t, path)
		if m.Freelist == base {
			kept++
			if m.FreeDelta == "" && persistedFree(t, path, m) != freeAndPending(db) {
				// No changes listed: only right if the set is the run's
				// again (a commit can give back what the last one took).
				t.Errorf("commit %d kept free list page %d, lists no changes, and the run's set is not the DB's", i, base)
			}
			for _, run := range runs {
				if run.ID == base {
					t.Errorf("commit %d kept free list page %d yet wrote it", i, base)
				}
			}
		}
		base = m.Freelist
		if i%20 == 19 {
			free := freeAndPending(db)
			db = reopen(t, db, &Options{PageSize: 1024})
			if got := freeAndPending(db); got != free {
				t.Fatalf("commit %d: %d pages free or pending before a reopen, %d after", i, free, got)
			}
		}
	}
	// Each one-put commit copies a leaf and the bucket directory's path;
	// a commit that wrote the list as well took runPages more.
	if kept < 50 {
		t.Errorf("%d of 60 one-put commits kept the free list run; want most", kept)
	}
	if max := int64(60 * (runPages + 1)); allocated > max {
		t.Errorf("60 one-put commits allocated %d pages; writing the list each time takes more than %d", allocated, max)
	}
	t.Logf("60 commits: %d kept the run, %d pages allocated (list of %d pages)", kept, allocated, runPages)
}

// persistedFree is how many pages m's free list (its run and delta, in
// the file at path) names free.
func persistedFree(t *testing.T, path string, m page.Meta) int {
	t.Helper()
	img := mustRead(t, path)
	ps := int(m.PageSize)
	run := img[int(m.Freelist)*ps:]
	exts, err := page.DecodeFreelist(run[page.HeaderSize:(1+int(page.PageOverflow(run)))*ps], m.Freelist, m.High)
	if err == nil {
		exts, err = page.ApplyFreeDelta(exts, m, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range exts {
		n += int(e.Len)
	}
	return n
}

func freeAndPending(db *DB) int {
	in, err := db.Info()
	if err != nil {
		panic(err)
	}
	return in.FreePages + in.PendingPages
}

// Random commits of every size against a database reopened at random
// points: after each commit, the free set the newest meta persists (its
// run plus its delta) holds as many pages as the DB's, Check finds no page
// both free and in use nor neither, and a reopen loads that set.
func TestFreeDeltaModel(t *testing.T) {
	seeds, commits := 6, 150
	if raceEnabled || testing.Short() {
		seeds, commits = 2, 80 // Check after each commit is the cost
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			db := openTest(t, &Options{PageSize: 1024})
			path := db.Path()
			keys := map[string]bool{}
			for i := range commits {
				n := 1 + r.IntN(4)
				if r.IntN(10) == 0 {
					n = 200 + r.IntN(400) // a big one: past the meta's room
				}
				if err := db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					for range n {
						k := fmt.Sprintf("k%05d", r.IntN(3000))
						if keys[k] && r.IntN(2) == 0 {
							delete(keys, k)
							if err := b.Delete([]byte(k)); err != nil {
								return err
							}
							continue
						}
						keys[k] = true
						if err := b.Put([]byte(k), make([]byte, r.IntN(300))); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				m, _ := newestMeta(t, path)
				free := persistedFree(t, path, m)
				if want := freeAndPending(db); free != want {
					t.Fatalf("commit %d: the meta persists %d free pages, the DB holds %d", i, free, want)
				}
				mustCheck(t, db) // and no page is both free and in use, or neither
				if r.IntN(15) == 0 {
					free := freeAndPending(db)
					db = reopen(t, db, &Options{PageSize: 1024})
					if got := freeAndPending(db); got != free {
						t.Fatalf("commit %d: %d pages free or pending before a reopen, %d after", i, free, got)
					}
				}
			}
		})
	}
}

// Pages the fallback meta reaches, its freelist run included, are never
// overwritten by the commit after it, whether that commit keeps the run
// (listing a delta) or writes a new one: random commits of nested
// buckets, large values, deletes and DeleteBucket, under readers held
// across several commits (their pages stay pending, in the delta's added
// set). After each commit the image with the commit's meta page put back
// as it was (a crash before the meta reached the disk) or zeroed (torn)
// opens, with VerifyChecksums, at the state before the commit, and Check
// finds nothing; and the meta persists the DB's free and pending pages.
func TestFreeDeltaFallbackMetaIntact(t *testing.T) {
	seeds, commits := 2, 100
	if raceEnabled || testing.Short() {
		seeds, commits = 1, 40 // each commit opens two images of the file
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 5))
			db := openTest(t, &Options{PageSize: 1024})
			path := db.Path()
			type reader struct {
				tx    *Tx
				until int
			}
			var readers []reader
			kept, bases := 0, 0
			for i := range commits {
				before := mustRead(t, path)
				want := dumpTree(t, db)
				if r.IntN(6) == 0 {
					rtx, err := db.Begin(false)
					if err != nil {
						t.Fatal(err)
					}
					readers = append(readers, reader{rtx, i + 1 + r.IntN(8)})
				}
				mustUpdate(t, db, func(tx *Tx) error { return freeDeltaRandomCommit(tx, r) })
				for j := 0; j < len(readers); j++ {
					if readers[j].until <= i {
						_ = readers[j].tx.Rollback()
						readers = slices.Delete(readers, j, j+1)
						j--
					}
				}
				after := mustRead(t, path)
				slot := -1
				for s := range 2 {
					if !bytes.Equal(before[s*1024:(s+1)*1024], after[s*1024:(s+1)*1024]) {
						slot = s
					}
				}
				if slot < 0 {
					t.Fatalf("commit %d changed no meta page", i)
				}
				m, err := page.DecodeMeta(after[slot*1024:], page.ID(slot))
				if err != nil {
					t.Fatal(err)
				}
				if m.FreeDelta != "" {
					kept++
				} else if m.Freelist != 0 {
					bases++
				}
				// As TestFreeDeltaModel, under readers: the meta persists
				// the DB's free and pending pages.
				run := after[int(m.Freelist)*1024:]
				persisted, err := page.DecodeFreelist(run[page.HeaderSize:(1+int(page.PageOverflow(run)))*1024], m.Freelist, m.High)
				if err == nil {
					persisted, err = page.ApplyFreeDelta(persisted, m, page.ID(slot))
				}
				if err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
				free := 0
				for _, e := range persisted {
					free += int(e.Len)
				}
				if want := freeAndPending(db); free != want {
					t.Fatalf("commit %d: the meta persists %d free pages, the DB holds %d", i, free, want)
				}
				for _, how := range []string{"as before", "zeroed"} {
					img := bytes.Clone(after)
					if how == "zeroed" {
						clear(img[slot*1024 : (slot+1)*1024])
					} else {
						copy(img[slot*1024:(slot+1)*1024], before[slot*1024:])
					}
					fdb, err := openImage(t, "fallback.db", img, &Options{VerifyChecksums: true})
					if err != nil {
						t.Fatalf("commit %d, its meta %s: open: %v", i, how, err)
					}
					if got := dumpTree(t, fdb); !slices.Equal(got, want) {
						t.Errorf("commit %d, its meta %s: the state before it reads differently (%d lines, want %d)", i, how, len(got), len(want))
					}
					for _, err := range checkErrs(fdb) {
						t.Errorf("commit %d, its meta %s: check: %v", i, how, err)
					}
					if err := fdb.Close(); err != nil {
						t.Fatal(err)
					}
				}
				if t.Failed() {
					return
				}
				if r.IntN(25) == 0 && len(readers) == 0 {
					db = reopen(t, db, &Options{PageSize: 1024})
				}
			}
			for _, rd := range readers {
				_ = rd.tx.Rollback()
			}
			t.Logf("of 100 commits %d listed a delta, %d wrote a new run", kept, bases)
			if kept < 20 || bases < 1 {
				t.Errorf("of 100 commits %d listed a delta, %d wrote a new run; the test wants both", kept, bases)
			}
		})
	}
}

// freeDeltaRandomCommit makes a few random changes: puts of small and
// large values in nested buckets, deletes, and now and then a nested
// bucket deleted whole; one commit in six makes hundreds (past what a
// delta holds: it writes a new run), one in twenty deletes a top bucket
// (the file's tail may come free).
func freeDeltaRandomCommit(tx *Tx, r *rand.Rand) error {
	if r.IntN(20) == 0 {
		if err := tx.DeleteBucket([]byte{'t', byte('0' + r.IntN(3))}); err != nil && !errors.Is(err, ErrBucketNotFound) {
			return err
		}
	}
	n := 1 + r.IntN(5)
	if r.IntN(6) == 0 {
		n = 300 + r.IntN(600)
	}
	for range n {
		top, err := tx.CreateBucketIfNotExists([]byte{'t', byte('0' + r.IntN(3))})
		if err != nil {
			return err
		}
		b := top
		if r.IntN(2) == 0 {
			name := []byte{'n', byte('0' + r.IntN(3))}
			if r.IntN(12) == 0 {
				if err := top.DeleteBucket(name); err != nil && !errors.Is(err, ErrBucketNotFound) {
					return err
				}
				continue
			}
			if b, err = top.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		k := fmt.Appendf(nil, "k%04d", r.IntN(1500))
		switch n := r.IntN(10); {
		case n < 3:
			if err := b.Delete(k); err != nil {
				return err
			}
		case n < 4:
			if err := b.Put(k, make([]byte, 1500+r.IntN(6000))); err != nil { // large
				return err
			}
		default:
			v := make([]byte, r.IntN(200))
			for i := range v {
				v[i] = byte(r.IntN(256))
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// A reader whose snapshot lists a delta against a run keeps that run
// while later commits replace it and churn the file: its WriteTo copy
// opens with VerifyChecksums, reads as the snapshot did, and Check finds
// nothing (the run's pages stay pending while the reader can reach them,
// ReleaseUnseen included: the run was written before the reader's txid).
func TestFreeDeltaReaderCopyKeepsTheRun(t *testing.T) {
	db := fragmentedDB(t, 600)
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b000000")).Put([]byte("x"), []byte("y")) })
	base, _ := newestMeta(t, db.Path())
	if base.FreeDelta == "" {
		t.Fatal("the one-put commit listed no delta")
	}
	want := dumpTree(t, db)
	rtx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback()
	// Scattered deletes: past what a delta holds, a new run.
	mustUpdate(t, db, func(tx *Tx) error {
		for i := 0; i < 1200; i += 4 {
			if err := tx.DeleteBucket(fmt.Appendf(nil, "b%06d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if m, _ := newestMeta(t, db.Path()); m.Freelist == base.Freelist {
		t.Fatalf("300 scattered deletes kept the run (delta of %d bytes)", len(m.FreeDelta))
	}
	// Then commits that reuse free pages, other readers coming and
	// going so that ReleaseUnseen has work.
	r := rand.New(rand.NewPCG(3, 3))
	for range 40 {
		other, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, db, func(tx *Tx) error {
			for range 20 {
				b := tx.Bucket(fmt.Appendf(nil, "b%06d", 2+4*r.IntN(300)))
				if err := b.Put(fmt.Appendf(nil, "k%d", r.IntN(50)), make([]byte, 100+r.IntN(1500))); err != nil {
					return err
				}
			}
			return nil
		})
		_ = other.Rollback()
	}
	var buf bytes.Buffer
	if _, err := rtx.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	cdb, err := openImage(t, "copy.db", buf.Bytes(), &Options{VerifyChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cdb.Close()
	if fb := cdb.Stats().MetaFallback; fb != "" {
		t.Errorf("the copy opened with: %s", fb)
	}
	if got := dumpTree(t, cdb); !slices.Equal(got, want) {
		t.Errorf("the copy reads differently from the reader's snapshot (%d lines, want %d)", len(got), len(want))
	}
	for _, err := range checkErrs(cdb) {
		t.Errorf("copy: check: %v", err)
	}
}

// A version 1 file (no delta; the word at 92 zero) opens and reads as
// before; its first commits write version 2 metas with deltas against
// its run, and a reopen reads them.
func TestFreeDeltaOpensVersion1(t *testing.T) {
	db := fragmentedDB(t, 400) // too many changes for a delta: both metas name whole runs
	path := db.Path()
	img := imageAfterClose(t, db)
	for slot := range 2 {
		p := img[slot*1024 : (slot+1)*1024]
		m, err := page.DecodeMeta(p, page.ID(slot))
		if err != nil {
			t.Fatal(err)
		}
		if m.FreeDelta != "" {
			t.Fatalf("meta %d lists a delta after two large commits", slot)
		}
		page.EncodeMeta(p, page.ID(slot), &m)
		binary.LittleEndian.PutUint32(p[page.HeaderSize+4:], 1)
		page.Seal(p)
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, 0o600, &Options{PageSize: 1024})
	if err != nil {
		t.Fatalf("open a version 1 file: %v", err)
	}
	t.Cleanup(func() { closeChecked(t, db) })
	mustCheck(t, db)
	deltas := 0
	for i := range 5 {
		if err := db.Update(func(tx *Tx) error {
			return tx.Bucket([]byte("b000000")).Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
		}); err != nil {
			t.Fatal(err)
		}
		if m, _ := newestMeta(t, path); m.FreeDelta != "" {
			deltas++
		}
	}
	if deltas == 0 {
		t.Error("small commits on a version 1 file list no delta")
	}
	free := freeAndPending(db)
	db = reopen(t, db, &Options{PageSize: 1024})
	if got := freeAndPending(db); got != free {
		t.Errorf("%d pages free or pending before a reopen, %d after", free, got)
	}
	if err := db.View(func(tx *Tx) error {
		if v := tx.Bucket([]byte("b000000")).Get([]byte("k4")); string(v) != "v" {
			t.Errorf("k4 = %q after the reopen", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
