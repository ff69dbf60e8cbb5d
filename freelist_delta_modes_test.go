package folio

import (
	"fmt"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// A file whose newest meta lists a free list delta, opened in each other
// way and back: WAL mode, NoFreelistSync, read-only, VerifyChecksums over
// a list naming a page in use, and with its run damaged. Each session
// commits (but the read-only one), then a plain open commits small
// changes again; every state reads whole, Check finds nothing, and the
// free pages a session persists are those a reopen loads.
func TestFreeDeltaAcrossModes(t *testing.T) {
	setup := func(t *testing.T) string {
		db := fragmentedDB(t, 100)
		mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b000002")).Put([]byte("big"), make([]byte, 20<<10)) })
		mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b000000")).Put([]byte("x"), []byte("y")) })
		path := db.Path()
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if m, _ := newestMeta(t, path); m.FreeDelta == "" {
			t.Fatal("the setup's last commit listed no delta")
		}
		return path
	}
	commits := func(t *testing.T, db *DB, tag string, n int) {
		for i := range n {
			mustUpdate(t, db, func(tx *Tx) error {
				b := tx.Bucket(fmt.Appendf(nil, "b%06d", 2*(i%100)))
				return b.Put(fmt.Appendf(nil, "%s%d", tag, i), make([]byte, 100))
			})
		}
	}
	after := func(t *testing.T, path string) {
		t.Helper()
		db, err := Open(path, 0o600, &Options{VerifyChecksums: true})
		if err != nil {
			t.Fatal(err)
		}
		if fb := db.Stats().MetaFallback; fb != "" {
			t.Errorf("reopened with: %s", fb)
		}
		commits(t, db, "after", 12)
		m, _ := newestMeta(t, path)
		if m.FreeDelta == "" {
			t.Errorf("back in a plain open, small commits list no delta")
		}
		free := freeAndPending(db)
		db = reopen(t, db, &Options{VerifyChecksums: true})
		if got := freeAndPending(db); got != free {
			t.Errorf("%d pages free or pending before a reopen, %d after", free, got)
		}
		closeChecked(t, db)
	}
	for _, c := range []struct {
		name string
		opts Options
		edit func(t *testing.T, path string)
		note string // what Open says of the edited list
	}{
		{name: "wal", opts: Options{WAL: true}},
		{name: "nofreelistsync", opts: Options{NoFreelistSync: true}},
		{name: "readonly", opts: Options{ReadOnly: true}},
		{name: "in use", opts: Options{VerifyChecksums: true}, note: "pages in use", edit: func(t *testing.T, path string) {
			img := mustRead(t, path)
			e := newEditImage(t, img)
			// The delta's added extents name a leaf in use.
			var leaf page.ID
			for id, p := range e.pages {
				if p.kind == page.FlagLeaf && len(p.bucket) > 0 && p.pages == 1 {
					leaf = id
					break
				}
			}
			d, err := page.DecodeFreeDelta(e.meta, page.ID(e.slot))
			if err != nil {
				t.Fatal(err)
			}
			d.Added = addExtent(d.Added, page.Extent{Start: leaf, Len: 1})
			e.meta.FreeDelta = d.Encode()
			page.EncodeMetaCommit(e.b[e.slot*e.ps:(e.slot+1)*e.ps], page.ID(e.slot), &e.meta, e.runs)
			writeImage(t, path, e.b)
		}},
		{name: "damaged run", note: "rebuilt from the tree", edit: func(t *testing.T, path string) {
			img := mustRead(t, path)
			m, _ := newestMeta(t, path)
			img[int(m.Freelist)*1024+page.HeaderSize] ^= 0xff
			writeImage(t, path, img)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := setup(t)
			m0, _ := newestMeta(t, path)
			if c.edit != nil {
				c.edit(t, path)
			}
			db, err := Open(path, 0o600, &c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if fb := db.Stats().MetaFallback; !strings.Contains(fb, c.note) || (c.note == "") != (fb == "") {
				t.Errorf("opened with %q; want it to say %q", fb, c.note)
			}
			if !c.opts.ReadOnly {
				commits(t, db, "mode", 12)
				if m, _ := newestMeta(t, path); c.edit != nil && m.Freelist == m0.Freelist {
					t.Errorf("commits after a list that did not load whole kept its run %d", m.Freelist)
				}
			}
			closeChecked(t, db)
			after(t, path)
		})
	}
}
