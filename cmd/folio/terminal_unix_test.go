//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIsTerminal: a terminal is a file with terminal attributes, not any
// character device: /dev/null is not one, a pseudo-terminal is.
func TestIsTerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) || isTerminalReader(null) {
		t.Error("/dev/null is taken for a terminal")
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is taken for a terminal")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer ptmx.Close()
	if !isTerminal(ptmx) {
		t.Error("a pseudo-terminal is not taken for a terminal")
	}
}

// TestDevNullIsNoTerminal: /dev/null as standard input is an empty dump,
// and as standard output takes a binary dump.
func TestDevNullIsNoTerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	dst := filepath.Join(t.TempDir(), "new.db")
	var out, errb bytes.Buffer
	if code := run([]string{"load", dst}, null, &out, &errb); code != exitOK || !strings.Contains(out.String(), "loaded 0 keys") {
		t.Errorf("load </dev/null: exit %d: %s%s", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run([]string{"dump", sampleDB(t), "--format", "binary"}, null, null, &errb); code != exitOK {
		t.Errorf("dump --format binary >/dev/null: exit %d: %s", code, errb.String())
	}
}
