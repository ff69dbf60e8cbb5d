//go:build !plan9

package tx

import (
	"errors"
	"syscall"
)

// noSpace reports whether err says the disk, the user's quota or the
// process's file size limit (RLIMIT_FSIZE) has no room for what was asked.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// badAddress reports whether err says a system call met memory it could
// not read (EFAULT): a write from a mapping past its file's end.
func badAddress(err error) bool { return errors.Is(err, syscall.EFAULT) }
