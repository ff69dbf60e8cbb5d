package folio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
)

// headerFixture builds a database (1 KiB pages) whose bucket directory
// is two levels deep: 80 buckets, each holding a nested bucket "n" and
// a key. It returns the image.
func headerFixture(t *testing.T) []byte {
	t.Helper()
	_, img := builtImage(t, &Options{PageSize: 1024, NoSync: true}, func(tx *Tx) error {
		for i := range 80 {
			b, err := tx.CreateBucket(fmt.Appendf(nil, "bucket-%03d", i))
			if err != nil {
				return err
			}
			n, err := b.CreateBucket([]byte("n"))
			if err != nil {
				return err
			}
			if err := n.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	return img
}

// leafElemValue returns element i's flags offset and stored value in run.
func leafElemValue(t *testing.T, run []byte, key string) (flagsOff int, v []byte) {
	t.Helper()
	for i := range page.PageCount(run) {
		if k, _ := page.LeafKey(run, i); string(k) == key {
			_, v, _ := page.LeafValue(run, i)
			return elemOffset(run, i), v
		}
	}
	t.Fatalf("no key %q on page %d", key, page.PageID(run))
	return 0, nil
}

// wantPage fails unless err is a *page.CorruptError naming page id.
func wantPage(t *testing.T, what string, err error, id page.ID) {
	t.Helper()
	var ce *page.CorruptError
	if !errors.As(err, &ce) || ce.Page != id {
		t.Errorf("%s: %v; want ErrCorrupt naming page %d", what, err, id)
	}
}

// TestBucketHeaderErrorsNameTheirPage: a damaged bucket header
// (a flag format version 3 does not know) or a top-level key that is not a bucket
// is reported naming the leaf that holds it. Bucket and Check's walk of
// the trees named page 0 (a meta page) for the header, Check's
// directory walk the directory's root page, and the top-level key
// nothing at all (ErrCorrupt without a *page.CorruptError, which
// ErrCorrupt's doc promises).
func TestBucketHeaderErrorsNameTheirPage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nested bool // the nested bucket's header, not a top-level one
		flags  bool // clear the element's bucket flag, not the header
	}{
		{"top-level header", false, false},
		{"nested header", true, false},
		{"top-level key not a bucket", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEditImage(t, headerFixture(t))
			var leaf page.ID
			var key string
			for id, p := range e.pages {
				switch {
				case p.kind != page.FlagLeaf:
				case !tc.nested && p.bucket == nil && !p.root:
					leaf, key = id, string(p.keys[0]) // a directory leaf under the root
				case tc.nested && len(p.bucket) == 1 && p.bucket[0] == "bucket-040":
					leaf, key = id, "n"
				}
			}
			if leaf == 0 {
				t.Fatal("no leaf to damage (the directory is one page?)")
			}
			run := e.run(leaf)
			off, v := leafElemValue(t, run, key)
			if tc.flags {
				binary.LittleEndian.PutUint32(run[off:], 0)
			} else {
				binary.LittleEndian.PutUint32(v[12:], 2)
			}
			e.reseal(leaf)
			db, err := openImage(t, "h.db", e.b, &Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if !tc.flags {
				err := db.View(func(tx *Tx) error {
					b := tx.Bucket([]byte(key))
					if tc.nested {
						b = tx.Bucket([]byte("bucket-040")).Bucket([]byte(key))
					}
					if b != nil {
						t.Error("a bucket with a damaged header opened")
					}
					return tx.Err()
				})
				wantPage(t, "Bucket", err, leaf)
			}
			found := false
			for _, err := range checkErrs(db) {
				var ce *page.CorruptError
				if !errors.As(err, &ce) {
					t.Errorf("Check: %v: no page named", err)
					continue
				}
				if ce.Page < 2 {
					t.Errorf("Check: %v: names a meta page", err)
				}
				if ce.Page == leaf {
					found = true
				}
			}
			if !found {
				t.Errorf("Check named no problem on page %d", leaf)
			}
		})
	}
}
