package folio

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// pageTypes are the Type strings Tx.Page returns for a healthy file.
var pageTypes = map[string]bool{"meta": true, "branch": true, "leaf": true, "large": true, "freelist": true, "free": true}

// TestTxPageLikeBbolt: Tx.Page answers as bbolt 1.4.3's does where the
// two files agree: the meta pages, ids past the end and negative ones
// (nil, nil), and ErrTxClosed once the transaction ended.
func TestTxPageLikeBbolt(t *testing.T) {
	p := newInspectPair(t, nil)
	p.update(func(ftx *Tx, btx *bolt.Tx) error {
		return both(ftx, btx, []string{"a", "b"}, putN(300, 40))
	})
	var ftx *Tx
	var btx *bolt.Tx
	p.view(func(f *Tx, b *bolt.Tx) {
		ftx, btx = f, b
		fhigh, bhigh := int(f.Size()/1024), int(b.Size()/1024)
		for _, id := range []int{0, 1, -1, fhigh, fhigh + 1, math.MaxInt} {
			bid := id
			if id >= fhigh {
				bid = id - fhigh + bhigh
			}
			fi, ferr := f.Page(id)
			bi, berr := b.Page(bid)
			if ferr != nil || berr != nil || (fi == nil) != (bi == nil) {
				t.Errorf("Page(%d): folio %+v, %v; bbolt (%d) %+v, %v", id, fi, ferr, bid, bi, berr)
				continue
			}
			if fi != nil && (fi.ID != bi.ID || fi.Type != bi.Type || fi.Count != bi.Count || fi.OverflowCount != bi.OverflowCount) {
				t.Errorf("Page(%d): folio %+v, bbolt %+v", id, fi, bi)
			}
		}
	})
	fi, ferr := ftx.Page(2)
	bi, berr := btx.Page(2)
	if fi != nil || bi != nil || !errors.Is(ferr, ErrTxClosed) || !errors.Is(berr, berrors.ErrTxClosed) {
		t.Errorf("Page after the end: folio %+v, %v; bbolt %+v, %v", fi, ferr, bi, berr)
	}
}

// TestTxPageWalk walks a file with Tx.Page as bbolt's pages command
// does, from page 0, stepping over each run by its OverflowCount: every
// Type is one README names, and the pages of each kind are those
// Bucket.Stats and DB.Stats count (free and pending pages are "free").
// In read and write transactions, direct and WAL mode, with large
// values, inline and nested buckets, and free pages.
func TestTxPageWalk(t *testing.T) {
	for _, opts := range []*Options{{PageSize: 1024}, walOpts(1024)} {
		t.Run(fmt.Sprintf("WAL=%v", opts.WAL), func(t *testing.T) {
			db := openTest(t, opts)
			mustUpdate(t, db, func(tx *Tx) error {
				for _, name := range []string{"a", "b", "small"} {
					b, err := tx.CreateBucket([]byte(name))
					if err != nil {
						return err
					}
					n := 300
					if name == "small" {
						n = 2
					}
					for i := range n {
						if err := b.Put(fmt.Appendf(nil, "k%05d", i), make([]byte, 40)); err != nil {
							return err
						}
					}
				}
				nb, err := tx.Bucket([]byte("a")).CreateBucket([]byte("nested"))
				if err != nil {
					return err
				}
				return nb.Put([]byte("large"), make([]byte, 5000))
			})
			mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteBucket([]byte("b")) })
			check := func(tx *Tx) {
				t.Helper()
				st := tx.Cursor().Bucket().Stats()
				ds := db.Stats()
				kinds := map[string]int{}
				overflow := map[string]int{}
				high := int(tx.Size() / 1024)
				id := 0
				for ; ; id++ {
					pi, err := tx.Page(id)
					if err != nil {
						t.Fatalf("Page(%d): %v", id, err)
					}
					if pi == nil {
						break
					}
					if pi.ID != id || !pageTypes[pi.Type] {
						t.Errorf("Page(%d): %+v", id, pi)
					}
					kinds[pi.Type]++
					overflow[pi.Type] += pi.OverflowCount
					id += pi.OverflowCount
				}
				if id != high {
					t.Errorf("the walk ended at page %d; the file has %d", id, high)
				}
				want := map[string]int{"meta": 2, "branch": st.BranchPageN, "leaf": st.LeafPageN, "free": ds.FreePageN + ds.PendingPageN}
				for k, n := range want {
					if kinds[k] != n {
						t.Errorf("%d %s pages, want %d (walk %v, Stats %+v)", kinds[k], k, n, kinds, st)
					}
				}
				if overflow["leaf"] != st.LeafOverflowN || overflow["branch"] != st.BranchOverflowN {
					t.Errorf("overflow pages %v, Stats %+v", overflow, st)
				}
				if kinds["large"]+overflow["large"] != st.LargePageN || kinds["large"] == 0 {
					t.Errorf("%d large runs of %d pages, Stats %d large pages", kinds["large"], kinds["large"]+overflow["large"], st.LargePageN)
				}
				if kinds["free"] == 0 {
					t.Errorf("no free pages after a delete: %v", kinds)
				}
			}
			if err := db.View(func(tx *Tx) error { check(tx); return nil }); err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *Tx) error { check(tx); return nil }); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTxPageDamage: Tx.Page reads a page's header, never its body, and
// never panics: a page that does not claim its own id (one inside a run,
// or damaged) is "unknown", as are kinds the format does not have; a
// file cut under the mapping is ErrCorrupt naming the file and the page,
// where bbolt's process dies of SIGBUS.
func TestTxPageDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.db")
	db := cutFixture(t, path)
	defer db.Close()
	mustUpdate(t, db, func(tx *Tx) error {
		return tx.Bucket([]byte("deep")).Put([]byte("large"), make([]byte, 20000))
	})
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	high := int(tx.Size() / 4096)
	inside := 0
	for id := 0; id < high; id++ {
		pi, err := tx.Page(id)
		if err != nil || pi == nil {
			t.Fatalf("Page(%d): %+v, %v", id, pi, err)
		}
		if pi.Type == "unknown" {
			inside++
		} else if !pageTypes[pi.Type] {
			t.Errorf("Page(%d): %+v", id, pi)
		}
	}
	if inside == 0 {
		t.Errorf("no page inside a run in a file of large values")
	}
	if err := os.Truncate(path, 8192); err != nil {
		t.Fatal(err)
	}
	pi, err := tx.Page(high - 1)
	if pi != nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("page %d", high-1)) {
		t.Errorf("Page(%d) of a cut file: %+v, %v; want ErrCorrupt naming the file and the page", high-1, pi, err)
	}
}
