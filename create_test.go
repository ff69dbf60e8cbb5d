package folio

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/foliodb/folio/tx"
)

// expectEmptyDB checks that path opens as a valid database holding no
// buckets, which then takes a write.
func expectEmptyDB(t *testing.T, path string) {
	t.Helper()
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer closeChecked(t, db)
	if err := db.View(func(tx *Tx) error {
		if k, _ := tx.Cursor().First(); k != nil {
			t.Errorf("a new database holds bucket %q", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatalf("write to the new database: %v", err)
	}
}

// TestCreateLeftovers checks what a crash during creation can leave: the
// database is built in a temporary file beside path and renamed into
// place, so a crash leaves no file at path, perhaps with a partial
// temporary file beside it (every length of the initial image), and Open
// then creates a fresh database; the leftover is harmless, also to an
// existing database.
func TestCreateLeftovers(t *testing.T) {
	img := tx.InitialImage(os.Getpagesize())
	for _, n := range []int{0, 1, 511, 512, len(img) / 2, len(img) - 1, len(img)} {
		dir := t.TempDir()
		path := filepath.Join(dir, "db")
		tmp := path + ".new-12345-deadbeef"
		if err := os.WriteFile(tmp, img[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		expectEmptyDB(t, path)
		expectEmptyDBOrMore(t, path) // and again, now that it exists
		if b, err := os.ReadFile(tmp); err != nil || len(b) != n {
			t.Errorf("the leftover temporary file was changed: %d bytes, %v", len(b), err)
		}
	}
}

// TestCreateZeroLength checks that a zero-length file at path (as a
// crash of a tool that creates the file before writing it leaves) opens
// as a new, empty database rather than being refused forever, and that a
// read-only open does not write it.
func TestCreateZeroLength(t *testing.T) {
	path := tempPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(path, 0o600, &Options{ReadOnly: true}); err == nil {
		_ = db.Close()
		t.Error("a read-only open of a zero-length file succeeded")
	} else if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Errorf("a read-only open wrote %d bytes", fi.Size())
	}
	expectEmptyDB(t, path)
}

// TestCreateShortFile checks that a file at path holding less than two
// pages that is not empty (never something folio leaves: it renames only
// a whole, synced image into place) is refused with ErrInvalid, not
// silently replaced.
func TestCreateShortFile(t *testing.T) {
	path := tempPath(t)
	img := tx.InitialImage(1024)
	if err := os.WriteFile(path, img[:1000], 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, 0o600, nil)
	if err == nil {
		_ = db.Close()
		t.Fatal("opened a 1000-byte file")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("open: %v, want ErrInvalid", err)
	}
	if b, _ := os.ReadFile(path); len(b) != 1000 {
		t.Errorf("the short file was changed to %d bytes", len(b))
	}
}

// TestCreateKilled SIGKILLs a child process at random moments while it
// creates a database: afterwards there is either no file at path or a
// valid database, which opens.
func TestCreateKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(testSeed(t), 3))
	absent := 0
	const rounds = 20
	for i := 0; i < rounds; i++ {
		path := filepath.Join(t.TempDir(), "db")
		killChild(t, exe, path, 1, "start", time.Duration(rng.IntN(4000))*time.Microsecond, 0)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			absent++
		} else {
			db, err := Open(path, 0o600, &Options{VerifyChecksums: true})
			if err != nil {
				t.Fatalf("round %d: a database left by a killed create does not open: %v", i, err)
			}
			closeChecked(t, db)
		}
		expectEmptyDBOrMore(t, path)
	}
	t.Logf("%d of %d kills left no file", absent, rounds)
}

// expectEmptyDBOrMore checks that path opens and passes Check.
func expectEmptyDBOrMore(t *testing.T, path string) {
	t.Helper()
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeChecked(t, db)
}
