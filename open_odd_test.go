package folio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
	"golang.org/x/sys/unix"
)

// writeMetas writes a file whose two meta pages both hold m (slot ids and
// checksums fixed up), followed by pad zero bytes.
func writeMetas(t *testing.T, path string, m page.Meta, pad int) {
	t.Helper()
	ps := int(m.PageSize)
	img := make([]byte, 2*ps+pad)
	for slot := 0; slot < 2; slot++ {
		page.EncodeMeta(img[slot*ps:(slot+1)*ps], page.ID(slot), &m)
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOpenMetaHighOverflow opens a file whose meta's high water mark times
// the page size overflows int64 to a small number: Open must refuse it as
// corrupt, naming the page, not pass the length check and then allocate
// or slice by the huge count.
func TestOpenMetaHighOverflow(t *testing.T) {
	const ps = 1024
	for _, high := range []page.ID{1 << 54, 1<<54 + 2, 1 << 60} {
		path := tempPath(t)
		writeMetas(t, path, page.Meta{PageSize: ps, High: high, TxID: 3}, 2*ps)
		for _, ro := range []bool{false, true} {
			db, err := Open(path, 0o600, &Options{ReadOnly: ro})
			if err == nil {
				_ = db.Close()
				t.Fatalf("high %d, read-only %v: opened", high, ro)
			}
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || !strings.Contains(err.Error(), path) {
				t.Errorf("high %d, read-only %v: %v; want ErrCorrupt naming a page and the path", high, ro, err)
			}
		}
	}
}

// TestOpenShortFile opens files too short to hold two meta pages: the
// error is ErrInvalid and names the path, read-only or not.
func TestOpenShortFile(t *testing.T) {
	for _, size := range []int{0, 100, 1024, 1500} {
		for _, ro := range []bool{true, false} {
			if size == 0 && !ro {
				continue // a read-write open makes a database of an empty file
			}
			path := tempPath(t)
			if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, 0o600, &Options{ReadOnly: ro})
			if err == nil {
				_ = db.Close()
				t.Fatalf("size %d, read-only %v: opened", size, ro)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), path) {
				t.Errorf("size %d, read-only %v: %v; want ErrInvalid naming the path", size, ro, err)
			}
		}
	}
}

// TestOpenNotRegular opens a directory and a FIFO: Open refuses them with
// ErrInvalid naming the path. A FIFO reads as empty, and a read-write open
// used to take it for an empty file and replace it with a new database.
func TestOpenNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// A reader and a writer of its own keep a read-only or read-write open
	// of the FIFO from blocking, with or without the check.
	hold, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, sub} {
		for _, ro := range []bool{true, false} {
			db, err := Open(path, 0o600, &Options{ReadOnly: ro})
			if err == nil {
				_ = db.Close()
				t.Errorf("%s, read-only %v: opened", path, ro)
			} else if !strings.Contains(err.Error(), path) {
				t.Errorf("%s, read-only %v: %v; want the path named", path, ro, err)
			}
			if path == fifo && err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("%s, read-only %v: %v; want ErrInvalid", path, ro, err)
			}
			fi, err := os.Lstat(path)
			if err != nil || fi.Mode().Type() != map[string]os.FileMode{fifo: os.ModeNamedPipe, sub: os.ModeDir}[path] {
				t.Fatalf("%s, read-only %v: after Open: %v, %v; want it left alone", path, ro, fi.Mode(), err)
			}
		}
	}
}

// TestOpenRaggedLength opens a database whose file length is not a
// multiple of the page size (a tool appended bytes, or growth stopped
// part way): it opens, takes writes that grow it, and reopens intact.
func TestOpenRaggedLength(t *testing.T) {
	const ps = 1024
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	put := func(db *DB, k string, n int) {
		t.Helper()
		if err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(k), make([]byte, n))
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(db, "a", 10)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, ps/2+3)); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	db, err = Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	put(db, "b", 3*ps)
	for i := 0; i < 50; i++ {
		put(db, string(rune('c'+i)), 200)
	}
	db = reopen(t, db, nil)
	if err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if len(b.Get([]byte("a"))) != 10 || len(b.Get([]byte("b"))) != 3*ps {
			t.Error("values lost")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestOpenTruncated cuts a database file at many lengths, from one page to
// just short of its used extent: every open, read-write or read-only, is
// refused with an error naming the path (and ErrCorrupt or ErrInvalid),
// never a panic or a fault.
func TestOpenTruncated(t *testing.T) {
	const ps = 4096
	src := tempPath(t)
	db, err := Open(src, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		ops := workTxn(5, i+1, ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i+1, ops) }); err != nil {
			t.Fatal(err)
		}
	}
	// NB: the file may end past the newest meta's pages: the older meta
	// may reach further (a commit gave back a free tail), and Close keeps
	// what either reaches. Cuts past the newest meta's pages open fine.
	info, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	used := int(info.HighPage) * ps
	img := imageAfterClose(t, db)
	path := tempPath(t)
	for _, n := range []int{ps, ps + 1, 2*ps - 1, 2 * ps, 3*ps + 7, used - ps, used - 1} {
		for _, ro := range []bool{true, false} {
			if err := os.WriteFile(path, img[:n], 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, 0o600, &Options{ReadOnly: ro})
			if err == nil {
				_ = db.Close()
				t.Errorf("length %d of %d (the newest meta's pages %d), read-only %v: opened", n, len(img), used, ro)
				continue
			}
			if !strings.Contains(err.Error(), path) || !(errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalid)) {
				t.Errorf("length %d, read-only %v: %v; want ErrCorrupt or ErrInvalid naming the path", n, ro, err)
			}
		}
	}
}

// TestOpenDanglingSymlink opens a path that is a symbolic link to a file
// that does not exist: Open returns an error naming the path rather than
// loop for ever, finding the link there each time it creates the file.
func TestOpenDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "link.db")
	if err := os.Symlink(filepath.Join(dir, "missing", "target.db"), path); err != nil {
		t.Skipf("symlink: %v", err)
	}
	db, err := Open(path, 0o600, nil)
	if err == nil {
		_ = db.Close()
	}
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("open through a dangling symlink: %v; want an error naming the path", err)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != os.ModeSymlink {
		t.Errorf("the symlink was replaced: %v, %v", fi.Mode(), err)
	}
}

// TestWALPathNotADirectory: a regular file where the log's directory goes
// fails Open with ErrLogUnreachable, naming that path once (the other
// shapes and modes: TestLogDirNotADirectory).
func TestWALPathNotADirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	if err := os.WriteFile(path+".wal", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, 0o600, &Options{WAL: true})
	if !errors.Is(err, ErrLogUnreachable) {
		t.Fatalf("Open: %v, want ErrLogUnreachable", err)
	}
	if n := strings.Count(err.Error(), path+".wal"); n != 1 {
		t.Errorf("Open: %q names the log's path %d times", err, n)
	}
}
