package folio

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// review22MmapCase is Options no mapping of the file can honour, and the
// field the error must name.
type review22MmapCase struct {
	name  string
	opts  Options
	field string
}

// review22MmapCases are the cases every Unix has: flags that would not
// map the file shared at an address of the kernel's choosing (MAP_FIXED
// maps over address 0, or whatever is there; MAP_ANON maps zeros, not the
// file; MAP_PRIVATE asks for a copy), and a mapping bigger than any
// address space.
func review22MmapCases() []review22MmapCase {
	return []review22MmapCase{
		{"MAP_FIXED", Options{MmapFlags: unix.MAP_FIXED}, "MmapFlags"},
		{"MAP_ANON", Options{MmapFlags: unix.MAP_ANON}, "MmapFlags"},
		{"MAP_PRIVATE", Options{MmapFlags: unix.MAP_PRIVATE}, "MmapFlags"},
		{"MAP_ANON|MAP_SHARED", Options{MmapFlags: unix.MAP_ANON | unix.MAP_SHARED}, "MmapFlags"},
		{"InitialMmapSize MaxInt", Options{InitialMmapSize: math.MaxInt}, "InitialMmapSize"},
	}
}

// review22CheckMmapOptions opens a new and an existing file with each
// case: ErrInvalidOptions naming the field and the path, no file left
// where there was none (nor a temporary one beside it), and the existing
// file untouched and still opening with default options.
func review22CheckMmapOptions(t *testing.T, cases []review22MmapCase) {
	t.Helper()
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.db")
	db, err := Open(existing, 0o600, &Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(existing)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		fresh := filepath.Join(dir, "new.db")
		for _, path := range []string{fresh, existing} {
			for _, ro := range []bool{false, true} {
				if path == fresh && ro {
					continue // fs.ErrNotExist, checked elsewhere
				}
				o := c.opts
				o.ReadOnly = ro
				db, err := Open(path, 0o600, &o)
				if err == nil {
					_ = db.Close()
					t.Errorf("%s, %s, read-only %v: opened", c.name, path, ro)
				} else if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), path) {
					t.Errorf("%s, %s, read-only %v: %v; want ErrInvalidOptions naming %s and the path", c.name, path, ro, err, c.field)
				}
			}
		}
		if _, err := os.Lstat(fresh); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a refused Open left %s (%v)", c.name, fresh, err)
			_ = os.Remove(fresh)
		}
		if left, _ := filepath.Glob(fresh + "*"); len(left) > 0 {
			t.Errorf("%s: a refused Open left %v", c.name, left)
			for _, p := range left {
				_ = os.RemoveAll(p)
			}
		}
		if now, err := os.ReadFile(existing); err != nil || string(now) != string(before) {
			t.Fatalf("%s: the existing file changed (%v)", c.name, err)
		}
	}
	db, err = Open(existing, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "v" {
			return errors.New("the existing file lost its key")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	closeChecked(t, db)
}

// TestReview22LifeMmapOptions: Options.MmapFlags and InitialMmapSize that
// no mapping of the file can honour are ErrInvalidOptions naming the
// field, from every Open, and create nothing. Until 2026-12-07 a new
// file was created first and left behind, and the error was the raw
// mmap one (ENOMEM, EINVAL); MAP_ANON mapped zeros, so the file was
// reported as not a folio database, and MAP_FIXED mapped over address 0
// and crashed the process.
func TestReview22LifeMmapOptions(t *testing.T) {
	review22CheckMmapOptions(t, review22MmapCases())
}

// review22CutFixture is a database of a few commits at path, with 4 KiB
// pages, open in direct mode.
func review22CutFixture(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, 0o600, &Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := db.Update(fillDeep(i*1000, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestReview22LifeCloseAfterFileCut: Close of a DB whose file another
// process cut below its two meta pages returns ErrCorrupt naming the
// file. It read the older meta through the mapping, past the file's end,
// and the process died of SIGBUS.
func TestReview22LifeCloseAfterFileCut(t *testing.T) {
	for _, cut := range []int64{0, 4096} {
		path := filepath.Join(t.TempDir(), "cut.db")
		db := review22CutFixture(t, path)
		if err := os.Truncate(path, cut); err != nil {
			t.Fatal(err)
		}
		err := db.Close()
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("cut to %d bytes: Close: %v; want ErrCorrupt naming the file", cut, err)
		}
		wantIs(t, "View after Close", db.View(func(*Tx) error { return nil }), ErrDatabaseNotOpen)
		if err := db.Close(); err != nil {
			t.Errorf("cut to %d bytes: second Close: %v", cut, err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != cut {
			t.Errorf("cut to %d bytes: after Close: %v, %v; want the file left as it was", cut, fi, err)
		}
	}
}

// TestReview22LifeWriteToAfterFileCut: Tx.WriteTo from a Begin
// transaction over a file cut underneath returns ErrCorrupt naming the
// file, whatever the writer does with the bytes (a bytes.Buffer copies
// them in WriteTo's goroutine, an io.Pipe in its reader's). The copy
// read the mapping unguarded (View's guard covers View only), and the
// process died of SIGBUS.
func TestReview22LifeWriteToAfterFileCut(t *testing.T) {
	for _, w := range []string{"buffer", "pipe"} {
		path := filepath.Join(t.TempDir(), "cut.db")
		db := review22CutFixture(t, path)
		tx, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 8192); err != nil {
			t.Fatal(err)
		}
		switch w {
		case "buffer":
			var buf bytes.Buffer
			_, err = tx.WriteTo(&buf)
		case "pipe":
			pr, pw := io.Pipe()
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = io.Copy(io.Discard, pr)
			}()
			_, err = tx.WriteTo(pw)
			_ = pw.Close()
			<-done
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: WriteTo: %v; want ErrCorrupt naming the file", w, err)
		}
		if err := tx.Rollback(); err != nil {
			t.Error(err)
		}
		_ = db.Close()
	}
}
