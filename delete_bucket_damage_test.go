package folio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestDeleteBucketDamagedNodeLength: bucket "b"'s only leaf, one page,
// lies just before bucket "keep"'s, and its header's overflow count is
// damaged to claim two pages (its stored checksum field intact, which is
// all a read without VerifyChecksums compares). DeleteBucket of "b" freed
// the leaf as long as its header said: "keep"'s leaf went on the free
// list, and the commits after it wrote over it ("keep" then read as
// ErrCorrupt). FreeAll now checks each page it frees whole, as a write
// that copies one does: the delete fails with ErrCorrupt naming the
// page, and "keep" survives the commits after it.
func TestDeleteBucketDamagedNodeLength(t *testing.T) {
	const ps = 1024
	path, img := builtImage(t, &Options{PageSize: ps, NoSync: true}, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("bk"), pagedValue(ps)); err != nil {
			return err
		}
		k, err := tx.CreateBucket([]byte("keep"))
		if err != nil {
			return err
		}
		return k.Put([]byte("k"), pagedValue(ps))
	})
	firstKey := func(id int) string {
		p := img[id*ps : (id+1)*ps]
		if page.PageFlags(p) != page.FlagLeaf || page.PageOverflow(p) != 0 {
			return ""
		}
		_, k, _, _ := page.LeafElem(p, page.PageCount(p), 0)
		return string(k)
	}
	const leaf = 2
	if firstKey(leaf) != "bk" || firstKey(leaf+1) != "k" {
		t.Fatalf("pages %d and %d hold %q and %q; want the leaves of b and keep", leaf, leaf+1, firstKey(leaf), firstKey(leaf+1))
	}
	for _, verify := range []bool{false, true} {
		t.Run(fmt.Sprintf("verify=%v", verify), func(t *testing.T) {
			db := openDamaged(t, path, img, func(b []byte) {
				binary.LittleEndian.PutUint32(b[leaf*ps+24:], 1) // 2 pages
			}, &Options{VerifyChecksums: verify})
			err := db.Update(func(tx *Tx) error { return tx.DeleteBucket([]byte("b")) })
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Page != leaf {
				t.Errorf("DeleteBucket: %v; want ErrCorrupt naming page %d", err, leaf)
			}
			for _, cerr := range checkErrs(db) {
				if !errors.As(cerr, &ce) || ce.Page != leaf {
					t.Errorf("Check after the delete: %v; want only page %d", cerr, leaf)
				}
			}
			keepSurvivesReuse(t, db, ps, "delete")
		})
	}
}
