package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIGetRawRoundTrips: get in raw format writes the value's bytes
// exactly when standard output is no terminal, so "folio get DB B K >
// file" and "folio put DB B K2 < file" copy a binary value unchanged. Get
// added a newline whatever its output, and each such copy grew the value
// by one byte. hex and base64 still end in a newline (put ignores white
// space around them), and on a terminal raw does too (terminal_linux_test.go).
func TestCLIGetRawRoundTrips(t *testing.T) {
	path := sampleDB(t)
	value := "\x00\xff\n\x01binary\n" // ends in a newline of its own
	if code, _, stderr := runCLI(t, "put", path, "blobs", "v", value); code != exitOK {
		t.Fatalf("put: exit %d: %s", code, stderr)
	}
	code, out, stderr := runCLI(t, "get", path, "blobs", "v")
	if code != exitOK || out != value {
		t.Fatalf("get: exit %d, %q, want the value's bytes exactly, %q: %s", code, out, value, stderr)
	}
	file := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var outb, errb bytes.Buffer
	if code := run([]string{"put", path, "blobs", "copy"}, in, &outb, &errb); code != exitOK {
		t.Fatalf("put < file: exit %d: %s", code, errb.String())
	}
	copyKey := "636f7079" // "copy" in hex
	if code, out, _ := runCLI(t, "get", "--format", "hex", path, "blobs", copyKey); code != exitOK || out != "00ff0a0162696e6172790a\n" {
		t.Errorf("the copy: exit %d, %q; want the value's hex and a newline", code, out)
	}
	for format, key := range map[string]string{"hex": "76", "base64": "dg=="} { // "v"
		if code, out, _ := runCLI(t, "get", "--format", format, path, "blobs", key); code != exitOK || !strings.HasSuffix(out, "\n") {
			t.Errorf("get --format %s: exit %d, %q; want a line", format, code, out)
		}
	}
}
