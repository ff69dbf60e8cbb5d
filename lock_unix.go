//go:build unix && !aix

package folio

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// errLockTimeout is returned by flock when the lock was not acquired within
// its timeout. The root maps it to ErrTimeout.
var errLockTimeout = errors.New("folio: timed out waiting for the database file lock")

// lockRetryInterval is how long flock waits between attempts.
const lockRetryInterval = 50 * time.Millisecond

// flock takes an advisory lock on f: exclusive for a writer, shared for
// read-only opens. It waits while another open file description holds a
// conflicting lock (another process, or another os.Open of the same file in
// this one), for up to timeout: 0 waits forever, and a negative timeout
// tries once. On timeout it returns errLockTimeout.
//
// It polls with LOCK_NB rather than blocking in flock(2), as bbolt does,
// so that a timeout needs no signal to interrupt the call and a waiting open
// holds no OS thread in the kernel.
func flock(f *os.File, exclusive bool, timeout time.Duration) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		var ferr error
		if err := rawControl(rc, func(fd int) { ferr = unix.Flock(fd, how|unix.LOCK_NB) }); err != nil {
			return err
		}
		switch ferr {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EWOULDBLOCK:
		default:
			return os.NewSyscallError("flock", ferr)
		}
		wait := lockRetryInterval
		if timeout != 0 {
			left := time.Until(deadline) // negative when timeout < 0
			if left <= 0 {
				return errLockTimeout
			}
			wait = min(wait, left)
		}
		time.Sleep(wait)
	}
}

// funlock releases the lock flock took on f. Closing f (the last descriptor
// of its open file description) releases it too.
func funlock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rawControl(rc, func(fd int) { ferr = unix.Flock(fd, unix.LOCK_UN) }); err != nil {
		return err
	}
	return os.NewSyscallError("flock", ferr)
}
