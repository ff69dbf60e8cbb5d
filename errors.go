package folio

import "github.com/foliodb/folio/tx"

// The errors folio returns; each is the same value as in package tx, so
// errors.Is works whichever name a program uses. Returned errors are
// wrapped with the path, bucket, key or page: test them with errors.Is,
// not ==. When each is returned: go doc github.com/foliodb/folio/tx
// (ErrChecksum, ErrInvalidMapping and ErrFreePagesNotLoaded, bbolt's,
// never are).
var (
	ErrDatabaseNotOpen    = tx.ErrDatabaseNotOpen
	ErrInvalid            = tx.ErrInvalid
	ErrVersionMismatch    = tx.ErrVersionMismatch
	ErrChecksum           = tx.ErrChecksum
	ErrInvalidMapping     = tx.ErrInvalidMapping
	ErrFreePagesNotLoaded = tx.ErrFreePagesNotLoaded
	ErrCorrupt            = tx.ErrCorrupt
	ErrLogCorrupt         = tx.ErrLogCorrupt
	ErrLogUnreachable     = tx.ErrLogUnreachable
	ErrTimeout            = tx.ErrTimeout
	ErrTxNotWritable      = tx.ErrTxNotWritable
	ErrTxClosed           = tx.ErrTxClosed
	ErrTxManaged          = tx.ErrTxManaged
	ErrDatabaseReadOnly   = tx.ErrDatabaseReadOnly
	ErrSyncFailed         = tx.ErrSyncFailed
	ErrBucketNotFound     = tx.ErrBucketNotFound
	ErrBucketExists       = tx.ErrBucketExists
	ErrBucketNameRequired = tx.ErrBucketNameRequired
	ErrKeyRequired        = tx.ErrKeyRequired
	ErrKeyTooLarge        = tx.ErrKeyTooLarge
	ErrValueTooLarge      = tx.ErrValueTooLarge
	ErrIncompatibleValue  = tx.ErrIncompatibleValue
	ErrSameBuckets        = tx.ErrSameBuckets
	ErrDifferentDB        = tx.ErrDifferentDB
	ErrCopyOntoDB         = tx.ErrCopyOntoDB
	ErrSequenceOverflow   = tx.ErrSequenceOverflow
	ErrInvalidOptions     = tx.ErrInvalidOptions
	ErrMaxSizeReached     = tx.ErrMaxSizeReached
	ErrBatchGoexit        = tx.ErrBatchGoexit
)
