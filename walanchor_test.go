package folio

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWALLogOfAnotherFile puts a log beside a file it does not belong to:
// two databases made by the same steps (so at the same txid), and the
// second one's log, holding one more commit, beside the first one's file.
// The commit's txid follows the file's; only the anchor the log holds
// tells the two histories apart. Open must refuse with ErrLogMismatch,
// read-only too, and write nothing; with the log moved aside the file
// opens as it was. For page-image and operation records alike (replaying
// either would put the other database's pages, or its puts, in this one).
func TestWALLogOfAnotherFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
	}{{"images", 1 << 20}, {"operations", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			build := func(name, v string) string {
				path := filepath.Join(dir, name)
				db, err := Open(path, 0o600, walOpts(1024))
				if err != nil {
					t.Fatal(err)
				}
				mustUpdate(t, db, func(tx *Tx) error {
					b, err := tx.CreateBucket([]byte("b"))
					if err != nil {
						return err
					}
					return b.Put([]byte("k"), []byte(v))
				})
				closeChecked(t, db)
				return path
			}
			a, b := build("a.db", "from a"), build("b.db", "from b")

			db, err := Open(b, 0o600, walOpts(1024))
			if err != nil {
				t.Fatal(err)
			}
			db.WALImageLimit = tc.limit
			mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("x"), []byte("only in b")) })
			if err := os.RemoveAll(LogDir(a)); err != nil {
				t.Fatal(err)
			}
			copyDir(t, LogDir(b), LogDir(a)) // synced: the commit returned
			closeChecked(t, db)

			before := mustRead(t, a)
			for _, opts := range []*Options{walOpts(1024), {ReadOnly: true}} {
				if db, err := Open(a, 0o600, opts); !errors.Is(err, ErrLogMismatch) {
					if err == nil {
						closeChecked(t, db)
					}
					t.Fatalf("open (read-only %v) beside another file's log: %v, want ErrLogMismatch", opts.ReadOnly, err)
				} else if !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), "move the log directory aside") {
					t.Errorf("the error names neither the file nor what to do: %v", err)
				}
			}
			db = openWithLogAside(t, a, before)
			err = db.View(func(tx *Tx) error {
				bk := tx.Bucket([]byte("b"))
				if got := bk.Get([]byte("k")); string(got) != "from a" {
					t.Errorf("k = %q, want %q", got, "from a")
				}
				if got := bk.Get([]byte("x")); got != nil {
					t.Errorf("x = %q: another file's commit got in", got)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWALAnchorOncePerState: an open logs an anchor only when the log
// does not name the file's state last already, so a program that opens
// and closes a database without writing does not grow its log; a commit
// and its checkpoint add one.
func TestWALAnchorOncePerState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	// The last LSN appended: checkpoints drop old segments, never the
	// active one.
	lastLSN := func() uint64 {
		var last uint64
		for _, seg := range walSegments(t, LogDir(path)) {
			data := mustRead(t, seg)
			for _, f := range walFrames(data) {
				last = max(last, f.lsn)
			}
		}
		return last
	}
	var lsns []uint64
	for i := range 4 {
		db, err := Open(path, 0o600, walOpts(1024))
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
		}
		closeChecked(t, db)
		lsns = append(lsns, lastLSN())
	}
	// Open 1 anchors the new file (and its Close, which writes the
	// first free list, anchors that); opens 2 and 4 find their state
	// named; open 3 logs a commit, and its Close checkpoints and anchors
	// the new state.
	if lsns[0] < 1 || lsns[1] != lsns[0] || lsns[2] != lsns[1]+2 || lsns[3] != lsns[2] {
		t.Fatalf("last LSN after each open and close: %v, want n, n, n+2 (a commit, an anchor), n+2", lsns)
	}
}

// openWithLogAside checks that the refused opens left the file at path
// as it was (before), moves its log directory aside, as the refusal
// tells the user to, and opens the file in WAL mode: checked and closed
// when the test ends.
func openWithLogAside(t *testing.T, path string, before []byte) *DB {
	t.Helper()
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the refused open changed the file (%v)", err)
	}
	if err := os.Rename(LogDir(path), LogDir(path)+".aside"); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, 0o600, walOpts(1024))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeChecked(t, db) })
	return db
}
