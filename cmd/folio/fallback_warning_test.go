package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestFallbackWarningSaysFolioOnce: the line saying a database was
// opened from its older meta page, or with its free list rebuilt, quotes
// the damage that made it so without the library's "folio: " inside:
// "folio: warning: X: meta page 1 unusable (folio: corrupt page 1: meta
// checksum ...)" said it twice, as did check's note and --json's
// meta_fallback. (A zeroed meta page, the case tested before, fails with
// "folio/page: ", which read as once.)
func TestFallbackWarningSaysFolioOnce(t *testing.T) {
	// small commits, synced: each a one-sync commit whose meta lists
	// the runs it wrote, which Open verifies.
	small := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "small.db")
		oneKeyCommits(t, path, 2)
		return path
	}
	info := func(t *testing.T, path string) folio.Info {
		db, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		in, err := db.Info()
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T) string
		says   string
	}{
		{"newest meta page's checksum", func(t *testing.T) string {
			path := small(t)
			flipByte(t, path, int64(info(t, path).MetaSlot)*1024+100)
			return path
		}, "unusable (corrupt page "},
		{"a page of the newest commit", func(t *testing.T) string {
			path := small(t)
			flipByte(t, path, int64(info(t, path).Root)*1024+300)
			return path
		}, "did not reach the disk whole (corrupt page "},
		{"the free list", func(t *testing.T) string {
			path := sampleDB(t)
			flipByte(t, path, int64(info(t, path).Freelist)*1024+40)
			return path
		}, "free list unreadable (corrupt page "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.damage(t)
			args := []string{"buckets", path}
			code, _, stderr := runCLI(t, args...)
			line := oneLine(t, args, stderr)
			if code != exitOK || !strings.HasPrefix(line, "folio: warning: "+path+": ") || !strings.Contains(line, tc.says) {
				t.Errorf("buckets: exit %d, %q; want %d and a warning saying %q", code, line, exitOK, tc.says)
			}
			_, out, _ := runCLI(t, "check", path)
			if note := fmt.Sprintf("note: %s was opened from an older state: ", path); strings.Contains(out, "folio: ") || !strings.Contains(out, tc.says) {
				t.Errorf("check: want a note (%q) saying %q, without \"folio: \":\n%s", note, tc.says, out)
			}
		})
	}
}

// TestFallbackWarningRebuiltFreeList: the warning for a free list Open
// rebuilt from the tree says that, and nothing of an older state: the
// state opened is the newest (check's note says so in those words), and
// only the list's page was lost.
func TestFallbackWarningRebuiltFreeList(t *testing.T) {
	path := sampleDB(t)
	_, fl := rootOf(t, path)
	flipByte(t, path, int64(fl)*1024+40)
	args := []string{"buckets", path}
	code, _, stderr := runCLI(t, args...)
	line := oneLine(t, args, stderr)
	if code != exitOK || !strings.HasSuffix(line, "; rebuilt from the tree") ||
		strings.Contains(line, "older") || strings.Contains(line, "opened txid") {
		t.Errorf("buckets: exit %d, %q; want 0 and a warning that the free list was rebuilt, of no older state", code, line)
	}
}
