package tx

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"unsafe"

	"github.com/foliodb/folio/btree"
	"github.com/foliodb/folio/freelist"
	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/wal"
)

// reader serves committed runs from a mapping, bounded by a snapshot's
// high water mark. It is the read half of btree.Pages.
type reader struct {
	data     []byte
	pageSize int
	high     page.ID
	txid     page.TxID
	verify   bool
}

func (r *reader) Run(id page.ID, kind page.Flags, sum uint32) ([]byte, error) {
	if id < 2 || id >= r.high {
		return nil, page.Corruptf(id, "page id", fmt.Sprintf("in [2, %d)", r.high), fmt.Sprint(id))
	}
	off, end := int(id)*r.pageSize, int(r.high)*r.pageSize
	n, err := page.CheckRun(r.data[off:end], id, r.pageSize, kind, sum, r.verify)
	if err != nil {
		return nil, err
	}
	return r.data[off : off+n : off+n], nil
}

// RunHead is Run without the CRC of the whole run, even when r verifies
// runs: the header alone is checked (btree's headPages). A walk that has
// met a run reached twice, or one it could not read, reads each run's
// length from it first, so that a run overlapping pages it has walked is
// refused before its CRC is paid for.
func (r *reader) RunHead(id page.ID, kind page.Flags, sum uint32) ([]byte, error) {
	head := *r
	head.verify = false
	return head.Run(id, kind, sum)
}

// VerifiesRuns reports whether Run checks each run's whole checksum
// (Walk then does not check it again).
func (r *reader) VerifiesRuns() bool { return r.verify }

func (r *reader) PageSize() int   { return r.pageSize }
func (r *reader) TxID() page.TxID { return r.txid }
func (r *reader) Allocate(int) (page.ID, error) {
	panic("folio: bug: allocation in a read-only page source")
}
func (r *reader) Free(page.ID, int)     { panic("folio: bug: free in a read-only page source") }
func (r *reader) Write(page.ID, []byte) { panic("folio: bug: write in a read-only page source") }
func (r *reader) Buffer(int) []byte     { panic("folio: bug: buffer in a read-only page source") }

// Tx is a transaction: a consistent read snapshot, and for the one write
// transaction, the changes it will commit. A Tx is not safe for use by
// several goroutines at once.
type Tx struct {
	// WriteFlag, if not 0, makes WriteTo read the pages from the
	// database file opened with os.O_RDONLY|WriteFlag, not from the map,
	// as bbolt's: syscall.O_DIRECT copies a database larger than memory
	// without filling the page cache with it (the page size must then be
	// a multiple of the device's block size, as O_DIRECT reads are).
	WriteFlag int

	db       *DB // nil once the transaction has ended
	snap     *snapshot
	stripe   int
	writable bool
	managed  bool
	meta     page.Meta // for a write tx, TxID is the txid it will commit as
	r        reader
	root     Bucket
	err      error // the first corrupt page met; ends the transaction

	// Write transactions only.
	freelist       *freelist.List
	held           *freelist.List // WAL mode: runs the last checkpoint reaches (walState.held)
	unseen         bool           // readers of older snapshots: Free notes each run's writer (ReleaseUnseen)
	high           page.ID        // pages allocated so far: [0, high)
	dirty          []dirtyRun
	commitHandlers []func()
	stats          TxStats

	// checkpoint marks the empty transaction a checkpoint commits
	// directly, under the write lock its caller holds.
	checkpoint bool
	// noFreelist makes a checkpoint write no free list, as NoFreelistSync
	// does: the retry of one that found no room for it (checkpointTx).
	noFreelist bool
	// WAL mode: the transaction's logical record (header, then its
	// operations, walops.go) while logging; replay marks a transaction
	// that re-runs logged operations on open, under the write lock its
	// caller holds.
	logging bool
	replay  bool
	ops     []byte
	opCount int
	// opsRefs are the large values the record refers to, made at the
	// first. NB: a pointer, to keep Tx small: with its 8-byte malloc
	// header it is in the 1,408-byte size class each Update allocates
	// (1,376 bytes in 2026-12; the next class is 1,536).
	opsRefs *opsRefs
	// runsRead counts the committed runs this transaction's trees read
	// to change them (Run): about what its dirty pages will take at
	// commit (replayOps bounds it).
	runsRead int

	// slab (write transactions) is what every tree of the transaction
	// cuts its materialised nodes from, given back when it ends: a tree's
	// own took a chunk of 112 KiB for its first node (btree.Slab).
	slab btree.Slab

	// Buckets opened by this transaction, and spares from earlier uses of
	// a pooled Tx, so that opening a bucket in a View does not allocate.
	opened []*Bucket
	spare  []*Bucket
}

func (tx *Tx) newBucket() *Bucket {
	var b *Bucket
	if n := len(tx.spare); n > 0 {
		b, tx.spare = tx.spare[n-1], tx.spare[:n-1]
	} else {
		b = &Bucket{}
	}
	tx.opened = append(tx.opened, b)
	return b
}

type dirtyRun struct {
	id  page.ID
	run []byte
}

func (tx *Tx) init(db *DB, s *snapshot, stripe int, writable bool) {
	tx.db, tx.snap, tx.stripe, tx.writable = db, s, stripe, writable
	tx.meta = s.meta
	tx.r = reader{data: s.view.bytes, pageSize: db.pageSize, high: s.meta.High, txid: s.meta.TxID, verify: db.opts.VerifyChecksums}
	if writable {
		tx.r.txid = s.meta.TxID + 1
	}
	tx.root.init(tx, nil, nil, page.BucketHeader{Root: s.meta.Root, RootSum: s.meta.RootSum}, nil, 0)
}

// maxSpareBuckets bounds the bucket handles a pooled Tx keeps for the
// next View.
const maxSpareBuckets = 64

// reset readies a pooled read transaction (View) for reuse, keeping the
// buckets it opened as spares. Only what a read transaction can set
// besides what init sets anew is cleared: zeroing all of Tx (1.1 KiB)
// was 7% of a View that gets one key with the pages in cache.
// TestViewTxReset checks that a reset Tx begins as a new one does.
func (tx *Tx) reset() {
	// A View that opened many buckets (a walk over nested ones) keeps
	// only a few: it kept them all, ~1 KiB each, for as long as later
	// Views reused this Tx.
	// newBucket takes spares from the end: the handle opened first goes
	// last, so a View that opens the same buckets in the same order gets
	// each one's handle back, its name kept (Bucket.init), and allocates
	// none; appended in order, two names swapped handles at each View.
	if len(tx.spare)+len(tx.opened) > maxSpareBuckets || cap(tx.opened) > maxSpareBuckets {
		keep := make([]*Bucket, 0, maxSpareBuckets)
		keep = append(keep, tx.spare[:min(len(tx.spare), maxSpareBuckets)]...)
		keep = appendReversed(keep, tx.opened[:min(len(tx.opened), maxSpareBuckets-len(keep))])
		tx.spare, tx.opened = keep, nil
	} else {
		tx.spare = appendReversed(tx.spare, tx.opened)
		tx.opened = tx.opened[:0]
	}
	tx.root.children.reset()
	tx.snap, tx.err, tx.commitHandlers, tx.runsRead, tx.managed = nil, nil, nil, 0, false
	tx.WriteFlag = 0
}

func appendReversed(dst, src []*Bucket) []*Bucket {
	for i := len(src) - 1; i >= 0; i-- {
		dst = append(dst, src[i])
	}
	return dst
}

// end releases the snapshot (and for a writer, the write lock).
func (tx *Tx) end() {
	db := tx.db
	if db == nil {
		return
	}
	if tx.writable {
		tx.recycle()
		// Spilled, or rolled back: no tree reads its nodes again (every
		// handle's method checks tx.db first).
		tx.slab.Release()
		tx.freelist, tx.held, tx.dirty = nil, nil, nil
		if tx.ops != nil && cap(tx.ops) <= maxKeptOpsBuf {
			db.wal.opsBuf = tx.ops[:0]
		}
		tx.ops, tx.opsRefs = nil, nil
		if !tx.checkpoint && !tx.replay {
			db.writer.Unlock()
		}
	} else {
		tx.snap.unpin(tx.stripe)
		db.stats.readEnded(tx.stripe)
	}
	tx.db = nil
}

// run calls fn, turning a memory fault met while reading the mapping (a
// file truncated underneath it) into an ErrCorrupt error, and returning
// the first corrupt page fn met even if fn itself returned nil. A fault
// outside the DB's mappings is fn's own and panics on (faultguard.go).
func (tx *Tx) run(fn func(*Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if err = faultError(tx.db, r, ""); err == nil {
				panic(r)
			}
		}
	}()
	err = fn(tx)
	if tx.err != nil {
		return tx.err
	}
	return err
}

// fail records the first corruption met; the transaction then fails.
func (tx *Tx) fail(err error) {
	if tx.err == nil {
		tx.err = fmt.Errorf("folio: %s: %w", tx.db.path, err)
	}
}

// Err returns the corruption error this transaction met, if any. View and
// Update return it themselves; a Begin caller should check it (Commit
// refuses to commit a transaction that met one).
func (tx *Tx) Err() error { return tx.err }

// ID returns the transaction id: for a read transaction the snapshot's
// txid, for the write transaction the txid it will commit as.
func (tx *Tx) ID() int { return int(tx.meta.TxID) }

// DB returns the database the transaction belongs to (nil once ended).
func (tx *Tx) DB() *DB { return tx.db }

// Writable reports whether this is a write transaction, also once it
// ended (as bbolt's).
func (tx *Tx) Writable() bool { return tx.writable }

// Size returns the database size in bytes as this transaction sees it.
func (tx *Tx) Size() int64 {
	high := tx.meta.High
	if tx.writable && tx.high > high {
		high = tx.high
	}
	return int64(high) * int64(tx.r.pageSize)
}

// OnCommit registers fn to run after a successful commit, once the
// write lock is free. Values the transaction read stay valid while fn
// runs: its mapping, and the pages of the snapshot it began on, are kept
// from later commits until the handlers return, as a read transaction's
// are. A nil fn is ignored: run, it would panic after the commit, and
// Update or Batch would pass the panic on as if the commit had failed.
func (tx *Tx) OnCommit(fn func()) {
	if fn != nil {
		tx.commitHandlers = append(tx.commitHandlers, fn)
	}
}

// Bucket returns the top-level bucket name, or nil if there is none.
// The bucket is valid until the transaction ends or it is deleted (see
// Bucket).
func (tx *Tx) Bucket(name []byte) *Bucket { return tx.root.Bucket(name) }

// CreateBucket creates a top-level bucket; its errors are
// Bucket.CreateBucket's.
func (tx *Tx) CreateBucket(name []byte) (*Bucket, error) { return tx.root.CreateBucket(name) }

// CreateBucketIfNotExists returns the top-level bucket name, creating it
// unless it exists; its errors are Bucket.CreateBucketIfNotExists's.
func (tx *Tx) CreateBucketIfNotExists(name []byte) (*Bucket, error) {
	return tx.root.CreateBucketIfNotExists(name)
}

// DeleteBucket deletes a top-level bucket and everything in it; its
// errors are Bucket.DeleteBucket's (ErrBucketNotFound if there is none).
func (tx *Tx) DeleteBucket(name []byte) error { return tx.root.DeleteBucket(name) }

// MoveBucket moves bucket key from src to dst; a nil src or dst means
// the top level. Its errors are Bucket.MoveBucket's.
func (tx *Tx) MoveBucket(key []byte, src, dst *Bucket) error {
	if src == nil {
		src = &tx.root
	}
	if dst == nil {
		dst = &tx.root
	}
	return src.MoveBucket(key, dst)
}

// ForEach calls fn for each top-level bucket, stopping at its first
// error, which it returns; it fails as Bucket.ForEach does.
func (tx *Tx) ForEach(fn func(name []byte, b *Bucket) error) error {
	return tx.root.ForEach(func(k, _ []byte) error { return fn(k, tx.root.Bucket(k)) })
}

// Cursor returns a cursor over the top-level bucket names (values are nil).
func (tx *Tx) Cursor() *Cursor { return tx.root.Cursor() }

// Rollback ends the transaction, discarding its changes. Rolling back a
// transaction that already ended returns ErrTxClosed; inside a View,
// Update or Batch function, which end the transaction themselves, it
// returns ErrTxManaged and does nothing.
func (tx *Tx) Rollback() error {
	if tx.managed {
		return ErrTxManaged
	}
	if tx.db == nil {
		return ErrTxClosed
	}
	tx.end()
	return nil
}

// WriteTo writes a consistent copy of the database, as it was when this
// transaction began, to w: both meta pages describe that snapshot (a
// write transaction's own changes are not in it, as in bbolt). It returns
// ErrTxClosed once the transaction ended, or w's error. It copies the
// pages as they are, without checking them: check the copy (Tx.Check
// after opening it), as folio backup does. In WAL mode a write
// transaction may begin on logged commits whose syncs are still running;
// its WriteTo waits for them, and returns ErrSyncFailed if one failed.
// A file cut under the mapping (by another process) is ErrCorrupt naming
// it, from a Tx of Begin too (the copy goes through a buffer of its own,
// so w never holds bytes of the mapping). With WriteFlag set it reads
// the pages from the file instead (see WriteFlag); a file that cannot be
// opened with the flag is the open's error, before anything is written,
// and if another file has taken the database's path since Open, the map
// is copied, as bbolt copies from the file it has open.
func (tx *Tx) WriteTo(w io.Writer) (total int64, err error) {
	if tx.db == nil {
		return 0, ErrTxClosed
	}
	if tx.writable && tx.db.wal.log != nil {
		// NB: a copy must hold acknowledged commits only: one whose sync
		// then failed is not in the database, and would be in the copy.
		// The commits waited for hold no lock this transaction holds.
		tx.db.wal.inflight.Wait()
		if err := tx.db.syncFailed(); err != nil {
			return 0, err
		}
	}
	var src *os.File
	if tx.WriteFlag != 0 {
		if src, err = tx.db.openCopySource(tx.WriteFlag); err != nil {
			return 0, err
		}
		if src != nil {
			defer src.Close() // read only: its Close has nothing to report
		}
	}
	ps := tx.r.pageSize
	meta := tx.snap.meta
	buf := make([]byte, 2*ps)
	page.EncodeMeta(buf[:ps], 0, &meta)
	page.EncodeMeta(buf[ps:], 1, &meta)
	n, err := w.Write(buf)
	total = int64(n)
	if err != nil {
		return total, err
	}
	if src != nil {
		n, err := tx.db.copyPages(w, src, int64(2*ps), int64(meta.High)*int64(ps))
		return total + n, err
	}
	// NB: the pages are copied out of the mapping under a fault guard,
	// and w gets the copy: a fault reading a file cut underneath (a
	// Begin transaction has no guard of View's) killed the process, also
	// when w handed the mapped bytes to another goroutine (io.Pipe). An
	// *os.File or io.Discard, below, is the exception. A fault of w's
	// own is not folio's and panics on (faultError); db, not tx.db, so
	// that it does so even if w (wrongly) ended tx.
	db := tx.db
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if err = faultError(db, r, " to copy it"); err == nil {
				panic(r)
			}
		}
	}()
	end := int64(meta.High) * int64(ps)
	off := int64(2 * ps)
	if f, ok := w.(*os.File); (ok || w == io.Discard) && off < end {
		// A file's write has the kernel read the mapping: a page past a
		// cut file's end fails it with EFAULT, in this goroutine, and no
		// signal; io.Discard does not read. So they get the mapped pages
		// themselves, not a copy (a 45 MB database into a file: 1 MiB to
		// 8 KiB allocated, 18.3 to 10.4 ms, medians of 5 interleaved
		// runs of BenchmarkWriteTo). On EFAULT the copy below goes on
		// from where the write stopped, and faults under the guard: the
		// error says what was wrong (TestWriteToFileAfterFileCut).
		n, err := w.Write(tx.r.data[off:end])
		total += int64(n)
		off += int64(n)
		if err == nil || f == nil || !badAddress(err) {
			return total, err
		}
	}
	if end > off {
		buf = make([]byte, min(end-off, 1<<20))
	}
	n2, err := copyChunks(w, buf, off, end, func(b []byte, off int64) error {
		copy(b, tx.r.data[off:])
		return nil
	})
	return total + n2, err
}

// copyChunks writes bytes [off, end) to w through buf, each chunk filled
// by fill(chunk, its offset), and returns how many it wrote.
func copyChunks(w io.Writer, buf []byte, off, end int64, fill func([]byte, int64) error) (total int64, err error) {
	for off < end {
		chunk := buf[:min(end-off, int64(len(buf)))]
		if err := fill(chunk, off); err != nil {
			return total, err
		}
		n, err := w.Write(chunk)
		total += int64(n)
		if err != nil {
			return total, err
		}
		off += int64(len(chunk))
	}
	return total, nil
}

// openCopySource opens the database file with os.O_RDONLY|flag for
// WriteTo, or returns nil if the file at the path is another one now.
func (db *DB) openCopySource(flag int) (*os.File, error) {
	f, err := os.OpenFile(db.path, os.O_RDONLY|flag, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !db.isFile(fi) {
		_ = f.Close()
		return nil, nil
	}
	return f, nil
}

// copyPages writes bytes [off, end) of f to w, read into a buffer
// aligned as O_DIRECT wants, and returns how many it wrote.
func (db *DB) copyPages(w io.Writer, f *os.File, off, end int64) (total int64, err error) {
	const chunk, align = 1 << 20, 4096
	raw := make([]byte, min(end-off, chunk)+align)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) % align); r != 0 {
		skip = align - r
	}
	buf := raw[skip : skip+int(min(end-off, chunk))]
	return copyChunks(w, buf, off, end, func(b []byte, off int64) error {
		got, err := f.ReadAt(b, off)
		if got == len(b) {
			return nil
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("folio: %s: %w", db.path, page.Corruptf(page.ID((off+int64(got))/int64(db.pageSize)), "file length to copy", fmt.Sprintf("%d bytes", end), fmt.Sprintf("%d bytes", off+int64(got))))
		}
		return fmt.Errorf("folio: %s: reading the pages to copy: %w", db.path, err)
	})
}

// Copy writes a consistent copy of the database to w (bbolt's deprecated
// form of WriteTo).
func (tx *Tx) Copy(w io.Writer) error {
	_, err := tx.WriteTo(w)
	return err
}

// CopyFile writes a consistent copy of the database to path (created
// with mode, or truncated) and syncs it and the directory holding it, so
// that a copy it returned nil for survives a power loss under its name.
// It returns ErrTxClosed once the transaction ended, and ErrCopyOntoDB
// when path is the database file (by any name), before changing path;
// otherwise the file's error. NB: as bbolt's, it writes in place: a crash
// midway leaves a partial copy at path (folio backup writes aside and
// renames).
func (tx *Tx) CopyFile(path string, mode os.FileMode) error {
	if tx.db == nil {
		// Before the open: it would make a file there for nothing.
		return ErrTxClosed
	}
	// NB: truncated only once it is known not to be the database itself
	// (its path, or a link to it): O_TRUNC emptied the file being read.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, mode)
	if err != nil {
		return err
	}
	if fi, err := f.Stat(); err == nil && tx.db.isFile(fi) {
		_ = f.Close()
		return fmt.Errorf("%w: copy %s: it is the database file %s", ErrCopyOntoDB, path, tx.db.path)
	}
	if err := f.Truncate(0); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := tx.WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// NB: the copy's name is durable only once its directory is: the
	// directory of the file made, which a symbolic link at path names.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	return wal.SyncDir(filepath.Dir(path))
}

// isFile reports whether fi is the database's file: the one its Storage
// has open if the Storage says (Stat), else the one at its path.
//
// NB: the path's file is another once the database's was removed or
// renamed away while open: CopyFile to the path, the way to save such a
// database, was refused as a copy onto itself, after creating an empty
// file there.
func (db *DB) isFile(fi os.FileInfo) bool {
	var dfi os.FileInfo
	var err error
	if st, ok := db.st.(interface{ Stat() (os.FileInfo, error) }); ok {
		dfi, err = st.Stat()
	} else {
		dfi, err = os.Stat(db.path)
	}
	return err == nil && os.SameFile(fi, dfi)
}

// txPages is a transaction as package btree reads and changes its pages
// (btree.Pages). NB: a type of its own, not methods of Tx: Tx is the
// public API (folio.Tx), and a program calling Free or Write in a write
// transaction would change what Commit writes, or Run on a transaction
// that ended would read an unmapped snapshot (SIGSEGV, which no recover
// stops). Trees get it from Tx.pages; no tree outlives its transaction's
// checks (Bucket and Cursor test for an ended one first).
type txPages Tx

// pages is tx as btree.Pages.
func (tx *Tx) pages() *txPages { return (*txPages)(tx) }

// Run returns the committed run at id, checked against kind and sum.
func (p *txPages) Run(id page.ID, kind page.Flags, sum uint32) ([]byte, error) {
	p.runsRead++
	return p.r.Run(id, kind, sum)
}

// RunHead is the reader's, for FreeAll (DeleteBucket) under VerifyChecksums.
func (p *txPages) RunHead(id page.ID, kind page.Flags, sum uint32) ([]byte, error) {
	return p.r.RunHead(id, kind, sum)
}

// VerifiesRuns reports whether Run checks each run's whole checksum
// (VerifyChecksums), so that a write need not check again what it copies.
func (p *txPages) VerifiesRuns() bool { return p.r.verify }

func (p *txPages) PageSize() int   { return p.r.pageSize }
func (p *txPages) TxID() page.TxID { return p.r.txid }

// Allocate takes n contiguous free pages, or extends the file's high water
// mark; the file itself grows at commit. REQUIRES: a live write tx.
func (p *txPages) Allocate(n int) (page.ID, error) {
	tx := (*Tx)(p)
	tx.stats.PageCount += int64(n)
	tx.stats.PageAlloc += int64(n * tx.r.pageSize)
	if id, ok := tx.freelist.Allocate(n); ok {
		return id, nil
	}
	id := tx.high
	if max := tx.db.opts.MaxSize; max > 0 && (int64(id)+int64(n))*int64(tx.r.pageSize) > int64(max) {
		return 0, fmt.Errorf("%w: %s: %d pages would pass MaxSize %d", ErrMaxSizeReached, tx.db.path, int64(id)+int64(n), max)
	}
	tx.high += page.ID(n)
	return id, nil
}

// Free gives back a committed run. NB: the run's id and length come from
// the file (a child id, a large-value descriptor), so a run outside the
// file, already free, or freed twice in this transaction means a damaged
// file, not a bug: the transaction fails with ErrCorrupt and the run
// stays where it is, instead of freelist.Free panicking or a page still
// in use being handed out again. REQUIRES: a live write tx.
func (p *txPages) Free(id page.ID, n int) {
	tx := (*Tx)(p)
	if n <= 0 || id < 2 || uint64(id) >= uint64(tx.high) || uint64(n) > uint64(tx.high)-uint64(id) {
		tx.fail(page.Corruptf(id, "run to free", fmt.Sprintf("inside [2, %d)", tx.high), fmt.Sprintf("%d pages", n)))
		return
	}
	if why := tx.freelist.Conflict(id, n); why != "" {
		tx.fail(page.Corruptf(id, "run to free", "in use once, not free", why+" (referenced twice, or in use and on the free list)"))
		return
	}
	var written page.TxID // unknown: kept for every older reader
	if tx.unseen || tx.held != nil {
		written = tx.writtenBy(id)
	}
	// A run written after the last checkpoint (WAL mode) is one the
	// checkpoint's meta, which recovery starts from, cannot reach; in
	// doubt (written 0: a header that does not match) it is held.
	if tx.held != nil && written <= tx.db.wal.ckptTxID {
		if why := tx.held.Conflict(id, n); why != "" {
			tx.fail(page.Corruptf(id, "run to free", "in use once, not free", why+" (referenced twice)"))
			return
		}
		tx.held.FreeWritten(tx.r.txid, written, id, n)
		return
	}
	tx.freelist.FreeWritten(tx.r.txid, written, id, n)
}

// writtenBy is the txid that wrote the committed run at id, as its
// header says, or 0 (unknown) if the header does not name the run or an
// earlier commit. NB: read only in WAL mode or while older readers
// remain: it touches the run's page, which freeing a deleted bucket's
// leaves would not otherwise.
func (tx *Tx) writtenBy(id page.ID) page.TxID {
	if id >= tx.r.high {
		return 0
	}
	p := tx.r.data[int(id)*tx.r.pageSize:]
	if w := page.PageTxID(p); page.PageID(p) == id && w < tx.r.txid {
		return w
	}
	return 0
}

// Write hands over a sealed run to be written at commit.
func (p *txPages) Write(id page.ID, run []byte) { p.dirty = append(p.dirty, dirtyRun{id, run}) }

// Buffer returns a zeroed run buffer; one-page buffers are recycled from
// earlier commits, which spares the garbage collector a page per write.
// REQUIRES: a live write tx (the spares are its, under the write lock).
func (p *txPages) Buffer(n int) []byte {
	db := p.db
	if k := len(db.spareBufs); n == 1 && k > 0 {
		b := db.spareBufs[k-1]
		db.spareBufs = db.spareBufs[:k-1]
		clear(b)
		return b
	}
	return make([]byte, n*p.r.pageSize)
}

// maxSpareBufs bounds the recycled page buffers kept between commits.
const maxSpareBufs = 1024

// recycle keeps the one-page buffers of written (or dropped) runs.
// REQUIRES: the write lock is held and nothing references the runs.
func (tx *Tx) recycle() {
	db := tx.db
	for _, d := range tx.dirty {
		if len(d.run) == tx.r.pageSize && len(db.spareBufs) < maxSpareBufs {
			db.spareBufs = append(db.spareBufs, d.run)
		}
	}
}

// Size is Tx.Size: a btree cursor bounds how many leaves a scan may meet
// by it (a damaged file cannot loop a scan forever).
func (p *txPages) Size() int64 { return (*Tx)(p).Size() }

// NB: btree also asks its Pages for these by type assertion; a method
// missing here would switch off a check without a compile error.
var _ interface {
	btree.Pages
	Size() int64                                                     // Cursor.countLeaf
	VerifiesRuns() bool                                              // verifyingPages
	RunHead(id page.ID, kind page.Flags, sum uint32) ([]byte, error) // headPages
} = (*txPages)(nil)

func sortDirty(d []dirtyRun) {
	slices.SortFunc(d, func(a, b dirtyRun) int { return cmp.Compare(a.id, b.id) })
}
