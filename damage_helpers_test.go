package folio

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"
)

// The helpers here build the healthy files that damage tests then edit
// (flip or zero bytes of a page, point a header elsewhere) and reopen,
// expecting ErrCorrupt naming the page.

// builtImage writes a new database at a temporary path (opened with
// opts), runs each fill in a write transaction of its own, checks and
// closes it, and returns the path and the file's bytes.
func builtImage(t *testing.T, opts *Options, fills ...func(tx *Tx) error) (string, []byte) {
	t.Helper()
	path := tempPath(t)
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, fill := range fills {
		mustUpdate(t, db, fill)
	}
	return path, closedImage(t, db)
}

// closedImage checks and closes db and returns its file's bytes.
func closedImage(t testing.TB, db *DB) []byte {
	t.Helper()
	mustCheck(t, db)
	return imageAfterClose(t, db)
}

// imageAfterClose closes db and returns its file's bytes, for tests that
// read the file at once (closedImage checks it first).
func imageAfterClose(t testing.TB, db *DB) []byte {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return mustRead(t, db.Path())
}

// mustRead returns the bytes of the file at path.
func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// openDamaged writes a copy of img, changed by damage, at path and opens
// it with opts; the database closes when the test ends.
func openDamaged(t *testing.T, path string, img []byte, damage func(b []byte), opts *Options) *DB {
	t.Helper()
	bad := bytes.Clone(img)
	damage(bad)
	writeImage(t, path, bad)
	return openPath(t, path, opts)
}

// keepSurvivesReuse runs 8 commits that take whatever pages are free,
// then checks that bucket "keep" still reads its key "k" as
// pagedValue(ps): no page of its was freed by what went before
// (what, for the failure's message).
func keepSurvivesReuse(t *testing.T, db *DB, ps int, what string) {
	t.Helper()
	for i := range 8 {
		mustPutIn(t, db, "after", []byte{byte(i)}, bytes.Repeat([]byte{byte(i)}, 300))
	}
	if err := db.View(func(tx *Tx) error {
		if got := tx.Bucket([]byte("keep")).Get([]byte("k")); !bytes.Equal(got, pagedValue(ps)) {
			return fmt.Errorf("keep/k reads %.20q (%v), want %d bytes of v", got, tx.Err(), len(pagedValue(ps)))
		}
		return tx.Err()
	}); err != nil {
		t.Errorf("after the %s and 8 commits: %v", what, err)
	}
}

// openEdited opens the edited file at path (nil options); it is closed
// when the test ends unless the test has failed (closeUnlessFailed).
func openEdited(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeUnlessFailed(t, db) })
	return db
}

// deleteWithin deletes top-level bucket name in an Update that must end
// within 20 seconds (a walk of every path through a damaged tree would
// not); it returns DeleteBucket's error and Update's.
func deleteWithin(t *testing.T, db *DB, name string) (delErr, err error) {
	t.Helper()
	before(t, 20*time.Second, "DeleteBucket", func() {
		err = db.Update(func(tx *Tx) error {
			delErr = tx.DeleteBucket([]byte(name))
			return delErr
		})
	})
	return delErr, err
}

// before runs f and fails the test if it has not returned after d.
func before(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v: walking every path of a shared subtree?", what, d)
	}
}

// closeUnlessFailed closes db if the test passed so far: an operation
// before gave up on still holds a transaction, which Close would wait for.
func closeUnlessFailed(t *testing.T, db *DB) {
	if !t.Failed() {
		_ = db.Close()
	}
}
