package tx

import (
	"errors"

	"github.com/foliodb/folio/page"
)

// Errors returned by folio. The root package re-exports each under the
// same name; test them with errors.Is, as the returned errors are often
// wrapped with the path, bucket or page they concern.
var (
	// ErrDatabaseNotOpen is returned when the DB is used once Close has
	// begun: by Begin, View, Update, Batch, Sync, Checkpoint and Info;
	// and by those and Close on a nil *DB.
	ErrDatabaseNotOpen = errors.New("folio: database not open")
	// ErrInvalid is returned by Open when the file is not a folio
	// database (another magic number, shorter than two meta pages, empty
	// in a read-only open) or not a regular file (a FIFO, a directory).
	ErrInvalid = page.ErrNotFolio
	// ErrVersionMismatch is returned when the file was written by a folio
	// with another format version.
	ErrVersionMismatch = page.ErrVersion
	// ErrChecksum is bbolt's, kept so that programs naming it compile;
	// folio never returns it. Both meta pages failing their checksum is
	// ErrCorrupt.
	ErrChecksum = errors.New("folio: checksum error")
	// ErrInvalidMapping and ErrFreePagesNotLoaded are bbolt's too, kept
	// for the same reason; folio never returns them (a failed mapping is
	// the system's error, wrapped, and the free list is always loaded).
	ErrInvalidMapping     = errors.New("folio: database isn't correctly mapped")
	ErrFreePagesNotLoaded = errors.New("folio: free pages are not pre-loaded")
	// ErrCorrupt is returned when bytes read from the file are not what
	// folio wrote; errors.As finds the *page.CorruptError naming the page,
	// what was expected and what was found. A memory fault reading a file
	// truncated underneath the mapping is ErrCorrupt naming the file.
	ErrCorrupt = page.ErrCorrupt
	// ErrLogCorrupt is ErrCorrupt for damage in the write-ahead log: a
	// record that does not decode, a frame that fails its checksum
	// before records that were synced, txids that skip. errors.Is finds
	// both sentinels; the message says the log, not the file, is damaged.
	ErrLogCorrupt error = logCorrupt{}
	// ErrLogUnreachable is returned by Open when the write-ahead log's
	// path (the root package's LogDir) is there but reaches no directory:
	// a symbolic link to nothing (the log's disk not mounted) or to a
	// file, or a file, a named pipe. Open neither reads the file without
	// the log nor removes what is there: the log may hold commits the file
	// lacks. Make the link's target reachable, or move the path aside
	// (remove the link) to open the file without it.
	ErrLogUnreachable = errors.New("folio: the write-ahead log cannot be reached")
	// ErrTimeout is returned by Open when the file lock, or the lock of
	// the file's write-ahead log directory, held by another process (or
	// another Open of the file), is not obtained within Options.Timeout.
	ErrTimeout = errors.New("folio: timeout waiting for the database file lock")

	// ErrTxNotWritable is returned when a read-only transaction is asked to write.
	ErrTxNotWritable = errors.New("folio: tx not writable")
	// ErrTxClosed is returned when a committed or rolled back transaction is used.
	ErrTxClosed = errors.New("folio: tx closed")
	// ErrTxManaged is returned when Commit or Rollback is called inside
	// Update, View or Batch, which end the transaction themselves (bbolt
	// panics here).
	ErrTxManaged = errors.New("folio: managed tx: the enclosing Update/View/Batch commits or rolls back")
	// ErrDatabaseReadOnly is returned by Begin(true), Update and Batch on
	// a DB opened read-only.
	ErrDatabaseReadOnly = errors.New("folio: database is in read-only mode")
	// ErrSyncFailed is returned by every write after a sync failed: what
	// the failed sync covered may not be durable, and retrying it could
	// report success for lost data, so the DB refuses writes until it is
	// reopened and recovered from what is really on disk.
	ErrSyncFailed = errors.New("folio: an earlier sync failed; reopen the database")

	// ErrBucketNotFound is returned when a bucket does not exist.
	ErrBucketNotFound = errors.New("folio: bucket not found")
	// ErrBucketExists is returned when creating a bucket that exists.
	ErrBucketExists = errors.New("folio: bucket already exists")
	// ErrBucketNameRequired is returned for an empty bucket name
	// (CreateBucket, DeleteBucket, MoveBucket).
	ErrBucketNameRequired = errors.New("folio: bucket name required")
	// ErrKeyRequired is returned by Put for an empty key (Delete takes
	// it for a missing key, as bbolt's does).
	ErrKeyRequired = errors.New("folio: key required")
	// ErrKeyTooLarge is returned by Put, CreateBucket and
	// CreateBucketIfNotExists for a key, or a bucket name, longer than
	// MaxKeySize. Where such a key is looked up (Get, Delete,
	// DeleteBucket, MoveBucket) it is absent: nil, or ErrBucketNotFound.
	ErrKeyTooLarge = errors.New("folio: key too large")
	// ErrValueTooLarge is returned for a value longer than MaxValueSize.
	ErrValueTooLarge = errors.New("folio: value too large")
	// ErrIncompatibleValue is returned when a key holds a bucket and a
	// value operation is asked of it, or the other way round.
	ErrIncompatibleValue = errors.New("folio: incompatible value")
	// ErrSameBuckets is returned when MoveBucket's source and destination
	// are the same, or the destination is the bucket moved or under it.
	ErrSameBuckets = errors.New("folio: the source and target are the same bucket")
	// ErrDifferentDB is returned when MoveBucket is given a destination in
	// another DB.
	ErrDifferentDB = errors.New("folio: the source and target buckets are in different database files")
	// ErrCopyOntoDB is returned by Tx.CopyFile, before it touches the
	// file, when path names the database file itself (or a link to it),
	// and by folio.Compact when dst is src.
	ErrCopyOntoDB = errors.New("folio: the copy's destination is the database itself")
	// ErrSequenceOverflow is returned by NextSequence when the bucket's
	// sequence is already the largest uint64: bbolt's wraps to 0 and then
	// hands out the numbers it gave before.
	ErrSequenceOverflow = errors.New("folio: bucket sequence overflow")
	// ErrInvalidOptions is returned by Open for Options no database can
	// honour: a PageSize that is not 0 or a power of two from 1 KiB to
	// 64 KiB, MmapFlags or an InitialMmapSize that do not map the file,
	// whether or not the file exists; and by Check for a WithPageId
	// naming no branch or leaf page in use.
	ErrInvalidOptions = errors.New("folio: invalid options")
	// ErrMaxSizeReached is returned when a commit would grow the file past Options.MaxSize.
	ErrMaxSizeReached = errors.New("folio: database reached maximum size")
	// ErrBatchGoexit is returned by Batch to a caller whose function
	// called runtime.Goexit (t.FailNow) in another caller's goroutine, the
	// one running the batch: the batch was rolled back, nothing of it
	// committed (the other callers' functions ran again alone).
	ErrBatchGoexit = errors.New("folio: the Batch function called runtime.Goexit (t.FailNow?) in the goroutine running the batch; nothing was committed")
)

// Limits.
const (
	// MaxKeySize is the longest key.
	MaxKeySize = 32768
	// MaxValueSize is the longest value.
	MaxValueSize = (1 << 31) - 2
)

// logCorrupt is ErrLogCorrupt's type: an ErrCorrupt of its own message.
type logCorrupt struct{}

func (logCorrupt) Error() string        { return "folio: the write-ahead log is damaged" }
func (logCorrupt) Is(target error) bool { return target == ErrCorrupt }
