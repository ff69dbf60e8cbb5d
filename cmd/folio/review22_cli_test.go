package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// runExeWithStdout runs this test binary as folio (TestMain) in a process
// of its own, whose standard output is out: a command's handling of its
// own standard output ("-o /dev/stdout") needs a real one.
func runExeWithStdout(t *testing.T, out *os.File, args ...string) (code int, stderr string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "FOLIO_TEST_MAIN=1")
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &errb
	err = cmd.Run()
	if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), errb.String()
}

// TestReview22CLIDumpDevStdoutAppends: "folio dump DB -o /dev/stdout >>
// log" appends the dump to log, as the help promises ("/dev/stdout is
// written directly"). When standard output was a regular file the dump
// went to a temporary file beside it, renamed over it: log was replaced,
// and what it held before was lost.
func TestReview22CLIDumpDevStdoutAppends(t *testing.T) {
	db := sampleDB(t)
	code, want, stderr := runCLI(t, "dump", db, "--bucket", "users/admins")
	if code != exitOK {
		t.Fatalf("dump: exit %d: %s", code, stderr)
	}
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
	code, stderr = runExeWithStdout(t, f, "dump", db, "--bucket", "users/admins", "-o", "/dev/stdout")
	if code != exitOK {
		t.Fatalf("dump -o /dev/stdout: exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if w := "an earlier line\n" + want; string(got) != w {
		t.Errorf("log holds %q, want %q", got, w)
	}
	if after, err := os.Stat(log); err != nil || !os.SameFile(before, after) {
		t.Errorf("log was replaced by another file (%v)", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(log)); len(ents) != 1 {
		t.Errorf("the directory holds %d files, want log.txt alone", len(ents))
	}
}
