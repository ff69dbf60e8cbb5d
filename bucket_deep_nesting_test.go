package folio

// Buckets nest as deep as a program asks; a logical log record naming a
// bucket deeper than the tree-depth bound must replay (TestDeepNesting
// covers Check and Stats).

import (
	"fmt"
	"path/filepath"
	"testing"
)

const deepNesting = 40

func TestBucketsNestedDeepWALReplay(t *testing.T) {
	dir := t.TempDir()
	path, crash := filepath.Join(dir, "a.db"), filepath.Join(dir, "crash.db")
	db, err := Open(path, 0o600, logicalOpts())
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("x")); return err })
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	copyFile(t, path, crash)
	rewriteMany(t, db, newMBucket()) // from here on, commits log operations
	mustUpdate(t, db, func(tx *Tx) error {
		b := tx.Bucket([]byte("x"))
		for i := 1; i < deepNesting; i++ {
			if b, err = b.CreateBucket(fmt.Appendf(nil, "b%d", i)); err != nil {
				return err
			}
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	copyDir(t, LogDir(path), LogDir(crash))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(crash, 0o600, logicalOpts())
	if err != nil {
		t.Fatalf("reopen after a crash: %v", err)
	}
	defer closeChecked(t, db2)
	if err := db2.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("x"))
		for i := 1; i < deepNesting && b != nil; i++ {
			b = b.Bucket(fmt.Appendf(nil, "b%d", i))
		}
		if b == nil || string(b.Get([]byte("k"))) != "v" {
			return fmt.Errorf("the deep bucket's key is lost")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
