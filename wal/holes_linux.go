//go:build linux

package wal

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// nextData returns the first offset in [off, end) that no hole of f
// covers, or end. Where the file system cannot say, it returns off:
// everything is data. Blocks written but not yet flushed count as data
// (the file systems look at the page cache for them).
func nextData(f *os.File, off, end int64) int64 {
	d, err := f.Seek(off, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.ENXIO): // no data at or past off
		return end
	case err != nil:
		return off
	}
	return min(max(d, off), end)
}
