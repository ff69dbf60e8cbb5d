package folio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMaxSizeBelowFileOpens: a file whose data already takes more than
// Options.MaxSize opens, as in bbolt ("the max size only limits future
// writes"): its data reads, a commit that does not grow the file (a
// delete, in free pages) works, and one that would grow it fails with
// ErrMaxSizeReached and changes nothing. Refusing the Open would leave
// an operator who lowered the cap unable to delete data to get under it.
func TestMaxSizeBelowFileOpens(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			db, err := Open(path, 0o600, &Options{PageSize: 1024, WAL: wal})
			if err != nil {
				t.Fatal(err)
			}
			val := bytes.Repeat([]byte("v"), 200)
			if err := db.Update(func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for i := range 2000 {
					if err := b.Put(fmt.Appendf(nil, "k%05d", i), val); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			// Free pages for later commits to reuse, as a file in use has.
			if err := db.Update(func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				for i := 1000; i < 1500; i++ {
					if err := b.Delete(fmt.Appendf(nil, "k%05d", i)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			maxSize := int(fi.Size() / 4)

			db, err = Open(path, 0o600, &Options{WAL: wal, MaxSize: maxSize})
			if err != nil {
				t.Fatalf("open a %d-byte file with MaxSize %d: %v", fi.Size(), maxSize, err)
			}
			defer closeChecked(t, db)
			if err := db.View(func(tx *Tx) error {
				if got := tx.Bucket([]byte("b")).Get([]byte("k01999")); !bytes.Equal(got, val) {
					return fmt.Errorf("k01999 = %q", got)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *Tx) error {
				return tx.Bucket([]byte("b")).Delete([]byte("k00000"))
			}); err != nil {
				t.Fatalf("a delete under a MaxSize the file has passed: %v", err)
			}
			big := bytes.Repeat([]byte("x"), 4*int(fi.Size()))
			err = db.Update(func(tx *Tx) error {
				return tx.Bucket([]byte("b")).Put([]byte("big"), big)
			})
			if !errors.Is(err, ErrMaxSizeReached) {
				t.Fatalf("a put growing the file past MaxSize: %v, want ErrMaxSizeReached", err)
			}
			if err := db.View(func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				if b.Get([]byte("big")) != nil || b.Get([]byte("k00000")) != nil || b.Get([]byte("k00001")) == nil {
					return errors.New("the failed put or the delete is not as committed")
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
