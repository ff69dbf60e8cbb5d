package folio

import (
	"os"

	"golang.org/x/sys/unix"
)

// newMemFile makes an anonymous in-memory file (memfd): mapped, synced and
// grown like a file on disk, but without disk I/O, so crash tests can open
// thousands of images cheaply.
func newMemFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("folio-test", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	return os.NewFile(uintptr(fd), "memfd:folio-test"), nil
}
