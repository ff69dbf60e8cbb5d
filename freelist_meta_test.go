package folio

import (
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestFreelistIDInTree opens a file whose meta (checksum intact, as a
// buggy writer could leave it) names a page of the tree as its free-list
// run. Open rebuilds the free list from the tree, as for any damaged free
// list; the commits that follow must not free that page as the old run,
// which would hand a page still in use to a later commit.
func TestFreelistIDInTree(t *testing.T) {
	const ps = 1024
	val := func(i int) []byte { return []byte(fmt.Sprintf("value %d %0200d", i, i)) }
	path, img := builtImage(t, &Options{PageSize: ps}, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := 0; i < 200; i++ {
			if err := b.Put([]byte(fmt.Sprintf("k%04d", i)), val(i)); err != nil {
				return err
			}
		}
		return nil
	})
	e := newEditImage(t, img)
	leaf := e.pickPage(page.FlagLeaf, 1)
	e.meta.Freelist = leaf.id
	page.EncodeMeta(e.b[e.slot*ps:(e.slot+1)*ps], page.ID(e.slot), &e.meta)
	writeImage(t, path, e.b)

	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer closeChecked(t, db)
	for i := 0; i < 6; i++ {
		mustPutIn(t, db, "other", []byte(fmt.Sprint(i)), make([]byte, 3*ps))
	}
	if err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := 0; i < 200; i++ {
			if got := b.Get([]byte(fmt.Sprintf("k%04d", i))); string(got) != string(val(i)) {
				return fmt.Errorf("k%04d = %.20q, want %.20q", i, got, val(i))
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
