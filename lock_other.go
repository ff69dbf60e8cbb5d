//go:build !unix || aix

package folio

import (
	"errors"
	"os"
	"time"
)

// These stand in for lock_unix.go where flock(2) is missing, so that a
// build there fails with the one error platform_other.go or
// platform_aix.go gives on purpose. They are never compiled into a program.

var errLockTimeout = errors.New("folio: timed out waiting for the database file lock")

func flock(f *os.File, exclusive bool, timeout time.Duration) error { return errors.ErrUnsupported }
func funlock(f *os.File) error                                      { return errors.ErrUnsupported }
