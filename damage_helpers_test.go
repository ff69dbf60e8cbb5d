package folio

import (
	"os"
	"testing"
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

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
