package folio

import (
	"bytes"
	"path/filepath"
	"testing"
)

// openTest opens a fresh database in a temporary directory, with 1 KiB
// pages unless opts say otherwise, and checks it when the test ends.
func openTest(t testing.TB, opts *Options) *DB {
	t.Helper()
	if opts == nil {
		opts = &Options{PageSize: 1024}
	}
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeChecked(t, db) })
	return db
}

// closeChecked runs Check on db (if still open) and closes it.
func closeChecked(t testing.TB, db *DB) {
	t.Helper()
	mustCheck(t, db)
	if err := db.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// mustCheck reports every problem Tx.Check finds.
func mustCheck(t testing.TB, db *DB) {
	t.Helper()
	tx, err := db.Begin(false)
	if err != nil {
		return // closed already
	}
	defer tx.Rollback()
	for err := range tx.Check() {
		t.Errorf("check: %v", err)
	}
}

// reopen closes db (after checking it) and opens the same file again.
func reopen(t testing.TB, db *DB, opts *Options) *DB {
	t.Helper()
	path := db.Path()
	mustCheck(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if opts == nil {
		opts = &Options{}
	}
	db2, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeChecked(t, db2) })
	return db2
}

// openPath opens the file at path with opts and closes it when the test
// ends (its error ignored: the file may be damaged on purpose).
func openPath(t testing.TB, path string, opts *Options) *DB {
	t.Helper()
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func tempPath(t testing.TB) string { return filepath.Join(t.TempDir(), "test.db") }

// pagedValue is a value that keeps a bucket holding it out of its
// parent's leaf (over page.InlineMax with its key and the leaf's header)
// without being a large value: for fixtures that edit a bucket's pages.
func pagedValue(pageSize int) []byte {
	return bytes.Repeat([]byte("v"), pageSize/4-8)
}

// bucketAt is the bucket at path (top-level name first), or nil.
func bucketAt(tx *Tx, path []string) *Bucket {
	b := tx.Bucket([]byte(path[0]))
	for _, name := range path[1:] {
		if b == nil {
			return nil
		}
		b = b.Bucket([]byte(name))
	}
	return b
}

// mustCreatePut commits a new bucket holding key = value: the least
// data a test of opening, closing or logging needs.
func mustCreatePut(t testing.TB, db *DB, bucket, key, value string) {
	t.Helper()
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte(value))
	})
}

// mustPutIn commits key = value in bucket, made if need be.
func mustPutIn(t testing.TB, db *DB, bucket string, key, value []byte) {
	t.Helper()
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put(key, value)
	})
}
