package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReview23CLIBackupDevStdoutRefused: "folio backup DB /dev/stdout >>
// log" is refused (exit 2), log kept as it was: backup writes a file it
// verifies and renames into place, and /dev/stdout on a regular file
// named log, so the backup was renamed over log and what it held was
// lost (as dump -o did before 0b02ce1).
func TestReview23CLIBackupDevStdoutRefused(t *testing.T) {
	db := sampleDB(t)
	log := filepath.Join(t.TempDir(), "log.txt")
	if err := os.WriteFile(log, []byte("an earlier line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0) // >> log
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, out := range []string{"/dev/stdout", log} {
		code, stderr := runExeWithStdout(t, f, "backup", db, out)
		want := "folio: OUT " + out + " is standard output"
		if code != exitUsage || !strings.HasPrefix(stderr, want) {
			t.Errorf("backup to %s: exit %d, %q; want exit %d and %q...", out, code, stderr, exitUsage, want)
		}
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "an earlier line\n" {
		t.Errorf("log holds %d bytes, want what it held (%q)", len(got), "an earlier line\n")
	}
	if after, err := os.Stat(log); err != nil || !os.SameFile(before, after) {
		t.Errorf("log was replaced by another file (%v)", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(log)); len(ents) != 1 {
		t.Errorf("the directory holds %d files, want log.txt alone", len(ents))
	}
}
