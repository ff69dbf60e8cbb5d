package folio

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/foliodb/folio/tx"
)

// This file is the database file as tx.Storage: the mappings readers see
// and the writes, syncs and growth the commit protocol asks for. The
// platform halves are in file_unix.go (mmap, directory sync),
// file_linux.go (pwritev, msync, fallocate) and file_other.go (portable
// fallbacks for other Unix systems).
//
// Why not github.com/edsrzf/mmap-go: its MapRegion does map RDONLY as
// PROT_READ|MAP_SHARED, which is what folio needs, but its flags argument is
// its own flag space (only mmap.ANON), not mmap(2)'s. Options.MmapFlags such
// as MAP_POPULATE would be dropped silently, and a flag with bit 0 set (that
// is MAP_SHARED on Linux and the BSDs) would be read as ANON and map zeroed
// anonymous memory instead of the file. So folio calls unix.Mmap itself.

// errReadOnlyFile is returned by the writing methods of a fileStorage that
// was opened read-only. The root never calls them on a read-only database
// (it refuses writable transactions first), so meeting it means a bug.
var errReadOnlyFile = errors.New("folio: database file is open read-only")

// fileStorage is the real database file behind tx.Storage.
//
// Readers see the file through read-only shared mappings (Map); the writer
// changes it only through WriteAt, never through a mapping (DESIGN.md,
// "Commit"), and makes written ranges durable with SyncRange.
//
// NB: on Linux msync makes nothing durable when the MAP_SHARED mapping was
// made from a descriptor opened read-only: the kernel quietly drops the
// shared flag (VM_SHARED) and msync returns success. fileStorage therefore
// maps the descriptor it was given, which is O_RDWR unless the database is
// read-only, with PROT_READ; file_test.go checks the mapping's VmFlags.
//
// All methods are safe for concurrent use, but WriteAt, Grow and Truncate
// are meant for the single writer.
type fileStorage struct {
	f  *os.File
	rc syscall.RawConn // f's descriptor, held open across each use (see fd)

	readOnly   bool
	noGrowSync bool // Grow never syncs the new size, whatever its caller asks
	mmapFlags  int  // ORed into MAP_SHARED on every mmap

	lastSize atomic.Int64 // the size last seen (Size, Grow, Truncate); Size returns it if fstat fails

	// logLock is the write-ahead log's directory, locked as f is
	// (lockLogDir), or nil; Close closes it after f.
	logLock *os.File

	mu sync.Mutex
	// mu protects cur and closed.
	//
	// cur is the most recent mapping at least as long as the one before,
	// which SyncRange msyncs through; the storage holds one reference to
	// it (nil when read-only, since a read-only storage never syncs, or
	// before the first Map).
	cur    *mapping
	closed bool
}

var _ tx.Storage = (*fileStorage)(nil)

// openFileStorage wraps f, opened O_RDWR, or O_RDONLY when readOnly. The
// storage owns f from now on: its Close closes f. noGrowSync makes Grow skip
// the sync of the file's new size (Options.NoGrowSync); mmapFlags are ORed
// into the flags of every mmap (Options.MmapFlags, e.g. MAP_POPULATE).
//
// REQUIRES: f is not nil.
func openFileStorage(f *os.File, readOnly, noGrowSync bool, mmapFlags int) *fileStorage {
	rc, err := f.SyscallConn()
	if err != nil {
		// Only a nil *os.File has no RawConn.
		panic(fmt.Sprintf("folio: openFileStorage: %v", err))
	}
	return &fileStorage{
		f:          f,
		rc:         rc,
		readOnly:   readOnly,
		noGrowSync: noGrowSync,
		mmapFlags:  mmapFlags,
	}
}

// fd runs fn with the file's descriptor. The descriptor stays open while fn
// runs, even if Close is called meanwhile, so a raw system call can never
// reach a descriptor number that was closed and reused for another file (an
// int kept from f.Fd() could). Once f is closed it returns os.ErrClosed and
// does not run fn.
func (s *fileStorage) fd(fn func(fd int)) error {
	return rawControl(s.rc, fn)
}

// rawControl is rc.Control with the descriptor as an int, and os.ErrClosed
// in place of the "use of closed file" error Control returns (unlike the
// os.File methods, it does not translate it).
func rawControl(rc syscall.RawConn, fn func(fd int)) error {
	if err := rc.Control(func(fd uintptr) { fn(int(fd)) }); err != nil {
		// For a non-nil file, Control fails only once the file is closed.
		return os.ErrClosed
	}
	return nil
}

// Size is the file's length in bytes, as fstat reports it now (another
// process may have grown the file since the last call). If fstat fails, as
// it only can once the file is closed, Size returns the last length seen.
func (s *fileStorage) Size() int64 {
	fi, err := s.f.Stat()
	if err != nil {
		return s.lastSize.Load()
	}
	s.lastSize.Store(fi.Size())
	return fi.Size()
}

// Stat is the open file's os.FileInfo (Tx.CopyFile tells the database's
// own file by it).
func (s *fileStorage) Stat() (os.FileInfo, error) { return s.f.Stat() }

// Map maps the file's first size bytes read-only and shared. size may
// exceed the file; touching bytes past the end of the file faults (SIGBUS),
// so a caller reads only pages it knows are in the file.
//
// Each call makes a new mapping: the view stays valid until its own Close,
// whatever later calls to Map, Grow or Close do (invariant 4). A Truncate
// below size makes the view's tail fault, so only a tail no reader can reach
// may be truncated.
func (s *fileStorage) Map(size int64) (tx.View, error) {
	if size < 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("folio: cannot map %d bytes", size)
	}
	var data []byte
	if size > 0 {
		var err error
		if data, err = s.mmap(int(size)); err != nil {
			return nil, err
		}
	}
	m := &mapping{data: data}
	m.refs.Store(1) // the view's
	if s.readOnly {
		return &fileView{m: m}, nil
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.Join(os.ErrClosed, m.release())
	}
	if s.cur != nil && len(m.data) < len(s.cur.data) {
		// NB: a short mapping (the two meta pages a restoring meta write
		// or Close reads, the pages a replay checks) does not become the
		// current one: every later sync past its end fell back to
		// fdatasync of the whole file, until the file outgrew the DB's
		// view. A DB's own mappings never get shorter (one reopened over
		// the storage when leaving WAL mode may map less than the one
		// before it, whose longer mapping then stays current: it covers
		// more, and goes at Close).
		s.mu.Unlock()
		return &fileView{m: m}, nil
	}
	m.refs.Add(1) // the storage's, as cur
	old := s.cur
	s.cur = m
	s.mu.Unlock()

	v := &fileView{m: m}
	if old != nil {
		if err := old.release(); err != nil {
			return nil, errors.Join(err, v.Close())
		}
	}
	return v, nil
}

// acquireCur returns the current mapping with a reference taken for the
// caller, or nil if there is none.
func (s *fileStorage) acquireCur() *mapping {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.refs.Add(1)
	}
	return s.cur
}

// WriteAt writes bufs back to back from off. On Linux a run of bulkRun
// buffers or more goes to pwritev, one call per bulkChunk bytes (256 KiB,
// or one bigger buffer), and a shorter one to one pwrite per buffer
// (file_linux.go says why); either goes on after a short write. Elsewhere
// it is WriteAt per buffer. It returns an error unless every byte was
// written. bufs and the bytes they hold are not modified or retained.
func (s *fileStorage) WriteAt(bufs [][]byte, off int64) error {
	if s.readOnly {
		return errReadOnlyFile
	}
	if off < 0 {
		return fmt.Errorf("folio: write at negative offset %d", off)
	}
	return s.writeAt(bufs, off)
}

// SyncRange makes bytes [off, off+n) of the file durable. On Linux that is
// msync(MS_SYNC) over the page-aligned range of the current mapping, which
// writes back only the dirty pages in the range (rather than the whole file,
// as fsync would); a range the current mapping does not cover falls back to
// fdatasync. Elsewhere it is a whole-file sync.
func (s *fileStorage) SyncRange(off, n int64) error {
	if s.readOnly {
		return errReadOnlyFile
	}
	if off < 0 || n < 0 {
		return fmt.Errorf("folio: sync of bad range [%d, %d+%d)", off, off, n)
	}
	if n == 0 {
		return nil
	}
	return s.syncRange(off, n)
}

// Grow extends the file to size bytes (fallocate on Linux, so the blocks are
// reserved now and a full disk fails here rather than in a later write;
// ftruncate where fallocate is unsupported). With sync set, and unless the
// storage was opened with noGrowSync, the new size is made durable too;
// an error from that sync wraps tx.ErrSyncFailed. A file already size
// bytes or longer is left alone, unsynced.
func (s *fileStorage) Grow(size int64, sync bool) error {
	if s.readOnly {
		return errReadOnlyFile
	}
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	cur := fi.Size()
	if size <= cur {
		return nil
	}
	if err := s.allocate(cur, size); err != nil {
		return err
	}
	s.lastSize.Store(size)
	if sync && !s.noGrowSync {
		if err := s.datasync(); err != nil {
			// NB: fdatasync syncs the file's dirty pages as well as its
			// size (in WAL mode, the unsynced pages of logged commits),
			// and the kernel may drop those it failed to write: the DB
			// must refuse writes as after any failed sync, not retry.
			return fmt.Errorf("%w (%w)", err, tx.ErrSyncFailed)
		}
	}
	return nil
}

// Truncate shrinks (or extends, sparsely) the file to size bytes. The new
// size is not synced: a crash may leave the old, longer file, whose tail is
// free space anyway.
//
// REQUIRES: no reader can reach the bytes past size (Map).
func (s *fileStorage) Truncate(size int64) error {
	if s.readOnly {
		return errReadOnlyFile
	}
	if err := s.f.Truncate(size); err != nil {
		return err
	}
	s.lastSize.Store(size)
	return nil
}

// Close drops the storage's reference to its current mapping and closes the
// file. Views stay valid until their own Close: a mapping does not need the
// descriptor it was made from.
func (s *fileStorage) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return os.ErrClosed
	}
	s.closed = true
	m := s.cur
	s.cur = nil
	s.mu.Unlock()

	var err error
	if m != nil {
		err = m.release()
	}
	err = errors.Join(err, s.f.Close())
	if s.logLock != nil {
		err = errors.Join(err, s.logLock.Close())
	}
	return err
}

// mapping is one mmap of the file, unmapped when its last reference goes:
// one per open view, plus the storage's own while it is the current
// mapping.
type mapping struct {
	data []byte // as mmap returned it; len is the size asked of Map
	refs atomic.Int32
}

// release drops a reference, unmapping on the last one.
func (m *mapping) release() error {
	switch n := m.refs.Add(-1); {
	case n > 0:
		return nil
	case n < 0:
		panic("folio: mapping released more often than acquired")
	}
	if len(m.data) == 0 {
		return nil
	}
	return munmap(m.data)
}

// fileView is a tx.View over one mapping.
type fileView struct {
	m      *mapping
	closed atomic.Bool
}

// Bytes returns the mapped file bytes, valid until Close. Its length is the
// size asked of Map; bytes past the end of the file must not be touched.
// REQUIRES: no one writes to it (the memory is read-only; a store faults).
func (v *fileView) Bytes() []byte { return v.m.data }

// Close unmaps the view, unless the storage still holds the mapping as its
// current one. A second Close returns os.ErrClosed.
// REQUIRES: no one reads Bytes afterwards.
func (v *fileView) Close() error {
	if !v.closed.CompareAndSwap(false, true) {
		return os.ErrClosed
	}
	return v.m.release()
}
