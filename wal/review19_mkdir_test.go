package wal

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// TestReview19OpenSyncsParentOfLeftoverDir: a process that died between
// a Mkdir of the log directory and the sync of its parent leaves a
// directory whose entry no sync covered, which a later Open cannot tell
// from one made durable long ago: a read-write Open syncs the parent of
// an existing log directory too (one fsync), before any record it
// acknowledges.
func TestReview19OpenSyncsParentOfLeftoverDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "db.wal")
	if err := os.Mkdir(dir, 0o755); err != nil { // the died process's Mkdir
		t.Fatal(err)
	}
	var mu sync.Mutex
	var synced []string
	dirSync := func(d string) error {
		mu.Lock()
		synced = append(synced, filepath.Clean(d))
		mu.Unlock()
		return syncDir(d)
	}
	l, err := open(dir, Options{SegmentSize: minSegmentSize, NoCompression: true, noSpares: true}, fdatasync, dirSync)
	if err != nil {
		t.Fatal(err)
	}
	appendT(t, l, payload(1, 100))
	syncT(t, l)
	mu.Lock()
	got := slices.Clone(synced)
	mu.Unlock()
	closeLog(t, l)
	if !slices.Contains(got, filepath.Clean(parent)) {
		t.Errorf("a record was acknowledged in %s, whose entry in %s no sync covered (directories synced: %q)", dir, parent, got)
	}
}
