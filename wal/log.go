package wal

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// DefaultSegmentSize is the segment size when Options leave it zero.
const DefaultSegmentSize = 64 << 20

// minSegmentSize keeps a segment big enough for its header and some frames;
// tests use it to cross segments quickly.
const minSegmentSize = 4 << 10

// defaultMaxFree is how many recycled segments wait for reuse by default:
// enough that a checkpoint freeing a few segments feeds the next few
// rotations without creating files.
const defaultMaxFree = 4

// Options configure a Log. The zero value is a good default.
type Options struct {
	// SegmentSize is the size each segment file is preallocated to, rounded
	// up to a multiple of 4 KiB; 0 means DefaultSegmentSize. A record too
	// big for one gets a segment of its own, sized to fit. Open reads a
	// segment only up to the largest size it would make itself (about
	// 1 GiB, or SegmentSize if larger): a log written with a larger
	// SegmentSize must be opened with it.
	SegmentSize int64

	// NoCompression stores every payload as given. Otherwise payloads of
	// 128 bytes or more are s2-compressed when that saves a quarter; after
	// payloads that do not, the next ones are stored without trying, for
	// a stretch that doubles up to 64 records (compressGate).
	NoCompression bool

	// MaxFreeSegments is how many segments Truncate keeps for reuse; more
	// are deleted. 0 means 4; a negative value keeps none, and then no
	// spare is made ahead either (spare.go).
	MaxFreeSegments int

	// ReadOnly opens the log only to read it (Replay, LastLSN, Size) and
	// changes nothing in dir: no recovery writes, no new segment, no spare.
	// Another process may be appending meanwhile; the Log shows the records
	// whole when it opened. Append and Truncate return ErrReadOnly.
	ReadOnly bool

	// AllowHole makes Open pass over one damaged stretch of durable
	// records (recovery case 2) rather than fail, when the damage is to
	// the payloads of frames whose headers are whole, and a whole frame
	// after them claims them durable: Replay then starts after them, and
	// Hole reports them. For a caller that may not need the records
	// before the hole (a database whose file holds them since a
	// checkpoint), and that returns Hole's error if it does.
	AllowHole bool

	// noSpares turns the spare maker off, so that tests know which
	// segment holds what.
	noSpares bool

	// salt, if set, picks the salt of each new segment from its number
	// instead of newSalt: tests forge frames knowing it, and build logs
	// of the first format (version 1, as folio before the salt wrote
	// them) with a salt of 0.
	salt func(num uint64) uint32
}

func (o Options) normalize() Options {
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	o.SegmentSize = max(o.SegmentSize, minSegmentSize)
	o.SegmentSize = (o.SegmentSize + 4095) &^ 4095
	switch {
	case o.MaxFreeSegments == 0:
		o.MaxFreeSegments = defaultMaxFree
	case o.MaxFreeSegments < 0:
		o.MaxFreeSegments = 0
	}
	return o
}

// freeSeg is a recycled segment file waiting in the directory for reuse.
type freeSeg struct {
	num  uint64 // the number in its name
	size int64
	warm bool // its blocks have been written (spare.go)
}

// Log is an open write-ahead log. Its methods are safe for concurrent use.
type Log struct {
	dir  string
	opts Options
	gate compressGate

	// truncMu serializes Truncate and Close: Truncate recycles segments
	// oldest first (recovery 3), and a failed one puts segments back for
	// Close to close.
	truncMu sync.Mutex

	// mu serializes appends and guards the fields after it. Append holds
	// it across its write, so frames land in LSN order and a sync leader
	// that reads last knows every frame up to it has been written.
	mu      sync.Mutex
	segs    []*segment // live segments, oldest first; the last takes appends
	last    uint64     // LSN of the last appended record (0: none ever)
	dirty   []*segment // segments written since the last sync snapshot
	free    []freeSeg  // recycled segments in the directory
	nextNum uint64     // the number the next new segment gets
	closing bool       // Close has begun: no more appends or replays
	closed  bool       // files are closed
	failed  error      // a write or sync failed: no more appends
	making  bool       // the spare maker is running (spare.go)
	// truncFailed: a Truncate failed and could not put back a segment
	// it had not recycled; no more truncation until a reopen.
	truncFailed error
	// hole is the damage Open passed over (Options.AllowHole), and
	// holeNext the first LSN after it; set by Open, never changed.
	hole     *CorruptError
	holeNext uint64
	// replays counts the Replay calls under way. Truncate and Close refuse
	// while it is not zero, rather than wait for it: called from a
	// Replay's callback, they would wait for themselves.
	replays int

	bg       sync.WaitGroup // the spare maker; Close waits for it
	stopping atomic.Bool    // set by Close: the spare maker gives up

	// syncMu guards the group-commit state after it (see sync.go).
	syncMu    sync.Mutex
	syncCond  sync.Cond
	syncing   bool       // a leader is syncing
	syncErr   error      // sticky: a sync failed
	waiters   int        // callers waiting for a leader; tests watch it
	syncFiles []*segment // the leader's snapshot; only the leader uses it

	durable atomic.Uint64 // highest LSN known durable; stored under syncMu

	// The durability calls: a seam for tests, which count or fail them
	// (and the fuzz targets, which skip them).
	fdatasync func(*os.File) error
	dirSync   func(dir string) error
	syncs     atomic.Uint64 // fdatasync calls made by sync leaders
}

// Open opens the log in dir, creating dir if needed, and recovers it: it
// reads every segment, finds the last whole record, reports damage to
// durable records as ErrCorrupt, and readies the log to append after it.
// Records a previous session appended but never synced may survive or not;
// those that survive are made durable here.
func Open(dir string, opts Options) (*Log, error) {
	return open(dir, opts, fdatasync, SyncDir)
}

// mkdirDurable makes dir and any parent missing, and syncs the directory
// that holds each one it makes, and dir's parent even when dir was there:
// a directory's entry is durable only once its parent is synced, and
// before, a power loss could take a new log whole, records the log had
// synced and acknowledged with it (the next Open began a new log at LSN 1
// without a word). A process that died between a Mkdir and that sync left
// a directory no later Open could tell from one made durable long ago,
// hence one fsync a read-write Open. The log syncs dir itself for the
// entries it makes inside.
func mkdirDurable(dir string, dirSync func(string) error) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return dirSync(filepath.Dir(dir))
	case err == nil:
		return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := makeParents(parent, dirSync); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return dirSync(parent)
}

// makeParents is mkdirDurable for dir's missing ancestors: one that is
// there already costs no sync (its entry is not the log's to vouch for).
func makeParents(dir string, dirSync func(string) error) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	return mkdirDurable(dir, dirSync)
}

func open(dir string, opts Options, datasync func(*os.File) error, dirSync func(string) error) (_ *Log, err error) {
	l := &Log{dir: dir, opts: opts.normalize(), nextNum: 1, fdatasync: datasync, dirSync: dirSync}
	l.syncCond.L = &l.syncMu
	if l.opts.ReadOnly {
		return l.openReadOnly()
	}
	if err := mkdirDurable(dir, l.dirSync); err != nil {
		return nil, err
	}
	var files []*segment
	defer func() {
		if err != nil {
			for _, s := range files {
				s.f.Close()
			}
		}
	}()
	files, err = l.readDir()
	if err != nil {
		return nil, err
	}
	rec, err := recoverLog(files, l.opts.AllowHole)
	if err != nil {
		return nil, err
	}
	l.hole, l.holeNext = rec.hole, rec.holeNext
	// A segment of the first format (no salt, left by an older folio)
	// takes no more frames: new ones go in a salted segment, where a
	// frame forged in a stored value cannot pass for one.
	if n := len(rec.chain); rec.reuse && n > 0 && rec.chain[n-1].salt == 0 && l.opts.salt == nil {
		rec.reuse = false
	}

	// The chain's bytes may still be only in the page cache (the previous
	// process died, the machine did not): make them durable before any new
	// frame claims they are (sync.go, INVARIANT (1)).
	for _, s := range rec.chain {
		if err := l.fdatasync(s.f); err != nil {
			return nil, err
		}
	}
	// Garbage goes to the free pool, durably, before anything is appended:
	// a garbage segment that came back under its live name could read as
	// the continuation of the new records (recovery case 1).
	var pooled []freeSeg
	for _, s := range rec.garbage {
		s.f.Close()
		fs, kept, err := l.recycle(s.num, s.size, true)
		if err != nil {
			return nil, err
		}
		if kept {
			pooled = append(pooled, fs)
		}
	}
	files = rec.chain
	// The chain's names must be durable before a record in it is synced
	// (recovery 2), and a previous session may have died, or failed its
	// directory sync, right after it made the segment reused here.
	if len(rec.garbage) > 0 || rec.reuse {
		if err := l.dirSync(dir); err != nil {
			return nil, err
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.free = append(l.free, pooled...)
	l.segs, l.last = rec.chain, rec.next-1
	l.durable.Store(l.last)
	if !rec.reuse || len(l.segs) == 0 {
		seg, _, err := l.activateLocked(rec.next, 0)
		if err != nil {
			return nil, err
		}
		l.segs = append(l.segs, seg)
		files = l.segs
	}
	l.maybeMakeSpareLocked()
	return l, nil
}

// openReadOnly is Open for Options.ReadOnly.
func (l *Log) openReadOnly() (*Log, error) {
	for try := 1; ; try++ {
		files, err := l.readDir()
		var rec recovery
		if err == nil {
			// NB: a hole only once a torn read is ruled out (below).
			rec, err = recoverLog(files, l.opts.AllowHole && try == 3)
		}
		if err == nil {
			for _, s := range rec.garbage {
				s.f.Close()
			}
			l.hole, l.holeNext = rec.hole, rec.holeNext
			l.segs, l.last = rec.chain, rec.next-1
			l.durable.Store(l.last) // nothing to sync: Sync and Close succeed
			return l, nil
		}
		for _, s := range files {
			s.f.Close()
		}
		// A writer in another process may have been halfway through a
		// frame where this one read it, and synced records after it by the
		// time the scan looked further. A torn read is not a torn disk:
		// look again before calling it corruption.
		if !errors.Is(err, ErrCorrupt) || try == 3 {
			return nil, err
		}
	}
}

// readDir opens the live segments in number order, reading their headers,
// and lists the free ones. It also sets nextNum past every number a name
// in dir holds, segment or not.
func (l *Log) readDir() ([]*segment, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	return l.readEntries(entries)
}

// readEntries is readDir for the listing entries, which may be stale.
func (l *Log) readEntries(entries []os.DirEntry) ([]*segment, error) {
	var files []*segment
	for _, e := range entries {
		// Every name the log could make, in either case and whatever the
		// entry is, keeps its number from new segments: a create or a
		// rename onto it would fail (EEXIST, EISDIR: Open or the next
		// segment switch, for good) or replace it (a symbolic link).
		if num, _, ok := parseName(strings.ToLower(e.Name())); ok {
			l.nextNum = max(l.nextNum, num+1)
		}
		num, free, ok := parseName(e.Name())
		if !ok || free && l.opts.ReadOnly {
			continue
		}
		info, ok, err := regularFile(l.dir, e, !free)
		if err != nil {
			return files, err
		}
		if !ok {
			continue // a directory, a device, a pipe: not a segment
		}
		if free {
			if info.Size() < l.opts.SegmentSize || info.Size() > l.maxSegmentSize() || len(l.free) >= l.opts.MaxFreeSegments {
				// Too small since SegmentSize grew, or the pool shrank, or
				// a spare that was being made when the process died; or
				// bigger than any segment we make (extended by hand).
				if err := os.Remove(filepath.Join(l.dir, e.Name())); err != nil {
					return files, err
				}
				continue
			}
			// Only warm segments enter the pool (Truncate), though a
			// spare cut short by a crash may be partly cold: harmless.
			l.free = append(l.free, freeSeg{num: num, size: info.Size(), warm: true})
			continue
		}
		s, err := openSegment(l.dir, num, l.opts.ReadOnly, l.maxSegmentSize())
		if errors.Is(err, os.ErrNotExist) {
			continue // gone since ReadDir, as in regularFile
		}
		if err != nil {
			return files, err
		}
		files = append(files, s)
	}
	slices.SortFunc(files, func(a, b *segment) int { return cmp.Compare(a.num, b.num) })
	return files, nil
}

// regularFile reports whether directory entry e is a regular file or a
// symbolic link to one (a segment moved to another disk), and returns
// that file's info. An entry gone since ReadDir is none: a writer in
// another process truncated the log (Options.ReadOnly), and a ReadDir a
// moment later would not have listed it. A dangling link is no segment
// either, but under a live name (live) it is an error: it stands for
// records of the log that cannot be read, and skipping it would drop
// them, or every record before them.
func regularFile(dir string, e os.DirEntry, live bool) (os.FileInfo, bool, error) {
	path := filepath.Join(dir, e.Name())
	info, err := e.Info() // lstat
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	case info.Mode().IsRegular():
		return info, true, nil
	case info.Mode()&os.ModeSymlink == 0:
		return nil, false, nil
	}
	if info, err = os.Stat(path); err != nil {
		if _, lerr := os.Lstat(path); errors.Is(lerr, os.ErrNotExist) || !live {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("folio/wal: segment link: %w", err)
	}
	return info, info.Mode().IsRegular(), nil
}

// openSegment opens segment num and reads its header; first is 0 when the
// header is not valid for this file (a segment whose activation did not
// finish, or a file renamed by hand), and renamed is set when it is valid
// for another. Its size is the file's, up to limit.
func openSegment(dir string, num uint64, readOnly bool, limit int64) (*segment, error) {
	path := filepath.Join(dir, liveName(num))
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &segment{num: num, path: path, f: f, size: min(info.Size(), limit), end: segHeaderSize}
	var hdr [segHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, err
	}
	n, first, salt, err := parseSegHeader(hdr[:])
	switch {
	case errors.Is(err, ErrVersion):
		f.Close()
		return nil, fmt.Errorf("%w: %s has version %d, this folio reads %d and %d (written by a newer folio?)",
			err, path, binary.LittleEndian.Uint16(hdr[offSegVersion:]), segVersionUnsalted, segVersion)
	case err == nil && n == num:
		s.first, s.salt = first, salt
	case err == nil:
		s.renamed = true
	}
	return s, nil
}

// maxSegmentSize is the largest segment this log makes: one for a frame
// of MaxRecordSize, or SegmentSize if larger. A log reads no segment past
// it, appends to none past it and keeps no bigger free one. What lies past
// it was not written by a log with these Options (a file extended by
// hand, or damage), and reading it would cost time without bound.
func (l *Log) maxSegmentSize() int64 { return l.segmentSizeFor(frameSize(MaxRecordSize)) }

// activateLocked makes a new active segment whose first record will be
// first, able to hold a frame of need bytes: a free segment renamed to the
// next number if one is big enough, else a new preallocated file. Its
// header is written and synced, then the directory, so neither the LSN
// count nor a record synced into it can vanish with its name. On failure,
// clean reports that nothing is left under the new number (the file could
// not be made, or was removed again): the log is as it was, but for the
// number, which is not used again.
// REQUIRES: l.mu held, or l not yet shared.
func (l *Log) activateLocked(first uint64, need int64) (_ *segment, clean bool, _ error) {
	size := l.segmentSizeFor(need)
	num := l.nextNum
	l.nextNum++
	path := filepath.Join(l.dir, liveName(num))

	var f *os.File
	var err error
	cold := false
	i := slices.IndexFunc(l.free, func(fs freeSeg) bool { return fs.warm && fs.size >= size })
	if i < 0 {
		i = slices.IndexFunc(l.free, func(fs freeSeg) bool { return fs.size >= size })
	}
	if i >= 0 {
		fs := l.free[i]
		l.free = slices.Delete(l.free, i, i+1)
		if err = os.Rename(filepath.Join(l.dir, freeName(fs.num)), path); err != nil {
			return nil, true, err // a failed rename changes nothing
		}
		size, cold = fs.size, !fs.warm
		f, err = os.OpenFile(path, os.O_RDWR, 0)
	} else {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, true, err
		}
		if cold, err = preallocate(f, size); err != nil {
			// No room for the segment, mostly (a full disk).
			f.Close()
			return nil, os.Remove(path) == nil, err
		}
	}
	if err != nil {
		return nil, false, err
	}
	// NB: a failure from here on leaves a live-named file whose header is
	// stale or missing; the next Open recycles it as a never-used segment.
	//
	// INVARIANT (recovery 2). The header is synced now, not with the
	// first records: once Truncate has dropped the segments before this
	// one, its header alone carries the LSN count, and a crash must not
	// take it (recovery would start the log again at LSN 1). One more sync
	// per rotation costs nothing next to a segment's worth of commits.
	//
	// The salt is new for every life of a file, so its stale frames of
	// an earlier one fail their header checksums, as frames forged in a
	// record's payload do (newSalt).
	var salt uint32
	if l.opts.salt != nil {
		salt = l.opts.salt(num)
	} else {
		salt = newSalt()
	}
	var hdr [segHeaderSize]byte
	putSegHeader(hdr[:], num, first, salt)
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := l.fdatasync(f); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := l.dirSync(l.dir); err != nil {
		f.Close()
		return nil, false, err
	}
	s := &segment{num: num, first: first, salt: salt, path: path, f: f, size: size, cold: cold, end: segHeaderSize}
	l.maybeMakeSpareLocked()
	return s, false, nil
}

// recycle renames segment num (closed) to the free pool, or deletes it if
// the pool is full or the segment is cold. The caller syncs the directory,
// and only then adds the returned entry to l.free (kept): until the rename
// is durable, a crash may leave the file under its live name, and a switch
// that took it meanwhile would be rewriting that live segment's header.
func (l *Log) recycle(num uint64, size int64, warm bool) (_ freeSeg, kept bool, _ error) {
	path := filepath.Join(l.dir, liveName(num))
	l.mu.Lock()
	keep := warm && len(l.free) < l.opts.MaxFreeSegments && size >= l.opts.SegmentSize
	l.mu.Unlock()
	if !keep {
		return freeSeg{}, false, os.Remove(path)
	}
	if err := os.Rename(path, filepath.Join(l.dir, freeName(num))); err != nil {
		return freeSeg{}, false, err
	}
	return freeSeg{num: num, size: size, warm: true}, true, nil
}

// Append adds a record holding payload and returns its LSN. The record is
// durable only after Sync or SyncTo(lsn) returns. Append does not keep
// payload. After Append fails to write a frame or to switch to a new
// segment, the log is failed: every later Append, and every Sync or SyncTo
// of a record not yet durable, returns that error, and the log must be
// reopened (and recovered) before it is used again. The exception is an
// error wrapping ErrNotAppended: a switch that failed before it left
// anything on disk.
func (l *Log) Append(payload []byte) (lsn uint64, err error) {
	parts := [1][]byte{payload}
	return l.appendParts(parts[:], int64(len(payload)))
}

// AppendParts is Append of the concatenation of parts, which it does not
// build: a record over about 1 MiB is written from parts as they are
// (and checksummed over them), or compressed a chunk at a time, so it
// costs no buffer of its size. The record reads back (Replay) as one
// payload. AppendParts does not keep parts.
func (l *Log) AppendParts(parts ...[]byte) (lsn uint64, err error) {
	n := int64(0)
	for _, p := range parts {
		n += int64(len(p))
	}
	return l.appendParts(parts, n)
}

func (l *Log) appendParts(parts [][]byte, total int64) (lsn uint64, err error) {
	if l.opts.ReadOnly {
		return 0, ErrReadOnly
	}
	if total > MaxRecordSize {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, total, MaxRecordSize)
	}
	// Compression and the payload checksum happen before the lock, so
	// concurrent appenders do that work in parallel.
	try := !l.opts.NoCompression && total >= compressMin && l.gate.try()
	fb := buildFrameParts(parts, int(total), try)
	if try {
		l.gate.result(fb.h.flags&flagS2 != 0)
	}
	defer fb.release()
	n := fb.size()

	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closing:
		return 0, ErrClosed
	case l.failed != nil:
		return 0, l.failed
	}
	if l.last == math.MaxUint64 {
		return 0, errLSNsExhausted
	}
	lsn = l.last + 1
	s := l.segs[len(l.segs)-1]
	if n > s.size-s.end || s.cold && l.warmSpareLocked(n) {
		ns, clean, err := l.activateLocked(lsn, n)
		switch {
		case err != nil && clean && n <= s.size-s.end:
			// Only the move to a warm spare failed: s takes the frame.
		case err != nil && clean:
			// Nothing is on disk under the new number (no room for the
			// segment: a full disk, most often), so no orphan can claim
			// lsn, and s still ends at lsn-1. Appends may go on: a
			// smaller frame may fit in s, and a later switch may find
			// room once some is freed.
			return 0, fmt.Errorf("%w: no new segment: %w", ErrNotAppended, err)
		case err != nil:
			// NB: the failure is permanent, as a failed write's is. The new
			// segment may already be on disk with a valid header saying
			// it starts at lsn. If appends went on, smaller records would
			// take lsn, lsn+1, ... in s, and the next switch would make a
			// segment starting later: recovery follows the orphan (case 1)
			// and either stops at its empty start, dropping synced records
			// as a torn tail, or finds them vouched for and reports
			// ErrCorrupt. A reopen recovers cleanly instead: s ends at
			// lsn-1, and the orphan, if it survived, continues it empty.
			l.failed = fmt.Errorf("folio/wal: new segment failed, log must be reopened: %w", err)
			return 0, l.failed
		default:
			s.handedOver = n <= s.size-s.end
			l.segs = append(l.segs, ns)
			s = ns
		}
	}
	fb.seal(lsn, s.num, s.salt, l.durable.Load())
	if err := fb.writeFrame(s.f, s.end, parts); err != nil {
		// The frame may be half written; nothing may follow it.
		l.failed = fmt.Errorf("folio/wal: append failed, log must be reopened: %w", err)
		return 0, l.failed
	}
	s.end += n
	l.last = lsn
	if !s.dirty {
		s.dirty = true
		l.dirty = append(l.dirty, s)
	}
	return lsn, nil
}

// Replay calls fn for each record with an LSN of at least from, in LSN
// order, up to the last record appended when Replay began. payload is valid
// only until fn returns. An error from fn stops Replay and is returned as
// is. Records Truncate dropped are not replayed, except that after a
// reopen the part of a segment below the truncation point may be. A record
// that no longer reads back as written is an error wrapping ErrCorrupt.
// Replay after Close has begun returns ErrClosed.
//
// fn may call Append, Sync, SyncTo, Replay and the other methods that
// read; records it appends are not replayed by this Replay. Truncate and
// Close called while a Replay is under way, from fn or from another
// goroutine, return ErrReplaying and do nothing.
//
// NB: they refuse rather than wait for the Replay to end (as they did
// once, Replay holding a lock they took exclusively): called from fn,
// they waited for themselves. Without a goroutine's identity the two
// callers cannot be told apart, and a Truncate or Close that comes to
// nothing can be called again; one that never returns cannot.
func (l *Log) Replay(from uint64, fn func(lsn uint64, payload []byte) error) error {
	type span struct {
		s    *segment
		end  int64
		last uint64 // LSN of its last record; first-1 when it has none
	}
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.hole != nil && from < l.holeNext {
		l.mu.Unlock()
		return l.hole
	}
	// INVARIANT: while replays is not zero, no segment is recycled
	// (Truncate) or closed (Close), so each span's file stays open and
	// holds what it held here.
	l.replays++
	spans := make([]span, len(l.segs))
	for i, s := range l.segs {
		last := l.last
		if i+1 < len(l.segs) {
			last = l.segs[i+1].first - 1
		}
		spans[i] = span{s, s.end, last}
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.replays--
		l.mu.Unlock()
	}()

	var sr segReader
	var buf []byte
	for _, sp := range spans {
		s := sp.s
		// A segment Open resumed in after a hole (Options.AllowHole) is
		// read from there: from is past the hole.
		off, first := int64(segHeaderSize), s.first
		if s.resume > 0 {
			off, first = s.resume, s.resumeLSN
		}
		if sp.last < from || sp.last < first {
			continue
		}
		sr.reset(s.f, sp.end)
		var fnErr error // fn's error, or a damaged payload's
		st, err := scanFrames(&sr, s.num, s.salt, off, sp.end, first, func(off int64, h frameHeader, stored []byte) error {
			if h.lsn < from {
				return nil
			}
			p, err := decodePayload(h, stored, buf, MaxRecordSize)
			if err != nil {
				fnErr = &CorruptError{Path: s.path, Segment: s.num, Offset: off, LSN: h.lsn, What: err.Error()}
				return fnErr
			}
			if h.flags&flagS2 != 0 {
				buf = p
			}
			fnErr = fn(h.lsn, p)
			return fnErr
		})
		switch {
		case err != nil && err == fnErr:
			return err
		case errors.Is(err, io.ErrUnexpectedEOF):
			// The file is shorter than the frames the log wrote in it.
			return &CorruptError{Path: s.path, Segment: s.num, Offset: st.off, LSN: st.next,
				What: fmt.Sprintf("segment file ends before offset %d (the segment changed after it was written)", sp.end)}
		case err != nil:
			return readError(&sr, s.path, err)
		}
		if st.why != nil || st.next != sp.last+1 {
			what := fmt.Sprintf("segment ends at lsn %d, expected %d", st.next-1, sp.last)
			if st.why != nil {
				what = st.why.Error()
			}
			return &CorruptError{Path: s.path, Segment: s.num, Offset: st.off, LSN: st.next,
				What: what + " (the segment changed after it was written)"}
		}
	}
	return nil
}

// Truncate drops the records with LSNs up to upTo, recycling every segment
// that holds only such records. A segment holding a later record stays
// whole, as does the segment taking appends: Truncate never moves data.
// Only records already durable are dropped, so a Truncate ahead of Sync
// drops less. Call it after the records are no longer needed (after a
// checkpoint): it is not on the commit path, and it syncs the directory
// once per segment it recycles. If it fails, the segments it did not
// recycle stay in the log, and the next Truncate tries them again. While
// a Replay is under way it returns ErrReplaying (see Replay).
func (l *Log) Truncate(upTo uint64) error {
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	l.truncMu.Lock()
	defer l.truncMu.Unlock()

	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.truncFailed != nil:
		l.mu.Unlock()
		return l.truncFailed
	case l.replays > 0:
		l.mu.Unlock()
		return ErrReplaying
	}
	limit := min(upTo, l.durable.Load())
	k := 0
	for k+1 < len(l.segs) && l.segs[k+1].first-1 <= limit && !l.segs[k].dirty && !l.segs[k].syncing {
		k++
	}
	old := slices.Clone(l.segs[:k])
	l.segs = slices.Clone(l.segs[k:])
	l.mu.Unlock()

	// INVARIANT (recovery 3): oldest first, each rename durable before the
	// next: after a crash the live segments are still a suffix of the log,
	// never a log with a hole that recovery would read as lost records.
	for i, s := range old {
		if err := s.f.Close(); err != nil {
			return l.untruncate(old[i:], true, err)
		}
		// A segment that rotated full was written all but its last frame's
		// worth: warm enough. One a warm spare replaced early was not.
		fs, kept, err := l.recycle(s.num, s.size, !s.cold || !s.handedOver)
		if err != nil {
			return l.untruncate(old[i:], true, err)
		}
		if err := l.dirSync(l.dir); err != nil {
			return l.untruncate(old[i+1:], false, err) // s is gone unless a crash brings it back
		}
		if kept {
			l.mu.Lock()
			l.free = append(l.free, fs)
			l.mu.Unlock()
		}
	}
	return nil
}

// untruncate puts back the segments a failed Truncate had not recycled
// yet, oldest first, so that Close closes their files and a later
// Truncate recycles them before any newer one (recovery 3: a newer one
// recycled first would leave a hole). Their files are open, but for the
// first if closed is set: it is opened again. If that fails too, Truncate
// stays failed, as a later one would leave the hole.
func (l *Log) untruncate(segs []*segment, closed bool, err error) error {
	if closed {
		if f, oerr := os.OpenFile(segs[0].path, os.O_RDWR, 0); oerr == nil {
			segs[0].f = f
		} else {
			for _, s := range segs[1:] {
				s.f.Close()
			}
			segs = nil
			l.mu.Lock()
			l.truncFailed = fmt.Errorf("folio/wal: truncate failed, log must be reopened: %w", err)
			l.mu.Unlock()
		}
	}
	l.mu.Lock()
	l.segs = append(segs, l.segs...)
	l.mu.Unlock()
	return err
}

// Size returns the bytes the live segments use: headers and frames, not
// preallocated room. A checkpoint policy compares it with a budget.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segs {
		n += s.end
	}
	return n
}

// LastLSN returns the LSN of the last record appended (0 if none ever
// was). It may not be durable yet.
func (l *Log) LastLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Hole returns the damage Open passed over with Options.AllowHole, a
// *CorruptError, and the first LSN after it, from which Replay reads;
// (0, nil) if there was none. Replay from an LSN before it returns err.
func (l *Log) Hole() (next uint64, err error) {
	if l.hole == nil {
		return 0, nil
	}
	return l.holeNext, l.hole
}

// SyncedLSN returns the highest LSN known durable.
func (l *Log) SyncedLSN() uint64 { return l.durable.Load() }

// Close makes every appended record durable and closes the log. It waits
// for a Truncate under way. While a Replay is under way it returns
// ErrReplaying and the log stays open (see Replay).
func (l *Log) Close() error {
	l.mu.Lock()
	switch {
	case l.closing:
		l.mu.Unlock()
		return ErrClosed
	case l.replays > 0:
		l.mu.Unlock()
		return ErrReplaying
	}
	l.closing = true
	last := l.last
	l.mu.Unlock()

	// NB: with appends stopped and this sync done, durable == last, so no
	// SyncTo can become a leader and touch a file closed below.
	err := l.SyncTo(last)
	l.stopping.Store(true)
	l.bg.Wait()

	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.segs {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
