//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockShared takes a shared flock on f, the lock a read-only folio.Open
// takes, waiting up to timeout (0: forever) for a writer to let go. The
// page-inspection commands use it on files the library refuses to open
// (a damaged root or free list), where they still read the pages; with
// the same lock as the library's, a writer in another process cannot
// change the file under them. The lock goes with f's Close.
func lockShared(f *os.File, path string, timeout time.Duration) error {
	const retry = 50 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EWOULDBLOCK):
			return fmt.Errorf("lock %s: %w", path, err)
		case timeout > 0 && time.Now().After(deadline):
			return lockedError{path, timeout}
		}
		time.Sleep(retry)
	}
}

// lockedError is lockShared's error when a writer held the file through
// the timeout.
type lockedError struct {
	path    string
	timeout time.Duration
}

func (e lockedError) Error() string {
	return fmt.Sprintf("%s is locked by another process (waited %v; try --timeout)", e.path, e.timeout)
}

// timeoutError is lockedError for an open the library gave up (its
// ErrTimeout, which it wraps for errors.Is): its text is lockedError's
// alone, as the library's says the same again ("timeout waiting for the
// database file lock: X is held by another process (waited T)").
type timeoutError struct {
	lockedError
	err error
}

func (e timeoutError) Unwrap() error { return e.err }

// lockTimeout is the error of an open of path that waited timeout for
// another process's lock; err is the library's.
func lockTimeout(path string, timeout time.Duration, err error) error {
	return timeoutError{lockedError{path, timeout}, err}
}

// canWrite reports whether this process may write path (access(2), real
// ids: what a folio checkpoint run by the same user would be allowed).
// A variable so tests run as root can see the other answer.
var canWrite = func(path string) bool { return unix.Access(path, unix.W_OK) == nil }
