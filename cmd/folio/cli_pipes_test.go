package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// TestCLIDumpDevStdoutAppends: "folio dump DB -o /dev/stdout >>
// log" appends the dump to log, as the help promises ("/dev/stdout is
// written directly"). When standard output was a regular file the dump
// went to a temporary file beside it, renamed over it: log was replaced,
// and what it held before was lost.
func TestCLIDumpDevStdoutAppends(t *testing.T) {
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

// TestCLIReplaceInReadOnlyDir: dump -o and backup replace an
// existing FILE by renaming a new file over it; in a directory the user
// cannot write, where only that new file fails, the message says so. It
// said "FILE: cannot create it: permission denied" of a FILE that
// existed and that the user could write, and "> FILE" could.
func TestCLIReplaceInReadOnlyDir(t *testing.T) {
	db := sampleDB(t)
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(ro, "out")
	if err := os.WriteFile(out, []byte("old"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o666); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(ro, 0o755) })
	for _, args := range [][]string{
		{"dump", db, "-o", out},
		{"backup", db, out},
	} {
		code, _, stderr := runAsNobody(t, []string{filepath.Dir(db), dir}, args...)
		line := oneLine(t, args, stderr)
		want := out + ": cannot replace it: no new file can be made beside it, in " + ro +
			" (the output is written there, then renamed over it): permission denied"
		if code != exitFail || !strings.HasSuffix(line, want) {
			t.Errorf("%v: exit %d, %q; want %d and ...%q", args, code, line, exitFail, want)
		}
		if b, err := os.ReadFile(out); err != nil || string(b) != "old" {
			t.Errorf("%v: %s holds %q (%v)", args, out, b, err)
		}
	}
}

// TestCLILoadEmptyPipe: "folio dump app.db | folio load new.db"
// where the dump fails before writing a byte (a missing, locked or
// damaged app.db, a log pending) fails: load took the empty pipe for the
// dump of an empty database, made new.db empty and exited 0, so the
// pipe's status said the copy was made. An empty input that is no pipe
// (</dev/null) still makes an empty database.
func TestCLILoadEmptyPipe(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "new.db")
	cmd := exec.Command(exe, "load", dst)
	cmd.Env = append(os.Environ(), "FOLIO_TEST_MAIN=1")
	cmd.Stdin = strings.NewReader("") // a pipe, closed with nothing written
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err = cmd.Run()
	want := "folio: load " + dst + ": standard input: an empty pipe: the command writing it wrote nothing (did it fail?); nothing was loaded"
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != exitFail || strings.TrimSpace(errb.String()) != want {
		t.Errorf("load from an empty pipe: %v, %q; want exit %d and %q", err, errb.String(), exitFail, want)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("new.db was made (%v)", err)
	}
}

// TestCLIPutEmptyPipe: "produce | folio put DB PATH KEY" where
// produce fails before writing a byte fails, and the value is kept: put
// set KEY to the empty value and exited 0. An empty value is given as
// an empty VALUE argument.
func TestCLIPutEmptyPipe(t *testing.T) {
	db := sampleDB(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "put", db, "users", "user001")
	cmd.Env = append(os.Environ(), "FOLIO_TEST_MAIN=1")
	cmd.Stdin = strings.NewReader("") // a pipe, closed with nothing written
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err = cmd.Run()
	want := "folio: standard input is an empty pipe: the command writing it wrote nothing (did it fail?); give an empty value as VALUE ('')"
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != exitFail || strings.TrimSpace(errb.String()) != want {
		t.Errorf("put from an empty pipe: %v, %q; want exit %d and %q", err, errb.String(), exitFail, want)
	}
	if code, out, stderr := runCLI(t, "get", db, "users", "user001"); code != exitOK || out != "value of user 1" {
		t.Errorf("user001 is %q now (exit %d: %s)", out, code, stderr)
	}
	if code, _, stderr := runCLI(t, "put", db, "users", "user001", ""); code != exitOK {
		t.Errorf("put of an empty VALUE: exit %d: %s", code, stderr)
	}
}

// TestCLIPageInsideRun: "folio page DB N" for a page inside a
// reachable run (a large value's, a branch's or a free list's overflow
// pages) says whose run it is. It decoded the value's bytes as a header
// and reported a healthy page as "corrupt page N: overflow ..." and a
// "misdirected write, or stale bytes".
func TestCLIPageInsideRun(t *testing.T) {
	path := sampleDB(t) // blobs/big: 3000 bytes in 1 KiB pages, a run of 3
	code, pages, stderr := runCLI(t, "pages", path)
	if code != exitOK {
		t.Fatalf("pages: exit %d: %s", code, stderr)
	}
	start := -1
	for _, line := range strings.Split(pages, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "large" && f[2] != "0" {
			start, _ = strconv.Atoi(f[0])
		}
	}
	if start < 0 {
		t.Fatalf("no large-value run in\n%s", pages)
	}
	id := strconv.Itoa(start + 1)
	code, out, stderr := runCLI(t, "page", path, id)
	want := fmt.Sprintf("page %d\n  inside the run of page %d (large, 3 pages), its page 2: the run's data, not a page of its own (folio page %s %d)\n",
		start+1, start, path, start)
	if code != exitOK || out != want {
		t.Errorf("page %s: exit %d, %q (%s); want %q", id, code, out, stderr, want)
	}
}

// TestCLILoadIntoEmptyFile: load into an existing empty file (a
// mktemp name) is refused, as before, and now says what to do: it said
// only that the file is no folio database.
func TestCLILoadIntoEmptyFile(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "tmp.XXXX")
	if err := os.WriteFile(dst, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"load", dst}
	code, _, stderr := runCLIIn(t, "VERSION=3\nformat=print\ndatabase=b\ntype=btree\nHEADER=END\n k\n v\nDATA=END\n", args...)
	line := oneLine(t, args, stderr)
	if code != exitFail || !strings.HasSuffix(line, "(the file is empty); remove it, and load makes the database there; nothing was loaded") {
		t.Errorf("exit %d, %q", code, line)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file changed: %v", err)
	}
}
