//go:build !linux

package wal

import "os"

// fdatasync falls back to a full sync (F_FULLFSYNC on darwin) where the
// system has no fdatasync that x/sys exposes portably.
func fdatasync(f *os.File) error { return f.Sync() }

// preallocate writes f full of zeros: portable, and it allocates the blocks
// for real, so later writes change no size or extent metadata.
func preallocate(f *os.File, size int64) (cold bool, err error) {
	return false, writeZeros(f, size, nil)
}
