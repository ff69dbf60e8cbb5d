package folio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFlagCopies returns what WriteTo writes for a read transaction of
// db with WriteFlag 0 (from the mapping) and with flag (from the file
// opened with it), and the transaction's Size.
func writeFlagCopies(t *testing.T, db *DB, flag int, between func()) (plain, flagged []byte, size int64) {
	t.Helper()
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if between != nil {
		between()
	}
	var a, b bytes.Buffer
	if _, err := tx.WriteTo(&a); err != nil {
		t.Fatal(err)
	}
	tx.WriteFlag = flag
	n, err := tx.WriteTo(&b)
	if err != nil {
		t.Fatalf("WriteTo with WriteFlag %#x: %v", flag, err)
	}
	if n != int64(b.Len()) {
		t.Errorf("WriteTo said %d bytes, wrote %d", n, b.Len())
	}
	return a.Bytes(), b.Bytes(), tx.Size()
}

// TestWriteToWriteFlag: with Tx.WriteFlag set, WriteTo reads the pages
// from the database file opened with that flag (bbolt's use: O_DIRECT,
// to copy a database larger than memory without filling the page cache
// with it), and writes the same copy: in direct mode, in WAL mode with
// commits the file has but has not synced, and after the file at the
// path was replaced (it then copies from the map, as bbolt falls back
// to the file it has open).
func TestWriteToWriteFlag(t *testing.T) {
	for _, opts := range []*Options{{PageSize: 1024}, walOpts(1024)} {
		t.Run(fmt.Sprintf("WAL=%v", opts.WAL), func(t *testing.T) {
			db := openTest(t, opts)
			for i := range 5 {
				mustUpdate(t, db, func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					if err := b.Put(fmt.Appendf(nil, "large%d", i), bytes.Repeat([]byte{byte(i)}, 3000)); err != nil {
						return err
					}
					return b.Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
				})
			}
			plain, flagged, size := writeFlagCopies(t, db, os.O_SYNC, nil)
			if !bytes.Equal(plain, flagged) || int64(len(flagged)) != size {
				t.Errorf("copies differ: %d bytes from the map, %d from the file opened with O_SYNC (Size %d)", len(plain), len(flagged), size)
			}
			checkCopy(t, flagged)
		})
	}
	t.Run("replaced", func(t *testing.T) {
		db := openTest(t, nil)
		mustCreatePut(t, db, "b", "k", "v")
		other := filepath.Join(t.TempDir(), "other")
		if err := os.WriteFile(other, make([]byte, 1<<16), 0o600); err != nil {
			t.Fatal(err)
		}
		path := db.Path()
		moved := path + ".moved"
		plain, flagged, _ := writeFlagCopies(t, db, os.O_SYNC, func() {
			// The database moves away and another file takes its name.
			if err := os.Rename(path, moved); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		})
		if !bytes.Equal(plain, flagged) {
			t.Errorf("WriteTo with WriteFlag copied the file now at the path")
		}
		if err := os.Rename(moved, path); err != nil {
			t.Fatal(err)
		}
	})
}

// checkCopy opens a copy and checks it.
func checkCopy(t *testing.T, img []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("open the copy: %v", err)
	}
	closeChecked(t, db)
}

// TestWriteToWriteFlagFileCut: with WriteFlag, a file cut short under
// the transaction (by another process) is ErrCorrupt naming the file,
// as it is for the copy from the map (TestWriteToFileAfterFileCut).
func TestWriteToWriteFlagFileCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.db")
	db := cutFixture(t, path)
	defer db.Close()
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := os.Truncate(path, 8192); err != nil {
		t.Fatal(err)
	}
	tx.WriteFlag = os.O_SYNC
	if _, err := tx.WriteTo(io.Discard); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteTo: %v; want ErrCorrupt naming the file", err)
	}
}
