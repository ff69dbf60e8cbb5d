package folio

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestCheckTopLevel: Check reports a top-level element that is not a
// bucket once, and a top-level bucket header it cannot decode twice: from
// the check of the directory and from the walk into the buckets, both
// naming the leaf that holds it (the walk named page 0, a meta page).
func TestCheckTopLevel(t *testing.T) {
	path, img := builtImage(t, &Options{PageSize: 1024}, func(tx *Tx) error {
		for _, name := range []string{"a", "b", "c"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	e := newEditImage(t, img)
	dir := e.meta.Root
	if p := e.pages[dir]; p.kind != page.FlagLeaf || p.bucket != nil || len(p.keys) != 3 {
		t.Fatalf("the directory is not one leaf of three buckets: %+v", p)
	}
	run := e.run(dir)
	binary.LittleEndian.PutUint32(run[elemOffset(run, 0):], 0) // "a": a plain key now
	_, v, _ := page.LeafValue(run, 1)
	binary.LittleEndian.PutUint32(v[12:], 2) // "b": a header flag folio does not know
	e.reseal(dir)
	writeImage(t, path, e.b)

	db := openEdited(t, path)
	errs := checkErrs(db)
	plain, header := 0, map[page.ID]int{}
	for _, err := range errs {
		switch msg := err.Error(); {
		case strings.Contains(msg, `top-level key "a" is not a bucket`):
			plain++
			if ce := (*CorruptError)(nil); !errors.As(err, &ce) || ce.Page != dir {
				t.Errorf("check: %v, want a *CorruptError naming page %d", err, dir)
			}
		case strings.Contains(msg, "bucket header flags"):
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Errorf("check: %v, want a *CorruptError", err)
				continue
			}
			header[ce.Page]++
		}
	}
	if plain != 1 || header[dir] != 2 || len(header) != 1 {
		t.Errorf("Check reported the plain top-level key %d times, the bad header %v times by page; want once, and twice naming page %d:", plain, header, dir)
		for _, err := range errs {
			t.Errorf("  %v", err)
		}
	}
}
