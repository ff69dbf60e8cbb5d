//go:build unix

package folio

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// symlinkedLog makes a database at dir/a.db whose log directory is a
// symbolic link to another directory (the log put on another disk), which
// also holds a file of the user's; it commits n keys in WAL mode, closes
// with the log left (no checkpoint truncates all of it: segments stay,
// recycled or live) and returns the database path and the link's target.
func symlinkedLog(t *testing.T, n int) (path, target string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "a.db")
	target = filepath.Join(t.TempDir(), "fast")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "keep.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, LogDir(path)); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, 0o600, &Options{PageSize: 1024, WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	putKeys(t, db, 0, n)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if len(segmentEntries(t, target)) == 0 {
		t.Fatalf("the log wrote no segment into the link's target %s", target)
	}
	return path, target
}

func putKeys(t *testing.T, db *DB, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(fmt.Sprintf("k%04d", i)), []byte("v"))
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func wantKeys(t *testing.T, path string, opts *Options, n int) {
	t.Helper()
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	if err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if b == nil {
			return fmt.Errorf("bucket b missing")
		}
		for i := range n {
			if b.Get([]byte(fmt.Sprintf("k%04d", i))) == nil {
				return fmt.Errorf("key k%04d missing", i)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// killedCopy copies the open database at path and its log's segments in
// target to new places, the log again behind a symbolic link, and returns
// the copy's path and target.
func killedCopy(t *testing.T, path, target string) (string, string) {
	t.Helper()
	cpath := filepath.Join(t.TempDir(), "a.db")
	ctarget := filepath.Join(t.TempDir(), "fast")
	if err := os.Mkdir(ctarget, 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(path, cpath)
	for _, name := range segmentEntries(t, target) {
		copyFile(filepath.Join(target, name), filepath.Join(ctarget, name))
	}
	if err := os.Symlink(ctarget, LogDir(cpath)); err != nil {
		t.Fatal(err)
	}
	return cpath, ctarget
}

// segmentEntries lists the entries of dir named like log segments.
func segmentEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, e := range ents {
		if n := e.Name(); filepath.Ext(n) == ".wal" || filepath.Ext(n) == ".free" {
			segs = append(segs, n)
		}
	}
	return segs
}

// TestWALSymlinkedLogLeave: leaving WAL mode with the log directory
// reached through a symbolic link removed the link and left every
// segment (8 MiB each, preallocated) in its target for good. The
// segments now go, the target and the user's other file stay.
func TestWALSymlinkedLogLeave(t *testing.T) {
	path, target := symlinkedLog(t, 20)
	wantKeys(t, path, &Options{PageSize: 1024}, 20)
	if _, err := os.Lstat(LogDir(path)); !os.IsNotExist(err) {
		t.Fatalf("the log's link is still there after leaving WAL mode (%v)", err)
	}
	if _, err := os.Lstat(logTombstone(LogDir(path))); !os.IsNotExist(err) {
		t.Fatalf("the tombstone is still there (%v)", err)
	}
	if segs := segmentEntries(t, target); len(segs) != 0 {
		t.Fatalf("segments left in the link's target: %v", segs)
	}
	if b, err := os.ReadFile(filepath.Join(target, "keep.txt")); err != nil || string(b) != "mine" {
		t.Fatalf("the user's file in the target: %q, %v", b, err)
	}
}

// TestWALSymlinkedLogTombstone: a crash after the link was renamed aside
// leaves a tombstone link; the next read-write Open removes the segments
// it reaches and the link. Unless the log's link was made again to the
// same target and holds a newer log: its segments are that log's, and
// the commits they hold must survive.
func TestWALSymlinkedLogTombstone(t *testing.T) {
	stopAfterRename := func(t *testing.T) {
		logRenamedHook = func(string) bool { return true }
		t.Cleanup(func() { logRenamedHook = nil })
	}
	t.Run("removed", func(t *testing.T) {
		path, target := symlinkedLog(t, 10)
		stopAfterRename(t)
		wantKeys(t, path, &Options{PageSize: 1024}, 10)
		logRenamedHook = nil
		tomb := logTombstone(LogDir(path))
		if _, err := os.Lstat(tomb); err != nil {
			t.Fatalf("no tombstone after the stopped removal: %v", err)
		}
		wantKeys(t, path, &Options{PageSize: 1024}, 10)
		if _, err := os.Lstat(tomb); !os.IsNotExist(err) {
			t.Fatalf("the tombstone is still there (%v)", err)
		}
		if segs := segmentEntries(t, target); len(segs) != 0 {
			t.Fatalf("segments left in the link's target: %v", segs)
		}
	})
	t.Run("relinked", func(t *testing.T) {
		path, target := symlinkedLog(t, 10)
		stopAfterRename(t)
		wantKeys(t, path, &Options{PageSize: 1024}, 10)
		logRenamedHook = nil
		// The user links the log to the same place again: a new WAL-mode
		// session removes the tombstone first (no log yet), then logs.
		if err := os.Symlink(target, LogDir(path)); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, 0o600, &Options{PageSize: 1024, WAL: true})
		if err != nil {
			t.Fatal(err)
		}
		putKeys(t, db, 10, 30)
		// A copy of the files now is what a kill leaves: the last
		// commits only in the log. Beside its live link, a tombstone
		// link to the same target (as if removing the first had failed).
		path, target = killedCopy(t, path, target)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, logTombstone(LogDir(path))); err != nil {
			t.Fatal(err)
		}
		wantKeys(t, path, &Options{PageSize: 1024, WAL: true}, 30)
		if segs := segmentEntries(t, target); len(segs) == 0 {
			t.Fatal("the live log's segments were removed through the tombstone")
		}
	})
}
