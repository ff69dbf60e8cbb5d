package folio

import (
	"errors"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// refusedMmapFlags are the Options.MmapFlags bits that would not map the
// file shared, read-only, where the kernel chooses: the mapping's type
// (MAP_PRIVATE; MAP_SHARED_VALIDATE), MAP_FIXED and MAP_FIXED_NOREPLACE
// (over address 0, or whatever is there: the process crashed), MAP_ANON
// (zeros, not the file).
const refusedMmapFlags = unix.MAP_TYPE&^unix.MAP_SHARED | unix.MAP_FIXED | unix.MAP_FIXED_NOREPLACE | unix.MAP_ANONYMOUS

// untriedMmapFlags are left out of tryMap's trial mapping: MAP_POPULATE
// reads the whole mapping in, so the trial of a big InitialMmapSize read
// the file once more before the DB's own mapping did, and it cannot make
// a mapping fail.
const untriedMmapFlags = unix.MAP_POPULATE

// iovMax is the most buffers one pwritev takes (IOV_MAX, UIO_MAXIOV on
// Linux); more fail with EINVAL, so WriteAt passes them in chunks.
const iovMax = 1024

// bulkRun is the fewest buffers writeAt hands to pwritev; a shorter run is
// written one buffer (one page, mostly) per call.
//
// Why: the kernel sizes a page-cache folio by the write that creates it (a
// vectored write of n fresh pages leaves folios of up to n pages), and on
// ext4 a 4 KiB write into a large folio walks its buffer heads. Measured on
// the 2-core test machine (kernel 6.18, ext4): a 4 KiB pwrite cost 2.2 us
// into a page cached as its own folio, 5-5.5 us into one cached by 4 MiB
// writes. W2 (random load), 3 interleaved rounds, medians: 30.0k to 33.8k
// keys/s committed directly, 48.5k to 52.7k in WAL mode; W5 direct 1.93k
// to 2.17k txn/s. Splitting every run did as well on W2 but cost a
// sequential load (W1) 20% in system calls; its runs are long, so bulkRun
// leaves them alone, but writes them in calls of at most bulkChunk.
const bulkRun = 256

// bulkChunk bounds the bytes one pwritev of a bulk run writes, and so the
// folios it leaves in the page cache (256 KiB: 64 pages), unless a single
// buffer is bigger.
//
// Why: the later 4 KiB writes of small commits land in those folios, each
// walking all of its buffer heads (ext4_block_write_begin). Measured
// (2026-12-04, 300k keys loaded 10,000 per transaction, then 16 writers
// through Batch, 3 rounds of 2,000 commits, twice): 12.4k-15.5k txn/s in
// WAL mode and 6.8k-7.4k directly with whole runs in one pwritev, 20.9k-
// 22.6k and 9.1k-9.9k in 256 KiB calls (16 pages: about the same; 512
// KiB: between). It cost a sequential load ~4% (W1, 4 interleaved
// rounds, medians: 2.23M to 2.13M keys/s directly, 2.10M to 2.03M in WAL
// mode).
const bulkChunk = 256 << 10

func (s *fileStorage) writeAt(bufs [][]byte, off int64) error {
	op := writeOps.Get().(*writeOp)
	op.bufs, op.off, op.err = bufs, off, nil
	cerr := s.rc.Control(op.run)
	err := op.err
	op.bufs, op.err = nil, nil // hold no caller's buffers while pooled
	writeOps.Put(op)
	if cerr != nil {
		// For a non-nil file, Control fails only once the file is closed.
		return os.ErrClosed
	}
	return err
}

// writeOp carries one writeAt's arguments and result into RawConn.Control.
// It is pooled with its run method bound once, since a closure handed to
// Control escapes: four allocations a call, about 40 of a one-put
// commit's 76 (BenchmarkCommitDurable, keys=1e4).
type writeOp struct {
	bufs [][]byte
	off  int64
	err  error
	run  func(fd uintptr) // op.write, bound when the op was made
}

var writeOps = sync.Pool{New: func() any {
	op := new(writeOp)
	op.run = op.write
	return op
}}

// write is writeAt's body, run with the descriptor held open.
func (op *writeOp) write(ufd uintptr) {
	fd, bufs, off := int(ufd), op.bufs, op.off
	if len(bufs) >= bulkRun {
		for len(bufs) > 0 {
			n, size := 1, len(bufs[0])
			for n < len(bufs) && size+len(bufs[n]) <= bulkChunk {
				size += len(bufs[n])
				n++
			}
			if op.err = pwritevFull(fd, bufs[:n], off); op.err != nil {
				return
			}
			bufs, off = bufs[n:], off+int64(size)
		}
		return
	}
	for _, b := range bufs {
		if op.err = pwriteFull(fd, b, off); op.err != nil {
			return
		}
		off += int64(len(b))
	}
}

// pwriteFull writes b at off, going on after a short write or EINTR as
// pwritevFull does. It returns an error unless every byte was written.
func pwriteFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("pwrite", err)
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// pwritevFull writes bufs back to back from off with as few pwritev calls
// as it can: one per iovMax buffers unless the kernel writes short (it
// caps one call at about 2 GiB, and a signal or a full disk can cut one
// short), in which case it goes on from the first unwritten byte. It
// returns an error unless every byte was written.
func pwritevFull(fd int, bufs [][]byte, off int64) error {
	owned := false // whether bufs is our copy, which consumed may trim
	for len(bufs) > 0 {
		chunk := bufs[:min(len(bufs), iovMax)]
		n, err := unix.Pwritev(fd, chunk, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("pwritev", err)
		}
		if n == 0 && totalLen(chunk) > 0 {
			// No progress and no error: give up rather than spin.
			return io.ErrShortWrite
		}
		off += int64(n)
		bufs, owned = consumed(bufs, n, owned)
	}
	return nil
}

// consumed returns bufs less its first n bytes, dropping buffers written in
// full (and empty ones at the front) and trimming a partly written one. It
// copies bufs before trimming unless owned, so the caller's slice is never
// modified; the result is owned if it may have been copied.
func consumed(bufs [][]byte, n int, owned bool) ([][]byte, bool) {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if n > 0 {
		if !owned {
			bufs = append([][]byte(nil), bufs...)
			owned = true
		}
		bufs[0] = bufs[0][n:]
	}
	return bufs, owned
}

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// syncRange msyncs [off, off+n) through the current mapping: for a shared
// file mapping, msync(MS_SYNC) is fdatasync limited to the range (the
// kernel's vfs_fsync_range), so it writes back only the dirty pages there,
// whichever way they were dirtied (folio's are dirtied by pwritev). A range
// the current mapping does not cover (no mapping yet, or one smaller than
// the file) falls back to fdatasync of the whole file.
func (s *fileStorage) syncRange(off, n int64) (err error) {
	m := s.acquireCur()
	if m == nil {
		return s.datasync()
	}
	defer func() { err = errors.Join(err, m.release()) }()
	if off+n > int64(len(m.data)) || off+n < off {
		return s.datasync()
	}
	// msync wants a page-aligned start; it rounds the length up itself.
	start := off &^ int64(unix.Getpagesize()-1)
	// INVARIANT: m, current when acquired (a Map may have replaced it since,
	// which changes nothing: msync syncs the file's range), was made from
	// the storage's O_RDWR descriptor (not read-only: SyncRange refused),
	// so it is VM_SHARED and msync reaches the file.
	return os.NewSyscallError("msync", unix.Msync(m.data[start:off+n], unix.MS_SYNC))
}

// allocate extends the file from cur to size bytes with fallocate, which
// reserves the blocks (a full disk fails here, not in a later write) and
// sets the new size; where the file system has no fallocate, ftruncate
// extends the file sparsely instead.
//
// NB: a fallocate that fails for want of space is not undone by every
// file system: ext4 keeps the blocks it got and the size they reach
// (measured: a 100 MiB fallocate on a 14 MiB ext4 returned ENOSPC with
// the file at 14 MiB and the disk full). Nothing past cur is in use, so
// the file is cut back to cur: otherwise the failed growth would hold the
// disk's last free blocks until Close, and the log's next segment, the
// smaller growth the commit retries with (DB.grow) or another program
// would find none.
func (s *fileStorage) allocate(cur, size int64) error {
	var err error
	if cerr := s.fd(func(fd int) {
		for {
			err = unix.Fallocate(fd, 0, cur, size-cur)
			if err != unix.EINTR {
				return
			}
		}
	}); cerr != nil {
		return cerr
	}
	switch {
	case err == nil:
		return nil
	case err == unix.EOPNOTSUPP || err == unix.ENOSYS:
		return s.f.Truncate(size)
	}
	err = os.NewSyscallError("fallocate", err)
	if terr := s.f.Truncate(cur); terr != nil {
		return errors.Join(err, terr)
	}
	return err
}

// datasync is fdatasync: the file's data and the metadata needed to read
// it back, its size included.
func (s *fileStorage) datasync() error {
	var err error
	if cerr := s.fd(func(fd int) { err = unix.Fdatasync(fd) }); cerr != nil {
		return cerr
	}
	return os.NewSyscallError("fdatasync", err)
}
