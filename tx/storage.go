package tx

// Storage is the database file as the commit protocol needs it. The root
// package supplies the real file (pwritev, msync, fallocate, mmap); crash
// tests supply a double that records which bytes were synced.
//
// Pages are never written through a View: the view is read-only, and all
// writes go through WriteAt, so a stray store cannot corrupt the file.
type Storage interface {
	// Size is the file's length in bytes.
	Size() int64
	// Map returns a read-only view of the file's first size bytes (size
	// may exceed the file; bytes past its end must not be touched). Views
	// stay valid until closed, whatever later calls do: a reader pinned to
	// an old view keeps reading it while the file grows (invariant 4).
	Map(size int64) (View, error)
	// WriteAt writes bufs back to back starting at off, in one call where
	// the platform allows (pwritev). It returns an error unless all bytes
	// were written.
	WriteAt(bufs [][]byte, off int64) error
	// SyncRange makes bytes [off, off+n) durable: msync(MS_SYNC) over a
	// shared mapping of the read-write descriptor on Linux, fdatasync
	// elsewhere.
	SyncRange(off, n int64) error
	// Grow extends the file to size bytes (fallocate where supported).
	// With sync set, the new size is made durable too.
	Grow(size int64, sync bool) error
	// Truncate shrinks the file to size bytes (giving back a free tail).
	Truncate(size int64) error
	// Close releases the file. Views may outlive it only until closed.
	Close() error
}

// View is a read-only window onto the file.
type View interface {
	// Bytes is the mapped memory; its length is the size asked of Map.
	Bytes() []byte
	// Close unmaps the view. REQUIRES: no one reads Bytes afterwards.
	Close() error
}
