package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// TestOpenSyncsNewDirParent: a read-write Open syncs the parent
// that holds the log directory's own entry (mkdirDurable), whether it
// made the directory or found it (a process may have died between a
// Mkdir and that sync); the log syncs the directory itself for the
// entries inside. Until 2026-12-06 it did neither: after a power loss a
// directory entry survives only if its parent was synced since it was
// made, so a log whose records Sync had called durable could vanish
// whole, and the next Open started a new log at LSN 1 without a word.
func TestOpenSyncsNewDirParent(t *testing.T) {
	for _, leftover := range []bool{false, true} {
		t.Run(fmt.Sprintf("leftover=%v", leftover), func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "db.wal")
			if leftover {
				if err := os.Mkdir(dir, 0o755); err != nil { // a dead process's Mkdir
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			var synced []string
			dirSync := func(d string) error {
				mu.Lock()
				synced = append(synced, filepath.Clean(d))
				mu.Unlock()
				return SyncDir(d)
			}
			l, err := open(dir, Options{SegmentSize: minSegmentSize, NoCompression: true, noSpares: true}, fdatasync, dirSync)
			if err != nil {
				t.Fatal(err)
			}
			appendT(t, l, payload(1, 100))
			syncT(t, l) // record 1 is now acknowledged as durable
			mu.Lock()
			got := slices.Clone(synced)
			mu.Unlock()
			closeLog(t, l)
			if !slices.Contains(got, filepath.Clean(dir)) {
				t.Fatalf("the log's own directory was never synced (%q): the seam sees no syncs, the test is broken", got)
			}
			if !slices.Contains(got, filepath.Clean(parent)) {
				t.Errorf("a Sync acknowledged a record in %s, but %s, which holds the directory's entry, "+
					"was never synced (directories synced: %q): a power loss can take the whole log", dir, parent, got)
			}
		})
	}
}

// TestMkdirDurableNested: every directory mkdirDurable makes has its
// parent synced, from the outermost one in; an existing log directory
// has its parent synced again, and a file in the way is ENOTDIR.
func TestMkdirDurableNested(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "db.wal")
	var synced []string
	rec := func(d string) error { synced = append(synced, d); return SyncDir(d) }
	if err := mkdirDurable(dir, rec); err != nil {
		t.Fatal(err)
	}
	want := []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b")}
	if !slices.Equal(synced, want) {
		t.Fatalf("synced %q, want %q", synced, want)
	}
	// An existing directory: its parent again (a process may have died
	// between its Mkdir and that sync), nothing above.
	synced = nil
	if err := mkdirDurable(dir, rec); err != nil || !slices.Equal(synced, want[2:]) {
		t.Fatalf("an existing directory: %v, synced %q, want %q", err, synced, want[2:])
	}
	file := filepath.Join(root, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := mkdirDurable(file, rec); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("a file in the way: %v, want ENOTDIR", err)
	}
}
