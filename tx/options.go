package tx

import (
	"fmt"
	"os"
	"time"
)

// Options configure Open. The zero value is valid; nil means DefaultOptions.
type Options struct {
	// Timeout is how long Open waits for the file lock: 0 waits forever,
	// and a negative Timeout tries once (ErrTimeout if the lock is held),
	// as bbolt's does.
	Timeout time.Duration
	// NoGrowSync skips syncing the file size after growing it.
	NoGrowSync bool
	// NoFreelistSync skips writing the free-extent set at each commit; it
	// is rebuilt by a walk of the whole tree on open.
	NoFreelistSync bool
	// FreelistType is accepted for bbolt compatibility and ignored: folio
	// always keeps free space as extents.
	FreelistType FreelistType
	// PreLoadFreelist is accepted for bbolt compatibility: folio always
	// loads the free list on open.
	PreLoadFreelist bool
	// ReadOnly opens the file read-only under a shared lock, so Open
	// waits (Timeout) while a read-write DB, in any process, has the
	// file open, as bbolt's does. Writes return ErrDatabaseReadOnly; a
	// write-ahead log holding commits the file lacks is ErrLogPending.
	ReadOnly bool
	// MmapFlags are passed to mmap (e.g. syscall.MAP_POPULATE). Flags
	// that would not map the file shared where the system chooses
	// (MAP_PRIVATE, MAP_FIXED, MAP_ANON), or that the system refuses, are
	// ErrInvalidOptions.
	MmapFlags int
	// InitialMmapSize is the initial size of the read mapping in bytes;
	// the mapping is never smaller than 16 MiB, so a smaller value (0 or
	// negative included) maps 16 MiB. More than the system can map is
	// ErrInvalidOptions.
	InitialMmapSize int
	// PageSize is the page size of a new database (0: the OS page size);
	// any power of two from 1 KiB to 64 KiB. An existing file keeps its
	// own, whatever PageSize says; a PageSize no database can have (not 0
	// nor such a power of two) is ErrInvalidOptions even then.
	PageSize int
	// NoSync skips every commit's sync: fast, but a crash can lose or
	// tear commits. In WAL mode a checkpoint still syncs the file and its
	// meta, then the log, which it truncates (DB.Sync, DB.Checkpoint).
	NoSync bool
	// Mlock is accepted for bbolt compatibility and ignored.
	Mlock bool
	// MaxSize caps the file size in bytes (0 or negative: no cap; folio's,
	// bbolt 1.4 has no such option); a commit that would pass it fails
	// with ErrMaxSizeReached and changes nothing.
	MaxSize int
	// VerifyChecksums recomputes every page's CRC-32C when it is read,
	// and a scan checks key order where leaves meet. Without it a read
	// still compares the page's stored checksum with what its parent
	// expects, which catches lost and misdirected writes. It is the
	// option for a file not trusted: a read-write Open with it also
	// walks every tree once, so that pages the free list names but a
	// tree reaches stay allocated (said in Stats.MetaFallback) and a
	// page two parents reach is ErrCorrupt, before a commit could
	// overwrite live data.
	VerifyChecksums bool
	// OpenFile is accepted for bbolt compatibility and ignored.
	OpenFile func(string, int, os.FileMode) (*os.File, error)
	// Logger receives notices such as a fallback to the older meta page.
	Logger Logger

	// WAL turns on the write-ahead log (a directory beside the file, named
	// like it with ".wal" added: LogDir): a commit writes its pages into
	// the file unsynced, appends one record (its operations, or its page
	// images) to the log and syncs the log once, sequentially, instead of
	// syncing pages and meta in the file; the file is synced at
	// checkpoints (DB.Checkpoint). Pick it for small
	// durable transactions and many concurrent writers. A log left by an
	// earlier run is replayed on open whether or not WAL is set.
	WAL bool
	// CheckpointBytes of log trigger a checkpoint (0 or negative: the
	// default, 64 MiB).
	CheckpointBytes int64
	// CheckpointInterval since the last checkpoint triggers one at the
	// next commit (0 or negative: the default, 30 s).
	CheckpointInterval time.Duration
}

// String dumps the options: bbolt's dump of the options it shares with
// bbolt, word for word (OpenFile and Logger as pointers), then folio's
// own; "{}" for nil, as bbolt's.
func (o *Options) String() string {
	if o == nil {
		return "{}"
	}
	return fmt.Sprintf("{Timeout: %s, NoGrowSync: %t, NoFreelistSync: %t, PreLoadFreelist: %t, FreelistType: %s, ReadOnly: %t, MmapFlags: %x, InitialMmapSize: %d, PageSize: %d, NoSync: %t, OpenFile: %p, Mlock: %t, Logger: %p, MaxSize: %d, VerifyChecksums: %t, WAL: %t, CheckpointBytes: %d, CheckpointInterval: %s}",
		o.Timeout, o.NoGrowSync, o.NoFreelistSync, o.PreLoadFreelist, o.FreelistType, o.ReadOnly, o.MmapFlags, o.InitialMmapSize, o.PageSize, o.NoSync, o.OpenFile, o.Mlock, o.Logger,
		o.MaxSize, o.VerifyChecksums, o.WAL, o.CheckpointBytes, o.CheckpointInterval)
}

// FreelistType is bbolt's choice of free-list structure; folio has one.
type FreelistType string

// bbolt's free-list types, accepted and ignored.
const (
	FreelistArrayType = FreelistType("array")
	FreelistMapType   = FreelistType("hashmap")
)

// Logger receives folio's notices. *log.Logger satisfies it.
type Logger interface {
	Printf(format string, v ...any)
}

// DefaultOptions are the options used when Open is given nil: bbolt's
// (its FreelistType too, which folio ignores).
var DefaultOptions = &Options{Timeout: 0, NoGrowSync: false, FreelistType: FreelistArrayType}

// Defaults for DB fields.
const (
	DefaultMaxBatchSize  = 1000
	DefaultMaxBatchDelay = 10 * time.Millisecond
	DefaultAllocSize     = 16 * 1024 * 1024
)
