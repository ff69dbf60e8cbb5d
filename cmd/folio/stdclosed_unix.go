//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// stdClosed reports whether f, standard input, looks closed: /dev/null
// open for reading and writing. The Go runtime opens a closed standard
// descriptor that way before main, so a read finds nothing: put with its
// input closed ("<&-") set an empty value, and load made an empty
// database (app.needStdin). "< /dev/null" opens it for reading only and
// is not taken for closed. NB: standard output is not checked so: a
// daemon's, or Python's subprocess.DEVNULL, is the same /dev/null open
// for reading and writing, and refusing "folio get" there failed callers
// that read only its exit status.
func stdClosed(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	if err != nil || !os.SameFile(fi, null) {
		return false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var flags int
	var ferr error
	if err := rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil || ferr != nil {
		return false
	}
	return flags&unix.O_ACCMODE == unix.O_RDWR
}
