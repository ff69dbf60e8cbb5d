package folio

import (
	"fmt"
	"math/rand/v2"
	"os"
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
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
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
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
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
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
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
			if m.FreeDelta == "" {
				t.Errorf("commit %d kept free list page %d but lists no changes", i, base)
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
				img, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				run := img[int(m.Freelist)*1024:]
				persisted, err := page.DecodeFreelist(run[page.HeaderSize:(1+int(page.PageOverflow(run)))*1024], m.Freelist, m.High)
				if err == nil {
					persisted, err = page.ApplyFreeDelta(persisted, m, 0)
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
