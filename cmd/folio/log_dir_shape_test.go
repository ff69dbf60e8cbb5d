package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// logDirCommands are the command lines run on the database at path, one
// of each kind: read-only, read-write, copies and the page commands.
func logDirCommands(t *testing.T, path string) [][]string {
	dir := t.TempDir()
	return [][]string{
		{"info", path},
		{"stats", path},
		{"check", path},
		{"dump", path},
		{"pages", path},
		{"get", path, "users", moreKey(2)},
		{"put", path, "users", "k", "v"},
		{"checkpoint", path},
		{"compact", path, filepath.Join(dir, "c.db")},
		{"backup", path, filepath.Join(dir, "b.db")},
	}
}

// TestCLILogDirDanglingLink: a database whose log, DB.wal, is a symbolic
// link to a directory that is not there (the log's disk not mounted) is
// refused by every command, naming the link and its target and saying
// what to do. Every command opened the file as if it had no log: info,
// check and dump showed it without the commits only the log held (check
// said "ok"), and a read-write command committed into the file directly,
// past those commits. With the link's target back, they are all there.
func TestCLILogDirDanglingLink(t *testing.T) {
	path := crashedWALDB(t, 3) // the log holds commits the file lacks
	logDir := folio.LogDir(path)
	disk := t.TempDir()
	if err := os.Rename(logDir, filepath.Join(disk, "log")); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(disk, "gone")
	if err := os.Symlink(target, logDir); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, path)
	want := logDir + " is a symbolic link to " + target + ", which does not exist"
	for _, args := range logDirCommands(t, path) {
		code, _, stderr := runCLI(t, args...)
		if code != exitFail || !strings.Contains(stderr, want) || !strings.Contains(stderr, "remove the link") {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", args[0], code, stderr, exitFail, want)
		}
	}
	if fileSum(t, path) != before {
		t.Fatal("the file changed")
	}
	if err := os.Rename(filepath.Join(disk, "log"), target); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "checkpoint", path); code != exitOK {
		t.Fatalf("checkpoint with the log back: exit %d: %s%s", code, out, stderr)
	}
	if code, out, stderr := runCLI(t, "get", path, "users", moreKey(2)); code != exitOK || out != "v" {
		t.Errorf("the last commit, with the log back: exit %d, %q: %s", code, out, stderr)
	}
}

// TestCLILogDirNotADirectory: a database whose DB.wal is a file, not a
// directory, is refused by every command, naming it and saying to move
// it aside; done, every command opens the database. The refusal said
// only "open DB.wal: not a directory".
func TestCLILogDirNotADirectory(t *testing.T) {
	path := walDB(t, 3) // closed cleanly: the file holds every commit
	logDir := folio.LogDir(path)
	if err := os.RemoveAll(logDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logDir, []byte("not a log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, path)
	want := "write-ahead log " + logDir + " is a regular file, not a directory"
	mv := "mv " + shellQuote(logDir) + " " + shellQuote(logDir+".moved")
	for _, args := range logDirCommands(t, path) {
		code, _, stderr := runCLI(t, args...)
		if code != exitFail || !strings.Contains(stderr, want) || !strings.HasSuffix(stderr, mv+"\n") {
			t.Errorf("%s: exit %d, stderr %q; want %d, %q and the %q", args[0], code, stderr, exitFail, want, mv)
		}
	}
	if fileSum(t, path) != before {
		t.Fatal("the file changed")
	}
	if err := os.Rename(logDir, logDir+".moved"); err != nil {
		t.Fatal(err)
	}
	for _, args := range logDirCommands(t, path) {
		if code, out, stderr := runCLI(t, args...); code != exitOK {
			t.Errorf("%s with the file moved aside: exit %d: %.200s %s", args[0], code, out, stderr)
		}
	}
}
