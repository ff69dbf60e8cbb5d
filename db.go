// Package folio is an embedded key-value store: a single-file,
// memory-mapped, copy-on-write B+tree with a bbolt-compatible API.
//
// Readers see pages straight from a read-only shared mapping of the file,
// without copying and without a user-space cache; one writer at a time
// builds new pages, writes them with pwrite and then a meta page naming
// them, so a crash leaves either the old or the new state: a large
// commit syncs its pages before it writes the meta, a small one syncs
// both at once and Open checks the pages that meta lists, falling back
// to the older meta if one is not whole. With Options.WAL a commit syncs
// one record appended to a log instead, and the file gets its meta at
// checkpoints. Every page carries a CRC-32C and every parent the checksum it
// expects of each child, so damaged files and lost writes are reported
// (ErrCorrupt, naming the page) rather than served.
//
// A program written against go.etcd.io/bbolt moves over by changing its
// import path, and err == comparisons into errors.Is (folio's errors name
// their bucket, key or file), unless it uses the few parts of bbolt's API
// folio lacks (README.md, "The API"). Most differences a program could notice are
// improvements: Put copies the value, Cursor.Delete followed by Next
// skips nothing, Batch never waits on a timer, and misuse returns errors
// instead of panicking. The others are listed there too (for one, a
// WAL-mode checkpoint takes a transaction id of its own, and
// DB.MaxBatchSize <= 0 means the default, not bbolt's no batching).
//
// DB, Tx, Bucket, Cursor, Options and the other types are aliases of
// package tx's, where their methods and fields are documented:
// go doc github.com/foliodb/folio/tx.DB, for one.
//
// folio runs on Linux (tested) and builds on the other Unix systems
// (macOS, the BSDs, Solaris), where syncs cover the whole file; Windows,
// WebAssembly, Plan 9 and AIX (which lacks flock) are not supported.
package folio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/foliodb/folio/btree"
	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// The types of the API live in package tx, where Tx.DB can name the DB
// type; they are the same types under these names.
type (
	// DB is an open database.
	DB = tx.DB
	// Tx is a read or write transaction.
	Tx = tx.Tx
	// Bucket is a collection of keys, values and nested buckets.
	Bucket = tx.Bucket
	// Cursor walks a bucket in key order.
	Cursor = tx.Cursor
	// Options configure Open.
	Options = tx.Options
	// Stats describe a DB.
	Stats = tx.Stats
	// TxStats count what write transactions did.
	TxStats = tx.TxStats
	// BucketStats describe a bucket's pages and keys.
	BucketStats = tx.BucketStats
	// BucketStructure is the shape of a bucket and those under it
	// (Bucket.Inspect, Tx.Inspect).
	BucketStructure = tx.BucketStructure
	// PageInfo describes a page of the file (Tx.Page).
	PageInfo = tx.PageInfo
	// Info describes the file's current state (DB.Info).
	Info = tx.Info
	// FreelistType is accepted for bbolt compatibility and ignored.
	FreelistType = tx.FreelistType
	// CheckOption changes what Tx.Check checks (WithPageId) or how its
	// problems name keys (WithKVStringer).
	CheckOption = tx.CheckOption
	// KVStringer formats keys and values for Tx.Check's problems.
	KVStringer = tx.KVStringer
	// Logger receives notices, such as a fallback to the older meta page.
	Logger = tx.Logger
	// CorruptError is the concrete error behind ErrCorrupt: the page, what
	// was checked, what was expected and what was found.
	CorruptError = page.CorruptError
)

// ErrLogPending is returned by a read-only open of a database whose
// write-ahead log holds commits not yet in the file (a WAL-mode program
// crashed): open it read-write once to replay them.
var ErrLogPending = tx.ErrLogPending

// ErrLogMismatch is returned by Open when the write-ahead log beside the
// file holds commits that follow another state of the database than the
// file's (the file was replaced or restored, the log kept). Nothing is
// written: move the log directory (LogDir) aside to open the file as it
// is, or put back the file the log belongs to.
var ErrLogMismatch = tx.ErrLogMismatch

// bbolt's free-list types, accepted and ignored.
const (
	FreelistArrayType = tx.FreelistArrayType
	FreelistMapType   = tx.FreelistMapType
)

// WithKVStringer makes Tx.Check name keys in its problems with
// s.KeyToString; without it, or with a nil s, keys are quoted (%q), where
// bbolt's default is hex (HexKVStringer).
func WithKVStringer(s KVStringer) CheckOption { return tx.WithKVStringer(s) }

// WithPageId makes Tx.Check check only the tree under page id, as
// bbolt's does: checksums, structure, key order and the buckets under
// it, no page accounting. 0 checks the whole file.
func WithPageId(id uint64) CheckOption { return tx.WithPageId(id) }

// HexKVStringer writes keys and values in hex, as bbolt's Check does by
// default.
func HexKVStringer() KVStringer { return tx.HexKVStringer() }

// DefaultOptions are used when Open is given nil options.
var DefaultOptions = tx.DefaultOptions

// Limits and defaults.
const (
	MaxKeySize           = tx.MaxKeySize
	MaxValueSize         = tx.MaxValueSize
	DefaultMaxBatchSize  = tx.DefaultMaxBatchSize
	DefaultMaxBatchDelay = tx.DefaultMaxBatchDelay
	DefaultAllocSize     = tx.DefaultAllocSize
	// DefaultFillPercent is a new Bucket's FillPercent.
	DefaultFillPercent = btree.DefaultFill
)

// Open opens the database at path, creating it with mode if it does not
// exist. A read-write open takes an exclusive lock on the file, a
// ReadOnly open a shared one, and so on the write-ahead log's directory
// if there is one; Options.Timeout bounds the whole wait (ErrTimeout),
// however often the file is replaced meanwhile.
//
// A new database is built beside path and linked into place once it is
// durable, so a crash while creating leaves either no file or a valid
// empty database, never one that Open rejects, and two openers creating
// it at once end up sharing one file. On a file system without hard links
// (vfat, some FUSE), path is first claimed with an empty file, which the
// opener then replaces under its lock: a crash in between leaves that
// empty file, which a read-write Open takes for no file; a read-only Open
// refuses it (ErrInvalid), as it refuses a missing file (fs.ErrNotExist),
// also while another opener is creating the database.
//
// Open returns ErrInvalidOptions for Options no database can honour,
// ErrTimeout when the lock is not had in time, ErrInvalid for a file that
// is not a folio database, ErrVersionMismatch for another format version,
// ErrCorrupt when neither meta page (or the tree it names) is usable,
// and, with a write-ahead log beside the file (LogDir), ErrLogPending
// (read-only, commits to replay) or ErrLogMismatch (a log of another
// state of the file). A LogDir that is there but no directory (a
// symbolic link to nothing, the log's disk not mounted) is
// ErrLogUnreachable in every mode, and left as it is; a missing database
// file is not created. Every error names the file.
func Open(path string, mode os.FileMode, options *Options) (*DB, error) {
	opts := options
	if opts == nil {
		opts = DefaultOptions
	}
	if err := checkOptions(path, opts); err != nil {
		return nil, err
	}
	if !opts.ReadOnly && willCreate(path) {
		// NB: before openFileUntil creates the database: refused only
		// under its lock (statLogDir, below), a log path Open cannot use
		// left a new empty database beside it, which the next Open took
		// for the database. A log path made unusable in between is still
		// refused there, past this check.
		if _, err := statLogDir(path, LogDir(path)); err != nil {
			return nil, err
		}
	}
	// One deadline for the whole open: each lock attempt (the file's, and
	// the log's) waits only for what is left of Timeout.
	deadline := openDeadline(opts)
	f, made, err := openFileUntil(path, mode, opts, deadline)
	if err != nil {
		return nil, err
	}
	st := openFileStorage(f, opts.ReadOnly, opts.NoGrowSync, opts.MmapFlags)
	logDir := LogDir(path)
	if !opts.ReadOnly {
		// A log a crash left half removed (removeLogDir). NB: under the
		// file's lock, as every removal of the log is.
		_ = removeTombstone(logTombstone(logDir), logDir)
	}
	hasLog, err := statLogDir(path, logDir)
	if err != nil {
		if made {
			removeMade(path, f, opts)
		}
		_ = st.Close()
		return nil, err
	}
	// NB: a read-only open asking for WAL mode opens a file without a log
	// directly: with no log nothing is pending, and it may not make one
	// (it failed with "no such file or directory", so a reader given the
	// writer's Options could not open a database no WAL-mode writer had
	// opened yet).
	noLog := !hasLog && (!opts.WAL || opts.ReadOnly)
	if noLog {
		db, err := tx.Open(path, st, opts)
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		return db, nil
	}
	// WAL mode, or a log left by a WAL-mode run: its commits must be
	// replayed before anyone reads the file.
	locked := hasLog
	if locked {
		if st.logLock, err = lockLogDir(path, logDir, opts, deadline); err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	// Segments of 8 MiB: a new one is zero-filled in the background
	// quickly, so appends rarely land in merely fallocated blocks, whose
	// first sync costs a journal commit.
	lg, err := wal.Open(logDir, wal.Options{ReadOnly: opts.ReadOnly, SegmentSize: 8 << 20, AllowHole: true})
	if err == nil && !locked {
		// Made by this Open: locked before anything is logged in it.
		// NB: a lock refused means another DB made it meanwhile (of a
		// file put at path since): its log, left alone.
		if st.logLock, err = lockLogDir(path, logDir, opts, deadline); err != nil {
			_ = lg.Close()
			_ = st.Close()
			return nil, err
		}
	}
	if err != nil {
		if !hasLog {
			// Made by this Open (no room for the first segment, most
			// often): left there, empty, it would put every later open
			// of the file into WAL mode. Remove fails unless it is empty.
			// NB: before st releases the lock, after which the
			// directory may be another opener's. Synced: wal.Open made
			// the directory's entry durable, and a power loss could
			// otherwise bring the empty directory back. Only a
			// directory: a link or file put there meanwhile is not ours.
			if fi, err := os.Lstat(logDir); err == nil && fi.IsDir() && os.Remove(logDir) == nil {
				_ = wal.SyncDir(filepath.Dir(logDir))
			}
		}
		_ = st.Close()
		if errors.Is(err, wal.ErrCorrupt) {
			// One sentinel for damage, whichever file holds it, and one
			// that says it is the log.
			return nil, fmt.Errorf("folio: open %s: write-ahead log %s: %w: %w%s", path, logDir, ErrLogCorrupt, err, logAside(logDir))
		}
		if errors.Is(err, wal.ErrVersion) {
			// A log of a newer folio, as a file of one is (page.ErrVersion).
			return nil, fmt.Errorf("folio: open %s: write-ahead log %s: %w: %w", path, logDir, ErrVersionMismatch, err)
		}
		if pe, ok := err.(*os.PathError); ok && pe.Path == logDir {
			// It names the directory itself ("mkdir a.db.wal: ...").
			return nil, fmt.Errorf("folio: open %s: write-ahead log: %w", path, err)
		}
		return nil, fmt.Errorf("folio: open %s: write-ahead log %s: %w", path, logDir, err)
	}
	leaving := !opts.WAL && !opts.ReadOnly
	var dbst tx.Storage = st
	if leaving {
		dbst = keepOpen{st}
	}
	db, err := tx.OpenWithLog(path, dbst, lg, opts)
	if errors.Is(err, ErrLogCorrupt) {
		err = fmt.Errorf("%w%s", err, logAside(logDir))
	}
	if err != nil {
		_ = lg.Close()
		if !hasLog {
			// Made by this Open (a first WAL-mode open of a file that
			// turned out damaged, most often): it holds no commit, an
			// anchor at most, and left there it kept a preallocated
			// segment (8 MiB) and put every later open of the file into
			// WAL mode. All of it is ours: the file's exclusive lock
			// kept every other opener out, so it goes before st
			// releases the lock.
			_ = removeLogDir(logDir)
		}
		if made && errors.Is(err, ErrLogMismatch) {
			// A log beside no file (another file's): refused before
			// replay wrote anything (tx, checkSequence), so the file
			// this Open created holds nothing; left there, the next
			// Open took it for the database.
			removeMade(path, f, opts)
		}
		_ = st.Close()
		return nil, err
	}
	if !leaving {
		return db, nil
	}
	// Leaving WAL mode: the replay checkpointed everything; close (which
	// checkpoints again, a no-op), drop the log and open without it.
	// NB: the file stays open and locked throughout (keepOpen). Closing
	// it with the DB let the lock go before the log was removed: a
	// WAL-mode opener (another process, or a DB in this one) taking it
	// then had the log it had just begun, with commits it had
	// acknowledged, removed under it.
	if err := db.Close(); err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := removeLogDir(logDir); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("folio: open %s: remove the write-ahead log: %w", path, err)
	}
	db, err = tx.Open(path, st, opts)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return db, nil
}

// willCreate reports whether a read-write Open would create the database
// at path: no file there, or an empty one (openFileUntil). A symbolic
// link to nothing at path is never created through.
func willCreate(path string) bool {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return true
	}
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == 0
}

// statLogDir reports whether the database at path has a write-ahead log
// directory, logDir, and refuses one that is there but no directory Open
// can read a log from (ErrLogUnreachable), naming it and saying what to
// do. NB: a symbolic link to nothing (the log on a disk not mounted) was
// taken for no log: a WAL-mode Open failed making it and then removed
// the link as its own, so the next one began a new log, cutting off the
// commits only the log on the other disk held; the others opened the
// file without them. A file there failed with "not a directory" alone,
// and a named pipe hung the open of its lock.
func statLogDir(path, logDir string) (bool, error) {
	lfi, err := os.Lstat(logDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, logUnreachable(path, logDir, "cannot be read: %v", unwrapPath(err))
	case lfi.IsDir():
		return true, nil
	case lfi.Mode()&os.ModeSymlink == 0:
		return false, logUnreachable(path, logDir, "is %s, not a directory: it holds no log; to open the database, move it aside",
			fileKind(lfi.Mode()))
	}
	target, err := os.Readlink(logDir)
	if err != nil {
		return false, logUnreachable(path, logDir, "is a symbolic link that cannot be read: %v", unwrapPath(err))
	}
	const orRemove = ", or, to open the file without the log, losing any commit only the log holds, remove the link"
	fi, err := os.Stat(logDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, logUnreachable(path, logDir, "is a symbolic link to %s, which does not exist (a disk not mounted?), "+
			"and may hold commits the file lacks: make %s reachable again"+orRemove, target, target)
	case err != nil:
		return false, logUnreachable(path, logDir, "is a symbolic link to %s, which cannot be reached (%v): make it reach the log's directory again"+orRemove,
			target, unwrapPath(err))
	case !fi.IsDir():
		return false, logUnreachable(path, logDir, "is a symbolic link to %s, which is %s, not a directory: make it reach the log's directory again"+orRemove,
			target, fileKind(fi.Mode()))
	}
	return true, nil
}

// logUnreachable is statLogDir's refusal of logDir, which the message,
// format and args, describes after naming it.
func logUnreachable(path, logDir, format string, args ...any) error {
	return &logUnreachableError{fmt.Sprintf("folio: open %s: write-ahead log %s ", path, logDir) + fmt.Sprintf(format, args...)}
}

// logUnreachableError is an ErrLogUnreachable whose message names the
// log, the link's target and the way past; the sentinel's own words
// would only repeat it.
type logUnreachableError struct{ msg string }

func (e *logUnreachableError) Error() string        { return e.msg }
func (e *logUnreachableError) Is(target error) bool { return target == ErrLogUnreachable }

// unwrapPath is err without the path an *os.PathError repeats (the
// message names it already).
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// logAside ends Open's refusal of a damaged log with the way past it.
// NB: no Options field skips the damage (README, WAL mode, "Recovery"):
// Open passes over what it safely can already, so only the user can
// accept losing what the log alone holds.
func logAside(logDir string) string {
	return "; to open the file without it, losing the commits only the log holds (none if the database was closed cleanly), move " + logDir + " aside"
}

// logTombstone is where removeLogDir moves a log directory to remove it.
func logTombstone(logDir string) string { return logDir + ".removing" }

// removeLogDir removes the write-ahead log directory logDir so that no
// crash leaves part of it: it renames the directory aside, makes the
// rename durable, and only then removes its files. Removed in place
// (os.RemoveAll, in directory order, unsynced), a crash could leave a
// log missing a middle segment, which package wal refuses as corrupt:
// every later Open failed, though the file held every commit. A
// tombstone left by a crash is no log; a read-write Open removes it.
// REQUIRES: the database file's exclusive lock.
func removeLogDir(logDir string) error {
	tomb := logTombstone(logDir)
	if err := removeTombstone(tomb, logDir); err != nil {
		return err
	}
	if err := os.Rename(logDir, tomb); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := wal.SyncDir(filepath.Dir(logDir)); err != nil {
		return err
	}
	if logRenamedHook != nil && logRenamedHook(tomb) {
		return nil
	}
	// NB: a failure here leaves only the tombstone, which the next
	// read-write Open removes again; the log is gone either way.
	_ = removeTombstone(tomb, logDir)
	return nil
}

// removeTombstone removes a log removeLogDir renamed aside. A log
// directory reached through a symbolic link (the log on another disk)
// leaves a link: its segments go from the target, which may hold other
// files and stays, and then the link. Not when the target is also the
// live log's (the link made again): those segments are a newer log's.
func removeTombstone(tomb, logDir string) error {
	fi, err := os.Lstat(tomb)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		return os.RemoveAll(tomb)
	}
	target, terr := os.Stat(tomb)
	live, lerr := os.Stat(logDir)
	if terr == nil && target.IsDir() && (lerr != nil || !os.SameFile(target, live)) {
		if err := wal.RemoveSegments(tomb); err != nil {
			return err
		}
	}
	return os.Remove(tomb)
}

// logRenamedHook, if set, runs once removeLogDir has renamed a log aside
// durably; true stops the removal there, as a crash would. Tests only.
var logRenamedHook func(tomb string) (stop bool)

// keepOpen is a Storage whose Close leaves the file open and locked, for
// a DB that Open closes and then opens again over the same file.
type keepOpen struct{ tx.Storage }

func (keepOpen) Close() error { return nil }

// checkOptions refuses Options no database can honour. NB: whether or
// not the file exists: a page size folio cannot use was refused only
// when the file was created (and then with no sentinel to test), so a
// program's mistake showed on its first run and never after. The other
// sizes keep bbolt's meaning for zero and negative values (options.go).
func checkOptions(path string, opts *Options) error {
	if opts.PageSize != 0 && !page.ValidPageSize(opts.PageSize) {
		return fmt.Errorf("%w: open %s: PageSize %d is not a power of two from %d to %d",
			ErrInvalidOptions, path, opts.PageSize, page.MinPageSize, page.MaxPageSize)
	}
	if bad := opts.MmapFlags & refusedMmapFlags; bad != 0 {
		return fmt.Errorf("%w: open %s: MmapFlags %#x: %#x would not map the file shared where the system chooses",
			ErrInvalidOptions, path, opts.MmapFlags, bad)
	}
	return nil
}

// checkMapping tries the mapping a DB over f (size bytes long) would
// make first, if Options.MmapFlags or InitialMmapSize change it, and
// returns ErrInvalidOptions naming the field if the system refuses it.
// NB: create calls it on the new file before linking it at path: the
// mapping was tried first by the DB, after the file was in place, and a
// refused Open left a new database behind, with the system's bare error
// (ENOMEM, EINVAL).
func checkMapping(path string, f *os.File, size int64, opts *Options) error {
	if opts.MmapFlags != 0 {
		if err := tryMap(f, tx.MapSize(0, size), opts.MmapFlags); err != nil {
			return fmt.Errorf("%w: open %s: MmapFlags %#x: %w", ErrInvalidOptions, path, opts.MmapFlags, err)
		}
	}
	if n := tx.MapSize(opts.InitialMmapSize, size); n > tx.MapSize(0, size) {
		if err := tryMap(f, n, opts.MmapFlags); err != nil {
			return fmt.Errorf("%w: open %s: InitialMmapSize %d: %w", ErrInvalidOptions, path, opts.InitialMmapSize, err)
		}
	}
	return nil
}

// LogDir is where the write-ahead log of the database at path lives.
//
// NB: a symbolic link at path has its log beside the file it names (its
// target's LogDir), where an open of that file by its own name looks, so
// that both names find the one log; a log made beside the link itself is
// still taken. Looking beside the link alone, an open through it read the
// file without the log's commits and a read-write one committed onto it,
// stranding them (ErrLogMismatch by the file's own name).
func LogDir(path string) string {
	own := path + ".wal"
	if _, err := os.Lstat(own); err == nil {
		return own
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			return LogDir(real)
		}
	}
	return own
}

// openDeadline is when an Open with opts stops waiting for locks (zero:
// never).
func openDeadline(opts *Options) time.Time {
	if opts.Timeout > 0 {
		return time.Now().Add(opts.Timeout)
	}
	return time.Time{}
}

// openFileUntil opens and locks the database file at path, creating it (or
// replacing an empty file) unless read-only; made says that the file is
// one this call created where there was none. It returns the file only once
// the path still names it with the lock held: a file replaced while we
// waited for its lock (an empty one, by another opener) is not the
// database. The open's deadline (openDeadline) bounds the whole wait: each
// lock attempt waits only for what is left of Timeout, as the file may be
// replaced again and again while we wait (each time, a new file to wait
// for).
func openFileUntil(path string, mode os.FileMode, opts *Options, deadline time.Time) (f *os.File, made bool, err error) {
	f, mine, err := openFileLoop(path, mode, opts, deadline)
	if err != nil || mine == nil {
		return f, false, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, false, openError(path, err)
	}
	return f, os.SameFile(fi, mine), nil
}

// openFileLoop is openFileUntil; mine is the file the last create linked
// at path, if any.
func openFileLoop(path string, mode os.FileMode, opts *Options, deadline time.Time) (_ *os.File, mine os.FileInfo, _ error) {
	flag := os.O_RDWR
	if opts.ReadOnly {
		flag = os.O_RDONLY
	}
	for created := 0; ; {
		// NB: checked before opening, as opening a FIFO read-only blocks
		// until a writer comes; and a FIFO reads as empty, which a
		// read-write open would replace with a database.
		if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
			return nil, nil, notRegular(path, fi)
		}
		f, err := os.OpenFile(path, flag, mode)
		if errors.Is(err, os.ErrNotExist) && !opts.ReadOnly && created < 3 {
			// NB: bounded, as a dangling symlink at path is never
			// created through: linking to it finds it exists.
			created++
			if mine, err = create(path, mode, opts, false); err != nil {
				return nil, nil, err
			}
			continue
		}
		if err != nil {
			return nil, nil, openError(path, err)
		}
		if err := lockFile(f, !opts.ReadOnly, lockWait(opts.Timeout, deadline)); err != nil {
			_ = f.Close()
			if errors.Is(err, errLockTimeout) {
				return nil, nil, lockTimeout(path, opts.Timeout)
			}
			return nil, nil, fmt.Errorf("folio: lock %s: %w", path, err)
		}
		fi, err := f.Stat()
		if err != nil {
			_ = f.Close()
			return nil, nil, openError(path, err)
		}
		if !fi.Mode().IsRegular() {
			_ = f.Close()
			return nil, nil, notRegular(path, fi)
		}
		if err := checkMapping(path, f, fi.Size(), opts); err != nil {
			_ = f.Close()
			return nil, nil, err
		}
		if now, err := os.Stat(path); err != nil || !os.SameFile(fi, now) {
			_ = f.Close() // replaced (or removed) while we waited: again
			// NB: past the deadline, each attempt tries the lock once,
			// and a file replaced every time it is let go would keep
			// us here for ever.
			if opts.Timeout != 0 && !time.Now().Before(deadline) {
				return nil, nil, lockTimeout(path, opts.Timeout)
			}
			continue
		}
		// A zero-length file (made by a user, or left by an older tool) is
		// treated as absent: build a database aside and put it in its
		// place, under the lock, so that an opener waiting for it finds
		// the path renamed away and opens the new file instead.
		if fi.Size() == 0 && !opts.ReadOnly {
			_, err := create(path, mode, opts, true)
			_ = f.Close()
			mine = nil // the empty file was there before: not ours to remove
			if err != nil {
				return nil, nil, err
			}
			continue
		}
		return f, mine, nil
	}
}

// removeMade removes the database file at path, f, which this Open
// created and now refuses, so that the next Open does not take it for
// the database: only while path still names f and f holds no more than
// create wrote (another opener may have had its lock between create and
// ours). REQUIRES: f's exclusive lock.
func removeMade(path string, f *os.File, opts *Options) {
	pageSize := opts.PageSize
	if pageSize == 0 {
		pageSize = os.Getpagesize()
	}
	img := tx.InitialImage(pageSize)
	fi, err := f.Stat()
	if err != nil || fi.Size() != int64(len(img)) {
		return
	}
	got := make([]byte, len(img))
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, img) {
		return
	}
	if now, err := os.Lstat(path); err == nil && os.SameFile(fi, now) && os.Remove(path) == nil {
		_ = wal.SyncDir(filepath.Dir(path))
	}
}

// lockLogDir locks the log directory logDir of the database at path as
// openFileUntil locks the file (shared if read-only), for the DB's life.
//
// Why: the file's lock guards the log only while the file stays at path.
// A file replaced by rename under an open DB (a backup restored in
// place) is a new file with a lock of its own, and an Open of it took
// the open DB's log: without WAL it replayed and removed the log the DB
// was appending to, with WAL both appended to it.
func lockLogDir(path, logDir string, opts *Options, deadline time.Time) (*os.File, error) {
	d, err := os.Open(logDir)
	if err != nil {
		return nil, fmt.Errorf("folio: open %s: write-ahead log: %w", path, err)
	}
	if err := lockFile(d, !opts.ReadOnly, lockWait(opts.Timeout, deadline)); err != nil {
		_ = d.Close()
		if errors.Is(err, errLockTimeout) {
			return nil, fmt.Errorf("%w: the write-ahead log %s of %s is held by another DB: one of a file that was at that path (replaced while open?)", ErrTimeout, logDir, path)
		}
		// NB: a file system that cannot lock a directory (NFS emulates
		// flock with fcntl locks, whose exclusive lock wants a
		// descriptor open for writing) keeps the file's lock alone, as
		// before, rather than refuse WAL mode.
		return nil, nil
	}
	return d, nil
}

// openError is err, from opening the file at path, naming path once: the
// system's *os.PathError says "open PATH: ..." already, and wrapped as
// the others are it named the file twice.
func openError(path string, err error) error {
	if pe, ok := err.(*os.PathError); ok && pe.Path == path {
		return fmt.Errorf("folio: %w", err)
	}
	return fmt.Errorf("folio: open %s: %w", path, err)
}

// hardLink is os.Link, a variable so that a test can take hard links
// away, as vfat does (openfix_link_test.go).
var hardLink = os.Link

// lockFile is flock, a variable so that a test can replace the file while
// Open waits for its lock (openfix_lock_test.go).
var lockFile = flock

// lockWait is how long a lock attempt may wait, for Options.Timeout
// timeout and the open's deadline: what is left of the timeout, or one
// try (-1) once it is spent. REQUIRES: deadline is set if timeout > 0.
func lockWait(timeout time.Duration, deadline time.Time) time.Duration {
	if timeout <= 0 {
		return timeout // 0 waits for ever, and a negative one tries once
	}
	if left := time.Until(deadline); left > 0 {
		return left
	}
	return -1
}

// lockTimeout is Open's ErrTimeout. The holder may be another Open in
// this process as well as another process (flock locks belong to open
// file descriptions), and a negative timeout waited for nothing: it said
// "waited -1ns".
func lockTimeout(path string, timeout time.Duration) error {
	waited := fmt.Sprintf("waited %v", timeout)
	if timeout < 0 {
		waited = "tried once: Options.Timeout < 0"
	}
	return fmt.Errorf("%w: %s is held by another process, or another Open of it in this one (%s)", ErrTimeout, path, waited)
}

func notRegular(path string, fi os.FileInfo) error {
	return fmt.Errorf("folio: open %s: %w: not a regular file (%s)", path, ErrInvalid, fileKind(fi.Mode()))
}

// fileKind names the kind of file m is, for a message: the mode's type
// bits as fmt prints them ("p---------") say it to few.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a regular file"
	}
	return fmt.Sprintf("file type %v", m.Type())
}

// create writes an empty database to a temporary file beside path, syncs
// it, checks that it maps as opts ask (checkMapping), puts it at path and
// syncs the directory. Unless replace, the new
// file is linked at path, never renamed there, so it cannot replace a
// database another opener created meanwhile (and perhaps wrote to); if
// one did, create leaves theirs and returns no error. With replace, it
// renames over path. linked is the file it linked at path (nil if it
// linked none, or with replace). REQUIRES: with replace, the caller holds
// the lock on the empty file at path.
func create(path string, mode os.FileMode, opts *Options, replace bool) (linked os.FileInfo, _ error) {
	pageSize := opts.PageSize
	if pageSize == 0 {
		pageSize = os.Getpagesize()
	}
	if !page.ValidPageSize(pageSize) {
		// The OS page size, when Options left it 0.
		return nil, fmt.Errorf("%w: create %s: page size %d is not a power of two from %d to %d",
			ErrInvalidOptions, path, pageSize, page.MinPageSize, page.MaxPageSize)
	}
	tmp := fmt.Sprintf("%s.new-%d-%x", path, os.Getpid(), rand.Uint32())
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return nil, fmt.Errorf("folio: create %s: %w", path, err)
	}
	img := tx.InitialImage(pageSize)
	_, err = f.Write(img)
	if err == nil {
		err = f.Sync()
	}
	var mapErr error
	if err == nil {
		mapErr = checkMapping(path, f, int64(len(img)), opts)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if mapErr != nil {
		_ = os.Remove(tmp)
		return nil, mapErr
	}
	if err == nil {
		if replace {
			err = os.Rename(tmp, path)
		} else {
			err = hardLink(tmp, path)
			if err == nil {
				linked, _ = os.Lstat(tmp) // the file now at path
			}
			if err != nil && !errors.Is(err, os.ErrExist) {
				// No hard links here (vfat, some FUSE): claim path with an
				// empty file instead, which the caller then replaces
				// under its lock, as any zero-length file (openFileUntil). The
				// image written aside goes unused: renaming it to path
				// instead could replace a database another opener
				// created, and perhaps wrote to, meanwhile.
				var e *os.File
				if e, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode); err == nil {
					err = e.Close()
				}
			}
			if errors.Is(err, os.ErrExist) {
				err = nil // another opener's database: use it
			}
			_ = os.Remove(tmp)
		}
	}
	if err == nil {
		err = wal.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("folio: create %s: %w", path, err)
	}
	return linked, nil
}
