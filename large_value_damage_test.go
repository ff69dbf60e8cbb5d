package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestLargeValueDamagedRun damages a committed large value's run of six
// pages on disk in its body (second and last page: TestCorruptBitFlip
// flips bits in the first) and in each field of its header, then reads
// it by Get and cursor, with and without VerifyChecksums, checks the
// file and overwrites the value. A read fails with ErrCorrupt naming the
// run's first page, or (a body flipped, without VerifyChecksums: the
// option's documented cost) serves it; never other bytes, never a panic.
// Check names the run whatever the damage, and the overwrite commits;
// a run whose header no longer proves it the value's stays allocated,
// and Check reports it as leaked, naming it.
func TestLargeValueDamagedRun(t *testing.T) {
	const ps = 1024
	val := lvValue(5*ps+17, 3) // a run of 6 pages
	path, img := builtImage(t, &Options{PageSize: ps, NoSync: true}, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, kv := range [][2][]byte{{[]byte("a"), []byte("x")}, {[]byte("big"), val}, {[]byte("z"), []byte("y")}} {
			if err := b.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	var run page.ID
	for id := 2; (id+1)*ps <= len(img); id++ {
		if page.PageFlags(img[id*ps:]) == page.FlagLarge {
			run = page.ID(id)
			break
		}
	}
	if run == 0 || page.PageOverflow(img[int(run)*ps:]) != 5 {
		t.Fatalf("no run of 6 pages in the file (page %d)", run)
	}
	at := int(run) * ps
	for _, e := range []struct {
		name string
		body bool // only the checksum of the whole run sees it
		edit func(b []byte)
	}{
		{"second page", true, func(b []byte) { b[at+ps+10] ^= 1 }},
		{"last page", true, func(b []byte) { b[at+5*ps+10] ^= 1 }},
		{"overflow shorter", false, func(b []byte) { binary.LittleEndian.PutUint32(b[at+24:], 2) }},
		{"overflow longer", false, func(b []byte) { binary.LittleEndian.PutUint32(b[at+24:], 6) }},
		{"kind", false, func(b []byte) { binary.LittleEndian.PutUint16(b[at+4:], uint16(page.FlagLeaf)) }},
		{"page id", false, func(b []byte) { binary.LittleEndian.PutUint64(b[at+8:], 3) }},
		{"checksum", false, func(b []byte) { b[at] ^= 1 }},
		{"zeroed", false, func(b []byte) { clear(b[at : at+6*ps]) }},
	} {
		for _, verify := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/verify=%v", e.name, verify), func(t *testing.T) {
				db := openDamaged(t, path, img, e.edit, &Options{VerifyChecksums: verify})
				served := e.body && !verify
				read := func(how string, fn func(b *Bucket) []byte) {
					t.Helper()
					err := db.View(func(tx *Tx) error {
						v := fn(tx.Bucket([]byte("b")))
						if v != nil && !bytes.Equal(v, val) && !served {
							t.Errorf("%s served %d bytes that are not the value's", how, len(v))
						}
						return tx.Err()
					})
					var ce *CorruptError
					switch {
					case served && err != nil:
						t.Errorf("%s: %v; want the value as the file holds it", how, err)
					case !served && (!errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Page != run):
						t.Errorf("%s: %v; want ErrCorrupt naming page %d", how, err, run)
					}
				}
				read("Get", func(b *Bucket) []byte { return b.Get([]byte("big")) })
				read("a cursor", func(b *Bucket) []byte {
					var got []byte
					c := b.Cursor()
					for k, v := c.First(); k != nil; k, v = c.Next() {
						if string(k) == "big" {
							got = v
						}
					}
					// A cursor that met the damaged run stays at its
					// end: "z" is not returned after the error.
					if k, _ := c.Next(); k != nil {
						t.Errorf("a cursor: Next after the damaged run returned %q", k)
					}
					return got
				})
				if !corruptPages(checkErrs(db))[run] {
					t.Errorf("Check does not name page %d: %v", run, checkErrs(db))
				}
				if err := db.Update(func(tx *Tx) error {
					return tx.Bucket([]byte("b")).Put([]byte("big"), []byte("small now"))
				}); err != nil {
					t.Fatalf("overwrite: %v", err)
				}
				errs := checkErrs(db)
				if e.body && !verify {
					// The run checked out (its header): freed and reusable.
					for _, err := range errs {
						t.Errorf("Check after the overwrite: %v", err)
					}
				} else if len(errs) == 0 {
					t.Errorf("Check after the overwrite: nothing; want the run at page %d reported leaked", run)
				}
				if err := db.View(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					if string(b.Get([]byte("big"))) != "small now" || string(b.Get([]byte("a"))) != "x" || string(b.Get([]byte("z"))) != "y" {
						return errors.New("the values differ")
					}
					return tx.Err()
				}); err != nil {
					t.Errorf("after the overwrite: %v", err)
				}
			})
		}
	}
}

// TestLargeValueDamagedRunLength: a run whose header claims one page
// more than its value's size needs (a flipped bit in its overflow count;
// its stored checksum field intact, which is all a read without
// VerifyChecksums compares) lies just before the leaf of another bucket.
// Replacing or deleting the damaged value (Put, Delete, a cursor's
// Delete, or DeleteBucket of its bucket) freed the run as long as its
// header said: the other bucket's leaf went on the free list, and the
// commits after it wrote over it (the bucket then read as ErrCorrupt).
// The damaged run stays allocated now (Check reports it leaked), and the
// other bucket survives the commits that reuse the freed pages.
func TestLargeValueDamagedRunLength(t *testing.T) {
	const ps = 1024
	// The run takes pages 2 to 7 and its leaf 8; the next commit moves
	// the leaf, and the one after puts bucket "keep"'s leaf on page 8.
	val := lvValue(5*ps+17, 3)
	path, img := builtImage(t, &Options{PageSize: ps, NoSync: true},
		func(tx *Tx) error {
			b, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("big"), val); err != nil {
				return err
			}
			return b.Put([]byte("z"), []byte("z"))
		},
		func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("a"), []byte("a")) },
		func(tx *Tx) error {
			b, err := tx.CreateBucket([]byte("keep"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), pagedValue(ps)) // a leaf of its own
		},
	)
	const run = 2
	after := img[(run+6)*ps : (run+7)*ps]
	if page.PageFlags(img[run*ps:]) != page.FlagLarge || page.PageOverflow(img[run*ps:]) != 5 || page.PageFlags(after) != page.FlagLeaf {
		t.Fatalf("want the run of 6 pages at page %d and a leaf after it", run)
	}
	if _, k, _, _ := page.LeafElem(after, page.PageCount(after), 0); string(k) != "k" {
		t.Fatalf("the leaf after the run holds %q, want bucket keep's key", k)
	}
	for _, op := range []string{"put", "delete", "cursor delete", "delete bucket"} {
		for _, verify := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/verify=%v", op, verify), func(t *testing.T) {
				db := openDamaged(t, path, img, func(b []byte) {
					binary.LittleEndian.PutUint32(b[run*ps+24:], 6) // 7 pages
				}, &Options{VerifyChecksums: verify})
				err := db.Update(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					switch op {
					case "put":
						return b.Put([]byte("big"), []byte("small now"))
					case "delete":
						return b.Delete([]byte("big"))
					case "cursor delete":
						c := b.Cursor()
						if k, _ := c.Seek([]byte("big")); string(k) != "big" {
							return fmt.Errorf("seek: %q", k)
						}
						return c.Delete()
					}
					return tx.DeleteBucket([]byte("b"))
				})
				if err != nil && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s: %v; want success or ErrCorrupt", op, err)
				}
				for _, cerr := range checkErrs(db) {
					var ce *CorruptError
					if !errors.As(cerr, &ce) || ce.Page < run || ce.Page >= run+6 {
						t.Errorf("Check after the %s: %v; want only the damaged run (pages %d to %d)", op, cerr, run, run+5)
					}
				}
				keepSurvivesReuse(t, db, ps, op)
			})
		}
	}
}
