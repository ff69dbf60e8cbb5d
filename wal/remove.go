package wal

import (
	"errors"
	"os"
	"path/filepath"
)

// RemoveSegments removes the segment files in dir, live and free, then
// syncs dir; every other entry stays, and so does dir. It is for a log
// directory that is not the log's alone: one reached through a symbolic
// link (a log put on another disk), whose target may hold other files. A
// missing dir is no error. REQUIRES: no Log is open on dir.
func RemoveSegments(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	removed := false
	for _, e := range entries {
		// NB: a symbolic link named like a segment is one to Open; the
		// link goes, not what it points to.
		if _, _, ok := parseName(e.Name()); !ok || !(e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0) {
			continue // not a segment: Open leaves it alone too
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		removed = true
	}
	if !removed {
		return nil
	}
	return SyncDir(dir)
}
