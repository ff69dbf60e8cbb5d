package main

import (
	"os"
	"testing"
)

// TestCLIStdoutFullSaysItOnce: a command whose summary cannot be
// written to a full standard output says so once: "write standard
// output: write /dev/stdout: no space left on device" said it twice.
func TestCLIStdoutFullSaysItOnce(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	db := sampleDB(t)
	code, stderr := runExeWithStdout(t, full, "check", db)
	if want := "folio: write standard output: no space left on device\n"; code != exitFail || stderr != want {
		t.Errorf("check >/dev/full: exit %d, %q; want exit %d and %q", code, stderr, exitFail, want)
	}
}
