//go:build unix && !linux

package folio

import "golang.org/x/sys/unix"

// The portable halves of fileStorage for Unix systems other than Linux.
// They give up the Linux refinements (one pwritev per commit, range syncs,
// reserved blocks) for calls every Unix has, not for a lack of correctness:
// msync's effect on pages written with pwrite, and fallocate, differ too
// much among the BSDs, macOS and illumos to rely on without testing each.

// refusedMmapFlags are the Options.MmapFlags bits that would not map the
// file shared where the kernel chooses (file_linux.go).
const refusedMmapFlags = unix.MAP_PRIVATE | unix.MAP_FIXED | unix.MAP_ANON

// untriedMmapFlags are left out of tryMap's trial mapping (file_linux.go).
const untriedMmapFlags = 0

func (s *fileStorage) writeAt(bufs [][]byte, off int64) error {
	for _, b := range bufs {
		// os.File.WriteAt loops on short writes and fails unless all of b
		// was written.
		if _, err := s.f.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}

// syncRange syncs the whole file: no portable call syncs a range.
// (os.File.Sync is F_FULLFSYNC on macOS, where fsync leaves data in the
// drive's cache.)
func (s *fileStorage) syncRange(off, n int64) error {
	return s.f.Sync()
}

// allocate extends the file sparsely with ftruncate.
func (s *fileStorage) allocate(cur, size int64) error {
	return s.f.Truncate(size)
}

func (s *fileStorage) datasync() error {
	return s.f.Sync()
}
