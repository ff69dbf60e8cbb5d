package folio

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// review22SplitLeaf grows the leaf of bucket b holding k000..k019 past
// four pages with appends, so that a Put splits it at once (splitPath),
// then puts k0035 into the first part (which copies that part's
// elements: it had no room left).
func review22SplitLeaf(b *Bucket) error {
	for i := range 200 {
		if err := b.Put(fmt.Appendf(nil, "z%03d", i), []byte(strings.Repeat("v", 40))); err != nil {
			return err
		}
	}
	return b.Put([]byte("k0035"), []byte("new"))
}

// TestReview22CursorDeleteAfterSplit: Cursor.Delete after a Bucket.Put
// split the cursor's leaf within the transaction (a node past four pages
// splits at once). The cursor still read the leaf as it was before the
// split: a second Delete removed the key that had followed the deleted
// one then, not the first key after it now (README), and a Delete of a
// key since deleted and created again as a nested bucket took the
// element for the plain value it had been (in WAL mode it logged a
// delete of the bucket, and the replay after a crash failed Open).
func TestReview22CursorDeleteAfterSplit(t *testing.T) {
	setup := func(t *testing.T, opts *Options) *DB {
		db, err := Open(filepath.Join(t.TempDir(), "a.db"), 0o600, opts)
		if err != nil {
			t.Fatal(err)
		}
		db.WALImageLimit = -1 // log operations
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			for i := range 20 {
				if err := b.Put(fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
		return db
	}
	keys := func(t *testing.T, b *Bucket) []string {
		t.Helper()
		var ks []string
		if err := b.ForEach(func(k, _ []byte) error {
			if k[0] == 'k' {
				ks = append(ks, string(k))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	want := func(drop ...string) []string {
		var ks []string
		for i := range 20 {
			k := fmt.Sprintf("k%03d", i)
			if !slices.Contains(drop, k) {
				ks = append(ks, k)
			}
			if i == 3 && !slices.Contains(drop, "k0035") {
				ks = append(ks, "k0035")
			}
		}
		return ks
	}

	t.Run("second delete", func(t *testing.T) {
		db := setup(t, &Options{PageSize: 1024})
		defer closeChecked(t, db)
		mustUpdate(t, db, func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			if err := b.Put([]byte("k010"), []byte("w")); err != nil { // the leaf is now a node
				return err
			}
			c := b.Cursor()
			if k, _ := c.Seek([]byte("k003")); string(k) != "k003" {
				return fmt.Errorf("Seek = %q", k)
			}
			if err := c.Delete(); err != nil {
				return err
			}
			if err := review22SplitLeaf(b); err != nil {
				return err
			}
			// k0035 now follows the key deleted.
			if err := c.Delete(); err != nil {
				return err
			}
			if got, want := keys(t, b), want("k003", "k0035"); !slices.Equal(got, want) {
				t.Errorf("after the second Cursor.Delete: %v, want %v", got, want)
			}
			if k, _ := c.Next(); string(k) != "k004" {
				t.Errorf("Next after the second Delete = %q, want k004", k)
			}
			return nil
		})
	})

	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("key now a bucket/wal=%v", walMode), func(t *testing.T) {
			dir := t.TempDir()
			opts := &Options{PageSize: 1024}
			if walMode {
				opts = logicalOpts()
			}
			db := setup(t, opts)
			path, crash := db.Path(), filepath.Join(dir, "crash.db")
			if walMode {
				if err := db.Checkpoint(); err != nil {
					t.Fatal(err)
				}
				copyFile(t, path, crash)
			}
			mustUpdate(t, db, func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				if err := b.Put([]byte("k010"), []byte("w")); err != nil {
					return err
				}
				c := b.Cursor()
				if k, _ := c.Seek([]byte("k003")); string(k) != "k003" {
					return fmt.Errorf("Seek = %q", k)
				}
				if err := review22SplitLeaf(b); err != nil {
					return err
				}
				if err := b.Delete([]byte("k003")); err != nil {
					return err
				}
				nb, err := b.CreateBucket([]byte("k003"))
				if err != nil {
					return err
				}
				if err := nb.Put([]byte("in"), []byte("v")); err != nil {
					return err
				}
				if err := c.Delete(); !errors.Is(err, ErrIncompatibleValue) {
					t.Errorf("Cursor.Delete on k003, now a bucket: %v, want ErrIncompatibleValue", err)
				}
				if k, v := c.Seek([]byte("k003")); string(k) != "k003" || v != nil {
					t.Errorf("Seek(k003) after the refused Delete = %q, %q; want the bucket", k, v)
				}
				return nil
			})
			check := func(db *DB) {
				t.Helper()
				err := db.View(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					if got, want := keys(t, b), want(); !slices.Equal(got, want) {
						t.Errorf("keys %v, want %v", got, want)
					}
					if v := b.Bucket([]byte("k003")).Get([]byte("in")); string(v) != "v" {
						t.Errorf("k003/in = %q, want v", v)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			check(db)
			if walMode {
				copyDir(t, LogDir(path), LogDir(crash))
			}
			closeChecked(t, db)
			if walMode {
				db2, err := Open(crash, 0o600, logicalOpts())
				if err != nil {
					t.Fatalf("open after the crash: %v", err)
				}
				check(db2)
				closeChecked(t, db2)
			}
		})
	}
}
