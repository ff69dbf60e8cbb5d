package folio

import (
	"fmt"
	"slices"
	"testing"

	"github.com/foliodb/folio/page"
)

// A free list that names its own run's pages as free (a hostile or buggy
// writer; the run's checksum is right) must not let a commit keep that
// run as its base while handing its pages out: the base would be
// overwritten under the meta that names it, and the commit that then
// writes a new base frees the run's pages, tree pages by then. Open
// rebuilds such a list from the tree, as it does a damaged one, whether
// the run itself or the meta's delta names the pages.
func TestFreeListNamingItsRunIsRebuilt(t *testing.T) {
	for _, where := range []string{"run", "delta"} {
		t.Run(where, func(t *testing.T) {
			db := fragmentedDB(t, 40)
			path := db.Path()
			// A large value past the end of the file, so the run is not
			// the file's last (a free tail before it makes a commit
			// write a new one), then a one-put commit that keeps it.
			mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b000002")).Put([]byte("big"), make([]byte, 20<<10)) })
			mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b000000")).Put([]byte("x"), []byte("y")) })
			img := imageAfterClose(t, db)
			e := newEditImage(t, img)
			if e.meta.FreeDelta == "" {
				t.Fatal("the one-put commit listed no free list delta")
			}
			fl := e.meta.Freelist
			n := 1 + int(page.PageOverflow(e.b[int(fl)*e.ps:]))
			if where == "run" {
				free := e.freePages()
				for i := range n {
					free[fl+page.ID(i)] = true
				}
				e.setFree(free)
			} else {
				d, err := page.DecodeFreeDelta(e.meta, page.ID(e.slot))
				if err != nil {
					t.Fatal(err)
				}
				d.Added = addExtent(d.Added, page.Extent{Start: fl, Len: uint64(n)})
				e.meta.FreeDelta = d.Encode()
				page.EncodeMetaCommit(e.b[e.slot*e.ps:(e.slot+1)*e.ps], page.ID(e.slot), &e.meta, e.runs)
			}
			writeImage(t, path, e.b)
			for _, opts := range []*Options{{}, {VerifyChecksums: true}} {
				db, err := Open(path, 0o600, opts)
				if err != nil {
					t.Fatal(err)
				}
				for i := range 30 {
					if err := db.Update(func(tx *Tx) error {
						b := tx.Bucket(fmt.Appendf(nil, "b%06d", 2*(i%40)))
						return b.Put(fmt.Appendf(nil, "k%d", i), make([]byte, 200))
					}); err != nil {
						t.Fatalf("%+v: commit %d: %v", opts, i, err)
					}
				}
				mustCheck(t, db)
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				db, err = Open(path, 0o600, &Options{VerifyChecksums: true})
				if err != nil {
					t.Fatal(err)
				}
				if fb := db.Stats().MetaFallback; fb != "" && opts.VerifyChecksums {
					t.Errorf("reopened after commits: %s", fb)
				}
				mustCheck(t, db)
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				writeImage(t, path, e.b)
			}
		})
	}
}

// addExtent adds x, outside every extent of exts, keeping exts sorted
// and merged.
func addExtent(exts []page.Extent, x page.Extent) []page.Extent {
	exts = append(slices.Clone(exts), x)
	slices.SortFunc(exts, func(a, b page.Extent) int { return int(a.Start) - int(b.Start) })
	out := exts[:0]
	for _, e := range exts {
		if n := len(out); n > 0 && out[n-1].Start+page.ID(out[n-1].Len) == e.Start {
			out[n-1].Len += e.Len
			continue
		}
		out = append(out, e)
	}
	return out
}
