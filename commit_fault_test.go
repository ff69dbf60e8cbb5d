package folio

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// TestTruncatedBeforeCommit truncates the file under an open database
// while a write function runs, after it read what it needed: the commit
// then reads the mapping itself (the rebalance of leaves the deletes left
// nearly empty reads their siblings), and Update and Batch return
// ErrCorrupt, as for a fault in their function, rather than let the fault
// in Commit kill the process. (Before free list deltas, an empty commit
// after a reopen read the previous free-list run's header; it now reads
// nothing: the free set and its run are in memory.)
func TestTruncatedBeforeCommit(t *testing.T) {
	const ps = 4096
	for name, write := range map[string]func(*DB, func(*Tx) error) error{"Update": (*DB).Update, "Batch": (*DB).Batch} {
		path := tempPath(t)
		db, err := Open(path, 0o600, &Options{PageSize: ps})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 4; i++ {
			if err := db.Update(fillDeep(i*1000, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db, err = Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = write(db, func(tx *Tx) error {
			b := tx.Bucket([]byte("deep"))
			for i := 1000; i < 5000; i++ {
				if i%500 == 0 {
					continue // one key left here and there: leaves to merge
				}
				if err := b.Delete([]byte(fmt.Sprintf("deep-key-%06d", i))); err != nil {
					return err
				}
			}
			return os.Truncate(path, 2*ps)
		})
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s committing over a truncated file: %v, want ErrCorrupt", name, err)
		}
		// The write lock was released: a read-only use of the DB still works.
		if err := db.View(func(tx *Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
}
