//go:build unix

package folio

import (
	"os"

	"golang.org/x/sys/unix"
)

// mmap maps the file's first size bytes with PROT_READ and MAP_SHARED (plus
// the storage's mmapFlags). The descriptor is the storage's own, O_RDWR
// unless read-only, so the mapping is really shared and msync through it
// reaches the file (see fileStorage).
//
// REQUIRES: size > 0.
func (s *fileStorage) mmap(size int) ([]byte, error) {
	var data []byte
	var err error
	if cerr := s.fd(func(fd int) {
		data, err = unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED|s.mmapFlags)
	}); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	return data, nil
}

// munmap undoes mmap. REQUIRES: data is a whole slice mmap returned.
func munmap(data []byte) error {
	return os.NewSyscallError("munmap", unix.Munmap(data))
}

// tryMap maps f's first size bytes as a fileStorage over f would (flags
// ORed into MAP_SHARED), and unmaps them at once: whether the system can
// map f so, before a DB depends on it. REQUIRES: size > 0.
func tryMap(f *os.File, size int64, flags int) error {
	if int64(int(size)) != size {
		return os.NewSyscallError("mmap", unix.ENOMEM)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var data []byte
	if cerr := rawControl(rc, func(fd int) {
		data, err = unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED|flags&^untriedMmapFlags)
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	return munmap(data)
}
