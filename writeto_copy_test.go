package folio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// writeToFixture is a database of about size bytes of 1 KiB values.
func writeToFixture(tb testing.TB, size int) *DB {
	tb.Helper()
	db, err := Open(filepath.Join(tb.TempDir(), "src.db"), 0o600, &Options{PageSize: 4096, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	v := make([]byte, 1024)
	for i := 0; i < size/len(v); i += 1000 {
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for j := i; j < i+1000; j++ {
				if err := b.Put(fmt.Appendf(nil, "k%09d", j), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// TestWriteToFileCopiesNoPages: WriteTo into an *os.File hands the
// kernel the snapshot's pages as mapped, without copying them into a
// buffer first: it allocates less than a page a MiB of database. It
// allocated a 1 MiB buffer and copied every page through it.
func TestWriteToFileCopiesNoPages(t *testing.T) {
	db := writeToFixture(t, 8<<20)
	f, err := os.Create(filepath.Join(t.TempDir(), "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var size int64
	var before, after runtime.MemStats
	err = db.View(func(tx *Tx) error {
		size = tx.Size()
		runtime.ReadMemStats(&before)
		_, err := tx.WriteTo(f)
		runtime.ReadMemStats(&after)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(size>>20)*4096; got > limit {
		t.Errorf("WriteTo of %d bytes into a file allocated %d bytes, want at most %d", size, got, limit)
	}
	copyDB := openCopy(t, f.Name())
	mustCheck(t, copyDB)
}

// openCopy opens a copy WriteTo wrote at path.
func openCopy(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestWriteToFileAfterFileCut: WriteTo into an *os.File from a Begin
// transaction over a database file cut underneath returns ErrCorrupt
// naming the file, as into any writer (TestLifecycleWriteToAfterFileCut):
// the kernel's read of the mapping past the file's end fails the write
// with EFAULT, which WriteTo reports as the fault it is.
func TestWriteToFileAfterFileCut(t *testing.T) {
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
	f, err := os.Create(filepath.Join(t.TempDir(), "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = tx.WriteTo(f)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteTo: %v; want ErrCorrupt naming the file", err)
	}
}

// BenchmarkWriteTo copies a 32 MiB database into a file (rewritten in
// place each time) and into io.Discard.
func BenchmarkWriteTo(b *testing.B) {
	db := writeToFixture(b, 32<<20)
	for _, dst := range []string{"file", "discard"} {
		b.Run(dst, func(b *testing.B) {
			var w io.Writer = io.Discard
			var f *os.File
			if dst == "file" {
				var err error
				if f, err = os.Create(filepath.Join(b.TempDir(), "copy.db")); err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				w = f
			}
			tx, err := db.Begin(false)
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Rollback()
			b.SetBytes(tx.Size())
			b.ReportAllocs()
			for b.Loop() {
				if f != nil {
					if _, err := f.Seek(0, io.SeekStart); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := tx.WriteTo(w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
