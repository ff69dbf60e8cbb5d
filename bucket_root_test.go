package folio

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestBucketRootLikeBbolt: Bucket.Root answers as bbolt 1.4.3's: 0 for
// an inline bucket, the page of the tree's root otherwise (a page Tx.Page
// names a branch or a leaf, as bbolt's does), unchanged by writes until
// their commit, and a new page after it.
func TestBucketRootLikeBbolt(t *testing.T) {
	p := newInspectPair(t, nil)
	p.update(func(ftx *Tx, btx *bolt.Tx) error {
		if err := both(ftx, btx, []string{"small"}, putN(2, 10)); err != nil {
			return err
		}
		return both(ftx, btx, []string{"big"}, putN(300, 40))
	})
	type roots struct{ small, big uint64 }
	read := func(when string) (f, b roots) {
		t.Helper()
		p.view(func(ftx *Tx, btx *bolt.Tx) {
			f = roots{uint64(ftx.Bucket([]byte("small")).Root()), uint64(ftx.Bucket([]byte("big")).Root())}
			b = roots{uint64(btx.Bucket([]byte("small")).Root()), uint64(btx.Bucket([]byte("big")).Root())}
			if f.big != 0 {
				fi, ferr := ftx.Page(int(f.big))
				bi, berr := btx.Page(int(b.big))
				if ferr != nil || berr != nil || fi == nil || bi == nil || fi.Type != bi.Type || (fi.Type != "branch" && fi.Type != "leaf") {
					t.Errorf("%s: the big bucket's root page: folio %+v, %v; bbolt %+v, %v", when, fi, ferr, bi, berr)
				}
			}
			if r := ftx.Bucket([]byte("missing")).Root(); r != 0 {
				t.Errorf("%s: a nil bucket's Root is %d", when, r)
			}
		})
		return f, b
	}
	f0, b0 := read("after the load")
	if f0.small != 0 || b0.small != 0 || f0.big == 0 || b0.big == 0 {
		t.Fatalf("after the load: folio %+v, bbolt %+v: want 0 for the inline bucket only", f0, b0)
	}

	// Writes leave Root as it was until the commit, in both.
	p.update(func(ftx *Tx, btx *bolt.Tx) error {
		if err := both(ftx, btx, []string{"big"}, putN(400, 40)); err != nil {
			return err
		}
		if err := both(ftx, btx, []string{"small"}, putN(300, 40)); err != nil {
			return err
		}
		f := roots{uint64(ftx.Bucket([]byte("small")).Root()), uint64(ftx.Bucket([]byte("big")).Root())}
		b := roots{uint64(btx.Bucket([]byte("small")).Root()), uint64(btx.Bucket([]byte("big")).Root())}
		if f != f0 || b != b0 {
			t.Errorf("before the commit: folio %+v (was %+v), bbolt %+v (was %+v)", f, f0, b, b0)
		}
		return nil
	})
	f1, b1 := read("after the commit")
	if f1.small == 0 || b1.small == 0 || f1.big == f0.big || b1.big == b0.big {
		t.Errorf("after the commit: folio %+v (was %+v), bbolt %+v (was %+v): want new roots, the grown bucket on a page", f1, f0, b1, b0)
	}
}
