package folio

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
	bolt "go.etcd.io/bbolt"
)

// fromBolt is bbolt's BucketStructure as folio's.
func fromBolt(bs bolt.BucketStructure) BucketStructure {
	s := BucketStructure{Name: bs.Name, KeyN: bs.KeyN}
	for _, c := range bs.Children {
		s.Children = append(s.Children, fromBolt(c))
	}
	return s
}

// inspectPair runs fn on a folio and a bbolt database side by side: one
// Update each, then the same in a View. (folio's file takes opts.)
type inspectPair struct {
	t   *testing.T
	db  *DB
	bdb *bolt.DB
}

func newInspectPair(t *testing.T, opts *Options) *inspectPair {
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "bolt.db"), 0o600, &bolt.Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bdb.Close() })
	return &inspectPair{t: t, db: openTest(t, opts), bdb: bdb}
}

func (p *inspectPair) update(fn func(ftx *Tx, btx *bolt.Tx) error) {
	p.t.Helper()
	var berr error
	ferr := p.db.Update(func(ftx *Tx) error {
		berr = p.bdb.Update(func(btx *bolt.Tx) error { return fn(ftx, btx) })
		return berr
	})
	if ferr != nil || berr != nil {
		p.t.Fatalf("update: folio %v, bbolt %v", ferr, berr)
	}
}

func (p *inspectPair) view(fn func(ftx *Tx, btx *bolt.Tx)) {
	p.t.Helper()
	err := p.db.View(func(ftx *Tx) error {
		return p.bdb.View(func(btx *bolt.Tx) error { fn(ftx, btx); return nil })
	})
	if err != nil {
		p.t.Fatalf("view: %v", err)
	}
}

// same compares Tx.Inspect, and Bucket.Inspect of each top-level bucket
// and of each bucket under it, between the two transactions.
func (p *inspectPair) same(when string, ftx *Tx, btx *bolt.Tx) {
	p.t.Helper()
	got, want := ftx.Inspect(), fromBolt(btx.Inspect())
	if !reflect.DeepEqual(got, want) {
		p.t.Errorf("%s: Tx.Inspect:\nfolio %+v\nbbolt %+v", when, got, want)
	}
	var walk func(path string, fb *Bucket, bb *bolt.Bucket)
	walk = func(path string, fb *Bucket, bb *bolt.Bucket) {
		if got, want := fb.Inspect(), fromBolt(bb.Inspect()); !reflect.DeepEqual(got, want) {
			p.t.Errorf("%s: Bucket.Inspect of %s:\nfolio %+v\nbbolt %+v", when, path, got, want)
		}
		_ = bb.ForEachBucket(func(k []byte) error {
			walk(path+"/"+string(k), fb.Bucket(k), bb.Bucket(k))
			return nil
		})
	}
	_ = btx.ForEach(func(name []byte, bb *bolt.Bucket) error {
		walk(string(name), ftx.Bucket(name), bb)
		return nil
	})
	if err := ftx.Err(); err != nil {
		p.t.Errorf("%s: Inspect failed the transaction: %v", when, err)
	}
}

// both runs fn on the bucket pair at path (created as needed).
func both(ftx *Tx, btx *bolt.Tx, path []string, fn func(fb *Bucket, bb *bolt.Bucket) error) error {
	fb, err := ftx.CreateBucketIfNotExists([]byte(path[0]))
	if err != nil {
		return err
	}
	bb, err := btx.CreateBucketIfNotExists([]byte(path[0]))
	if err != nil {
		return err
	}
	for _, name := range path[1:] {
		if fb, err = fb.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
		if bb, err = bb.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	return fn(fb, bb)
}

func putN(n, size int) func(fb *Bucket, bb *bolt.Bucket) error {
	return func(fb *Bucket, bb *bolt.Bucket) error {
		for i := range n {
			k, v := fmt.Appendf(nil, "k%05d", i), make([]byte, size)
			if err := fb.Put(k, v); err != nil {
				return err
			}
			if err := bb.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestInspectLikeBbolt: Tx.Inspect and Bucket.Inspect give bbolt 1.4.3's
// structure for the same buckets: the name "root" for the bucket asked,
// KeyN counting values and not nested buckets, children in key order
// (nil where none), over empty, inline, paged and nested buckets, deep
// nesting, in read and write transactions (a write transaction's own
// changes, deletes and moves included), in direct and WAL mode.
func TestInspectLikeBbolt(t *testing.T) {
	for _, opts := range []*Options{{PageSize: 1024}, walOpts(1024)} {
		t.Run(fmt.Sprintf("WAL=%v", opts.WAL), func(t *testing.T) {
			p := newInspectPair(t, opts)
			p.update(func(ftx *Tx, btx *bolt.Tx) error {
				p.same("empty, write tx", ftx, btx)
				return nil
			})
			p.view(func(ftx *Tx, btx *bolt.Tx) { p.same("empty, read tx", ftx, btx) })
			deep := []string{"deep"}
			for i := range 30 {
				deep = append(deep, fmt.Sprintf("d%02d", i))
			}
			p.update(func(ftx *Tx, btx *bolt.Tx) error {
				for _, step := range []struct {
					path []string
					fn   func(*Bucket, *bolt.Bucket) error
				}{
					{[]string{"empty"}, putN(0, 0)},
					{[]string{"inline"}, putN(3, 10)},
					{[]string{"paged"}, putN(200, 50)},
					{[]string{"paged", "z-inline"}, putN(2, 5)},
					{[]string{"paged", "a-paged"}, putN(100, 40)},
					{[]string{"paged", "a-paged", "x"}, putN(1, 1)},
					{[]string{"paged", "m-empty"}, putN(0, 0)},
					{deep, putN(4, 8)},
				} {
					if err := both(ftx, btx, step.path, step.fn); err != nil {
						return err
					}
				}
				p.same("built, write tx", ftx, btx)
				return nil
			})
			p.view(func(ftx *Tx, btx *bolt.Tx) { p.same("built, read tx", ftx, btx) })
			p.update(func(ftx *Tx, btx *bolt.Tx) error {
				// Changes not committed yet: deletes, a move, new
				// buckets, an inline bucket grown past inline.
				if err := both(ftx, btx, []string{"paged"}, func(fb *Bucket, bb *bolt.Bucket) error {
					for i := 0; i < 200; i += 3 {
						k := fmt.Appendf(nil, "k%05d", i)
						if err := errors.Join(fb.Delete(k), bb.Delete(k)); err != nil {
							return err
						}
					}
					return errors.Join(fb.DeleteBucket([]byte("m-empty")), bb.DeleteBucket([]byte("m-empty")))
				}); err != nil {
					return err
				}
				if err := both(ftx, btx, []string{"inline"}, putN(100, 30)); err != nil {
					return err
				}
				if err := errors.Join(
					ftx.MoveBucket([]byte("z-inline"), ftx.Bucket([]byte("paged")), ftx.Bucket([]byte("empty"))),
					btx.MoveBucket([]byte("z-inline"), btx.Bucket([]byte("paged")), btx.Bucket([]byte("empty")))); err != nil {
					return err
				}
				if err := both(ftx, btx, []string{"new", "under"}, putN(5, 5)); err != nil {
					return err
				}
				p.same("changed, write tx", ftx, btx)
				return nil
			})
			p.view(func(ftx *Tx, btx *bolt.Tx) { p.same("changed, read tx", ftx, btx) })
		})
	}
}

// TestInspectJSONLikeBbolt: BucketStructure marshals as bbolt's does
// (its JSON names; no "buckets" where there are none), so that tools
// reading bbolt's inspect output read folio's.
func TestInspectJSONLikeBbolt(t *testing.T) {
	f := BucketStructure{Name: "root", Children: []BucketStructure{{Name: "a", KeyN: 2}}}
	b := bolt.BucketStructure{Name: "root", Children: []bolt.BucketStructure{{Name: "a", KeyN: 2}}}
	fj, err1 := json.Marshal(f)
	bj, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil || string(fj) != string(bj) {
		t.Errorf("JSON: folio %s (%v), bbolt %s (%v)", fj, err1, bj, err2)
	}
}

// TestInspectNoBucket: the nil *Bucket of a missing name, a deleted
// bucket and a bucket or Tx whose transaction ended give the zero
// BucketStructure (bbolt panics on the nil one), and fail nothing.
func TestInspectNoBucket(t *testing.T) {
	db := openTest(t, nil)
	var kept *Bucket
	var keptTx *Tx
	mustUpdate(t, db, func(tx *Tx) error {
		if got := tx.Bucket([]byte("missing")).Inspect(); !reflect.DeepEqual(got, BucketStructure{}) {
			t.Errorf("nil bucket: %+v", got)
		}
		b, err := tx.CreateBucket([]byte("gone"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("gone")); err != nil {
			return err
		}
		if got := b.Inspect(); !reflect.DeepEqual(got, BucketStructure{}) {
			t.Errorf("deleted bucket: %+v", got)
		}
		kept, err = tx.CreateBucket([]byte("kept"))
		keptTx = tx
		return err
	})
	if got := kept.Inspect(); !reflect.DeepEqual(got, BucketStructure{}) {
		t.Errorf("bucket of an ended transaction: %+v", got)
	}
	if got := keptTx.Inspect(); !reflect.DeepEqual(got, BucketStructure{}) {
		t.Errorf("ended transaction: %+v", got)
	}
}

// TestInspectDamaged: Inspect on a damaged file stops at the damage and
// fails the transaction with ErrCorrupt naming the page (View returns
// it; Tx.Err says it for a Begin transaction), where bbolt panics or
// loops: at a nested bucket's leaf whose checksum is not its parent's,
// and at a bucket holding itself (a cycle Inspect would walk forever).
func TestInspectDamaged(t *testing.T) {
	t.Run("checksum", func(t *testing.T) {
		path, e := pagedNestedImage(t)
		leaf := e.leafOf(t, "a", "n")
		run := e.run(leaf)
		binary.LittleEndian.PutUint32(run, page.PageChecksum(run)+1)
		writeImage(t, path, e.b)
		inspectFails(t, path, leaf)
	})
	t.Run("cycle", func(t *testing.T) {
		// n's header names a's own leaf, with the checksum that leaf
		// stores (all a read without VerifyChecksums compares).
		path, e := pagedNestedImage(t)
		leaf := e.leafOf(t, "a")
		run := e.run(leaf)
		_, v, _ := page.LeafValue(run, 0)
		binary.LittleEndian.PutUint64(v, uint64(leaf))
		binary.LittleEndian.PutUint32(v[8:], page.PageChecksum(run))
		writeImage(t, path, e.b)
		inspectFails(t, path, leaf)
	})
}

// pagedNestedImage writes a file whose bucket "a" holds one element, the
// bucket "n", whose keys take a leaf page of their own; it returns the
// path and the image to edit.
func pagedNestedImage(t *testing.T) (string, *editImage) {
	t.Helper()
	path, img := builtImage(t, &Options{PageSize: 1024}, func(tx *Tx) error {
		n, err := ensureBucket(tx, []string{"a", "n"})
		if err != nil {
			return err
		}
		for i := range 10 {
			if err := n.Put(fmt.Appendf(nil, "k%02d", i), make([]byte, 60)); err != nil {
				return err
			}
		}
		return nil
	})
	return path, newEditImage(t, img)
}

// inspectFails opens path and checks that Inspect, from View, Update and
// Begin, fails the transaction with ErrCorrupt naming page id.
func inspectFails(t *testing.T, path string, id page.ID) {
	t.Helper()
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeUnlessFailed(t, db)
	names := func(err error) bool {
		var ce *CorruptError
		return errors.Is(err, ErrCorrupt) && errors.As(err, &ce) && ce.Page == id
	}
	var got BucketStructure
	for _, how := range []string{"View", "Update"} {
		var err error
		before(t, 20*time.Second, how+" Inspect", func() {
			fn := func(tx *Tx) error { got = tx.Inspect(); return nil }
			if how == "View" {
				err = db.View(fn)
			} else {
				err = db.Update(fn)
			}
		})
		if !names(err) {
			t.Errorf("%s with Tx.Inspect: %v; want ErrCorrupt naming page %d", how, err, id)
		}
		if got.Name != "root" {
			t.Errorf("%s: Tx.Inspect gave %+v, want what it read before the damage", how, got)
		}
	}
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	before(t, 20*time.Second, "Bucket.Inspect", func() { got = tx.Bucket([]byte("a")).Inspect() })
	if !names(tx.Err()) {
		t.Errorf("Begin, Bucket.Inspect: Tx.Err %v; want ErrCorrupt naming page %d", tx.Err(), id)
	}
	if err := tx.Rollback(); err != nil {
		t.Error(err)
	}
}
