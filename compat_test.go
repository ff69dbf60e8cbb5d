package folio

import (
	"io"
	"os"
	"testing"
	"time"
)

// The API surface a bbolt program uses, pinned to bbolt's signatures
// (go.etcd.io/bbolt v1.4): if a signature drifts, this file stops
// compiling, as the program would.
var (
	_ func(string, os.FileMode, *Options) (*DB, error) = Open
	_ *Options                                         = DefaultOptions

	_ func(*DB, bool) (*Tx, error)                 = (*DB).Begin
	_ func(*DB, func(*Tx) error) error             = (*DB).Update
	_ func(*DB, func(*Tx) error) error             = (*DB).View
	_ func(*DB, func(*Tx) error) error             = (*DB).Batch
	_ func(*DB) error                              = (*DB).Close
	_ func(*DB) error                              = (*DB).Sync
	_ func(*DB) Stats                              = (*DB).Stats
	_ func(*DB) string                             = (*DB).Path
	_ func(*DB) bool                               = (*DB).IsReadOnly
	_ func(*DB) string                             = (*DB).String
	_ func(*Stats, *Stats) Stats                   = (*Stats).Sub
	_ func(*Tx, []byte) *Bucket                    = (*Tx).Bucket
	_ func(*Tx, []byte) (*Bucket, error)           = (*Tx).CreateBucket
	_ func(*Tx, []byte) (*Bucket, error)           = (*Tx).CreateBucketIfNotExists
	_ func(*Tx, []byte) error                      = (*Tx).DeleteBucket
	_ func(*Tx, []byte, *Bucket, *Bucket) error    = (*Tx).MoveBucket
	_ func(*Tx, func([]byte, *Bucket) error) error = (*Tx).ForEach
	_ func(*Tx) *Cursor                            = (*Tx).Cursor
	_ func(*Tx) error                              = (*Tx).Commit
	_ func(*Tx) error                              = (*Tx).Rollback
	_ func(*Tx) bool                               = (*Tx).Writable
	_ func(*Tx) int                                = (*Tx).ID
	_ func(*Tx) *DB                                = (*Tx).DB
	_ func(*Tx) int64                              = (*Tx).Size
	_ func(*Tx, io.Writer) (int64, error)          = (*Tx).WriteTo
	_ func(*Tx, io.Writer) error                   = (*Tx).Copy
	_ func(*Tx, string, os.FileMode) error         = (*Tx).CopyFile
	_ func(*Tx, func())                            = (*Tx).OnCommit
	_ func(*Tx, ...CheckOption) <-chan error       = (*Tx).Check
	_ func(*Tx) TxStats                            = (*Tx).Stats
	_ func(*Tx) BucketStructure                    = (*Tx).Inspect
	_ func(*Tx, int) (*PageInfo, error)            = (*Tx).Page
	_ func(*Options) string                        = (*Options).String

	_ func(*Bucket, []byte) []byte                 = (*Bucket).Get
	_ func(*Bucket, []byte, []byte) error          = (*Bucket).Put
	_ func(*Bucket, []byte) error                  = (*Bucket).Delete
	_ func(*Bucket, []byte) *Bucket                = (*Bucket).Bucket
	_ func(*Bucket, []byte) (*Bucket, error)       = (*Bucket).CreateBucket
	_ func(*Bucket, []byte) (*Bucket, error)       = (*Bucket).CreateBucketIfNotExists
	_ func(*Bucket, []byte) error                  = (*Bucket).DeleteBucket
	_ func(*Bucket, []byte, *Bucket) error         = (*Bucket).MoveBucket
	_ func(*Bucket) *Cursor                        = (*Bucket).Cursor
	_ func(*Bucket, func(k, v []byte) error) error = (*Bucket).ForEach
	_ func(*Bucket, func(k []byte) error) error    = (*Bucket).ForEachBucket
	_ func(*Bucket) (uint64, error)                = (*Bucket).NextSequence
	_ func(*Bucket) uint64                         = (*Bucket).Sequence
	_ func(*Bucket, uint64) error                  = (*Bucket).SetSequence
	_ func(*Bucket) BucketStats                    = (*Bucket).Stats
	_ func(*Bucket) bool                           = (*Bucket).Writable
	_ func(*Bucket) *Tx                            = (*Bucket).Tx
	_ func(*Bucket) BucketStructure                = (*Bucket).Inspect

	_ func(*Cursor) ([]byte, []byte)         = (*Cursor).First
	_ func(*Cursor) ([]byte, []byte)         = (*Cursor).Last
	_ func(*Cursor) ([]byte, []byte)         = (*Cursor).Next
	_ func(*Cursor) ([]byte, []byte)         = (*Cursor).Prev
	_ func(*Cursor, []byte) ([]byte, []byte) = (*Cursor).Seek
	_ func(*Cursor) error                    = (*Cursor).Delete
	_ func(*Cursor) *Bucket                  = (*Cursor).Bucket

	_ func(*TxStats) int64                        = (*TxStats).GetPageCount
	_ func(*TxStats) time.Duration                = (*TxStats).GetWriteTime
	_ func(*TxStats, int64) int64                 = (*TxStats).IncPageCount
	_ func(*TxStats, time.Duration) time.Duration = (*TxStats).IncWriteTime

	_ = []error{ErrDatabaseNotOpen, ErrInvalid, ErrVersionMismatch, ErrChecksum, ErrTimeout,
		ErrTxNotWritable, ErrTxClosed, ErrDatabaseReadOnly, ErrBucketNotFound, ErrBucketExists,
		ErrBucketNameRequired, ErrKeyRequired, ErrKeyTooLarge, ErrValueTooLarge,
		ErrIncompatibleValue, ErrMaxSizeReached, ErrCorrupt}
	_ = [2]int{MaxKeySize, MaxValueSize}
)

// TestOptionsAndFieldsCompile sets every bbolt Options and DB field a
// program may set, as a bbolt program would write it.
func TestOptionsAndFieldsCompile(t *testing.T) {
	opts := &Options{
		Timeout: time.Second, NoGrowSync: true, NoFreelistSync: false, PreLoadFreelist: true,
		FreelistType: FreelistMapType, ReadOnly: false, MmapFlags: 0, InitialMmapSize: 1 << 20,
		PageSize: 4096, NoSync: true, Mlock: false, MaxSize: 1 << 30,
	}
	db := openTest(t, opts)
	db.NoSync, db.NoGrowSync, db.NoFreelistSync = true, true, false
	db.MaxBatchSize, db.MaxBatchDelay, db.AllocSize = 100, time.Millisecond, 1<<20
	db.StrictMode, db.FreelistType, db.Mlock = false, FreelistArrayType, false
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		b.FillPercent = 0.9
		tx.WriteFlag = 0
		return b.Put([]byte("k"), []byte("v"))
	})
	before := db.Stats()
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k2"), []byte("v")) })
	after := db.Stats()
	if d := after.Sub(&before); d.TxStats.GetWrite() == 0 || d.TxStats.GetPageCount() == 0 {
		t.Fatalf("Stats.Sub: %+v", d.TxStats)
	}
}
