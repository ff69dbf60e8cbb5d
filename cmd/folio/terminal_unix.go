//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// isTerminalFile reports whether f is a terminal: whether the terminal
// attributes can be read from it. A character device is not enough:
// /dev/null is one, and "folio load DB </dev/null" is an empty dump, not
// a user at a keyboard.
func isTerminalFile(f *os.File) bool {
	// NB: SyscallConn rather than Fd, which would put f in blocking mode.
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var terr error
	if err := rc.Control(func(fd uintptr) { _, terr = unix.IoctlGetTermios(int(fd), ioctlReadTermios) }); err != nil {
		return false
	}
	return terr == nil
}
