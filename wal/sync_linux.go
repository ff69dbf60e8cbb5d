//go:build linux

package wal

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync flushes f's data and only the metadata needed to read it back.
// Segments are preallocated and never change size on the commit path, so
// that is no size metadata: fsync would also write the inode's times.
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// preallocate gives f size bytes of allocated blocks, and that size.
// fallocate is one call and instant, but leaves the blocks unwritten: cold
// (see spare.go). Where the file system lacks it, the file is written full
// of zeros instead, which allocates just as well and leaves them warm.
func preallocate(f *os.File, size int64) (cold bool, err error) {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		switch {
		case err == nil:
			return true, nil
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return false, writeZeros(f, size, nil)
		default:
			return false, &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
		}
	}
}
