package main

import (
	"os"
	"strings"
	"testing"
)

// TestDashIsNotStdoutForFiles: "-" as the file backup, compact or
// migrate writes, or as a load's new database, is refused as bad usage,
// saying how to name a file "-" (./-): dump -o - and load -i - mean
// standard output and input, and "folio backup app.db - | gzip" made a
// file named "-" and wrote nothing to the pipe.
func TestDashIsNotStdoutForFiles(t *testing.T) {
	db := sampleDB(t)
	dump := t.TempDir() + "/d.txt"
	if code, _, stderr := runCLI(t, "dump", db, "-o", dump); code != exitOK {
		t.Fatalf("dump: exit %d: %s", code, stderr)
	}
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"backup", db, "-"},
		{"compact", db, "-"},
		{"migrate", "--from", "bbolt", db, "-"},
		{"load", "-", "-i", dump},
	} {
		code, _, stderr := runCLI(t, args...)
		if line := oneLine(t, args, stderr); code != exitUsage || !strings.Contains(line, "not standard output") || !strings.Contains(line, "./-") {
			t.Errorf("%v: exit %d, %q; want %d, saying it is not standard output and to give ./-", args, code, line, exitUsage)
		}
		if _, err := os.Lstat("-"); err == nil {
			t.Errorf("%v made a file named -", args)
			os.Remove("-")
		}
	}
	// ./- is a file named -.
	if code, _, stderr := runCLI(t, "backup", db, "./-"); code != exitOK {
		t.Errorf("backup to ./-: exit %d: %s", code, stderr)
	}
}
