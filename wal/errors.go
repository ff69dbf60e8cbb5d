package wal

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is returned (wrapped, as a *CorruptError) by Open and
	// Replay when a record that the log had made durable is damaged, or
	// when the bytes of a live segment changed under the log.
	ErrCorrupt = errors.New("folio/wal: log is corrupt")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("folio/wal: log is closed")

	// ErrReadOnly is returned by Append and Truncate on a log opened with
	// Options.ReadOnly.
	ErrReadOnly = errors.New("folio/wal: log is open read-only")

	// ErrTooLarge is returned by Append for a payload over MaxRecordSize.
	ErrTooLarge = errors.New("folio/wal: record too large")

	// ErrReplaying is returned by Truncate and Close called while a Replay
	// is under way, from its callback or from another goroutine; they do
	// nothing then.
	ErrReplaying = errors.New("folio/wal: Truncate or Close called during a Replay")

	// ErrNotAppended is wrapped by an Append error that left the log as
	// it was: the record needed a new segment, and making it failed
	// before anything of it was on disk (no room for the file, most
	// often). The log stays usable; a later Append may succeed.
	ErrNotAppended = errors.New("folio/wal: record not appended")

	// ErrVersion is returned (wrapped, with the segment's path) by Open
	// when a segment header is whole but of a format version newer than
	// this package reads: a log written by a newer folio. Open changes
	// nothing in the directory then.
	ErrVersion = errors.New("folio/wal: segment format version not supported")
)

// errLSNsExhausted is only reachable from a segment header (damaged, or
// forged) that starts the log near the top of the LSN space.
var errLSNsExhausted = errors.New("folio/wal: no LSNs left")

// CorruptError says where a log is damaged and how.
type CorruptError struct {
	Path    string // the segment file
	Segment uint64 // its number
	Offset  int64  // byte offset of the bad frame in the file
	LSN     uint64 // the LSN expected at Offset
	What    string // what was wrong, and what shows that it matters
}

// Error names the segment file, the offset and LSN, and what was wrong.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("folio/wal: corrupt log: %s offset %d (lsn %d): %s", e.Path, e.Offset, e.LSN, e.What)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
