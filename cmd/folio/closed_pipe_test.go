package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestCLIClosedPipeSIGPIPE: a command whose standard output is a pipe
// nobody reads any more ("folio keys DB B | head -1") ends as cat does,
// killed by SIGPIPE, which a shell reports as exit status 141, with
// nothing on stderr: the pipeline's reader took what it wanted. The
// README lists the status with the others.
func TestCLIClosedPipeSIGPIPE(t *testing.T) {
	db := sampleDB(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the reader is gone before the first write
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "keys", db, "users")
	cmd.Env = append(os.Environ(), "FOLIO_TEST_MAIN=1")
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &errb
	err = cmd.Run()
	w.Close()
	if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGPIPE || errb.Len() != 0 {
		t.Errorf("keys into a closed pipe: %v, stderr %q; want killed by SIGPIPE, nothing on stderr", cmd.ProcessState, errb.String())
	}
}
