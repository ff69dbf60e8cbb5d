package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestCutShortRefusedInOneLine: a database file cut short past its meta
// pages (a copy interrupted, a disk full mid-write) is refused by every
// command in one line that says "folio: " once, names the page and says
// the file may be cut short. Both meta pages' last commits lay past the
// end: the library quoted the older one's error whole ("(the older meta
// page 0: folio: corrupt page 5: ...)"), and the page/ error said
// "commit run beyond end of file (expected 1 pages, found 3172 bytes in
// the file)", no word of the file being cut.
func TestCutShortRefusedInOneLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.db")
	oneKeyCommits(t, path, 3)
	if err := os.Truncate(path, 3*1024+100); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"info", path}, {"get", path, "b", "k1"}, {"dump", path}} {
		code, _, stderr := runCLI(t, args...)
		line := oneLine(t, args, stderr)
		if code != exitFail || !strings.Contains(line, "corrupt page ") || !strings.Contains(line, "(truncated?)") || strings.Contains(line, " 1 pages") {
			t.Errorf("%v: exit %d, %q: want exit %d naming the page, the file maybe cut short", args, code, line, exitFail)
		}
	}
}

// oneKeyCommits makes the database at path (1 KiB pages) with n small
// synced commits, each putting key k<i> into bucket b: each a one-sync
// commit whose meta lists the runs it wrote.
func oneKeyCommits(t *testing.T, path string, n int) {
	t.Helper()
	db, err := folio.Open(path, 0o600, &folio.Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := db.Update(func(tx *folio.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
