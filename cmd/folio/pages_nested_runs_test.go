package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page/pagetest"
)

// TestPagesNestedRuns: "folio pages" read every run it reached
// in full before looking at it, and a hostile file whose runs each lie
// inside the one before (each failing its CRC) cost it every run's
// length: quadratic in the file (20 s for a 7 MB file of 4 KiB pages,
// 56 s for 14 MB). The walk now reads no more pages in all than the
// file has; past that, a run is shown from its header, not read. Each
// "bad:" line below is a run read in full.
func TestPagesNestedRuns(t *testing.T) {
	const mids, per = 2, 110
	path := filepath.Join(t.TempDir(), "nested.db")
	if err := os.WriteFile(path, pagetest.NestedRuns(4096, mids, per), 0o600); err != nil {
		t.Fatal(err)
	}
	pf, err := openRawPageFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	read, unread := 0, 0
	for _, u := range walkPages(pf).runs {
		switch {
		case u.note != `bucket "a"`:
		case strings.HasPrefix(u.checksum, "bad:"):
			read++
		case strings.HasPrefix(u.problem, "not read"):
			unread++
		}
	}
	if read > 3 || read+unread != mids*per {
		t.Errorf("pages read %d of the %d nested runs in full and left %d unread; want at most 3 read, the rest not", read, mids*per, unread)
	}
}

// TestPagesDeepNesting: pages' note for a page names its bucket,
// and named every bucket of the path: for buckets nested n deep the
// notes, and pages' output and memory, grew as n² (a 4 MB file of
// buckets nested 4000 deep: 670 MB and 18 s). A deep path is shown by
// its ends now, saying how many names are left out.
func TestPagesDeepNesting(t *testing.T) {
	const depth = 300
	path := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		for i := 0; err == nil && i < depth; i++ {
			if err = b.Put([]byte("k"), []byte("v")); err == nil {
				b, err = b.CreateBucket(fmt.Appendf(nil, "n%d", i))
			}
		}
		return err
	})
	code, stdout, stderr := runCLI(t, "pages", path)
	if code != exitOK {
		t.Fatalf("pages: exit %d: %s", code, stderr)
	}
	// The deepest bucket with pages: "b", then n0 to n298 (n299 is empty).
	deepest := fmt.Sprintf(`bucket "b/n0"/ ...%d more... /"n%d/n%d/n%d/n%d/n%d/n%d"`, depth-maxNotePath, depth-7, depth-6, depth-5, depth-4, depth-3, depth-2)
	for _, line := range strings.Split(stdout, "\n") {
		if len(line) > 200 {
			t.Fatalf("a line of %d bytes: %.200s...", len(line), line)
		}
	}
	if !strings.Contains(stdout, deepest+"\n") {
		t.Errorf("no page noted %q:\n%s", deepest, stdout)
	}
}
