package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFileOfWrongKindExit: a path naming a directory, a FIFO or a device
// where a command reads or writes a regular file fails as any file the
// command cannot use does (missing, existing where a new one is wanted):
// exit 1, for every command alike. Exit 2 stays for the command line
// itself, paths naming one file twice among it. backup exited 2 for a
// directory, FIFO or device as OUT, where compact, migrate, dump -o and
// load -i exited 1.
func TestFileOfWrongKindExit(t *testing.T) {
	db := sampleDB(t)
	bolt := boltDB(t, dbModel{"b": {KV: map[string]string{"k": "v"}}})
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"backup", db, sub}, exitFail, sub},
		{[]string{"backup", db, sub + "/"}, exitFail, sub},
		{[]string{"backup", db, fifo}, exitFail, "not a regular file"},
		{[]string{"backup", db, os.DevNull}, exitFail, "not a regular file"},
		{[]string{"compact", db, sub}, exitFail, sub + " is a directory"},
		{[]string{"compact", db, fifo}, exitFail, fifo},
		{[]string{"migrate", "--from", "bbolt", bolt, sub}, exitFail, sub + " is a directory"},
		{[]string{"dump", db, "-o", sub}, exitFail, "is a directory"},
		{[]string{"load", filepath.Join(dir, "new.db"), "-i", sub}, exitFail, "is a directory"},
		{[]string{"load", sub, "-i", os.DevNull}, exitFail, "is a directory"},
		{[]string{"info", sub}, exitFail, "is a directory"},
		// One file named twice, or "-" where a file is written: usage.
		{[]string{"backup", db, db}, exitUsage, "is the database itself"},
		{[]string{"compact", db, db}, exitUsage, "is the database itself"},
		{[]string{"dump", db, "-o", db}, exitUsage, "is the database itself"},
		{[]string{"load", db, "-i", db}, exitUsage, "is the database itself"},
		{[]string{"backup", db, "-"}, exitUsage, "give ./-"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	if entries, _ := os.ReadDir(sub); len(entries) != 0 {
		t.Errorf("%d files made in the directory given as the output", len(entries))
	}
}
