package folio

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestReadOnlyWALWithoutLog opens, read-only and asking for WAL mode, a
// database that has no log directory (made without WAL): it opens and
// reads, and makes no log. It failed with "no such file or directory",
// so a reader given the writer's Options could not open a database no
// WAL-mode writer had opened yet.
func TestReadOnlyWALWithoutLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustCreatePut(t, db, "b", "k", "v")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, 0o600, &Options{ReadOnly: true, WAL: true})
	if err != nil {
		t.Fatalf("read-only WAL open of a database without a log: %v", err)
	}
	defer db.Close()
	if err := db.View(func(tx *Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "v" {
			t.Errorf("k = %q, want v", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(LogDir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the read-only open made %s (stat: %v)", LogDir(path), err)
	}
}
