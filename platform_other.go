//go:build !unix

package folio

import (
	"errors"
	"os"
)

// folio runs on Unix only: it maps the file with mmap, locks it with flock
// and syncs it with msync and fsync, all through golang.org/x/sys/unix.
// Windows, Plan 9 and WebAssembly have none of these as folio needs them
// (Windows' LockFileEx and MapViewOfFile behave differently enough to need
// their own design and tests, as bbolt's bolt_windows.go shows).
//
// The name below is undefined on purpose: a build here fails with this one
// error, which says why. The stubs after it are never compiled into a
// program; they only give every name the Unix files define, so that the
// compiler has nothing else to report first.
var _ = folio_supports_unix_only

func (s *fileStorage) mmap(size int) ([]byte, error) { return nil, errors.ErrUnsupported }
func munmap(data []byte) error                       { return errors.ErrUnsupported }
func tryMap(f *os.File, size int64, flags int) error { return errors.ErrUnsupported }

const refusedMmapFlags, untriedMmapFlags = 0, 0

func (s *fileStorage) writeAt(bufs [][]byte, off int64) error { return errors.ErrUnsupported }
func (s *fileStorage) syncRange(off, n int64) error           { return errors.ErrUnsupported }
func (s *fileStorage) allocate(cur, size int64) error         { return errors.ErrUnsupported }
func (s *fileStorage) datasync() error                        { return errors.ErrUnsupported }
