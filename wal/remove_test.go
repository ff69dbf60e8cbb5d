package wal

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRemoveSegments: the segment files go, live, free and linked (the
// link, not its target); entries that only look like segments, other
// files and the directory stay; a missing directory is no error.
func TestRemoveSegments(t *testing.T) {
	dir := t.TempDir()
	lg, err := Open(dir, Options{SegmentSize: 4 << 10, MaxFreeSegments: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		lsn, err := lg.Append(make([]byte, 1000))
		if err != nil {
			t.Fatal(err)
		}
		if err := lg.SyncTo(lsn); err != nil {
			t.Fatal(err)
		}
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "elsewhere")
	for name, data := range map[string]string{
		"notes.txt":            "keep",
		"00000000000000AB.wal": "upper-case hex: not a segment",
		freeName(900):          "",
		outside:                "a segment's link points here",
	} {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, name)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, liveName(901))); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, liveName(902)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := RemoveSegments(dir); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := []string{"00000000000000AB.wal", liveName(902), "notes.txt"}
	if !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("a linked segment's target went too: %v", err)
	}
	if err := RemoveSegments(filepath.Join(dir, "missing")); err != nil {
		t.Fatalf("missing directory: %v", err)
	}
}

// TestSyncDir: a directory syncs (after a rename in it); a missing one is
// os.ErrNotExist.
func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	aside := filepath.Join(dir, "db.tmp")
	if err := os.WriteFile(aside, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(aside, filepath.Join(dir, "db")); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SyncDir of a missing directory: got %v, want os.ErrNotExist", err)
	}
}
