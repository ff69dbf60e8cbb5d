package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestCLIPutTerminalStdin: put without VALUE, standard input a terminal,
// is bad usage, as load without a dump is: a user who left VALUE out saw
// the command wait, saying nothing, and an end of input (Ctrl-D) then
// set the key to an empty value, exit 0.
func TestCLIPutTerminalStdin(t *testing.T) {
	path := sampleDB(t)
	before := fileSum(t, path)
	m, s := ptyPair(t)
	defer m.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, m) // until the terminal side closes (EIO)
	}()
	if _, err := m.Write([]byte{4}); err != nil { // Ctrl-D: the end of input
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"put", path, "users", "forgot"}, s, &out, &errb)
	s.Close()
	<-done
	want := "no VALUE given, and standard input is a terminal"
	if code != exitUsage || !strings.Contains(errb.String(), want) {
		t.Errorf("put without VALUE from a terminal: exit %d, %q; want %d and %q", code, errb.String(), exitUsage, want)
	}
	if fileSum(t, path) != before {
		t.Error("the database changed")
	}
}
