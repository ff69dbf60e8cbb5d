package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestErrorLineControlChars: a path holding a newline (or another
// control character: an escape sequence would drive the terminal) is
// written escaped in the one error line, "a\nb.db", and a command the
// line gives, quoted so the shell reads it back: $'a\nb.db'. The line
// broke in two, and a script reading its first line read half a name.
func TestErrorLineControlChars(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no\nsuch\x1b[31m.db")
	code, _, stderr := runCLI(t, "info", missing)
	want := strings.ReplaceAll(strings.ReplaceAll(missing, "\n", `\n`), "\x1b", `\x1b`) + ": no such file"
	if line := oneLine(t, []string{"info"}, stderr); code != exitFail || !strings.Contains(line, want) {
		t.Errorf("info of a missing path with control characters: exit %d, %q; want %d and %q", code, stderr, exitFail, want)
	}

	path := filepath.Join(dir, "a\nb.db")
	copyFile(t, walDB(t, 3), path)
	logDir := folio.LogDir(path)
	if err := os.WriteFile(logDir, []byte("not a log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "info", path)
	mv := `mv $'` + dir + `/a\nb.db.wal' $'` + dir + `/a\nb.db.wal.moved'`
	line := oneLine(t, []string{"info"}, stderr)
	if code != exitFail || !strings.HasSuffix(line, mv) {
		t.Fatalf("info with its log path a file: exit %d, %q; want %d and a line ending %q", code, stderr, exitFail, mv)
	}
	sh, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the command with")
	}
	if out, err := exec.Command(sh, "-c", mv).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", mv, err, out)
	}
	if code, _, stderr := runCLI(t, "info", path); code != exitOK {
		t.Errorf("info after the command the line gave: exit %d: %s", code, stderr)
	}
}
