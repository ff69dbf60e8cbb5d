package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadInputDirectory: load -i DIR says DIR is a directory, not a
// dump, and makes no database: it said "DIR: byte offset 0: read: is a
// directory", a reader's words.
func TestLoadInputDirectory(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "new.db")
	args := []string{"load", db, "-i", dir}
	code, _, stderr := runCLI(t, args...)
	want := "load " + db + ": " + dir + " is a directory, not a dump; nothing was loaded"
	if line := oneLine(t, args, stderr); code != exitFail || !strings.HasSuffix(line, want) {
		t.Errorf("load -i DIR: exit %d, %q; want %d and a line ending %q", code, line, exitFail, want)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("load -i DIR made %s (%v)", db, err)
	}
}
