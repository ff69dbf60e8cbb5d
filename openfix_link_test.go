package folio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
)

// noHardLinks takes hard links away for the rest of the test, as a file
// system without them does: each link fails with errno (vfat says EPERM,
// CIFS EOPNOTSUPP). It returns the count of links tried.
func noHardLinks(t *testing.T, errno syscall.Errno) *atomic.Int64 {
	t.Helper()
	var tried atomic.Int64
	orig := hardLink
	t.Cleanup(func() { hardLink = orig })
	hardLink = func(oldname, newname string) error {
		tried.Add(1)
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: errno}
	}
	return &tried
}

// TestCreateWithoutHardLinks creates a database where links fail: create
// claims the path with an empty file, and the opener replaces that with
// the database under its lock. The database has the page size and mode
// asked for, takes writes, reopens with them and passes Check, and no
// temporary file is left beside it.
func TestCreateWithoutHardLinks(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EOPNOTSUPP} {
		t.Run(errno.Error(), func(t *testing.T) {
			tried := noHardLinks(t, errno)
			path := tempPath(t)
			const ps = 2048
			db, err := Open(path, 0o600, &Options{PageSize: ps})
			if err != nil {
				t.Fatalf("create without hard links: %v", err)
			}
			if tried.Load() == 0 {
				t.Fatal("create never tried to link: the fallback was not taken")
			}
			if db.PageSize() != ps {
				t.Errorf("page size %d, want %d", db.PageSize(), ps)
			}
			put := func(db *DB, k string) {
				t.Helper()
				if err := db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					return b.Put([]byte(k), []byte("v"))
				}); err != nil {
					t.Fatalf("write to the new database: %v", err)
				}
			}
			put(db, "1")
			db = reopen(t, db, nil)
			put(db, "2")
			db = reopen(t, db, &Options{ReadOnly: true})
			if err := db.View(func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				if b == nil || b.Get([]byte("1")) == nil || b.Get([]byte("2")) == nil {
					return errors.New("the writes are not in the reopened database")
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
			closeChecked(t, db)
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("the database's mode: %v, %v; want -rw-------", fi.Mode(), err)
			}
			if left, _ := filepath.Glob(path + ".new-*"); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// TestCreateRaceWithoutHardLinks runs the create race of open_race_test.go
// (openers of one new path, each writing its own key) where links fail:
// one opener claims the path with an empty file, and every opener, the
// others included, finds it, waits for its lock and uses the database
// that replaced it. No opener's commit may be lost, as the database one
// opener created and wrote to is never replaced.
func TestCreateRaceWithoutHardLinks(t *testing.T) {
	tried := noHardLinks(t, syscall.EPERM)
	testOpenCreateRace(t, false)
	if tried.Load() == 0 {
		t.Fatal("create never tried to link: the fallback was not taken")
	}
}

// TestCreateWithoutHardLinksStaged stages the race the random one may
// miss: opener B finds no file and builds a database aside, opener A
// then creates the database, writes to it and closes it, and only then
// does B, finding it cannot link, claim the path. B must find A's
// database there and use it, not put its own (empty) one in its place.
func TestCreateWithoutHardLinksStaged(t *testing.T) {
	path := tempPath(t)
	reached, release := make(chan struct{}), make(chan struct{})
	var tried atomic.Int64
	orig := hardLink
	t.Cleanup(func() { hardLink = orig })
	hardLink = func(oldname, newname string) error {
		if tried.Add(1) == 1 { // B's
			close(reached)
			<-release
		}
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	put := func(k string) error {
		db, err := Open(path, 0o600, &Options{PageSize: 1024})
		if err != nil {
			return err
		}
		err = db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(k), []byte("v"))
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return err
	}
	errB := make(chan error, 1)
	go func() { errB <- put("B") }()
	<-reached
	if err := put("A"); err != nil {
		close(release)
		<-errB
		t.Fatalf("opener A: %v", err)
	}
	close(release)
	if err := <-errB; err != nil {
		t.Fatalf("opener B: %v", err)
	}
	db, err := Open(path, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	if err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for _, k := range []string{"A", "B"} {
			if b == nil || b.Get([]byte(k)) == nil {
				return fmt.Errorf("opener %s's commit is lost", k)
			}
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if left, _ := filepath.Glob(path + ".new-*"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestCreateWithoutHardLinksLeftover is what a crash between the claim
// and its replacement leaves, as Open's doc says: an empty file at path,
// which a read-only open refuses (ErrInvalid) and a read-write open, links
// or none, makes a database of.
func TestCreateWithoutHardLinksLeftover(t *testing.T) {
	noHardLinks(t, syscall.EPERM)
	path := tempPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(path, 0o600, &Options{ReadOnly: true}); err == nil {
		_ = db.Close()
		t.Fatal("a read-only open of the empty file succeeded")
	} else if !errors.Is(err, ErrInvalid) {
		t.Errorf("read-only open of the empty file: %v, want ErrInvalid", err)
	}
	expectEmptyDB(t, path)
	if left, _ := filepath.Glob(path + ".new-*"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
