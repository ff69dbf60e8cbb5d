package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPty opens a pseudo-terminal and returns its terminal side; what is
// written to it is read and dropped until the test ends.
func openPty(t *testing.T) *os.File {
	t.Helper()
	m, s := ptyPair(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, m) // until the terminal side closes (EIO)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
		m.Close()
	})
	return s
}

// ptyPair opens a pseudo-terminal and returns its two sides: what is
// written to the terminal side s is read from m. The caller closes both.
func ptyPair(t *testing.T) (m, s *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("pseudo-terminal number: %v", err)
	}
	s, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open the pseudo-terminal: %v", err)
	}
	return m, s
}

// TestCLIGetRawTerminalNewline: on a terminal, get ends a raw value with
// a newline, so the prompt that follows starts a line of its own (to a
// file or a pipe it writes the bytes alone: TestCLIGetRawRoundTrips).
func TestCLIGetRawTerminalNewline(t *testing.T) {
	path := sampleDB(t)
	m, s := ptyPair(t)
	defer m.Close()
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&got, m) // until the terminal side closes (EIO)
	}()
	var errb bytes.Buffer
	code := newApp(strings.NewReader(""), s, &errb).run([]string{"get", path, "users/admins", "root"})
	s.Close()
	<-done
	// NB: the terminal turns "\n" into "\r\n" (ONLCR).
	if out := strings.ReplaceAll(got.String(), "\r\n", "\n"); code != exitOK || out != "yes\n" {
		t.Errorf("get to a terminal: exit %d, %q, want %q: %s", code, out, "yes\n", errb.String())
	}
}

// TestDumpToTerminalNoBar: a dump written to a terminal draws no progress
// bar, which would break into its lines (stderr being the same terminal,
// most likely); written to a pipe or a file, it does.
func TestDumpToTerminalNoBar(t *testing.T) {
	path := sampleDB(t)
	tty := openPty(t)
	if !isTerminal(tty) {
		t.Fatal("the pseudo-terminal is not taken for a terminal")
	}
	for _, tc := range []struct {
		stdout io.Writer
		args   []string
		bar    bool
	}{
		{tty, []string{"dump", path, "--format", "print"}, false},
		{tty, []string{"dump", path, "-o", tty.Name()}, false},
		{&bytes.Buffer{}, []string{"dump", path}, true},
	} {
		var errb bytes.Buffer
		a := newApp(strings.NewReader(""), tc.stdout, &errb)
		a.isTerminal = true // stderr is a terminal
		if code := a.run(tc.args); code != exitOK {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errb.String())
		}
		if bar := strings.Contains(errb.String(), "dump: keys"); bar != tc.bar {
			t.Errorf("%v to %T: bar drawn %v, want %v: %q", tc.args, tc.stdout, bar, tc.bar, errb.String())
		}
	}
}
