package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCLIZstdDumpNotToTerminal: a compressed dump, text or
// binary, is refused on a terminal as a binary one is (it wrote zstd
// frames to the terminal); the uncompressed text dump still goes there.
func TestCLIZstdDumpNotToTerminal(t *testing.T) {
	path := sampleDB(t)
	tty := openPty(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"dump", path, "--zstd"}, exitUsage},
		{[]string{"dump", path, "--format", "print", "--zstd"}, exitUsage},
		{[]string{"dump", path, "--format", "binary"}, exitUsage},
		{[]string{"dump", path, "--format", "print"}, exitOK},
	} {
		var errb bytes.Buffer
		code := newApp(strings.NewReader(""), tty, &errb).run(tc.args)
		if code != tc.code || code == exitUsage && !strings.Contains(errb.String(), "to a terminal") {
			t.Errorf("%v: exit %d, %q; want %d", tc.args, code, errb.String(), tc.code)
		}
	}
}
