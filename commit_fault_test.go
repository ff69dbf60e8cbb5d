package folio

import (
	"errors"
	"os"
	"testing"
)

// TestTruncatedBeforeCommit truncates the file under an open database
// whose next commit must read the mapping itself (the previous free-list
// run's header, after a reopen; the rebalance of a bucket emptied by
// deletes): Update and Batch return ErrCorrupt, as for a fault in their
// function, rather than let the fault in Commit kill the process.
func TestTruncatedBeforeCommit(t *testing.T) {
	const ps = 4096
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
	defer db.Close()
	if err := os.Truncate(path, 2*ps); err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func(func(*Tx) error) error{"Update": db.Update, "Batch": db.Batch} {
		err := write(func(tx *Tx) error { return nil })
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s committing over a truncated file: %v, want ErrCorrupt", name, err)
		}
	}
	// The write lock was released: a read-only use of the DB still works.
	if err := db.View(func(tx *Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
